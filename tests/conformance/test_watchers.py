"""Watchers see every event of a session, beside pull(), identically on every executor."""

from __future__ import annotations

import threading

import pytest

from rmlab import Json, Manifest, SessionClosed, SessionError, open_session
from rmlab.runtime.executor import Ended, HopDone, Output
from rmlab.runtime.watchers import Watcher

from . import nodes  # noqa: F401  # registers the C* test nodes

pytestmark = pytest.mark.unit


class Recorder(Watcher):
    def __init__(self) -> None:
        self.outputs: list = []
        self.hops: dict[str, int] = {}
        self.errors: list = []
        self.ended = threading.Event()

    def on_output(self, output) -> None:
        self.outputs.append(output.data.value)

    def on_hop(self, hop) -> None:
        self.hops[hop.node_id] = self.hops.get(hop.node_id, 0) + hop.count

    def on_error(self, error) -> None:
        self.errors.append(error.node_id)

    def on_end(self, reason: str) -> None:
        self.ended.set()


def test_two_watchers_and_pull_all_see_every_output(executor: str) -> None:
    m = Manifest().add("f", "CFail", bad=3).add("r", "CRepeat", n=0).connect("f", "r")
    m.add("out", "PassThrough").connect("f", "out")
    a, b, events = Recorder(), Recorder(), []
    with open_session(m, executor, backpressure="block") as s:
        s.watch(a)
        s.watch(b)
        s.watch(events.append)  # a plain function of one event
        for i in range(6):
            s.push(Json(i))
        s.end()
        pulled = []
        while True:
            try:
                pulled.append(next(s).data.value)
            except StopIteration:
                break
            except Exception as exc:
                pulled.append(type(exc).__name__)
        assert a.ended.wait(10) and b.ended.wait(10)
    # order holds per edge; the error also reaches the session through "r", another path
    assert [v for v in pulled if v != "NodeError"] == [0, 1, 2, 4, 5]
    assert pulled.count("NodeError") == 1
    assert a.outputs == b.outputs == [0, 1, 2, 4, 5] and a.errors == ["f"]
    assert a.hops == {"f": 5, "r": 5, "out": 5}  # one per process call, emitted or not
    assert sum(isinstance(e, Output) for e in events) == 5
    assert sum(e.count for e in events if isinstance(e, HopDone)) == 15
    assert isinstance(events[-1], Ended)


def test_a_raising_watcher_is_detached_and_the_session_goes_on(executor: str) -> None:
    class Broken(Watcher):
        def on_output(self, output) -> None:
            raise RuntimeError("plot bug")

    m = Manifest().add("p", "PassThrough")
    with open_session(m, executor, backpressure="block") as s:
        w = s.watch(Broken())
        ok = Recorder()
        s.watch(ok)
        for i in range(3):
            s.push(Json(i))
        assert [s.pull(timeout=10).data.value for _ in range(3)] == [0, 1, 2]
        s.end()
        assert ok.ended.wait(10)
    assert isinstance(w.error, RuntimeError) and ok.outputs == [0, 1, 2]


def test_a_consuming_watcher_bounds_what_waits_for_pull(executor: str) -> None:
    m = Manifest().add("p", "PassThrough")
    seen = Recorder()
    with open_session(m, executor, backpressure="block", queue_size=4) as s:
        s.watch(seen, consumes=True)  # a speaker, a file writer: nobody needs to pull
        for i in range(40):
            s.push(Json(i))
        s.end()
        assert seen.ended.wait(10)
        left = [o.data.value for o in s]
    assert seen.outputs == list(range(40))  # lossless for the consumer ...
    assert left == list(range(36, 40))  # ... and only the newest queue_size kept for pull


def test_watch_checks_its_argument(executor: str) -> None:
    with open_session(Manifest().add("p", "PassThrough"), executor) as s:
        with pytest.raises(SessionError, match="Watcher or a function"):
            s.watch(42)  # type: ignore[arg-type]
        h = s.watch(Recorder())
        h.close()
        h.close()  # idempotent


def test_an_executor_that_fails_ends_the_session_with_the_reason() -> None:
    # a bug inside the executor itself (here: its event buffer refuses an output) must
    # end the session visibly, never leave pull() waiting for ever
    from rmlab.runtime.executor import EventBuffer

    m = Manifest().add("p", "PassThrough")
    with open_session(m, "local") as s:
        buf: EventBuffer = s._ex._events  # type: ignore[attr-defined]
        real = buf.put

        def refuse(event, **kw):
            if isinstance(event, Output):
                raise RuntimeError("event buffer broke")
            real(event, **kw)

        buf.put = refuse  # type: ignore[method-assign]
        s.push(Json(1))
        why = r"stopped by itself: the local executor failed: RuntimeError: event buffer broke"
        with pytest.raises(SessionClosed, match=why):
            s.pull(timeout=10)
