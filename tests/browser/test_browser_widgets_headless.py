"""BrowserMic and BrowserSpeaker without a browser: simulated page messages, real sessions."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import pytest

import rmlab
from rmlab import Audio, Manifest, Node, Numpy, RuntimeData
from rmlab.audio.browser import BrowserMic, BrowserSpeaker
from rmlab.errors import DeviceError, SessionError

pytestmark = pytest.mark.unit

WIDGETS = Path(__file__).resolve().parents[2] / "widgets"


class BrowserTestSlow(Node):
    """Take 20 ms per frame: a pipeline slower than the microphone."""

    def process(self, frame: RuntimeData) -> RuntimeData:
        time.sleep(0.02)
        return frame


class BrowserTestFail(Node):
    """Raise on every frame."""

    def process(self, frame: RuntimeData) -> RuntimeData:
        raise ValueError("boom")


def passthrough(**options: Any) -> rmlab.Session:
    return rmlab.open_session(Manifest(name="t").add("pass", "PassThrough"), **options)


def frame_msg(seq: int, run: int = 1, n: int = 960, **changes: Any) -> tuple[dict, list]:
    """What the page sends for one frame: a ramp starting at ``seq``."""
    content = {"type": "frame", "run": run, "seq": seq, "t": 1.7e12 + 20.0 * seq, "rate": 48000}
    content.update(changes)
    samples = (seq + np.arange(n) / n).astype(np.float32)
    return content, [memoryview(samples.tobytes())]


def pull(session: rmlab.Session, n: int) -> list[rmlab.Output]:
    """Exactly ``n`` outputs, then nothing more."""
    outs = [session.pull(timeout=2.0) for _ in range(n)]
    with pytest.raises(rmlab.Timeout):
        session.pull(timeout=0.05)
    return outs


def test_frames_from_the_page_reach_the_session() -> None:
    with passthrough() as s:
        mic = BrowserMic(s)
        assert mic.bound
        for seq in range(5):
            mic._handle_custom_msg(*frame_msg(seq))
        outs = pull(s, 5)
        mic.stop()
    assert [o.data.metadata["seq"] for o in outs] == list(range(5))
    first = outs[0].data
    assert isinstance(first, Audio) and first.sample_rate == 48000 and first.samples.size == 960
    assert first.samples[0] == 0.0 and outs[3].data.samples[0] == 3.0
    assert [o.data.timestamp_us for o in outs] == [
        1_700_000_000_000_000 + 20_000 * i for i in range(5)
    ]
    st = mic.stats()
    assert (st["received"], st["frames"], st["drops"], st["gaps"], st["malformed"]) == (
        5,
        5,
        0,
        0,
        0,
    )
    assert mic.error == "" and not mic.bound and not mic.running


def test_gaps_are_counted_by_sequence_number_and_a_new_run_starts_over() -> None:
    mic = BrowserMic()  # no session: frames are received, counted and dropped
    for seq in (0, 1, 4, 5):  # 2 and 3 were lost
        mic._handle_custom_msg(*frame_msg(seq))
    for seq in (0, 1):  # Start pressed again: numbering restarts, nothing lost
        mic._handle_custom_msg(*frame_msg(seq, run=2))
    st = mic.stats()
    assert (st["received"], st["gaps"], st["drops"], st["frames"]) == (6, 2, 6, 0)


@pytest.mark.parametrize(
    ("content", "buffers", "problem"),
    [
        (*frame_msg(0, n=959), "3836 bytes, expected 3840"),
        ({"type": "frame", "run": 1, "t": 0.0, "rate": 48000}, frame_msg(0)[1], "without seq"),
        (frame_msg(0)[0], [], "exactly 1 buffer"),
        ({**frame_msg(0)[0], "seq": True}, frame_msg(0)[1], "must be integers"),
        ({**frame_msg(0)[0], "rate": 0}, frame_msg(0)[1], "sample rate 0"),
        ({"type": "hello"}, [], "expected a frame message"),
        ("not a dict", [], "expected a frame message"),
    ],
)
def test_malformed_messages_are_counted_and_shown_not_raised(
    content: Any, buffers: list, problem: str
) -> None:
    with passthrough() as s:
        mic = BrowserMic(s)
        mic._handle_custom_msg(content, buffers)
        mic._handle_custom_msg(*frame_msg(0))  # a good frame still goes through
        assert len(pull(s, 1)) == 1
    st = mic.stats()
    assert (st["malformed"], st["received"], st["frames"]) == (1, 1, 1)
    assert "bad message from the page" in mic.error and problem in mic.error


def test_a_bug_in_the_handler_is_shown_in_the_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    mic = BrowserMic()
    monkeypatch.setattr(mic, "_parse", lambda *a: 1 / 0)
    mic._handle_custom_msg(*frame_msg(0))
    assert "ZeroDivisionError" in mic.error


def test_a_blocking_session_never_blocks_the_comm_thread() -> None:
    m = Manifest(name="slow").add("slow", BrowserTestSlow)
    with rmlab.open_session(m, backpressure="block", queue_size=1) as s:
        mic = BrowserMic(s, queue=4)
        started = time.monotonic()
        for seq in range(50):
            mic._handle_custom_msg(*frame_msg(seq))
        handling = time.monotonic() - started
        mic.stop()  # pushes what is queued, then unbinds
        st = mic.stats()
        pull(s, st["frames"])
    assert handling < 0.25, f"50 frames took {handling:.3f} s to hand over"
    assert st["received"] == 50 and st["drops"] > 0 and st["frames"] + st["drops"] == 50


def test_a_closed_session_is_reported_and_frames_are_dropped() -> None:
    s = passthrough()
    mic = BrowserMic(s)
    s.close()
    for seq in range(3):
        mic._handle_custom_msg(*frame_msg(seq))
    deadline = time.monotonic() + 2
    while "closed" not in mic.error:
        assert time.monotonic() < deadline, mic.error
        time.sleep(0.01)
    assert mic.wait(1) and not mic.running
    mic.stop()
    st = mic.stats()
    assert (st["received"], st["frames"], st["drops"]) == (3, 0, 3)


def test_start_stop_and_the_context_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict] = []
    with passthrough() as s:
        mic = BrowserMic()
        monkeypatch.setattr(mic, "send", lambda content, buffers=None: sent.append(content))
        with pytest.raises(SessionError, match="needs a session"):
            mic.start()
        with mic.start(s):
            assert mic.bound and mic.running
            with pytest.raises(SessionError, match="BrowserMic is already running"):
                mic.start(s)
            mic._handle_custom_msg(*frame_msg(0))
        assert not mic.bound and sent == [{"type": "stop"}]
        mic.start()  # binds the last session again
        mic._handle_custom_msg(*frame_msg(1))
        mic.stop()
        assert [o.data.metadata["seq"] for o in pull(s, 2)] == [0, 1]
    assert mic.stats()["frames"] == 2


def test_rendering_errors_are_warned_then_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no front end")

    monkeypatch.setattr(anywidget.AnyWidget, "_repr_mimebundle_", broken)
    for widget in (BrowserMic(), BrowserSpeaker()):
        with pytest.warns(UserWarning, match="failed to render"), pytest.raises(RuntimeError):
            widget._repr_mimebundle_()


class Recorder:
    """Stands in for ``widget.send``: keeps what would go to the page."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict, np.ndarray]] = []
        self.event = threading.Event()

    def __call__(self, content: dict, buffers: list | None = None) -> None:
        self.sent.append((content, np.frombuffer(buffers[0], dtype="<f4") if buffers else None))
        self.event.set()

    def wait(self, n: int, timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < n:
            assert time.monotonic() < deadline, f"{len(self.sent)} of {n} sent"
            time.sleep(0.01)


def test_speaker_sends_the_sessions_audio_and_skips_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = Recorder()
    with passthrough() as s:
        speaker = BrowserSpeaker()
        monkeypatch.setattr(speaker, "send", page)
        with speaker.start(s):
            x = np.linspace(-1, 1, 960, dtype=np.float32)
            s.push(Audio(x, 48000))
            s.push(Numpy(np.zeros(3)))
            s.push(Audio(np.stack([x, -x], axis=1), 48000))
            page.wait(2)
            time.sleep(0.1)
    (h1, b1), (h2, b2) = page.sent
    assert h1["type"] == "audio" and h1["rate"] == 48000 and h1["channels"] == 1
    np.testing.assert_array_equal(b1, x)
    assert h2["channels"] == 2 and b2.size == 1920 and abs(h2["t"] / 1e3 - time.time()) < 5
    st = speaker.stats()
    assert (st["frames"], st["ignored"], st["errors"]) == (2, 1, 0)


def test_speaker_resamples_to_the_pages_rate_and_filters_by_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = Recorder()
    m = Manifest(name="two").add("a", "PassThrough").add("b", "PassThrough")
    with rmlab.open_session(m) as s:
        speaker = BrowserSpeaker(node="b")
        speaker.sample_rate = 48000  # what the page reports once its AudioContext runs
        monkeypatch.setattr(speaker, "send", page)
        with speaker.start(s):
            for _ in range(10):
                s.push(Audio(np.zeros(441, np.float32), 44100))
            time.sleep(0.3)
    assert all(h["rate"] == 48000 for h, _ in page.sent)
    assert 9 * 480 <= sum(b.size for _, b in page.sent) <= 10 * 480  # soxr keeps a short delay
    assert speaker.stats()["ignored"] == 10  # node "a"'s copies
    with pytest.raises(DeviceError, match="sample_rate"):
        speaker.write(np.zeros(10))
    speaker.write(np.zeros(960), sample_rate=48000)  # no session: write() plays directly
    assert page.sent[-1][1].size == 960


def test_speaker_reports_node_errors() -> None:
    with rmlab.open_session(Manifest(name="f").add("fail", BrowserTestFail)) as s:
        speaker = BrowserSpeaker(s)
        s.push(Audio(np.zeros(960, np.float32), 48000))
        deadline = time.monotonic() + 2
        while not speaker.error:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        speaker.stop()
    assert "boom" in speaker.error and speaker.stats()["errors"] == 1


@pytest.mark.parametrize(
    ("cls", "script"), [(BrowserMic, "browser_mic.js"), (BrowserSpeaker, "browser_speaker.js")]
)
def test_the_front_end_only_uses_traits_the_python_side_syncs(cls: type, script: str) -> None:
    js = (WIDGETS / "audio_common.js").read_text() + (WIDGETS / script).read_text()
    used = set(re.findall(r"model\.(?:get|set)\(\"(\w+)\"", js))
    synced = set(cls.class_traits(sync=True))
    assert used and used <= synced, used - synced
    assert "import " not in js, "widgets are self-contained: no imports, no CDN"
    assert cls._esm.endswith((WIDGETS / script).read_text())  # the widget ships this file
