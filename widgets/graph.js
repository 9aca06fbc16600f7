// rmlab Builder canvas: the node palette, the SVG graph editor, the problem list and
// the error line of `rmlab.lab.builder.Builder` (its parameter form and import/export
// boxes are ipywidgets beside this view).
//
// Python is the authority. This view draws exactly what the synced traits say
// (`graph`, `palette`, `selected`, `error`) and turns gestures into edit requests,
// one message each (the protocol is listed in rmlab/lab/builder.py):
//
//   drag a palette item onto the canvas    {type: "add", node_type, x, y}
//   click a palette item                   {type: "add", node_type}
//   drag a node                            {type: "move", id, x, y}   once, on release
//   drag from an output port to a node     {type: "connect", from, to}
//   Delete key or button                   {type: "remove", id} / {type: "disconnect", from, to}
//
// It never edits the graph itself. During a gesture it moves its own drawing (the
// dragged node, the wire being pulled); the next `graph` from Python replaces it. One
// always comes, with a new `rev`, even when the edit was refused, so a refused edit
// never stays drawn. A `graph` that arrives mid-gesture waits until the gesture ends.

const SVG_NS = "http://www.w3.org/2000/svg";
const CLICK_PX = 4; // a press that moves less than this is a click, not a drag
const PORT_R = 7;
// Node colours by position in the manifest: the same as rmlab.lab.plots.PALETTE, so a
// node has one colour here, in the latency plot and in its histogram (a test compares).
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function s(tag, attrs, cls) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (cls) e.setAttribute("class", cls);
  return e;
}

function titled(el, text) {
  const t = s("title");
  t.textContent = text;
  el.append(t);
  return el;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}\u2026` : text;
}

function messageOf(problem) {
  // "nodes[0].params.gain_db: must be <= 24.0" -> "gain_db: must be <= 24.0"
  const i = problem.indexOf(": ");
  const path = i < 0 ? "" : problem.slice(0, i);
  const field = path.split(".").pop();
  return i < 0 ? problem : `${/\]$/.test(field) ? "" : `${field}: `}${problem.slice(i + 2)}`;
}

class GraphView {
  constructor(model, el) {
    this.model = model;
    this.gesture = null; // the drag under way: {kind: "palette"|"node"|"wire", ...}
    this.pending = false; // a graph arrived during a gesture
    this.edge = null; // the selected connection {from, to} (node selection is `selected`)
    this.nodes = new Map();
    this.size = { w: 170, h: 50 };
    this.build(el);
    this.listeners = [
      ["change:graph", () => this.guard(() => this.drawGraph())],
      ["change:palette", () => this.guard(() => this.drawPalette())],
      ["change:selected", () => this.guard(() => this.showSelection())],
      ["change:error", () => this.showError()],
    ];
    for (const [event, fn] of this.listeners) model.on(event, fn);
    this.drawPalette();
    this.drawGraph();
    this.showError();
  }

  build(el) {
    this.root = h("div", "rm-graph");
    // keys pressed in here are the editor's (Delete), not JupyterLab's notebook shortcuts
    this.root.setAttribute("data-lm-suppress-shortcuts", "true");
    const toolbar = h("div", "rm-toolbar");
    this.deleteButton = h("button", "jupyter-button rm-delete", "Delete");
    this.deleteButton.title = "Delete the selected node or connection (Delete key)";
    const hint = h(
      "span",
      "rm-hint",
      "Drag nodes from the palette; drag from a node's right port onto another node to connect.",
    );
    toolbar.append(this.deleteButton, hint);
    this.error = h("div", "rm-error rm-builder-error");

    this.palette = h("div", "rm-palette");
    const search = h("div", "rm-palette-top");
    this.search = h("input", "rm-palette-search");
    this.search.type = "search";
    this.search.placeholder = "Search nodes";
    this.refreshButton = h("button", "jupyter-button rm-palette-refresh", "\u21bb");
    this.refreshButton.title = "Re-read the node registry (after defining nodes in the notebook)";
    search.append(this.search, this.refreshButton);
    this.list = h("div", "rm-palette-list");
    this.palette.append(search, this.list);

    this.stage = h("div", "rm-stage");
    this.svg = s("svg", { tabindex: 0 }, "rm-canvas");
    this.edgeLayer = s("g", {}, "rm-edges");
    this.nodeLayer = s("g", {}, "rm-nodes");
    this.wire = s("path", {}, "rm-wire");
    this.svg.append(this.edgeLayer, this.nodeLayer, this.wire);
    this.stage.append(this.svg);
    this.problems = h("div", "rm-problems");

    const main = h("div", "rm-main");
    main.append(this.palette, this.stage);
    this.root.append(toolbar, this.error, main, this.problems);
    el.append(this.root);

    const on = (target, event, fn) =>
      target.addEventListener(event, (e) => this.guard(() => fn(e)));
    on(this.deleteButton, "click", () => this.deleteSelection());
    on(this.refreshButton, "click", () => this.model.send({ type: "refresh" }));
    on(this.search, "input", () => {
      this.model.set("palette_query", this.search.value);
      this.model.save_changes();
    });
    on(this.list, "pointerdown", (e) => this.paletteDown(e));
    on(this.list, "pointermove", (e) => this.paletteMove(e));
    on(this.list, "pointerup", (e) => this.paletteUp(e));
    on(this.list, "pointercancel", () => this.endGesture());
    on(this.svg, "pointerdown", (e) => this.canvasDown(e));
    on(this.svg, "pointermove", (e) => this.canvasMove(e));
    on(this.svg, "pointerup", (e) => this.canvasUp(e));
    on(this.svg, "pointercancel", () => this.endGesture());
    on(this.svg, "keydown", (e) => this.key(e));
  }

  // -- errors: shown in the widget and mirrored to the kernel, never swallowed ----------

  guard(fn) {
    try {
      return fn();
    } catch (err) {
      console.error("[rmlab] Builder:", err);
      this.model.set("error", `The graph editor failed: ${err && err.stack ? err.stack : err}`);
      this.model.save_changes();
      this.showError();
    }
  }

  showError() {
    this.error.textContent = this.model.get("error") || "";
  }

  // -- drawing ------------------------------------------------------------------------------

  drawPalette() {
    const groups = this.model.get("palette") || [];
    this.list.replaceChildren();
    for (const group of groups) {
      const section = h("div", "rm-palette-group");
      section.dataset.group = group.group;
      section.append(h("div", "rm-palette-group-title", group.group));
      for (const item of group.items) {
        const row = h("div", "rm-palette-item");
        row.dataset.nodeType = item.type;
        row.title = item.doc || item.type; // the whole doc on hover
        row.append(
          h("div", "rm-palette-name", item.type),
          h("div", "rm-palette-doc", item.summary),
        );
        section.append(row);
      }
      this.list.append(section);
    }
    if (!groups.length) this.list.append(h("div", "rm-palette-empty", "No node type matches"));
  }

  drawGraph() {
    if (this.gesture) {
      this.pending = true; // redraw when the drag ends, not under the pointer
      return;
    }
    this.pending = false;
    const graph = this.model.get("graph") || {};
    this.size = graph.size || this.size;
    this.nodes = new Map((graph.nodes || []).map((n) => [n.id, { ...n }]));
    this.allEdges = graph.edges || [];
    this.edges = this.allEdges.filter((e) => this.nodes.has(e.from) && this.nodes.has(e.to));
    const edge = this.edge;
    if (edge && !this.edges.some((e) => e.from === edge.from && e.to === edge.to)) this.edge = null;
    this.nodeLayer.replaceChildren(
      ...[...this.nodes.values()].map((n, i) => this.drawNode(n, PALETTE[i % PALETTE.length])),
    );
    this.edgeLayer.replaceChildren(...this.edges.map((e) => this.drawEdge(e)));
    this.wire.setAttribute("d", "");
    this.fit();
    this.drawProblems(graph.problems || []);
    this.root.dataset.rev = String(graph.rev || 0);
    this.showSelection();
  }

  drawNode(n, color) {
    const { w, h: ht } = this.size;
    const g = s("g", { transform: `translate(${n.x},${n.y})` }, "rm-node");
    g.dataset.nodeId = n.id;
    g.dataset.nodeType = n.type;
    g.dataset.color = color;
    if (n.problems.length) g.classList.add("rm-invalid");
    titled(g, [`${n.id} (${n.type})`, n.doc, ...n.problems].filter(Boolean).join("\n\n"));
    g.append(s("rect", { width: w, height: ht, rx: 6 }, "rm-node-box"));
    // the node's colour in the plots, as a band on its left edge
    g.append(s("rect", { x: 1, y: 1, width: 6, height: ht - 2, rx: 3, fill: color }, "rm-node-color"));
    const title = s("text", { x: 12, y: 20 }, "rm-node-title");
    title.textContent = clip(n.id, 22);
    const sub = s("text", { x: 12, y: 38 }, "rm-node-sub");
    sub.textContent = clip(n.label ? `${n.type} \u00b7 ${n.label}` : n.type, 28);
    g.append(title, sub);
    const takes = n.accepts ? n.accepts.join(", ") : "anything";
    const gives = n.produces ? n.produces.join(", ") : "what it takes";
    const port = (cx, cls, tip) => titled(s("circle", { cx, cy: ht / 2, r: PORT_R }, cls), tip);
    const portIn = port(0, "rm-port rm-port-in", `input: takes ${takes}`);
    const portOut = port(w, "rm-port rm-port-out", `output: emits ${gives}`);
    portIn.dataset.nodeId = portOut.dataset.nodeId = n.id;
    g.append(portIn, portOut);
    if (n.problems.length) {
      const text = s("text", { x: 0, y: ht + 15 }, "rm-node-problem");
      const more = n.problems.length > 1 ? ` (+${n.problems.length - 1})` : "";
      text.textContent = clip(messageOf(n.problems[0]), 40) + more;
      g.append(text);
    }
    return g;
  }

  edgePath(e) {
    const a = this.nodes.get(e.from);
    const b = this.nodes.get(e.to);
    const { w, h: ht } = this.size;
    const [x1, y1, x2, y2] = [a.x + w, a.y + ht / 2, b.x, b.y + ht / 2];
    const dx = Math.max(40, Math.abs(x2 - x1) / 2);
    return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
  }

  drawEdge(e) {
    const g = s("g", {}, "rm-edge");
    g.dataset.from = e.from;
    g.dataset.to = e.to;
    if (e.problems.length) g.classList.add("rm-invalid");
    titled(g, [`${e.from} \u2192 ${e.to}`, ...e.problems].join("\n\n"));
    const d = this.edgePath(e);
    g.append(s("path", { d }, "rm-edge-hit"), s("path", { d }, "rm-edge-line"));
    if (e.problems.length) {
      // above both ends: between them there is rarely room, below is the nodes' own text
      const a = this.nodes.get(e.from);
      const b = this.nodes.get(e.to);
      const x = (a.x + this.size.w + b.x) / 2;
      const y = Math.max(12, Math.min(a.y, b.y) - 8);
      const text = s("text", { x, y, "text-anchor": "middle" }, "rm-edge-problem");
      text.textContent = clip(messageOf(e.problems[0]), 48);
      g.append(text);
    }
    return g;
  }

  drawProblems(problems) {
    this.problems.replaceChildren();
    this.problems.dataset.count = String(problems.length);
    const n = problems.length;
    const head = n ? `${n} problem${n > 1 ? "s" : ""}` : "No problems";
    this.problems.append(h("div", "rm-problems-head", head));
    for (const p of problems) {
      // name the node or edge rather than its index; the JSON path is in the tooltip
      const edges = (p.edges || []).map((i) => this.allEdges[i]).filter(Boolean);
      let where = p.path;
      if (p.node) where = p.node + p.path.replace(/^nodes\[\d+\]/, "").replace(/^\.params\./, ".");
      else if (edges.length) where = edges.map((e) => `${e.from} \u2192 ${e.to}`).join(", ");
      const row = h("div", "rm-problem", where ? `${where}: ${p.message}` : p.message);
      row.title = p.path;
      if (p.node) {
        row.dataset.nodeId = p.node;
        row.addEventListener("click", () => this.guard(() => this.select(p.node)));
      }
      this.problems.append(row);
    }
  }

  fit() {
    // grow the drawing to hold every node; the stage scrolls when it is wider than the view
    let [right, bottom] = [0, 0];
    for (const n of this.nodes.values()) {
      right = Math.max(right, n.x + this.size.w + 40);
      bottom = Math.max(bottom, n.y + this.size.h + 40);
    }
    this.svg.style.minWidth = `${right}px`;
    this.svg.setAttribute("height", String(Math.max(380, bottom)));
  }

  showSelection() {
    const selected = this.model.get("selected") || "";
    for (const g of this.nodeLayer.children) {
      g.classList.toggle("rm-selected", g.dataset.nodeId === selected);
    }
    const edge = this.edge;
    for (const g of this.edgeLayer.children) {
      const on = !!edge && g.dataset.from === edge.from && g.dataset.to === edge.to;
      g.classList.toggle("rm-selected", on);
    }
    this.deleteButton.disabled = !(selected || edge);
  }

  // -- selection and deletion -------------------------------------------------------------

  select(id) {
    this.edge = null;
    this.model.set("selected", id || "");
    this.model.save_changes();
    this.showSelection();
  }

  selectEdge(from, to) {
    this.edge = { from, to };
    this.select("");
    this.edge = { from, to }; // select("") cleared it
    this.showSelection();
  }

  deleteSelection() {
    const selected = this.model.get("selected");
    if (this.edge) this.model.send({ type: "disconnect", from: this.edge.from, to: this.edge.to });
    else if (selected) this.model.send({ type: "remove", id: selected });
    this.edge = null;
  }

  key(e) {
    if (e.key === "Delete" || e.key === "Backspace") this.deleteSelection();
    else if (e.key === "Escape") this.select("");
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  // -- gestures -------------------------------------------------------------------------------

  point(e) {
    const r = this.svg.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  overCanvas(e) {
    const r = this.svg.getBoundingClientRect();
    const visible = this.stage.getBoundingClientRect();
    const x = e.clientX;
    const y = e.clientY;
    const inX = x >= Math.max(r.left, visible.left) && x <= Math.min(r.right, visible.right);
    return inX && y >= Math.max(r.top, visible.top) && y <= Math.min(r.bottom, visible.bottom);
  }

  moved(g, e) {
    g.moved = g.moved || Math.hypot(e.clientX - g.x0, e.clientY - g.y0) >= CLICK_PX;
    return g.moved;
  }

  endGesture() {
    const g = this.gesture;
    this.gesture = null;
    if (g && g.ghost) g.ghost.remove();
    this.svg.classList.remove("rm-drop-target");
    this.wire.setAttribute("d", "");
    if (this.pending) this.drawGraph();
    return g;
  }

  paletteDown(e) {
    const item = e.target.closest(".rm-palette-item");
    if (!item || e.button !== 0) return;
    e.preventDefault();
    item.setPointerCapture(e.pointerId);
    this.gesture = { kind: "palette", type: item.dataset.nodeType, x0: e.clientX, y0: e.clientY };
  }

  paletteMove(e) {
    const g = this.gesture;
    if (!g || g.kind !== "palette" || !this.moved(g, e)) return;
    if (!g.ghost) {
      // on document.body: a transformed ancestor would shift a position: fixed element
      g.ghost = h("div", "rm-ghost", g.type);
      document.body.append(g.ghost);
    }
    g.ghost.style.left = `${e.clientX - this.size.w / 2}px`;
    g.ghost.style.top = `${e.clientY - this.size.h / 2}px`;
    this.svg.classList.toggle("rm-drop-target", this.overCanvas(e));
  }

  paletteUp(e) {
    const g = this.gesture;
    if (!g || g.kind !== "palette") return;
    this.endGesture();
    if (!g.moved) {
      this.model.send({ type: "add", node_type: g.type }); // a click: Python picks the spot
    } else if (this.overCanvas(e)) {
      const p = this.point(e);
      const x = Math.round(Math.max(0, p.x - this.size.w / 2));
      const y = Math.round(Math.max(0, p.y - this.size.h / 2));
      this.model.send({ type: "add", node_type: g.type, x, y });
    }
  }

  canvasDown(e) {
    if (e.button !== 0) return;
    this.svg.focus({ preventScroll: true });
    const out = e.target.closest(".rm-port-out");
    const nodeEl = e.target.closest(".rm-node");
    const edgeEl = e.target.closest(".rm-edge");
    const base = { x0: e.clientX, y0: e.clientY, moved: false };
    if (out) {
      this.gesture = { ...base, kind: "wire", from: out.dataset.nodeId };
    } else if (nodeEl) {
      const n = this.nodes.get(nodeEl.dataset.nodeId);
      const p = this.point(e);
      this.gesture = { ...base, kind: "node", id: n.id, el: nodeEl, dx: p.x - n.x, dy: p.y - n.y };
    } else if (edgeEl) {
      this.selectEdge(edgeEl.dataset.from, edgeEl.dataset.to);
      return;
    } else {
      this.select("");
      return;
    }
    e.preventDefault();
    this.svg.setPointerCapture(e.pointerId);
  }

  canvasMove(e) {
    const g = this.gesture;
    if (!g || (g.kind !== "node" && g.kind !== "wire") || !this.moved(g, e)) return;
    const p = this.point(e);
    if (g.kind === "wire") {
      const a = this.nodes.get(g.from);
      const [x1, y1] = [a.x + this.size.w, a.y + this.size.h / 2];
      const dx = Math.max(40, Math.abs(p.x - x1) / 2);
      const d = `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${p.x - dx} ${p.y}, ${p.x} ${p.y}`;
      this.wire.setAttribute("d", d);
      return;
    }
    const n = this.nodes.get(g.id);
    n.x = Math.max(0, p.x - g.dx);
    n.y = Math.max(0, p.y - g.dy);
    g.el.setAttribute("transform", `translate(${n.x},${n.y})`);
    for (const el of this.edgeLayer.children) {
      if (el.dataset.from === g.id || el.dataset.to === g.id) {
        const d = this.edgePath({ from: el.dataset.from, to: el.dataset.to });
        for (const path of el.querySelectorAll("path")) path.setAttribute("d", d);
      }
    }
  }

  canvasUp(e) {
    const g = this.gesture;
    if (!g || (g.kind !== "node" && g.kind !== "wire")) return;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
    if (g.kind === "wire") {
      // the drop target: any part of another node (its input port is the obvious spot)
      const root = this.svg.getRootNode();
      const finder = root.elementFromPoint ? root : document;
      const under = finder.elementFromPoint(e.clientX, e.clientY);
      const target = under && under.closest(".rm-node");
      this.endGesture();
      if (target && this.svg.contains(target) && target.dataset.nodeId !== g.from) {
        this.model.send({ type: "connect", from: g.from, to: target.dataset.nodeId });
      }
    } else if (g.moved) {
      const n = this.nodes.get(g.id);
      this.model.send({ type: "move", id: g.id, x: Math.round(n.x), y: Math.round(n.y) });
      this.endGesture();
    } else {
      this.endGesture();
      this.select(g.id);
    }
  }

  dispose() {
    for (const [event, fn] of this.listeners) this.model.off(event, fn);
    this.endGesture();
  }
}

function render({ model, el }) {
  try {
    const view = new GraphView(model, el);
    return () => view.dispose();
  } catch (err) {
    // Shown in the page and in the kernel (`error`), never swallowed.
    console.error("[rmlab] Builder failed to render:", err);
    el.append(h("div", "rm-error rm-builder-error", `The graph editor failed to render: ${err}`));
    model.set("error", `render: ${err}`);
    model.save_changes();
  }
}

export default { render };
