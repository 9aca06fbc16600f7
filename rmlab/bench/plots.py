"""``rmlab bench plots``: the live plots in a real browser while 50 frames/s flow through shm.

A ``Console`` runs a 440 Hz tone (50 frames of 20 ms per second) through a 3-node
shared-memory pipeline (gain -> lowpass -> out) in a JupyterLab kernel, with its
latency, scope and spectrum plots open in headless Chromium. Per row, over
``--seconds`` after a warm-up:

- **updates/s**: plot updates drawn by the page, per plot (each view counts an update
  once BokehJS has applied it, at the next animation frame);
- **latency**: kernel to browser, from the kernel's send time stamped in each update
  to that frame in the page (same machine, same clock);
- **plotting CPU**: CPU time of the kernel threads that plot (the dispatcher, plus
  ``feed`` on the consumer thread) as % of one core;
- **kernel CPU**: the whole kernel process (every thread: ipykernel's I/O, the
  session, the source), as % of one core. The ``no plots`` row is the same console
  with no plots, so the difference is what plotting costs the kernel in total.

Rows: ``rmlab`` (what the Console uses: Bokeh figures drawn by BokehJS, data in
binary anywidget messages), ``bokehmodel`` (the same figures and the same batching
through ``jupyter_bokeh.BokehModel``, Bokeh's document protocol: the baseline) and
``none``. Targets: >= 20 updates/s, <= 100 ms median latency, <= 10% of a core.

It needs the test extra (``pip install -e '.[test]'``: JupyterLab, Playwright,
nbformat) and Debian's ``chromium``. The JupyterLab server, browser and notebook
driver are ``rmlab.bench._browser``, which the browser tests use too.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rmlab.bench import _browser

__all__ = ["main", "make", "snapshot"]

MODES = {
    "rmlab": "rmlab (anywidget + BokehJS)",
    "bokehmodel": "jupyter_bokeh BokehModel",
    "none": "no plots (baseline)",
}
WARMUP_S = 2.0
ROW_TIMEOUT_S = 180.0  # beyond the measured seconds: then dump every stack and exit
CELL = """\
from rmlab.bench import plots as _bench
console, view = _bench.make({mode!r}, {rate!r})
view
"""

# The BokehModel baseline has no counters of its own: hook each document's "rm-stamp"
# source (changed last in every batch) to count and time updates like plots.js does.
_HOOK_JS = """() => {
  if (!window.Bokeh) return 0;
  const all = (window.__rmPlots ??= {});
  let hooked = 0;
  for (const doc of window.Bokeh.documents) {
    const stamp = doc.get_model_by_name("rm-stamp");
    if (!stamp) continue;
    hooked += 1;
    if (stamp.__rmHooked) continue;
    stamp.__rmHooked = true;
    const stats = (all["bokehmodel-" + stamp.id] ??= { updates: 0, latencies: [] });
    stamp.properties.data.change.connect(() => {
      const d = stamp.data;
      const t = (d instanceof Map ? d.get("t") : d.t)[0];
      requestAnimationFrame(() => {
        stats.updates += 1;
        stats.latencies.push(performance.timeOrigin + performance.now() - t);
      });
    });
  }
  return hooked;
}"""
_PAGE_JS = """() => Object.fromEntries(Object.entries(window.__rmPlots ?? {}).map(
  ([k, v]) => [k, { updates: v.updates, latencies: [...v.latencies] }]))"""


# -- in the kernel ------------------------------------------------------------------------


def _manifest() -> Any:
    from rmlab.manifest import Manifest

    return (
        Manifest(name="bench-plots")
        .add("gain", "Gain", gain_db=-6.0)
        .add("lowpass", "Filter", cutoff_hz=2000.0)
        .add("out", "PassThrough")
        .connect("gain", "lowpass")
        .connect("lowpass", "out")
    )


def make(mode: str, rate: float) -> tuple[Any, Any]:
    """The bench's console for ``mode`` and the widget to display (run in the kernel)."""
    import ipywidgets as widgets

    from rmlab.lab._bokeh import ensure_bokehjs
    from rmlab.lab.console import Console

    ensure_bokehjs()
    if mode == "bokehmodel":
        console = _model_console(_manifest(), "tone", executor="shm", rate=rate)
        models = [p.bokeh_model for p in console.plots]
        return console, widgets.VBox([console, *models])
    console = Console(_manifest(), "tone", executor="shm", plots=mode == "rmlab", rate=rate)
    return console, console


def snapshot(console: Any) -> None:
    """Print the kernel's counters as JSON (the driver reads stdout)."""
    status = console.status
    print(json.dumps({
        "t": time.monotonic(),
        "process_cpu": time.process_time(),
        "plot_cpu": console.dispatcher.cpu_s + console._feed_cpu,
        "in_fps": status.get("in_fps", 0.0),
        "drops": status.get("drops", 0),
    }))  # fmt: skip


def _model_plots() -> tuple[Any, Any, Any]:
    from rmlab.lab.plots import LatencyPlot, ScopePlot, SpectrumPlot

    class ViaBokehModel:
        """The plot's own figures and batches, sent through Bokeh's document protocol."""

        bokeh_model: Any = None
        sent: int

        def set_layout(self, layout: Any) -> None:
            from bokeh.models import ColumnDataSource, Plot
            from jupyter_bokeh import BokehModel

            stamp = ColumnDataSource({"t": [0.0]}, name="rm-stamp")
            next(iter(layout.select({"type": Plot}))).scatter("t", "t", source=stamp, visible=False)
            self._sources = {s.name: s for s in layout.select({"type": ColumnDataSource})}
            self._doc_root = layout
            if self.bokeh_model is None:
                self.bokeh_model = BokehModel(layout)
            else:
                self.bokeh_model.update_from_model(layout)

        def send_ops(self, ops: Any) -> int:
            doc = self._doc_root.document
            doc.hold("combine")
            try:
                for name, mode, columns, rollover in ops:
                    cols = {k: np.asarray(v, np.float32) for k, v in columns.items()}
                    source = self._sources.get(name)
                    if source is not None and mode == "stream":
                        source.stream(cols, rollover)
                    elif source is not None:
                        source.data = cols
                self._sources["rm-stamp"].data = {"t": [time.time() * 1000]}
            finally:
                doc.unhold()
            self.sent += 1
            return 0

    class Latency(ViaBokehModel, LatencyPlot):
        pass

    class Scope(ViaBokehModel, ScopePlot):
        pass

    class Spectrum(ViaBokehModel, SpectrumPlot):
        pass

    return Latency(), Scope(), Spectrum()


def _console_class() -> type:
    from rmlab.lab.console import Console

    class ModelConsole(Console):
        def _make_plots(self) -> Any:
            return _model_plots()

    return ModelConsole


def _model_console(*args: Any, **kwargs: Any) -> Any:
    return _console_class()(*args, **kwargs)


# -- the driver ---------------------------------------------------------------------------


@contextlib.contextmanager
def _lab() -> Iterator[Any]:
    """A private JupyterLab, Chromium and notebook driver (the browser tests' own)."""
    if reason := _browser.missing_browser():
        raise SystemExit(f"rmlab bench plots: {reason}")
    for module in ("jupyterlab", "nbformat"):
        if importlib.util.find_spec(module) is None:
            raise SystemExit(
                f"rmlab bench plots: {module} is not installed (pip install -e '.[test]')"
            )
    with (
        tempfile.TemporaryDirectory(prefix="rmlab-bench-plots-") as tmp,
        contextlib.ExitStack() as st,
    ):
        # exits in reverse: kernels shut down, then the browser closes, then the server
        server = st.enter_context(_browser.jupyter_lab_server(Path(tmp) / "jupyter"))
        mic = _browser.write_fake_mic(Path(tmp) / "audio")
        browser = st.enter_context(_browser.chromium(mic))
        lab = _browser.Lab(browser, server)
        st.callback(lab.close)
        yield lab


def _measure(lab: Any, mode: str, rate: float, seconds: float) -> dict[str, Any]:
    nb = lab.open([CELL.format(mode=mode, rate=rate)])
    try:
        nb.run_all()
        page = nb.page
        if mode != "none":
            page.locator(".bk-Canvas, canvas").first.wait_for(timeout=60_000)
        page.locator(".rm-start:not([disabled])").click()
        page.locator('.rm-status [data-state="running"]').wait_for(timeout=60_000)
        time.sleep(WARMUP_S)
        if mode == "bokehmodel":
            page.wait_for_function(_HOOK_JS, timeout=30_000)
        k0, p0 = json.loads(nb.execute("_bench.snapshot(console)")), page.evaluate(_PAGE_JS)
        time.sleep(seconds)
        k1, p1 = json.loads(nb.execute("_bench.snapshot(console)")), page.evaluate(_PAGE_JS)
        nb.execute("console.stop()")
    finally:
        lab.close()
    dt = k1["t"] - k0["t"]
    plots = [k for k in p1 if k in p0]
    rates = [(p1[k]["updates"] - p0[k]["updates"]) / dt for k in plots]
    lat = [x for k in plots for x in p1[k]["latencies"][len(p0[k]["latencies"]) :]]
    return {
        "updates": float(np.mean(rates)) if rates else float("nan"),
        "lat_med": float(np.median(lat)) if lat else float("nan"),
        "lat_p95": float(np.percentile(lat, 95)) if lat else float("nan"),
        "plot_cpu": 100 * (k1["plot_cpu"] - k0["plot_cpu"]) / dt,
        "kernel_cpu": 100 * (k1["process_cpu"] - k0["process_cpu"]) / dt,
        "fps": k1["in_fps"],
        "drops": k1["drops"] - k0["drops"],
    }


def _fmt(v: float, spec: str = ".1f") -> str:
    return "-" if v != v else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    """Print the plot table (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="rmlab bench plots", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--seconds", type=float, default=10.0, help="measured time per row")
    ap.add_argument("--rate", type=float, default=20.0, help="plot updates per second at most")
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = ap.parse_args(argv)
    t_all = time.monotonic()
    rows: dict[str, dict[str, Any]] = {}
    with _lab() as lab:
        for mode in args.modes:
            print(f"measuring {MODES[mode]} ...", file=sys.stderr, flush=True)
            # a browser or kernel that stops answering must not hang the bench silently
            faulthandler.dump_traceback_later(args.seconds + ROW_TIMEOUT_S, exit=True)
            rows[mode] = _measure(lab, mode, args.rate, args.seconds)
        faulthandler.cancel_dump_traceback_later()
    print(
        f"\nlive plots at <= {args.rate:g} updates/s, tone at 50 frames/s through "
        f"gain -> lowpass -> out on shm, {args.seconds:g} s per row (headless Chromium)"
    )
    head = (f"{'transport':<28} {'updates/s':>9} {'lat med ms':>10} {'lat p95 ms':>10} "
            f"{'plot CPU %':>10} {'kernel CPU %':>12} {'frames/s':>8} {'drops':>5}")  # fmt: skip
    print(head)
    for mode, r in rows.items():
        none = mode == "none"
        print(
            f"{MODES[mode]:<28} {_fmt(r['updates'] if not none else float('nan')):>9} "
            f"{_fmt(r['lat_med']):>10} {_fmt(r['lat_p95']):>10} "
            f"{_fmt(r['plot_cpu'] if not none else float('nan')):>10} "
            f"{_fmt(r['kernel_cpu']):>12} {_fmt(r['fps']):>8} {r['drops']:>5}"
        )
    if "none" in rows:
        base = rows["none"]["kernel_cpu"]
        extra = ", ".join(
            f"{MODES[m]} {rows[m]['kernel_cpu'] - base:+.1f}" for m in rows if m != "none"
        )
        print(f"whole-kernel CPU for plotting (vs no plots), % of a core: {extra}")
    print("targets: >= 20 updates/s, <= 100 ms median latency, <= 10% of a core")
    print(f"({time.monotonic() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
