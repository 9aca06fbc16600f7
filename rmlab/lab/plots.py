"""Live plots of a running pipeline: latency, a scope and a spectrum (Bokeh).

Each plot is a widget (``BokehCanvas``: Bokeh figures drawn in the page, data sent
as binary batches, see ``rmlab.lab._bokeh``) with the same three-step life:

- ``feed(output)``, ``feed_hop(hop)``, ``feed_input(frame)``: called for every
  output and every node's ``process`` call by a watcher of the session (on its pump
  thread, beside any speaker or ``pull()`` loop), and for every frame pushed by the
  source's thread. Cheap and never blocking: append to a list, copy a block into a
  ring.
- ``flush()``: called by the ``Dispatcher`` thread at a bounded rate (20/s by
  default). It turns whatever arrived since the last call into **one** message, or
  none if nothing changed. Frames arrive at 50/s or more; the page gets at most
  ``rate`` messages per plot per second, so the plots can never fall behind.
- ``reset(nodes, sinks)``: a new pipeline (new series, empty rings).

``height``: each plot is ``HEIGHT`` (280) pixels tall and as wide as its box; with
``height=None`` it fills its box's height too (the ``Lab`` sizes those boxes to the
screen).

``data`` mirrors what the page holds (per data source, its columns), so tests and
notebooks can read the plotted values without a browser.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rmlab import Audio, Numpy, Output, RuntimeData
from rmlab.events import HopDone
from rmlab.lab._bokeh import BokehCanvas, Op

__all__ = ["PALETTE", "Dispatcher", "LatencyPlot", "ScopePlot", "SpectrumPlot", "node_colors"]

_E2E = "end to end"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip  # Category10; graph.js has a copy
"""Node colours, by a node's position in its manifest (the Builder's graph uses the same)."""
_E2E_COLOR = "#333333"
_FLOOR_MS = 1e-3  # latency axes are logarithmic: a 0 ms hop is drawn at 1 us
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
_HIST_EVERY = 4  # flushes per histogram update
# Sized to be read from the back of a room on a projector (1920x1080), not on a laptop.
LINE_WIDTH = 3.0
_FONTS = {"title": "14pt", "axis_label": "13pt", "tick": "12pt", "legend": "12pt"}
HEIGHT = 280
"""A plot's height in pixels unless given; ``height=None`` fills its container instead."""
_MIN_HEIGHT = 120  # a filling plot never gets shorter (nor collapses in a box of no height)


def node_colors(node_ids: Iterable[str]) -> dict[str, str]:
    """Each node's colour, by its position among ``node_ids`` (a manifest's, in order).

    By manifest position rather than pipeline order so that a node keeps its colour
    while the graph is edited around it, and the Builder's graph (``widgets/graph.js``),
    the latency series and the histogram all agree.
    """
    return {nid: PALETTE[i % len(PALETTE)] for i, nid in enumerate(node_ids)}


def _sizing(height: int | None) -> dict[str, Any]:
    """Bokeh's sizing for ``height``: that many pixels and the container's width, or
    (None) the container's width and height, so a page layout can size the plot."""
    if height is None:
        return {"sizing_mode": "stretch_both", "min_height": _MIN_HEIGHT}
    return {"sizing_mode": "stretch_width", "height": height}


def _figure(
    title: str, *, legend: str | None = None, height: int | None = HEIGHT, **kwargs: Any
) -> Any:
    """A figure styled for a projector; ``legend``: where its legend goes, outside the
    data ("right" or "above"), so no line is ever hidden under it."""
    from bokeh.models import Legend
    from bokeh.plotting import figure

    fig = figure(title=title, tools=_TOOLS, output_backend="canvas", **_sizing(height), **kwargs)
    fig.title.text_font_size = _FONTS["title"]
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.axis_label_text_font_size = _FONTS["axis_label"]
        axis.major_label_text_font_size = _FONTS["tick"]
    if legend is not None:
        # made before the glyphs: their legend_label items then land in this one
        fig.add_layout(
            Legend(
                click_policy="hide",  # click a series' name to hide it
                label_text_font_size=_FONTS["legend"],
                orientation="horizontal" if legend == "above" else "vertical",
                border_line_alpha=0,
            ),
            legend,
        )
    return fig


def _anchor(fig: Any, x: tuple[float, float], y: tuple[float, float]) -> None:
    """An invisible glyph spanning ``x`` by ``y``: the auto-ranged axes show this extent
    before any data (not an empty box, nor a log axis warning about an empty range),
    and grow beyond it when the data does."""
    fig.scatter(list(x), list(y), size=0, alpha=0)


class _Plot(BokehCanvas):
    """What every live plot shares: a lock, ``data``, ``flush``."""

    def __init__(self, name: str, height: int | None = HEIGHT, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.height = height
        """Pixels, or None: as tall as the page makes its box (``Lab``'s layout does)."""
        self._lock = threading.Lock()
        self.data: dict[str, dict[str, np.ndarray]] = {}

    def feed(self, out: Output) -> None:
        """Take note of one output of the session (its pump thread)."""

    def feed_hop(self, hop: HopDone) -> None:
        """Take note of one ``process`` call of a node (the session's pump thread)."""

    def feed_input(self, frame: RuntimeData) -> None:
        """Take note of one frame pushed into the session (source thread)."""

    def reset(
        self, nodes: Sequence[str], sinks: Sequence[str], colors: Mapping[str, str] | None = None
    ) -> None:
        """Start over for a pipeline of ``nodes`` whose outputs come from ``sinks``;
        ``colors``: each node's colour, where the plot draws nodes."""

    def flush(self) -> bool:
        """Send what changed since the last flush as one message; True if one was sent.

        Nothing is sent while the page is behind (``ready_to_send``): what arrived
        meanwhile stays queued and goes with the next message.
        """
        if not self.ready_to_send():
            return False
        snapshot = self.take_snapshot_request()
        with self._lock:
            ops = self._ops(snapshot)
        if not ops:
            return False
        for source, mode, columns, rollover in ops:
            self._mirror(source, mode, columns, rollover)
        self.send_ops(ops)
        return True

    def _ops(self, snapshot: bool) -> list[Op]:
        """The changes to send (holding the lock); everything when ``snapshot``."""
        raise NotImplementedError

    def _mirror(
        self, source: str, mode: str, columns: dict[str, np.ndarray], rollover: Any
    ) -> None:
        old = self.data.get(source)
        if mode == "stream" and old is not None:
            columns = {k: np.concatenate([old[k], v])[-rollover:] for k, v in columns.items()}
        self.data[source] = columns


class LatencyPlot(_Plot):
    """Per-node processing time and end-to-end latency: a rolling series and a histogram.

    A node's series is fed by its ``HopDone`` events (``done - recv`` of each
    ``process`` call, the samples ``Session.stats()`` summarises, whether or not the
    call emitted anything); end to end is each sink output's origin to arrival at the
    session. The series keep the last ``window_s`` seconds (at up to ``max_rate``
    frames/s); the histogram counts the same window in logarithmic bins and is
    redrawn at every fourth flush (5 times a second at 20 flushes/s).
    """

    def __init__(self, nodes: Sequence[str] = (), sinks: Sequence[str] = (), *,
                 window_s: float = 10.0, max_rate: float = 100.0,
                 height: int | None = HEIGHT) -> None:  # fmt: skip
        super().__init__("latency", height)
        self.window = max(1, round(window_s * max_rate))
        self.window_s = window_s
        self.reset(nodes, sinks)

    def reset(
        self,
        nodes: Sequence[str],
        sinks: Sequence[str],
        colors: Mapping[str, str] | None = None,
    ) -> None:
        """Start over for ``nodes`` (in pipeline order: the legend's order); ``colors``
        maps node ids to colours (default: ``node_colors(nodes)``; the console passes
        the manifest's, which the Builder's graph shows too)."""
        from bokeh.layouts import row
        from bokeh.models import ColumnDataSource

        with self._lock:
            self.series = [*nodes, _E2E]
            self.sinks = set(sinks)
            self._key = {s: f"lat{i}" for i, s in enumerate(self.series)}
            self._new: dict[str, list[tuple[float, float]]] = {s: [] for s in self.series}
            self._recent = {s: deque[float](maxlen=self.window) for s in self.series}
            self._flushes = 0
            self._t0 = time.monotonic_ns()
            self.data = {}
        self.colors = {**node_colors(nodes), **(colors or {}), _E2E: _E2E_COLOR}
        ts = _figure("latency (ms)", legend="right", y_axis_type="log", height=self.height,
                     x_axis_label="time (s)", y_axis_label="ms")  # fmt: skip
        hist = _figure("distribution", legend="right", x_axis_type="log", height=self.height,
                       x_axis_label="ms", y_axis_label="frames")  # fmt: skip
        _anchor(ts, (0.0, self.window_s), (0.01, 100.0))
        _anchor(hist, (0.01, 100.0), (0.0, 1.0))
        # end to end first, so it is drawn under the per-node lines (wide, dashed, pale)
        for s in (_E2E, *nodes):
            color, key, e2e = self.colors[s], self._key[s], s == _E2E
            dash = "dashed" if e2e else "solid"
            src = ColumnDataSource({"x": [], "y": []}, name=key)
            ts.line("x", "y", source=src, color=color, legend_label=s, line_dash=dash,
                    line_width=LINE_WIDTH + 1 if e2e else LINE_WIDTH,
                    line_alpha=0.55 if e2e else 1.0)  # fmt: skip
            hsrc = ColumnDataSource({"left": [], "right": [], "top": []}, name=f"{key}h")
            hist.quad(left="left", right="right", top="top", bottom=0, source=hsrc,
                      color=color, fill_alpha=0.3, line_alpha=0.9, line_width=2,
                      line_dash=dash, legend_label=s)  # fmt: skip
        for f in (ts, hist):  # the legends in pipeline order, end to end last
            items = list(f.legend[0].items)
            f.legend[0].items = [*items[1:], items[0]]
        self.figures = (ts, hist)
        self.set_layout(row(ts, hist, sizing_mode=_sizing(self.height)["sizing_mode"]))

    def feed_hop(self, hop: HopDone) -> None:
        # one sample per event: a coalesced one (hop.count > 1) stands for its calls
        t = (hop.done_ns - self._t0) / 1e9
        with self._lock:
            new = self._new.get(hop.node_id)
            if new is not None:  # None: a node of another pipeline (a swap's old session)
                new.append((t, (hop.done_ns - hop.recv_ns) / 1e6))

    def feed(self, out: Output) -> None:
        tr = out.trace
        if tr.arrived_ns and (out.node_id in self.sinks or not self.sinks):
            t = (tr.arrived_ns - self._t0) / 1e9
            with self._lock:
                self._new[_E2E].append((t, tr.latency_ns / 1e6))

    def _ops(self, snapshot: bool) -> list[Op]:
        ops: list[Op] = []
        changed = False
        for s in self.series:
            new, self._new[s] = self._new[s], []
            self._recent[s].extend(y for _, y in new)
            changed = changed or bool(new)
            key = self._key[s]
            if snapshot:
                old = self.data.get(key, {"x": np.zeros(0), "y": np.zeros(0)})
                ops.append((key, "replace", self._joined(old, new), None))
            elif new:
                pts = np.array(new, dtype=np.float64).reshape(-1, 2)
                cols = {"x": pts[:, 0], "y": np.maximum(pts[:, 1], _FLOOR_MS)}
                ops.append((key, "stream", cols, self.window))
        self._flushes += 1
        # a histogram of the last seconds barely moves in 50 ms: redraw it 5 times a second
        if snapshot or (changed and self._flushes % _HIST_EVERY == 0):
            ops.extend(self._histograms())
        return ops

    def _joined(self, old: dict[str, np.ndarray], new: list[tuple[float, float]]) -> dict:
        pts = np.array(new, dtype=np.float64).reshape(-1, 2)
        x = np.concatenate([old["x"], pts[:, 0]])[-self.window :]
        y = np.concatenate([old["y"], np.maximum(pts[:, 1], _FLOOR_MS)])[-self.window :]
        return {"x": x, "y": y}

    def _histograms(self) -> list[Op]:
        values = {s: np.maximum(np.fromiter(v, np.float64), _FLOOR_MS)
                  for s, v in self._recent.items() if v}  # fmt: skip
        if not values:
            return []
        lo = min(float(v.min()) for v in values.values())
        hi = max(float(v.max()) for v in values.values())
        # 10 bins per decade on whole decades: bins stay put while the data moves
        d0, d1 = (
            math.floor(math.log10(lo)),
            max(math.ceil(math.log10(hi)), math.floor(math.log10(lo)) + 1),
        )
        edges = np.logspace(d0, d1, 10 * (d1 - d0) + 1)
        ops: list[Op] = []
        for s, v in values.items():
            counts, _ = np.histogram(v, edges)
            cols = {"left": edges[:-1], "right": edges[1:], "top": counts.astype(np.float64)}
            ops.append((f"{self._key[s]}h", "replace", cols, None))
        return ops


class _Ring:
    """The last ``size`` samples of a mono signal (channel 0), and its sample rate."""

    def __init__(self, size: int) -> None:
        self.buf = np.zeros(size, np.float32)
        self.filled = 0
        self.rate = 0
        self.dirty = False

    def write(self, x: np.ndarray, rate: int) -> None:
        if rate != self.rate:
            self.filled, self.rate = 0, rate
        n = min(len(x), len(self.buf))
        self.buf[:-n] = self.buf[n:]
        self.buf[-n:] = x[-n:]
        self.filled = min(self.filled + n, len(self.buf))
        self.dirty = True

    def last(self) -> np.ndarray:
        return self.buf[len(self.buf) - self.filled :]


def _mono(frame: RuntimeData) -> tuple[np.ndarray, int] | None:
    """Channel 0 of an Audio frame with its rate, a numeric Numpy array flattened
    (rate 0), or None for anything else."""
    if isinstance(frame, Audio):
        x = frame.samples if frame.channels == 1 else frame.samples[:: frame.channels]
        return x, frame.sample_rate
    if isinstance(frame, Numpy) and frame.array.dtype.kind in "biuf" and frame.array.size:
        return frame.array.reshape(-1).astype(np.float32), 0
    return None


class _NodeChoice:
    """Mixin: which node's outputs the plot shows (None: the first sink)."""

    node: str | None
    sinks: Sequence[str]

    def _shows(self, out: Output) -> bool:
        want = self.node if self.node is not None else (self.sinks[0] if self.sinks else None)
        return want is None or out.node_id == want


class ScopePlot(_NodeChoice, _Plot):
    """The last ``window_ms`` of the input pushed and of one node's outputs.

    Audio is drawn against time (ms, 0 = now); a Numpy output is drawn as the array
    it is (x: index). ``node`` picks the node (None: the first sink). At most
    ``max_points`` points per line are sent (every k-th sample).
    """

    def __init__(self, node: str | None = None, *, window_ms: float = 50.0,
                 max_points: int = 1000, max_rate: int = 192000,
                 height: int | None = HEIGHT) -> None:  # fmt: skip
        super().__init__("scope", height)
        from bokeh.models import ColumnDataSource

        self.node, self.sinks = node, ()
        self.window_ms, self.max_points = window_ms, max_points
        self._size = math.ceil(window_ms * max_rate / 1000)
        self._in, self._out = _Ring(self._size), _Ring(self._size)
        self._array: np.ndarray | None = None
        fig = _figure("scope", legend="above", x_axis_label="ms (arrays: index)",
                      y_axis_label="amplitude", height=height)  # fmt: skip
        _anchor(fig, (-window_ms, 0.0), (-1.0, 1.0))
        for key, label, color in (("in", "input", "#999999"), ("out", "output", "#111111")):
            src = ColumnDataSource({"x": [], "y": []}, name=f"scope-{key}")
            fig.line("x", "y", source=src, color=color, legend_label=label, line_width=LINE_WIDTH)
        self.figures = (fig,)
        self.set_layout(fig)

    def reset(
        self, nodes: Sequence[str], sinks: Sequence[str], colors: Mapping[str, str] | None = None
    ) -> None:
        with self._lock:
            self.sinks = tuple(sinks)
            self._in, self._out = _Ring(self._size), _Ring(self._size)
            self._array = None
            self.data = {}

    def feed_input(self, frame: RuntimeData) -> None:
        mono = _mono(frame)
        if mono is not None and mono[1]:
            with self._lock:
                self._in.write(*mono)

    def feed(self, out: Output) -> None:
        if not self._shows(out):
            return
        mono = _mono(out.data)
        if mono is None:
            return
        with self._lock:
            if mono[1]:
                self._out.write(*mono)
                self._array = None
            else:
                self._array = mono[0][: 8 * self.max_points]

    def _ops(self, snapshot: bool) -> list[Op]:
        ops: list[Op] = []
        for key, ring in (("in", self._in), ("out", self._out)):
            if key == "out" and self._array is not None:
                y = self._array
                x = np.arange(len(y), dtype=np.float64)
                ops.append(("scope-out", "replace", self._thin(x, y), None))
                self._array = None
            elif ring.dirty or (snapshot and ring.filled):
                ring.dirty = False
                n = min(ring.filled, math.ceil(self.window_ms * ring.rate / 1000))
                y = ring.buf[len(ring.buf) - n :]
                x = (np.arange(n, dtype=np.float64) - n) * 1000.0 / ring.rate
                ops.append((f"scope-{key}", "replace", self._thin(x, y), None))
        return ops

    def _thin(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        k = max(1, math.ceil(len(y) / self.max_points))
        return {"x": x[::k], "y": np.asarray(y[::k], dtype=np.float64)}


class SpectrumPlot(_NodeChoice, _Plot):
    """Magnitude spectrum (dBFS, Hann window) of the last ``n_fft`` samples of a node.

    ``node`` picks the node (None: the first sink); tap it first if it is not a sink
    (``Console`` does). Numpy outputs are transformed as arrays (x: frequency in
    cycles per sample).
    """

    def __init__(
        self, node: str | None = None, *, n_fft: int = 2048, height: int | None = HEIGHT
    ) -> None:
        super().__init__("spectrum", height)
        from bokeh.models import ColumnDataSource

        self.node, self.sinks = node, ()
        self.n_fft = n_fft
        self._ring = _Ring(n_fft)
        self._window = np.hanning(n_fft).astype(np.float32)
        fig = _figure("spectrum", x_axis_type="log", x_axis_label="Hz", y_axis_label="dBFS",
                      y_range=(-140, 10), height=height)  # fmt: skip
        _anchor(fig, (20.0, 20000.0), (-140.0, 10.0))
        src = ColumnDataSource({"x": [], "y": []}, name="spectrum")
        fig.line("x", "y", source=src, color="#111111", line_width=LINE_WIDTH)
        self.figures = (fig,)
        self.set_layout(fig)

    def reset(
        self, nodes: Sequence[str], sinks: Sequence[str], colors: Mapping[str, str] | None = None
    ) -> None:
        with self._lock:
            self.sinks = tuple(sinks)
            self._ring = _Ring(self.n_fft)
            self.data = {}

    def feed(self, out: Output) -> None:
        if not self._shows(out):
            return
        mono = _mono(out.data)
        if mono is not None:
            with self._lock:
                self._ring.write(*mono)

    def _ops(self, snapshot: bool) -> list[Op]:
        ring = self._ring
        if not (ring.dirty or (snapshot and ring.filled)):
            return []
        ring.dirty = False
        x = ring.last()
        n = len(x)
        w = self._window if n == self.n_fft else np.hanning(n).astype(np.float32)
        mag = np.abs(np.fft.rfft(x * w)) * 2.0 / max(float(w.sum()), 1e-12)
        db = 20.0 * np.log10(np.maximum(mag, 1e-7))
        freqs = np.fft.rfftfreq(n, 1.0 / ring.rate if ring.rate else 1.0)
        # the axis is logarithmic: the 0 Hz bin has no place on it
        return [("spectrum", "replace", {"x": freqs[1:], "y": db[1:]}, None)]


class Dispatcher:
    """One thread that flushes every plot at most ``rate`` times a second.

    Ticks are spaced ``1 / rate`` apart on the monotonic clock; a late tick is not
    made up for (no burst after a stall), so the page never receives more than
    ``rate`` messages per plot per second. ``on_tick`` runs after each tick (the
    console's status line). ``cpu_s`` is this thread's CPU time: the kernel's cost
    of plotting, apart from the few microseconds ``feed`` takes per frame.
    """

    def __init__(self, plots: Iterable[_Plot], rate: float = 20.0,
                 on_tick: Callable[[], None] | None = None) -> None:  # fmt: skip
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.plots = list(plots)
        self.rate = float(rate)
        self.on_tick = on_tick
        self.ticks = 0
        self.messages = 0
        self.cpu_s = 0.0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """Flush every plot once; returns how many sent a message."""
        t0 = time.thread_time()
        sent = 0
        for p in self.plots:
            sent += p.flush()
        if self.on_tick is not None:
            self.on_tick()
        self.ticks += 1
        self.messages += sent
        self.cpu_s += time.thread_time() - t0
        return sent

    def start(self) -> Dispatcher:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rmlab-plots", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread after a last flush (what arrived before stop is shown)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        period = 1.0 / self.rate
        due = time.monotonic()
        while True:
            stopping = self._stop.wait(max(0.0, due - time.monotonic()))
            try:
                self.tick()
            except Exception as exc:  # shown by the owner (the console's error panel)
                self.errors = [*self.errors[-9:], exc]
            if stopping:
                return
            due = max(due + period, time.monotonic())
