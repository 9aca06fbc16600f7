// rmlab Builder canvas: the node palette, the SVG graph editor, the problem list and
// the error line of `rmlab.lab.builder.Builder` (its parameter form and import/export
// boxes are ipywidgets beside this view).
//
// Python is the authority. This view draws exactly what the synced traits say
// (`graph`, `palette`, `selected`, `error`, `history`, `live`) and turns gestures into
// edit requests, one message each (the protocol is listed in rmlab/lab/_builder_canvas.py):
//
//   drag a palette item onto the canvas    {type: "add", node_type, x, y}
//   click a palette item                   {type: "add", node_type}
//   drag a node                            {type: "move", id, x, y}   once, on release
//   drag from an output port to a node     {type: "connect", from, to}
//   Delete key or button                   {type: "remove", id} / {type: "disconnect", from, to}
//   Ctrl-Z; Ctrl-Shift-Z or Ctrl-Y         {type: "undo"} / {type: "redo"}   (and buttons)
//
// Every request carries `ask`, a number; Python answers each in `answer` ({ask,
// message}), so a refusal is shown next to where its gesture happened, fading after a
// few seconds (and on the error line above).
//
// It never edits the graph itself. During a gesture it moves its own drawing (the
// dragged node, the wire being pulled); the next `graph` from Python replaces it. One
// always comes, with a new `rev`, even when the edit was refused, so a refused edit
// never stays drawn. A `graph` that arrives mid-gesture waits until the gesture ends.
//
// The view (pan and zoom) is this page's own state, never sent: the wheel zooms around
// the pointer, a drag on empty space pans, and -, + and Fit buttons. Fit frames every
// node but never shrinks below a zoom at which node titles are READABLE_PX tall (a
// projector at the back of a room): a bigger graph is then panned, not shrunk. The view
// fits by itself when it first has a size, when a graph this page did not ask for
// arrives with nodes out of view (a manifest loaded or built in code), and on a resize
// until the person pans or zooms.
//
// While a session runs, `live` gives each node's median process time, frames/s and
// share of the end-to-end latency (a heat fill and a bar; the slowest node outlined),
// errors (red, the message under the node and in its tooltip), restarts and drops;
// `{}` clears them.

const SVG_NS = "http://www.w3.org/2000/svg";
const CLICK_PX = 4; // a press that moves less than this is a click, not a drag
const PORT_R = 7;
const ZOOM_MIN = 0.3;
const ZOOM_MAX = 2.5;
const READABLE_PX = 14; // a node title is never fitted smaller than this
const FIT_PAD = 16; // around the graph when fitted, in screen pixels
const TOAST_MS = 4500;
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
  el.tip = t; // live figures and errors are added to it
  el.tipText = text;
  return el;
}

function button(cls, text, tip) {
  const b = h("button", `jupyter-button ${cls}`, text);
  b.title = tip;
  return b;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}\u2026` : text;
}

function ms(v) {
  if (v === null || v === undefined) return "\u2013";
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

function messageOf(problem) {
  // "nodes[0].params.gain_db: must be <= 24.0" -> "gain_db: must be <= 24.0"
  const i = problem.indexOf(": ");
  const path = i < 0 ? "" : problem.slice(0, i);
  const field = path.split(".").pop();
  return i < 0 ? problem : `${/\]$/.test(field) ? "" : `${field}: `}${problem.slice(i + 2)}`;
}

function typing(e) {
  const t = e.target;
  return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}

class GraphView {
  constructor(model, el) {
    this.model = model;
    this.gesture = null; // the drag under way: {kind: "palette"|"node"|"wire"|"pan", ...}
    this.pending = false; // a graph arrived during a gesture
    this.edge = null; // the selected connection {from, to} (node selection is `selected`)
    this.nodes = new Map();
    this.size = { w: 170, h: 64 };
    this.view = { k: 1, x: 0, y: 0 }; // screen = graph * k + (x, y)
    this.touched = false; // the person panned or zoomed: no automatic fit until Fit
    this.fitted = false; // fitted once the canvas had a size
    this.asks = new Map(); // requests not yet answered: ask -> {kind, spot}
    this.ask = 0;
    this.shape = ""; // node ids and positions of the last graph drawn
    this.build(el);
    this.listeners = [
      ["change:graph", () => this.guard(() => this.drawGraph())],
      ["change:palette", () => this.guard(() => this.drawPalette())],
      ["change:selected", () => this.guard(() => this.showSelection())],
      ["change:error", () => this.showError()],
      ["change:answer", () => this.guard(() => this.answered())],
      ["change:history", () => this.guard(() => this.showHistory())],
      ["change:live", () => this.guard(() => this.showLive())],
    ];
    for (const [event, fn] of this.listeners) model.on(event, fn);
    this.drawPalette();
    this.drawGraph();
    this.showError();
    this.showHistory();
  }

  build(el) {
    this.root = h("div", "rm-graph");
    // keys pressed in here are the editor's (Delete, Ctrl-Z), not JupyterLab's shortcuts
    this.root.setAttribute("data-lm-suppress-shortcuts", "true");
    const toolbar = h("div", "rm-toolbar");
    this.deleteButton = button("rm-delete", "Delete",
      "Delete the selected node or connection (Delete key)");
    this.undoButton = button("rm-undo", "\u21b6 Undo", "Undo the last edit (Ctrl-Z)");
    this.redoButton = button("rm-redo", "\u21b7 Redo", "Redo (Ctrl-Shift-Z or Ctrl-Y)");
    const hint = h("span", "rm-hint",
      "Drag nodes from the palette; drag from a node's right port onto another node to " +
      "connect. Wheel: zoom; drag the background: pan.");
    toolbar.append(this.deleteButton, this.undoButton, this.redoButton, hint);
    this.error = h("div", "rm-error rm-builder-error");

    this.palette = h("div", "rm-palette");
    const search = h("div", "rm-palette-top");
    this.search = h("input", "rm-palette-search");
    this.search.type = "search";
    this.search.placeholder = "Search nodes";
    this.refreshButton = button("rm-palette-refresh", "\u21bb",
      "Re-read the node registry (after defining nodes in the notebook)");
    search.append(this.search, this.refreshButton);
    this.list = h("div", "rm-palette-list");
    this.palette.append(search, this.list);

    this.stage = h("div", "rm-stage");
    this.svg = s("svg", { tabindex: 0 }, "rm-canvas");
    this.viewLayer = s("g", {}, "rm-view");
    this.edgeLayer = s("g", {}, "rm-edges");
    this.nodeLayer = s("g", {}, "rm-nodes");
    this.wire = s("path", {}, "rm-wire");
    this.viewLayer.append(this.edgeLayer, this.nodeLayer, this.wire);
    this.svg.append(this.viewLayer);
    const zoom = h("div", "rm-zoom");
    this.zoomOut = button("rm-zoom-out", "\u2212", "Zoom out");
    this.zoomLevel = h("span", "rm-zoom-level", "100%");
    this.zoomIn = button("rm-zoom-in", "+", "Zoom in");
    this.fitButton = button("rm-fit", "Fit", "Show the whole graph (readable on a projector)");
    zoom.append(this.zoomOut, this.zoomLevel, this.zoomIn, this.fitButton);
    this.toasts = h("div", "rm-toasts");
    this.stage.append(this.svg, zoom, this.toasts);
    this.problems = h("div", "rm-problems");

    const main = h("div", "rm-main");
    main.append(this.palette, this.stage);
    this.root.append(toolbar, this.error, main, this.problems);
    el.append(this.root);

    const on = (target, event, fn, options) =>
      target.addEventListener(event, (e) => this.guard(() => fn(e)), options);
    on(this.deleteButton, "click", () => this.deleteSelection());
    on(this.undoButton, "click", () => this.request({ type: "undo" }));
    on(this.redoButton, "click", () => this.request({ type: "redo" }));
    on(this.refreshButton, "click", () => this.model.send({ type: "refresh" }));
    on(this.zoomIn, "click", () => this.zoomAt(this.middle(), 1.25));
    on(this.zoomOut, "click", () => this.zoomAt(this.middle(), 0.8));
    on(this.fitButton, "click", () => this.fit());
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
    on(this.svg, "wheel", (e) => this.wheel(e), { passive: false });
    on(this.root, "keydown", (e) => this.historyKey(e));
    // the canvas gets its size after render (and again when the window or projector
    // resolution changes): fit then, unless the person chose their own view
    this.resizer = new ResizeObserver(() => this.guard(() => this.resized()));
    this.resizer.observe(this.svg);
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

  // -- requests and their answers -----------------------------------------------------------

  request(content, spot) {
    // `spot`: where, in graph coordinates, a refusal is shown (null: the canvas's corner)
    this.ask += 1;
    this.asks.set(this.ask, { kind: content.type, spot: spot || null, at: performance.now() });
    this.model.send({ ...content, ask: this.ask });
  }

  answered() {
    const answer = this.model.get("answer") || {};
    const asked = this.asks.get(answer.ask);
    if (!asked) return;
    this.asks.delete(answer.ask);
    if (answer.message) this.toast(answer.message, asked.spot);
    else if (asked.kind === "add") this.unmoved(() => this.reveal(this.model.get("selected")));
  }

  toast(message, spot) {
    const t = h("div", "rm-refusal", message);
    const { k, x, y } = this.view;
    const left = spot ? spot.x * k + x : 12;
    const top = spot ? spot.y * k + y : 12;
    const width = this.svg.clientWidth || 600;
    t.style.left = `${Math.max(4, Math.min(left, width - 260))}px`;
    t.style.top = `${Math.max(4, top - 36)}px`;
    this.toasts.append(t);
    setTimeout(() => t.remove(), TOAST_MS);
  }

  showHistory() {
    const steps = this.model.get("history") || {};
    this.undoButton.disabled = !steps.undo;
    this.redoButton.disabled = !steps.redo;
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
    this.drawProblems(graph.problems || []);
    this.root.dataset.rev = String(graph.rev || 0);
    this.showSelection();
    this.showLive();
    const shape = JSON.stringify([...this.nodes.values()].map((n) => [n.id, n.x, n.y]));
    const changed = shape !== this.shape;
    this.shape = shape;
    // a graph nobody here asked for (a load, a cell): show all of it. (An ask is
    // answered within moments; one a dead kernel never answered stops counting.)
    const now = performance.now();
    const asked = [...this.asks.values()].some((a) => now - a.at < 5000);
    if (!this.fitted || (changed && !asked && !this.allInView())) this.fit();
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
    // a running node's share of the end-to-end latency: a fill and a bar (see showLive)
    g.append(s("rect", { width: w, height: ht, rx: 6 }, "rm-node-heat"));
    g.append(s("rect", { x: 8, y: ht - 6, width: 0, height: 4, rx: 2 }, "rm-node-bar"));
    // the node's colour in the plots, as a band on its left edge
    g.append(s("rect", { x: 1, y: 1, width: 6, height: ht - 2, rx: 3, fill: color }, "rm-node-color"));
    const title = s("text", { x: 14, y: 22 }, "rm-node-title");
    title.textContent = clip(n.id, 15);
    const sub = s("text", { x: 14, y: 40 }, "rm-node-sub");
    sub.textContent = clip(n.label ? `${n.type} \u00b7 ${n.label}` : n.type, 24);
    const live = s("text", { x: 14, y: 56 }, "rm-node-live");
    const badges = s("text", { x: 0, y: -7 }, "rm-node-badges");
    const fail = s("text", { x: 0, y: ht + 17 }, "rm-node-fail");
    g.append(title, sub, live, badges, fail);
    const takes = n.accepts ? n.accepts.join(", ") : "anything";
    const gives = n.produces ? n.produces.join(", ") : "what it takes";
    const port = (cx, cls, tip) => titled(s("circle", { cx, cy: ht / 2, r: PORT_R }, cls), tip);
    const portIn = port(0, "rm-port rm-port-in", `input: takes ${takes}`);
    const portOut = port(w, "rm-port rm-port-out", `output: emits ${gives}`);
    portIn.dataset.nodeId = portOut.dataset.nodeId = n.id;
    g.append(portIn, portOut);
    if (n.problems.length) {
      const text = s("text", { x: 0, y: ht + 17 }, "rm-node-problem");
      const more = n.problems.length > 1 ? ` (+${n.problems.length - 1})` : "";
      text.textContent = clip(messageOf(n.problems[0]), 40) + more;
      g.append(text);
    }
    return g;
  }

  edgeEnds(e) {
    const a = this.nodes.get(e.from);
    const b = this.nodes.get(e.to);
    const { w, h: ht } = this.size;
    return [a.x + w, a.y + ht / 2, b.x, b.y + ht / 2];
  }

  edgePath(e) {
    const [x1, y1, x2, y2] = this.edgeEnds(e);
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
    // the bezier's middle (symmetric control points: the middle of its ends)
    const [x1, y1, x2, y2] = this.edgeEnds(e);
    g.append(s("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 8, "text-anchor": "middle" },
      "rm-edge-drops"));
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

  // -- live figures of a running session ------------------------------------------------

  showLive() {
    const live = this.model.get("live") || {};
    const figures = live.nodes || {};
    const drops = live.drops || {};
    this.root.dataset.live = Object.keys(figures).length ? "on" : "off";
    const at = {}; // drops where the pipeline meets the session, by node
    for (const [edge, n] of Object.entries(drops)) {
      const [from, to] = edge.split("->");
      if (from === "session" && this.nodes.has(to)) at[to] = `${n} dropped at input`;
      else if (to === "session" && this.nodes.has(from)) at[from] = `${n} dropped at output`;
    }
    for (const g of this.nodeLayer.children) this.liveNode(g, figures[g.dataset.nodeId], at);
    for (const g of this.edgeLayer.children) {
      const n = drops[`${g.dataset.from}->${g.dataset.to}`] || 0;
      g.classList.toggle("rm-dropping", n > 0);
      g.dataset.drops = String(n);
      g.querySelector(".rm-edge-drops").textContent = n ? `${n} dropped` : "";
    }
  }

  liveNode(g, f, at) {
    const id = g.dataset.nodeId;
    const { w } = this.size;
    const share = f ? f.share || 0 : 0;
    g.classList.toggle("rm-live", !!f);
    g.classList.toggle("rm-slowest", !!(f && f.slowest));
    g.classList.toggle("rm-failed", !!(f && f.error));
    g.classList.toggle("rm-restarted", !!(f && f.restarts));
    g.dataset.ms = f && f.ms !== null ? String(f.ms) : "";
    g.dataset.fps = f ? String(f.fps) : "";
    g.dataset.share = String(share);
    g.querySelector(".rm-node-heat").style.fillOpacity = f ? String(0.08 + 0.5 * share) : "0";
    g.querySelector(".rm-node-bar").setAttribute("width", String(Math.round(share * (w - 16))));
    g.querySelector(".rm-node-live").textContent = f ? `${ms(f.ms)} ms \u00b7 ${f.fps.toFixed(1)}/s` : "";
    const badges = [];
    if (f && f.slowest) badges.push("slowest");
    if (f && f.restarts) badges.push(`restarted ${f.restarts}\u00d7`);
    if (f && at[id]) badges.push(at[id]);
    g.querySelector(".rm-node-badges").textContent = badges.join(" \u00b7 ");
    g.querySelector(".rm-node-fail").textContent = f && f.error ? clip(`\u26a0 ${f.error}`, 34) : "";
    const lines = [g.tipText];
    if (f) {
      lines.push(`${ms(f.ms)} ms median, ${f.fps.toFixed(1)} frames/s, ` +
        `${Math.round(share * 100)}% of the end-to-end latency`);
      if (f.restarts) lines.push(`restarted ${f.restarts} time${f.restarts > 1 ? "s" : ""}`);
      if (f.error) lines.push(`error: ${f.error}`);
    }
    g.tip.textContent = lines.join("\n\n");
  }

  // -- the view: pan, zoom, fit -------------------------------------------------------------

  applyView() {
    const { k, x, y } = this.view;
    this.viewLayer.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
    this.zoomLevel.textContent = `${Math.round(k * 100)}%`;
    Object.assign(this.root.dataset, { zoom: k.toFixed(4), panX: x.toFixed(1), panY: y.toFixed(1) });
  }

  middle() {
    return { x: this.svg.clientWidth / 2, y: this.svg.clientHeight / 2 };
  }

  zoomAt(p, factor) {
    // keep the graph point under `p` (screen pixels in the canvas) where it is
    const { k, x, y } = this.view;
    const k2 = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, k * factor));
    this.view = { k: k2, x: p.x - ((p.x - x) / k) * k2, y: p.y - ((p.y - y) / k) * k2 };
    this.touched = true;
    this.applyView();
  }

  wheel(e) {
    e.preventDefault(); // the wheel zooms the graph, not the notebook
    const r = this.svg.getBoundingClientRect();
    const step = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY; // lines or pixels
    this.zoomAt({ x: e.clientX - r.left, y: e.clientY - r.top }, Math.exp(-step / 500));
  }

  bounds() {
    // every node's box, with the text above (badges) and below (problems, errors) it
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const n of this.nodes.values()) {
      x0 = Math.min(x0, n.x - PORT_R);
      y0 = Math.min(y0, n.y - 20);
      x1 = Math.max(x1, n.x + this.size.w + PORT_R);
      y1 = Math.max(y1, n.y + this.size.h + 22);
    }
    return { x0, y0, x1, y1 };
  }

  readableZoom() {
    // the zoom at which a title is READABLE_PX tall (its font size is in the stylesheet)
    const title = this.nodeLayer.querySelector(".rm-node-title");
    const px = title ? parseFloat(getComputedStyle(title).fontSize) : 0;
    return Math.min(1, px > 0 ? READABLE_PX / px : 1);
  }

  fit() {
    const width = this.svg.clientWidth;
    const height = this.svg.clientHeight;
    if (!width || !height) return; // not laid out yet: the resize observer fits later
    this.fitted = true;
    this.touched = false;
    if (!this.nodes.size) {
      this.view = { k: 1, x: 0, y: 0 };
      this.applyView();
      return;
    }
    const b = this.bounds();
    const [bw, bh] = [b.x1 - b.x0, b.y1 - b.y0];
    const room = (size) => Math.max(1, size - 2 * FIT_PAD);
    const k = Math.max(this.readableZoom(), Math.min(1, room(width) / bw, room(height) / bh));
    // centred when it fits; otherwise from its start (left, top), the rest panned to
    const place = (size, lo, span) =>
      span * k <= room(size) ? (size - span * k) / 2 - lo * k : FIT_PAD - lo * k;
    this.view = { k, x: place(width, b.x0, bw), y: place(height, b.y0, bh) };
    this.applyView();
  }

  allInView() {
    const { k, x, y } = this.view;
    const b = this.bounds();
    const [w, ht] = [this.svg.clientWidth, this.svg.clientHeight];
    return b.x0 * k + x >= 0 && b.y0 * k + y >= 0 && b.x1 * k + x <= w && b.y1 * k + y <= ht;
  }

  reveal(id) {
    // pan (never zoom) just enough that the node `id` is in view
    const n = this.nodes.get(id);
    if (!n) return;
    const { k } = this.view;
    const [w, ht] = [this.svg.clientWidth, this.svg.clientHeight];
    const [left, top] = [n.x * k + this.view.x, n.y * k + this.view.y];
    const [right, bottom] = [left + this.size.w * k, top + this.size.h * k];
    const dx = left < FIT_PAD ? FIT_PAD - left : right > w - FIT_PAD ? w - FIT_PAD - right : 0;
    const dy = top < FIT_PAD ? FIT_PAD - top : bottom > ht - FIT_PAD ? ht - FIT_PAD - bottom : 0;
    if (dx || dy) {
      this.view = { k, x: this.view.x + dx, y: this.view.y + dy };
      this.applyView();
    }
  }

  resized() {
    if (!this.fitted || !this.touched) this.unmoved(() => this.fit());
  }

  unmoved(fn) {
    // the view never moves under a drag (the node or wire would jump): after it, then
    if (this.gesture) this.gesture.after = fn;
    else fn();
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

  // -- selection, deletion, keys ------------------------------------------------------------

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
    if (this.edge) {
      const [x1, y1, x2, y2] = this.edgeEnds(this.edge);
      const spot = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
      this.request({ type: "disconnect", from: this.edge.from, to: this.edge.to }, spot);
    } else if (selected) {
      this.request({ type: "remove", id: selected }, this.nodes.get(selected));
    }
    this.edge = null;
  }

  key(e) {
    if (e.key === "Delete" || e.key === "Backspace") this.deleteSelection();
    else if (e.key === "Escape") this.select("");
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  historyKey(e) {
    // anywhere in the editor but its text boxes (they undo their own typing)
    if (!(e.ctrlKey || e.metaKey) || e.altKey || typing(e)) return;
    const key = e.key.toLowerCase();
    if (key === "z") this.request({ type: e.shiftKey ? "redo" : "undo" });
    else if (key === "y" && !e.shiftKey) this.request({ type: "redo" });
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  // -- gestures -------------------------------------------------------------------------------

  point(e) {
    // the graph coordinates under the pointer
    const r = this.svg.getBoundingClientRect();
    const { k, x, y } = this.view;
    return { x: (e.clientX - r.left - x) / k, y: (e.clientY - r.top - y) / k };
  }

  overCanvas(e) {
    const r = this.svg.getBoundingClientRect();
    return e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
  }

  moved(g, e) {
    g.moved = g.moved || Math.hypot(e.clientX - g.x0, e.clientY - g.y0) >= CLICK_PX;
    return g.moved;
  }

  endGesture() {
    const g = this.gesture;
    this.gesture = null;
    if (g && g.ghost) g.ghost.remove();
    this.svg.classList.remove("rm-drop-target", "rm-panning");
    this.wire.setAttribute("d", "");
    if (this.pending) this.drawGraph();
    if (g && g.after) g.after();
    return g;
  }

  paletteDown(e) {
    const item = e.target.closest(".rm-palette-item");
    if (!item || e.button !== 0) return;
    e.preventDefault();
    this.svg.focus({ preventScroll: true }); // so Ctrl-Z after an add is the editor's
    item.setPointerCapture(e.pointerId);
    this.gesture = { kind: "palette", type: item.dataset.nodeType, x0: e.clientX, y0: e.clientY };
  }

  paletteMove(e) {
    const g = this.gesture;
    if (!g || g.kind !== "palette" || !this.moved(g, e)) return;
    const { k } = this.view;
    if (!g.ghost) {
      // on document.body: a transformed ancestor would shift a position: fixed element
      g.ghost = h("div", "rm-ghost", g.type);
      g.ghost.style.width = `${this.size.w * k}px`;
      g.ghost.style.height = `${this.size.h * k}px`;
      document.body.append(g.ghost);
    }
    g.ghost.style.left = `${e.clientX - (this.size.w * k) / 2}px`;
    g.ghost.style.top = `${e.clientY - (this.size.h * k) / 2}px`;
    this.svg.classList.toggle("rm-drop-target", this.overCanvas(e));
  }

  paletteUp(e) {
    const g = this.gesture;
    if (!g || g.kind !== "palette") return;
    this.endGesture();
    if (!g.moved) {
      this.request({ type: "add", node_type: g.type }); // a click: Python picks a free slot
    } else if (this.overCanvas(e)) {
      const p = this.point(e);
      const x = Math.round(Math.max(0, p.x - this.size.w / 2));
      const y = Math.round(Math.max(0, p.y - this.size.h / 2));
      this.request({ type: "add", node_type: g.type, x, y }, p);
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
      this.gesture = { ...base, kind: "pan", vx: this.view.x, vy: this.view.y };
    }
    e.preventDefault();
    this.svg.setPointerCapture(e.pointerId);
  }

  canvasMove(e) {
    const g = this.gesture;
    if (!g || !["node", "wire", "pan"].includes(g.kind) || !this.moved(g, e)) return;
    if (g.kind === "pan") {
      this.svg.classList.add("rm-panning");
      this.view = { ...this.view, x: g.vx + e.clientX - g.x0, y: g.vy + e.clientY - g.y0 };
      this.touched = true;
      this.applyView();
      return;
    }
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
    if (!g || !["node", "wire", "pan"].includes(g.kind)) return;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
    if (g.kind === "pan") {
      this.endGesture();
      if (!g.moved) this.select(""); // a click on the background
    } else if (g.kind === "wire") {
      // the drop target: any part of a node (its input port is the obvious spot); its
      // own is sent too, so the refusal is explained rather than silently ignored
      const root = this.svg.getRootNode();
      const finder = root.elementFromPoint ? root : document;
      const under = finder.elementFromPoint(e.clientX, e.clientY);
      const target = under && under.closest(".rm-node");
      const spot = this.point(e);
      this.endGesture();
      if (target && this.svg.contains(target) && (g.moved || target.dataset.nodeId !== g.from)) {
        this.request({ type: "connect", from: g.from, to: target.dataset.nodeId }, spot);
      }
    } else if (g.moved) {
      const n = this.nodes.get(g.id);
      this.request({ type: "move", id: g.id, x: Math.round(n.x), y: Math.round(n.y) }, n);
      this.endGesture();
    } else {
      this.endGesture();
      this.select(g.id);
    }
  }

  dispose() {
    for (const [event, fn] of this.listeners) this.model.off(event, fn);
    this.resizer.disconnect();
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
