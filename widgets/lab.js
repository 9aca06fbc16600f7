// rmlab Lab: tells the Lab's stylesheet how tall one screen of the notebook is.
//
// The presentation layout (rmlab.css) puts the canvas and the live plots side by side
// in a box exactly as tall as the area the notebook scrolls in, so nothing the person
// works with is ever below the fold. Only the page knows that height: JupyterLab's
// notebook panel, a classic notebook's page and Voila's page each scroll a different
// element. This view (an invisible part of the Lab) finds it, the outermost ancestor
// that may scroll (JupyterLab's .jp-WindowedPanel-outer, Voila's #rendered_cells),
// or else the window, and writes its height into the Lab's CSS variable
// `--rm-fit-height`, again whenever that element or the window is resized. Outermost,
// because the output areas around a widget may scroll too but are as tall as their
// content: measuring one of those would size the Lab by itself.

const MARGIN = 8; // px: the cell's padding below the Lab
const MIN = 480; // px: smaller than this, fitting everything in one screen helps no one

function scroller(el) {
  let found = null;
  for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
    const y = getComputedStyle(e).overflowY;
    if ((y === "auto" || y === "scroll") && e.clientHeight > 0) found = e;
  }
  return found;
}

function render({ el }) {
  el.classList.add("rm-lab-fit");
  let lab = null;
  let box = null;
  let frame = 0;
  const observer = new ResizeObserver(() => fit());
  const fit = () => {
    const tall = box ? Math.min(box.clientHeight, window.innerHeight) : window.innerHeight;
    const height = `${Math.max(MIN, tall - MARGIN)}px`;
    if (lab.style.getPropertyValue("--rm-fit-height") !== height) {
      lab.style.setProperty("--rm-fit-height", height);
    }
  };
  const attach = () => {
    // the view is put into the page after render returns: wait until it is there
    lab = el.isConnected ? el.closest(".rm-lab") : null;
    if (!lab) {
      frame = requestAnimationFrame(attach);
      return;
    }
    box = scroller(lab);
    if (box) observer.observe(box);
    window.addEventListener("resize", fit);
    fit();
  };
  attach();
  return () => {
    cancelAnimationFrame(frame);
    observer.disconnect();
    window.removeEventListener("resize", fit);
  };
}

export default { render };
