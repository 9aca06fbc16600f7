// rmlab live plots: a Bokeh layout drawn by BokehJS, fed with binary comm messages.
//
// The kernel builds the figures with Bokeh's Python API and syncs them once, as
// `bokeh.embed.json_item` in the `item` trait; this view embeds them with the page's
// BokehJS (loaded by `output_notebook(INLINE)`, or sent by the kernel on request).
// Data never goes through Bokeh's document protocol: the kernel's dispatcher sends at
// most one message per tick (10-20 a second), and each names the data sources to
// change and carries their columns as float32 buffers:
//
//   {type: "update", seq, t, ops: [{source, mode: "replace"|"stream", rollover,
//                                   columns: [name, ...]}, ...]}   + one buffer per column
//
// `t` is the kernel's send time (UNIX-epoch ms). Once BokehJS has drawn an update (the
// next animation frame), the view counts it and records `now - t`, readable in the
// page as `el.dataset.rmUpdates` / `el.dataset.rmLatencyMs` (refreshed every ACK_MS)
// and in `window.__rmPlots[name]` ({updates, latencies}, at once), so tests and
// `rmlab bench plots` count rendered updates and measure kernel-to-browser latency.
//
// Other messages. Page to kernel: {type: "drawn", seq} (the last update drawn, at most
// every ACK_MS: the kernel holds updates back while too many are undrawn, so a slow
// page gets fresher data instead of a backlog), {type: "ready"} after embedding (the
// kernel answers with a full snapshot, so a late or reloaded view starts complete),
// {type: "need-bokeh"} when no BokehJS appeared, {type: "error", message} for anything
// that failed here. Kernel to page: {type: "bokeh-js"} + the BokehJS source as buffers.

const BOKEH_WAIT_MS = 2000; // then ask the kernel for BokehJS
const BOKEH_GIVE_UP_MS = 30000;
const KEEP_LATENCIES = 4000;
const ACK_MS = 100;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function epochMs() {
  return performance.timeOrigin + performance.now();
}

function registry(name) {
  const all = (window.__rmPlots ??= {});
  return (all[name] ??= { updates: 0, latencies: [] });
}

async function waitForBokeh(model) {
  let asked = false;
  for (let waited = 0; !(window.Bokeh && window.Bokeh.embed); waited += 50) {
    if (waited >= BOKEH_WAIT_MS && !asked) {
      asked = true;
      model.send({ type: "need-bokeh" });
    }
    if (waited >= BOKEH_GIVE_UP_MS) {
      throw new Error("BokehJS did not load: run bokeh.io.output_notebook() and re-display");
    }
    await sleep(50);
  }
  return window.Bokeh;
}

function loadScripts(buffers) {
  // the kernel's BokehJS, as <script> elements with inline text (no network needed)
  if (window.Bokeh && window.Bokeh.embed) return;
  const decoder = new TextDecoder();
  for (const buf of buffers) {
    const script = document.createElement("script");
    script.textContent = decoder.decode(buf);
    document.head.append(script);
  }
}

function column(buf) {
  // comm buffers arrive as DataViews on the message; Bokeh keeps the typed array
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

class PlotView {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.stats = registry(model.get("name"));
    this.box = document.createElement("div");
    this.box.className = "rm-plot-body";
    this.error = document.createElement("div");
    this.error.className = "rm-plot-error";
    this.error.style.cssText = "color: var(--jp-error-color1, #c62828); white-space: pre-wrap;";
    el.classList.add("rm-plot", `rm-plot-${model.get("name")}`);
    el.dataset.rmUpdates = "0";
    el.append(this.box, this.error);
    this.doc = null;
    this.views = null;
    this.generation = 0; // a newer layout may arrive while one is being embedded
    this.onItem = () => this.embed();
    this.onMsg = (msg, buffers) => this.message(msg, buffers);
    model.on("change:item", this.onItem);
    model.on("msg:custom", this.onMsg);
  }

  fail(where, err) {
    const message = `${where}: ${err && err.message ? err.message : err}`;
    this.error.textContent = message;
    console.error("[rmlab plots]", message, err);
    this.model.send({ type: "error", message });
  }

  async embed() {
    const item = this.model.get("item");
    if (!item || !item.doc) return;
    const generation = ++this.generation;
    try {
      const Bokeh = await waitForBokeh(this.model);
      if (generation !== this.generation) return;
      if (this.views) this.views.clear();
      this.box.replaceChildren();
      this.doc = null;
      const views = await Bokeh.embed.embed_item(item, this.box);
      if (generation !== this.generation) return views.clear();
      this.views = views;
      this.doc = views.roots[0].model.document;
      const wanted = this.model.get("bokeh_version");
      this.error.textContent =
        wanted && Bokeh.version !== wanted
          ? `BokehJS ${Bokeh.version} is in this page but the kernel has Bokeh ${wanted}: ` +
            "reload the page after re-running the cell."
          : "";
      this.model.send({ type: "ready" }); // the kernel answers with everything
    } catch (err) {
      this.fail("drawing the plot", err);
    }
  }

  message(msg, buffers) {
    if (!msg) return;
    if (msg.type === "bokeh-js") {
      try {
        loadScripts(buffers);
      } catch (err) {
        this.fail("loading BokehJS", err);
      }
    } else if (msg.type === "update" && this.doc) {
      this.apply(msg, buffers); // before "ready", dropped: the snapshot after it has it all
    }
  }

  apply(msg, buffers) {
    try {
      let b = 0;
      for (const op of msg.ops) {
        const source = this.doc.get_model_by_name(op.source);
        const data = {};
        for (const name of op.columns) data[name] = column(buffers[b++]);
        if (!source) continue; // a layout without this series (replaced meanwhile)
        if (op.mode === "stream") source.stream(data, op.rollover);
        else source.data = data;
      }
    } catch (err) {
      this.fail("updating the plot", err);
      return;
    }
    requestAnimationFrame(() => this.drawn(msg.t, msg.seq));
  }

  drawn(t, seq) {
    const stats = this.stats;
    stats.updates += 1;
    this.updates = (this.updates ?? 0) + 1;
    this.latency = epochMs() - t;
    stats.latencies.push(this.latency);
    if (stats.latencies.length > KEEP_LATENCIES) stats.latencies.splice(0, KEEP_LATENCIES / 2);
    this.lastDrawn = seq;
    // Acknowledge, and show the counters, at most every ACK_MS: an attribute written on
    // every update would make the browser recalculate styles 60 times a second.
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = null;
      this.model.send({ type: "drawn", seq: this.lastDrawn });
      this.el.dataset.rmUpdates = String(this.updates);
      this.el.dataset.rmLatencyMs = this.latency.toFixed(1);
    }, ACK_MS);
  }

  remove() {
    this.model.off("change:item", this.onItem);
    this.model.off("msg:custom", this.onMsg);
    clearTimeout(this.ackTimer);
    if (this.views) this.views.clear();
  }
}

function render({ model, el }) {
  const view = new PlotView(model, el);
  view.embed();
  return () => view.remove();
}

export default { render };
