"""The live plots without a browser: what each flush sends, and the dispatcher's rate bound.

Plots are fed from real local sessions (a tone pushed as fast as the session takes
it; outputs pulled, ``HopDone`` events from a watcher, as the console's watcher feeds
them), and every message a plot sends is captured, so the tests see exactly what the
page would receive: one message per flush, columns as float32 buffers.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

import numpy as np
import pytest

import rmlab
from rmlab.audio import ToneSource
from rmlab.lab import Dispatcher, LatencyPlot, ScopePlot, SpectrumPlot
from rmlab.lab._bokeh import BokehCanvas
from rmlab.runtime.executor import HopDone

pytestmark = pytest.mark.unit


class LabHoldAll(rmlab.Node):
    """Takes every frame and returns nothing (a node that only buffers, or counts)."""

    def process(self, frame: Any) -> None:
        return None


class Sent:
    """Captures what a widget sends to the page."""

    def __init__(self, widget: BokehCanvas) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []
        widget.send = lambda content, buffers=None: self.messages.append((content, buffers or []))

    def columns(self, i: int = -1) -> dict[str, dict[str, np.ndarray]]:
        """Message ``i`` decoded: source -> column -> float32 values."""
        content, buffers = self.messages[i]
        out: dict[str, dict[str, np.ndarray]] = {}
        b = 0
        for op in content["ops"]:
            cols = out.setdefault(op["source"], {})
            for name in op["columns"]:
                cols[name] = np.frombuffer(buffers[b], "<f4")
                b += 1
        return out


class Run(NamedTuple):
    """What went into a session and came out: outputs (pulled) and hops (watched)."""

    inputs: list[rmlab.Audio]
    outputs: list[rmlab.Output]
    hops: list[HopDone]


def run_tone(manifest: rmlab.Manifest, frames: int, freq: float = 440.0) -> Run:
    """Push ``frames`` 20 ms tone frames through a local session."""
    tone = ToneSource(freq, 0.5, realtime=False, duration=frames * 960 / 48000)
    inputs: list[rmlab.Audio] = []
    hops: list[HopDone] = []

    class Recorder:
        def push(self, frame: Any) -> None:
            inputs.append(frame)
            session.push(frame)

    with rmlab.open_session(manifest, "local", backpressure="block") as session:
        session.watch(lambda ev: hops.append(ev) if isinstance(ev, HopDone) else None)
        tone.start(Recorder()).wait(10)
        session.end()
        outputs = list(session)
    return Run(inputs, outputs, hops)


CHAIN = rmlab.Manifest(name="chain").add("gain", "Gain", gain_db=-6.0).add("p", "PassThrough")
CHAIN.connect("gain", "p")


def test_latency_plot_batches_every_output_into_one_message() -> None:
    run = run_tone(CHAIN, 40)
    outputs = run.outputs
    plot = LatencyPlot(["gain", "p"], ["p"])
    sent = Sent(plot)
    plot._flushes = 3  # the next flush is one that redraws the histogram
    for out in outputs:
        plot.feed(out)
    for hop in run.hops:
        plot.feed_hop(hop)
    assert plot.flush() is True
    assert len(sent.messages) == 1 and plot.sent == 1
    content, _ = sent.messages[0]
    assert content["type"] == "update"
    assert content["t"] == pytest.approx(time.time() * 1000, abs=5e3)  # stamped when sent
    cols = sent.columns()
    series = {s: plot._key[s] for s in ("gain", "p", "end to end")}
    for name, key in series.items():
        assert len(cols[key]["y"]) == 40, name  # one point per frame and node
        assert cols[f"{key}h"]["top"].sum() == 40  # the histogram counts the same frames
    e2e = [o.trace.latency_ns / 1e6 for o in outputs]
    np.testing.assert_allclose(cols[series["end to end"]]["y"], e2e, rtol=1e-6, atol=1e-3)
    assert plot.flush() is False  # nothing new: nothing sent
    assert len(sent.messages) == 1
    plot.feed(outputs[-1])
    plot.flush()  # series at every flush, histograms at every fourth
    assert not any(op["source"].endswith("h") for op in sent.messages[-1][0]["ops"])


def test_latency_plot_shows_one_point_per_process_call() -> None:
    fan = rmlab.Manifest().add("a", "PassThrough").add("b", "PassThrough").add("c", "PassThrough")
    fan.add("hold", "LabHoldAll").connect("a", "b").connect("a", "c").connect("a", "hold")
    run = run_tone(fan, 10)
    assert len(run.outputs) == 20  # b and c each return every frame, both carry a's hop
    plot = LatencyPlot(["a", "b", "c", "hold"], ["b", "c", "hold"])
    Sent(plot)
    for out in run.outputs:
        plot.feed(out)
    for hop in run.hops:
        plot.feed_hop(hop)
    plot.flush()
    # "hold" returns nothing (no output carries its hop) and still ran 10 times
    assert [len(plot.data[plot._key[s]]["y"]) for s in ("a", "b", "c", "hold", "end to end")] == [
        10, 10, 10, 10, 20
    ]  # fmt: skip
    gain = [h for h in run.hops if h.node_id == "a"]
    np.testing.assert_allclose(plot.data[plot._key["a"]]["y"],  # float32 on the wire
                               [max((h.done_ns - h.recv_ns) / 1e6, 1e-3) for h in gain],
                               rtol=1e-6)  # fmt: skip


def test_latency_series_roll_over_and_a_new_view_gets_a_snapshot() -> None:
    hops = [h for h in run_tone(CHAIN, 30).hops if h.node_id == "gain"]
    assert len(hops) == 30
    plot = LatencyPlot(["gain", "p"], ["p"], window_s=0.2, max_rate=100)  # 20 points
    sent = Sent(plot)
    for hop in hops[:15]:
        plot.feed_hop(hop)
    plot.flush()
    for hop in hops[15:]:
        plot.feed_hop(hop)
    plot.flush()
    key = plot._key["gain"]
    assert sent.messages[-1][0]["ops"][0]["source"] == key
    assert sent.messages[-1][0]["ops"][0]["mode"] == "stream"
    assert sent.messages[-1][0]["ops"][0]["rollover"] == 20
    assert len(plot.data[key]["x"]) == 20  # the mirror rolled over like the page
    plot._handle_custom_msg({"type": "ready"}, [])  # a view was (re)drawn
    assert plot.flush() is True  # nothing new, but the view needs everything
    ops = sent.messages[-1][0]["ops"]
    assert {op["mode"] for op in ops} == {"replace"}
    np.testing.assert_allclose(sent.columns()[key]["x"], plot.data[key]["x"], rtol=1e-6)


def test_scope_shows_the_last_input_and_output_samples() -> None:
    inputs, outputs, _ = run_tone(CHAIN, 10)
    scope = ScopePlot(window_ms=20, max_points=10_000)
    scope.reset(["gain", "p"], ["p"])
    sent = Sent(scope)
    for frame in inputs:
        scope.feed_input(frame)
    for out in outputs:
        scope.feed(out)
    scope.flush()
    cols = sent.columns()
    np.testing.assert_array_equal(cols["scope-in"]["y"], inputs[-1].samples)  # 20 ms = 960
    np.testing.assert_allclose(cols["scope-out"]["y"], inputs[-1].samples * 10 ** (-6 / 20),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    assert cols["scope-in"]["x"][0] == pytest.approx(-20.0) and cols["scope-in"]["x"][-1] < 0


def test_scope_thins_to_max_points_and_shows_numpy_arrays_as_they_are() -> None:
    scope = ScopePlot(window_ms=50, max_points=100)
    scope.reset(["arr"], ["arr"])
    sent = Sent(scope)
    scope.feed_input(rmlab.Audio(np.ones(4800, np.float32), 48000))
    trace = rmlab.runtime.trace.Trace(0, 0)
    scope.feed(rmlab.Output("arr", rmlab.Numpy(np.arange(50.0).reshape(5, 10)), trace))
    scope.flush()
    cols = sent.columns()
    assert len(cols["scope-in"]["y"]) == 100
    np.testing.assert_array_equal(cols["scope-out"]["y"], np.arange(50.0))
    np.testing.assert_array_equal(cols["scope-out"]["x"], np.arange(50.0))


def test_spectrum_peaks_at_the_tone_at_its_level() -> None:
    outputs = run_tone(CHAIN, 5, freq=1000.0).outputs
    spectrum = SpectrumPlot(n_fft=2048)
    spectrum.reset(["gain", "p"], ["p"])
    sent = Sent(spectrum)
    for out in outputs:
        spectrum.feed(out)
    spectrum.flush()
    cols = sent.columns()["spectrum"]
    peak = int(np.argmax(cols["y"]))
    assert cols["x"][peak] == pytest.approx(1000.0, abs=48000 / 2048)
    assert cols["y"][peak] == pytest.approx(-12.0, abs=1.5)  # 0.5 amplitude, then -6 dB gain
    assert len(cols["x"]) == 1024 and cols["x"][0] > 0  # no 0 Hz on a log axis


def test_plots_show_the_chosen_node_only() -> None:
    tap = rmlab.Manifest().add("gain", "Gain", gain_db=-20.0).add("p", "PassThrough")
    tap.connect("gain", "p")
    with rmlab.open_session(tap, "local", backpressure="block") as s:
        s.tap("gain")
        s.push(rmlab.Audio(np.full(960, 0.5, np.float32), 48000))
        s.end()
        outputs = list(s)
    scope = ScopePlot(node="gain")
    scope.reset(["gain", "p"], ["p"])
    Sent(scope)
    for out in outputs:
        scope.feed(out)
    scope.flush()
    assert scope.data["scope-out"]["y"].max() == pytest.approx(0.05, rel=1e-4)


def test_dispatcher_sends_at_most_rate_messages_however_fast_frames_come() -> None:
    outputs = run_tone(CHAIN, 5).outputs
    plot = LatencyPlot(["gain", "p"], ["p"], window_s=100)
    sent = Sent(plot)
    d = Dispatcher([plot], rate=10).start()
    fed = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:  # ~ thousands of outputs a second
        for out in outputs:
            plot.feed(out)
            fed += 1
        time.sleep(0.0005)
    d.stop()  # a last flush: nothing fed is lost
    assert fed > 1000
    assert 8 <= len(sent.messages) <= 12, len(sent.messages)  # ~10 over 1 s, never a burst
    assert d.messages == len(sent.messages) and d.ticks <= 12
    assert len(plot.data[plot._key["end to end"]]["y"]) == fed
    assert d.cpu_s > 0 and not d.errors


def test_dispatcher_keeps_ticking_after_a_plot_fails() -> None:
    plot = ScopePlot()
    Sent(plot)
    boom = threading.Event()

    def bad_tick() -> None:
        boom.set()
        raise RuntimeError("status failed")

    d = Dispatcher([plot], rate=50, on_tick=bad_tick).start()
    assert boom.wait(2)
    time.sleep(0.1)
    d.stop()
    assert d.ticks == 0 or d.errors  # the error is kept for the owner to show
    assert isinstance(d.errors[0], RuntimeError)
    with pytest.raises(ValueError, match="rate must be positive"):
        Dispatcher([], rate=0)


def test_page_messages_bokeh_on_request_and_errors_kept() -> None:
    plot = SpectrumPlot()
    sent = Sent(plot)
    assert plot.item["doc"]["roots"]  # the figure was built and synced once
    plot._handle_custom_msg({"type": "need-bokeh"}, [])
    content, buffers = sent.messages[-1]
    assert content == {"type": "bokeh-js"}
    assert b"Bokeh" in buffers[0] and len(buffers[0]) > 100_000
    plot._handle_custom_msg({"type": "error", "message": "drawing the plot: boom"}, [])
    assert plot.page_errors == ["drawing the plot: boom"]
    plot._handle_custom_msg("not a dict", [])  # ignored, never raised into the comm thread


def test_a_page_that_falls_behind_gets_fewer_fresher_updates() -> None:
    from rmlab.lab._bokeh import MAX_IN_FLIGHT

    outputs = run_tone(CHAIN, 2 * MAX_IN_FLIGHT + 4).outputs
    plot = LatencyPlot(["gain", "p"], ["p"])
    sent = Sent(plot)
    feed = iter(outputs)

    def flush_one() -> bool:
        plot.feed(next(feed))
        return plot.flush()

    assert all(flush_one() for _ in range(3))  # no page has answered yet: never held
    plot._handle_custom_msg({"type": "drawn", "seq": 0}, [])  # the page drew update 0
    results = [flush_one() for _ in range(MAX_IN_FLIGHT)]
    assert results == [True] * (MAX_IN_FLIGHT - 2) + [False, False]
    assert plot.held == 2 and len(sent.messages) == MAX_IN_FLIGHT + 1
    plot._handle_custom_msg({"type": "drawn", "seq": MAX_IN_FLIGHT}, [])  # it caught up
    assert flush_one() is True
    key = plot._key["end to end"]
    held_back = len(sent.columns()[key]["y"])
    assert held_back == 3  # the two held frames came with this one: nothing lost
    plot._handle_custom_msg({"type": "ready"}, [])  # a new view owes nothing
    assert flush_one() is True


def _glyphs(fig: Any, kind: str) -> list[Any]:
    return [r for r in fig.renderers if type(r.glyph).__name__ == kind]


def test_the_plots_read_from_the_back_of_a_room() -> None:
    from rmlab.lab.plots import LINE_WIDTH, PALETTE, node_colors

    lat = LatencyPlot()
    lat.reset(["b", "a"], ["a"], node_colors(["a", "b"]))  # manifest order: a, then b
    ts, hist = lat.figures
    for fig in (ts, hist):
        (legend,) = fig.legend
        assert legend in fig.right and legend not in fig.center  # outside the data
        assert legend.click_policy == "hide"
        labels = [item.label.value for item in legend.items]
        assert labels == ["b", "a", "end to end"]  # pipeline order, end to end last
        assert int(legend.label_text_font_size.rstrip("pt")) >= 12
        assert int(fig.title.text_font_size.rstrip("pt")) >= 14
    lines = {r.data_source.name: r.glyph for r in _glyphs(ts, "Line")}
    quads = {r.data_source.name: r.glyph for r in _glyphs(hist, "Quad")}
    key = lat._key
    # a node has one colour in the series and the histogram: its manifest position's
    assert lines[key["a"]].line_color == quads[key["a"] + "h"].fill_color == PALETTE[0]
    assert lines[key["b"]].line_color == quads[key["b"] + "h"].fill_color == PALETTE[1]
    assert all(g.line_width >= LINE_WIDTH >= 3 for g in lines.values())
    # end to end is drawn first (under the per-node lines), and dashed
    names = [r.data_source.name for r in _glyphs(ts, "Line")]
    assert names[0] == key["end to end"] and lines[names[0]].line_dash == [6]


def test_the_axes_are_there_before_any_data() -> None:
    """Every figure has an invisible extent to range on before data arrives; on a log
    axis it is positive, so BokehJS has a range to draw (no empty box, no warning)."""
    plots = [LatencyPlot(["gain"], ["gain"]), ScopePlot(), SpectrumPlot()]
    for fig in (f for p in plots for f in p.figures):
        anchors = [r for r in _glyphs(fig, "Scatter") if r.data_source.data.get("x")]
        assert len(anchors) == 1, fig.title.text
        data = anchors[0].data_source.data
        for axis, values in (("x", data["x"]), ("y", data["y"])):
            assert values[0] < values[1]
            scale = fig.x_scale if axis == "x" else fig.y_scale
            if type(scale).__name__ == "LogScale":
                assert min(values) > 0, (fig.title.text, axis)
        assert anchors[0].glyph.fill_alpha == anchors[0].glyph.line_alpha == 0


def test_the_builder_graph_colours_nodes_as_the_plots_do() -> None:
    """graph.js colours the i-th node of the graph with PALETTE[i]; the graph lists the
    manifest's nodes in order, which is what ``node_colors`` colours by."""
    import json
    import re

    from rmlab._widget import widget_file
    from rmlab.lab import Builder
    from rmlab.lab.plots import PALETTE

    js = widget_file("graph.js").read_text()
    found = re.search(r"const PALETTE = (\[[^\]]*\]);", js)
    assert found is not None
    assert tuple(json.loads(found.group(1))) == PALETTE
    assert "PALETTE[i % PALETTE.length]" in js
    m = rmlab.Manifest().add("p", "PassThrough").add("gain", "Gain").connect("gain", "p")
    assert [n["id"] for n in Builder(m).canvas.graph["nodes"]] == ["p", "gain"]
