"""Sinks are watchers: a sink, other watchers and a ``pull()`` loop share one session.

A ``FileSink`` (a real sink that needs no sound card) watches the session the way a
``Speaker`` does; these tests check that every consumer sees every output, on both
executors, that a stuck sink never holds up the session or its other consumers, and
that what a sink drops or fails on is counted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

import rmlab
from rmlab import Node, Param
from rmlab.audio import FileSink, FileSource, ToneSource, read_wav, write_wav
from rmlab.data import Audio
from rmlab.errors import NodeError, SessionError
from rmlab.runtime.watchers import Watcher
from tests.audio.conftest import passthrough

pytestmark = pytest.mark.audio

RATE, BLOCK = 48000, 960


class Seen(Watcher):
    """A second consumer: keeps every output and the end's reason."""

    def __init__(self) -> None:
        self.outputs: list[rmlab.Output] = []
        self.reasons: list[str] = []
        self.ended = threading.Event()

    def on_output(self, output: rmlab.Output) -> None:
        self.outputs.append(output)

    def on_end(self, reason: str) -> None:
        self.reasons.append(reason)
        self.ended.set()


class StuckSink(FileSink):
    """A FileSink whose first write waits until ``release`` is set (a stalled device)."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self.entered = threading.Event()
        self.release = threading.Event()

    def _write(self, frame: Audio) -> None:
        self.entered.set()
        assert self.release.wait(30)
        super()._write(frame)


class AudioFailEvery(Node):
    """Passes frames on, but raises on every ``every``-th one."""

    every: int = Param(3, min=1)

    def setup(self) -> None:
        self.n = 0

    def process(self, frame: Any) -> Any:
        self.n += 1
        if self.n % self.every == 0:
            raise ValueError(f"failed on frame {self.n}")
        return frame


def samples(outputs: list[rmlab.Output]) -> np.ndarray:
    return np.concatenate([o.data.as_2d() for o in outputs])


def wait_for(what: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.mark.parametrize("backpressure", ["block", "drop-oldest"])
def test_a_sink_a_watcher_and_a_pull_loop_each_see_every_output(
    tmp_path: Any, executor: str, backpressure: str
) -> None:
    rng = np.random.default_rng(5)
    x = (0.3 * rng.standard_normal((RATE + 123, 1))).clip(-1, 1).astype(np.float32)
    write_wav(tmp_path / "in.wav", x, RATE)
    n = -(-len(x) // BLOCK)
    # "block": as fast as the session takes frames; "drop-oldest": a live source's pace
    live = backpressure == "drop-oldest"
    pulled: list[rmlab.Output] = []
    with rmlab.open_session(passthrough(), executor=executor, backpressure=backpressure) as s:
        seen = Seen()
        s.watch(seen)
        sink = FileSink(tmp_path / "out.wav").start(s)
        puller = threading.Thread(target=lambda: pulled.extend(s))  # until the end drains
        puller.start()
        FileSource(tmp_path / "in.wav", realtime=live).start(s).wait(timeout=30)
        s.end()
        puller.join(timeout=30)
        assert sink.wait(timeout=30)
        sink.stop()
        stats = s.stats()
    assert not puller.is_alive() and stats.outputs == n and stats.drops == {}
    for consumer in (pulled, seen.outputs):
        assert [o.trace.seq for o in consumer] == list(range(n))  # every one, in order
        np.testing.assert_array_equal(samples(consumer), x)
    y, rate = read_wav(tmp_path / "out.wav")
    assert rate == RATE
    np.testing.assert_array_equal(y, x)  # the sink wrote every output too
    assert seen.reasons == [""]
    st = sink.stats()
    assert (st["frames"], st["ignored"], st["drops"], st["errors"]) == (n, 0, 0, 0)


@pytest.mark.parametrize("backpressure", ["block", "drop-oldest"])
def test_a_stuck_sink_holds_up_nobody_and_counts_what_it_drops(
    tmp_path: Any, executor: str, backpressure: str
) -> None:
    frames = [Audio(np.full(BLOCK, i / 100, np.float32), RATE) for i in range(40)]
    with rmlab.open_session(
        passthrough(), executor=executor, backpressure=backpressure, queue_size=8
    ) as s:
        seen = Seen()
        s.watch(seen)
        sink = StuckSink(tmp_path / "out.wav").start(s)
        s.push(frames[0])
        assert sink.entered.wait(10)  # the sink's thread now hangs in its first write
        for i, frame in enumerate(frames[1:], 2):
            s.push(frame)
            wait_for(lambda i=i: len(seen.outputs) == i)  # still delivered, one by one
        s.end()
        assert seen.ended.wait(10) and sink.running  # the end came; the sink still hangs
        sink.release.set()
        assert sink.wait(timeout=10)
        sink.stop()
    y, _ = read_wav(tmp_path / "out.wav")
    written = [round(float(v) * 100) for v in y[::BLOCK, 0]]
    st = sink.stats()
    if backpressure == "block":  # lossless: everything waited for the sink
        assert written == list(range(40)) and st["drops"] == 0
    else:  # the frame it hung on, then the newest queue_size; the rest counted, not lost
        assert written == [0, *range(32, 40)] and st["drops"] == 31
    assert st["frames"] == len(written) and st["errors"] == 0


def test_a_sink_counts_node_errors_and_plays_on(tmp_path: Any) -> None:
    m = rmlab.Manifest(name="fails").add("f", "AudioFailEvery", every=3)
    with rmlab.open_session(m, backpressure="block") as s:
        sink = FileSink(tmp_path / "out.wav").start(s)
        ToneSource(duration=0.2, realtime=False).start(s).wait(timeout=10)  # 10 frames
        s.end()
        with pytest.raises(NodeError, match="frame 9"):  # wait() re-raises the last one
            sink.wait(timeout=10)
        sink.stop()
    st = sink.stats()
    assert (st["frames"], st["errors"]) == (7, 3)  # frames 3, 6 and 9 failed
    assert isinstance(sink.error, NodeError) and sink.error.node_id == "f"
    assert "failed on frame 9" in str(sink.error)
    assert len(read_wav(tmp_path / "out.wav")[0]) == 7 * BLOCK


def test_a_stopped_sink_stops_watching_and_the_others_go_on(tmp_path: Any) -> None:
    with rmlab.open_session(passthrough(), backpressure="block") as s:
        seen = Seen()
        s.watch(seen)
        sink = FileSink(tmp_path / "out.wav").start(s)
        silence = Audio(np.zeros(BLOCK, np.float32), RATE)
        s.push(silence)
        wait_for(lambda: sink.stats()["frames"] == 1)
        sink.stop()
        assert not sink.running
        for _ in range(3):
            s.push(silence)
        wait_for(lambda: len(seen.outputs) == 4)
        s.end()
        assert len(list(s)) == 4  # a pull loop still gets all of them
    assert sink.stats()["frames"] == 1


def test_a_sink_needs_something_to_watch(tmp_path: Any) -> None:
    class PushOnly:
        def push(self, frame: Any) -> None: ...

    with pytest.raises(SessionError, match="takes a session to watch"):
        FileSink(tmp_path / "x.wav").start(PushOnly())
    s = rmlab.open_session(passthrough())
    s.close()
    sink = FileSink(tmp_path / "x.wav")
    with pytest.raises(SessionError):  # SessionClosed: nothing left to watch
        sink.start(s)
    assert not sink.running
