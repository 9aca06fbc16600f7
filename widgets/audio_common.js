// Helpers shared by rmlab's audio widgets (browser_mic.js, browser_speaker.js).
//
// Not a module of its own: Python prepends this file to each widget's file, so every
// widget still ships as one self-contained ES module (anywidget loads the module from
// a string, where relative imports cannot resolve, and nothing may come from a CDN).

function el_(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function epochMs() {
  return performance.timeOrigin + performance.now();
}

function userError(message) {
  // an error whose message is already written for the person at the page
  const err = new Error(message);
  err.name = "RmlabError";
  return err;
}

// The widget's chrome, with stable classes for tests and styling: `rm-<kind>` on the
// root, `rm-<kind>-start`, `-stop`, `-status`, `-error`, and `meterClass` on the meter.
function audioControls(el, kind, meterClass, meterTitle) {
  const c = {
    root: el_("div", `rm-audio rm-${kind}`),
    start: el_("button", `rm-${kind}-start`, "Start"),
    stop: el_("button", `rm-${kind}-stop`, "Stop"),
    meter: el_("div", `rm-meter ${meterClass}`),
    bar: el_("div"),
    status: el_("span", `rm-status rm-${kind}-status`),
    error: el_("div", `rm-error rm-${kind}-error`),
  };
  c.meter.title = meterTitle;
  c.meter.append(c.bar);
  c.root.append(c.start, c.stop, c.meter, c.status, c.error);
  el.append(c.root);
  return c;
}

// Load an AudioWorklet processor from its source text: a Blob URL needs no file served.
async function loadWorklet(ctx, source) {
  if (!ctx.audioWorklet) {
    throw userError("This browser has no AudioWorklet: use a current Chrome, Firefox or Safari.");
  }
  const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
  try {
    await ctx.audioWorklet.addModule(url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

// anywidget's render() for a view class. A failure is shown in the page and in the
// `error` trait (so the kernel sees it too), never swallowed.
function renderView(name, View, { model, el }) {
  try {
    const view = new View(model, el);
    return () => view.dispose();
  } catch (err) {
    console.error(`[rmlab] ${name} failed to render:`, err);
    el.append(el_("div", "rm-audio rm-error", `${name} failed to render: ${err}`));
    model.set("error", `render: ${err}`);
    model.save_changes();
  }
}
