"""The Console without a browser: clicks, status, the error panel, recovery, live edits.

Buttons are pressed with ``button.click()`` (which runs the Python handlers as a
browser click would) and page messages are simulated with ``_handle_custom_msg``. Every
run is a real local session fed by a real-time tone (50 frames/s), so these tests
take about a second each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rmlab
from rmlab import Manifest, Node, Param
from rmlab.audio import FileSink, ToneSource, read_wav, write_wav
from rmlab.errors import DeviceError, ManifestError, NodeError
from rmlab.lab import Builder, Console, _sources

pytestmark = pytest.mark.unit


class LabFlaky(Node):
    """Passes frames on, but raises on every ``every``-th one (0: never)."""

    every: int = Param(5, min=0)

    def setup(self) -> None:
        self.n = 0

    def process(self, frame: Any) -> Any:
        self.n += 1
        if self.every and self.n % self.every == 0:
            raise ValueError(f"boom at frame {self.n}")
        return frame


class LabCrashOn(Node):
    """Kills its worker process on the ``at``-th frame (run on "shm" only)."""

    at: int = Param(5, min=1)

    def setup(self) -> None:
        self.n = 0

    def process(self, frame: Any) -> Any:
        self.n += 1
        if self.n == self.at:
            import os

            os._exit(3)
        return frame


def chain(**gain: Any) -> Manifest:
    return (
        Manifest(name="chain")
        .add("gain", "Gain", **gain)
        .add("p", "PassThrough")
        .connect("gain", "p")
    )


def wait_for(what: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := what()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


@pytest.fixture
def console() -> Any:
    made: list[Console] = []

    def make(*args: Any, **kwargs: Any) -> Console:
        kwargs.setdefault("executor", "local")
        c = Console(*args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def scope_peak(c: Console) -> float:
    y = c.scope.data.get("scope-out", {}).get("y")
    return float(np.abs(y[-200:]).max()) if y is not None and len(y) else 0.0


def test_start_and_stop_with_the_buttons(console: Any) -> None:
    c = console(chain())
    assert "rm-start" in c.start_button._dom_classes and "rm-stop" in c.stop_button._dom_classes
    assert c.status["state"] == "stopped" and c.stop_button.disabled
    c.start_button.click()
    assert c.running and c.start_button.disabled and not c.stop_button.disabled
    assert c.source_picker.disabled and c.executor_picker.disabled
    time.sleep(1.2)
    status = c.status
    assert status["state"] == "running" and 40 <= status["in_fps"] <= 60, status
    assert status["drops"] == 0 and status["errors"] == 0
    wait_for(lambda: 'data-state="running"' in c.status_line.value)
    assert "frames/s" in c.status_line.value
    sent = c.latency.sent
    assert 5 <= sent <= 27  # about 20 updates a second, never more
    c.stop_button.click()
    assert not c.running and c.status["state"] == "stopped"
    assert not c.start_button.disabled and c.stop_button.disabled
    assert 'data-state="stopped"' in c.status_line.value
    assert c.session is None
    assert len(c.latency.data[c.latency._key["end to end"]]["y"]) >= 40


def test_the_error_panel_shows_the_failing_node_and_its_traceback(console: Any) -> None:
    m = Manifest().add("gain", "Gain").add("flaky", "LabFlaky", every=5).connect("gain", "flaky")
    c = console(m)
    c.start()
    wait_for(lambda: c.status["errors"] >= 3)
    err = c.errors[0]
    assert isinstance(err, NodeError) and err.node_id == "flaky"
    panel = wait_for(lambda: "&times;" in c.error_panel.value and c.error_panel.value)
    assert 'data-node="flaky"' in panel
    assert "ValueError: boom at frame" in panel  # the node's own traceback ...
    assert "test_console.py" in panel  # ... down to the line that raised
    assert len(c.errors) == 1  # "boom at frame 5" and "... 10" are one entry, counted
    c.stop()


def test_stop_then_start_recovers_after_errors(console: Any) -> None:
    m = Manifest().add("flaky", "LabFlaky", every=3)
    c = console(m)
    c.start_button.click()
    wait_for(lambda: c.errors)
    c.stop_button.click()
    assert c.error_panel.value  # the errors stay readable after Stop
    c.set_params("flaky", every=0)  # not running: only the manifest changes
    assert m.node("flaky").params == {"every": 0}
    c.start_button.click()
    assert c.errors == [] and c.error_panel.value == ""
    time.sleep(0.6)
    assert c.status["outputs"] >= 20 and c.status["errors"] == 0 and c.errors == []


def test_a_session_ended_underneath_stops_the_console_and_can_start_again(
    console: Any,
) -> None:
    c = console(chain())
    c.start()
    wait_for(lambda: c.status["outputs"] > 5)
    c.session.end()  # nothing would flow any more: the console must not claim to run
    wait_for(lambda: c.status["state"] == "stopped")  # set once its teardown is done
    assert not c.running and "the session was ended" in c.status["note"]
    assert not c.start_button.disabled
    c.start_button.click()
    wait_for(lambda: c.status.get("outputs", 0) > 5)
    assert c.running


@pytest.mark.shm
def test_a_crashed_shm_node_stops_the_console_with_the_reason(console: Any) -> None:
    m = Manifest().add("gain", "Gain").add("crash", "LabCrashOn", at=10).connect("gain", "crash")
    c = console(m, executor="shm")
    c.start()
    # no restart policy: the pipeline is over, and the console stops (workers and all)
    wait_for(lambda: c.status["state"] == "stopped", timeout=20)
    status = c.status
    assert status["state"] == "stopped" and "node 'crash' crashed" in status["note"]
    assert status["outputs"] == 9 and status["errors"] == 1  # the crash, from stats()
    assert any(getattr(e, "node_id", None) == "crash" for e in c.errors)
    assert 'data-node="crash"' in c.error_panel.value


def test_a_param_change_takes_effect_live_without_a_restart(console: Any) -> None:
    c = console(chain(gain_db=0.0))
    c.start()
    wait_for(lambda: scope_peak(c) > 0.45)
    session = c.session
    c.set_params("gain", gain_db=-20.0)
    wait_for(lambda: 0.0 < scope_peak(c) < 0.06)
    assert c.session is session and c.status["swaps"] == 0
    assert "applied live: gain.gain_db = -20.0" in c.status["note"]
    with pytest.raises(ManifestError, match="gain_db"):
        c.set_params("gain", gain_db=100.0)
    assert c.manifest.node("gain").params["gain_db"] == -20.0
    assert c.status["errors"] == 0


def test_builder_edits_apply_live_and_shape_edits_hot_swap(console: Any) -> None:
    builder = Builder(chain(gain_db=0.0))
    c = console(builder)
    c.start()
    wait_for(lambda: scope_peak(c) > 0.45)
    builder.set_param("gain", "gain_db", -20.0)
    wait_for(lambda: 0.0 < scope_peak(c) < 0.06)
    assert c.status["swaps"] == 0
    builder.add_node("Gain", "quiet", gain_db=-40.0)  # not connected: a second source/sink
    wait_for(lambda: c.status["swaps"] == 1)
    assert "quiet" in c.session.graph.order
    assert c.status["note"] == "the edited pipeline runs now (hot swap)"
    assert "quiet" in c.latency.series and "quiet" in c.output_picker.options
    builder.move("quiet", 10, 10)  # layout only: nothing restarts
    time.sleep(0.2)
    assert c.status["swaps"] == 1 and c.status["errors"] == 0
    c.stop()
    assert c.manifest is builder.manifest


def test_handler_errors_land_in_the_panel(console: Any) -> None:
    c = console(chain(), source="file")
    c.start_button.click()  # no path typed: shown, not raised, nothing left running
    assert not c.running and "type the path of a WAV file first" in c.error_panel.value
    bad = chain()
    c2 = console(bad)
    bad.node("gain").params["gain_db"] = 1000  # made invalid after the console took it
    c2.start_button.click()
    assert not c2.running
    assert "nodes[0].params.gain_db" in c2.error_panel.value and c2.status["state"] == "stopped"
    with pytest.raises(ManifestError):
        c2.start()  # from Python it raises too


def test_the_local_microphone_is_looked_for_only_when_picked(
    console: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def devices(kind: str | None = None) -> Any:
        calls.append(kind or "")
        raise DeviceError("PortAudio library not found: install libportaudio2")

    monkeypatch.setattr("rmlab.audio.devices", devices)
    monkeypatch.setattr(_sources, "_mic", [])
    c = console(chain())
    assert calls == []
    c.source_picker.value = "mic"
    assert calls == ["input"]
    assert "No local microphone: PortAudio library not found" in c.source_note.value
    c.start_button.click()
    assert not c.running and "install libportaudio2" in c.error_panel.value


def test_a_given_source_object_and_a_wav_file(console: Any, tmp_path: Path) -> None:
    c = console(chain(), source=ToneSource(1000.0, 0.5))
    assert c.source_picker.value == "custom"
    c.start()
    wait_for(lambda: len(c.spectrum.data.get("spectrum", {}).get("y", [])) > 0)
    time.sleep(0.1)
    spec = c.spectrum.data["spectrum"]
    assert spec["x"][int(np.argmax(spec["y"]))] == pytest.approx(1000.0, abs=30)
    c.stop()
    path = tmp_path / "tone.wav"
    n = np.arange(48000)
    write_wav(path, (0.25 * np.sin(2 * np.pi * 300 * n / 48000)).astype(np.float32), 48000)
    f = console(chain(), source=str(path))
    assert f.source_picker.value == "file" and f.file_path.value == str(path)
    f.start()
    wait_for(lambda: f.status["outputs"] >= 10)
    assert 0.2 < scope_peak(f) < 0.3


def test_the_browser_microphone_streams_through_the_console(console: Any) -> None:
    c = console(chain(), source="browser")
    mic = c.browser_mic
    assert mic is not None and mic in c._source_box.children
    assert not mic.buttons  # the console's Start and Stop drive it: one Start, not two
    sent: list[dict[str, Any]] = []
    mic.send = lambda content, buffers=None: sent.append(content)  # what the page gets
    c.start()
    assert mic.bound
    assert [m["type"] for m in sent] == ["start"]  # the page is asked to capture
    samples = (0.5 * np.sin(np.arange(960) / 10)).astype("<f4")
    for seq in range(5):  # frames as the page's AudioWorklet sends them
        mic._handle_custom_msg(
            {"type": "frame", "run": 1, "seq": seq, "t": time.time() * 1000, "rate": 48000},
            [samples.tobytes()],
        )
    wait_for(lambda: c.status["outputs"] >= 5)
    shown = wait_for(lambda: c.scope.data.get("scope-in"))["y"]  # the last 50 ms, thinned
    assert np.abs(shown).max() == pytest.approx(np.abs(samples).max(), rel=0.01)
    c.stop()
    assert not mic.bound
    assert [m["type"] for m in sent] == ["start", "stop"]  # Stop ends the capture too
    c.start()  # and the next Start asks again, with a token of its own
    assert [m["type"] for m in sent] == ["start", "stop", "start"]
    assert sent[0]["token"] != sent[2]["token"]
    c.stop()


def test_a_speaker_plays_the_shown_node_across_a_hot_swap(console: Any, tmp_path: Path) -> None:
    m = Manifest().add("gain", "Gain", gain_db=-6.0).add("quiet", "Gain", gain_db=-20.0)
    builder = Builder(m.connect("gain", "quiet"))
    sink = FileSink(tmp_path / "heard.wav")  # a real sink that needs no sound card
    c = console(builder, speaker=sink, output="gain")  # an inner node: tapped, and played
    c.start()
    assert sink.running
    wait_for(lambda: sink.stats()["frames"] >= 10)
    builder.add_node("Gain", "loud")  # a second source and sink at 0 dB: a hot swap
    wait_for(lambda: c.status["swaps"] == 1)
    played = sink.stats()["frames"]
    wait_for(lambda: sink.stats()["frames"] >= played + 10)  # it followed the new session
    c.stop()
    assert not sink.running
    y, _ = read_wav(tmp_path / "heard.wav")
    frames = sink.stats()["frames"]
    assert len(y) == 960 * frames and sink.stats()["errors"] == 0
    peaks = np.abs(y[:, 0]).reshape(frames, 960).max(axis=1)
    # every frame is the shown node's (0.5 at -6 dB): never "quiet"'s or "loud"'s
    np.testing.assert_allclose(peaks, 0.25, rtol=0.01)


def test_the_status_counters_come_from_the_sessions_across_a_hot_swap(console: Any) -> None:
    m = Manifest().add("gain", "Gain").add("flaky", "LabFlaky", every=5).connect("gain", "flaky")
    builder = Builder(m)
    tone = ToneSource()
    c = console(builder, source=tone)
    c.start()
    wait_for(lambda: c.status["outputs"] >= 10)
    builder.add_node("PassThrough", "extra")
    wait_for(lambda: c.status["swaps"] == 1)
    wait_for(lambda: c.status["outputs"] >= 30)
    c.stop()
    s = c.status
    assert s["restarts"] == 0 and s["drops"] == 0 and s["e2e_ms"] > 0
    assert tone.stats()["frames"] == s["pushed"] + s["lost"]  # every push is accounted for
    # "flaky" fails on every 5th call of each session (outputs include "extra"'s, a sink too)
    assert s["outputs"] >= 30 and s["errors"] >= 2
    # the panel counts what the run's watcher saw; the status line sums both sessions'
    # stats(): the same events, so the same number
    assert f"(&times;{s['errors']})" in c.error_panel.value


def test_the_shown_node_is_tapped(console: Any) -> None:
    c = console(chain(gain_db=-20.0), output="gain")
    c.start()
    assert "gain" in c._run.taps
    wait_for(lambda: 0.0 < scope_peak(c) < 0.06)
    c.output_picker.value = "p"
    assert c.scope.node == "p" and c.spectrum.node == "p"


def test_rendering_errors_are_warned_then_raised(
    console: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = console(chain())

    def broken() -> None:
        raise RuntimeError("no BokehJS for you")

    monkeypatch.setattr("rmlab.lab._bokeh.ensure_bokehjs", broken)
    with pytest.warns(UserWarning, match="Console failed to render"), pytest.raises(RuntimeError):
        c._repr_mimebundle_()


def test_the_public_surface() -> None:
    assert set(rmlab.lab.__all__) == {
        "Builder", "Console", "Dispatcher", "Lab", "LatencyPlot", "ScopePlot", "SpectrumPlot"
    }  # fmt: skip


def test_the_picker_follows_the_sink_and_out_counts_frames_leaving(console: Any) -> None:
    builder = Builder(Manifest().add("gain", "Gain"))
    c = console(builder, source=ToneSource())
    assert c.output_picker.value == "gain"
    builder.add_node("PassThrough", "after")
    builder.connect("gain", "after")  # gain is an inner node now: show the new sink
    assert c.output_picker.value == "after"
    c.output_picker.value = "gain"  # a user's choice of an inner node is kept (and tapped)
    c.start()
    wait_for(lambda: c.status["outputs"] >= 150)
    s = c.status
    c.stop()
    # the tapped inner node's frames are shown but not counted as frames leaving
    assert 0.6 * s["in_fps"] <= s["out_fps"] <= 1.4 * s["in_fps"], s


def test_a_speaker_may_watch_with_a_plain_function(console: Any) -> None:
    class Recorder:
        """A sink that watches what it is started on with a function, as Session.watch allows."""

        def __init__(self) -> None:
            self.outputs: list[rmlab.Output] = []

        def start(self, session: Any) -> Recorder:
            self.handle = session.watch(self.on_event)
            return self

        def on_event(self, event: Any) -> None:
            if isinstance(event, rmlab.Output):
                self.outputs.append(event)

        def stop(self) -> None:
            self.handle.close()

    recorder = Recorder()
    c = console(chain(), speaker=recorder)
    c.start()
    wait_for(lambda: len(recorder.outputs) >= 5)
    c.stop()
    assert {o.node_id for o in recorder.outputs} == {"p"}


def test_the_plots_colour_nodes_as_the_builder_does(console: Any) -> None:
    from rmlab.lab.plots import PALETTE

    m = Manifest().add("p", "PassThrough").add("gain", "Gain").connect("gain", "p")
    c = console(m)  # manifest order p, gain; pipeline order gain -> p
    c.start()
    assert c.latency.series[:2] == ["gain", "p"]
    assert c.latency.colors["p"] == PALETTE[0] and c.latency.colors["gain"] == PALETTE[1]
    c.stop()
