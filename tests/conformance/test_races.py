"""close() racing push(), pull() and watchers from other threads never crashes.

A Rust panic inside iceoryx2 (touching a released sample or port) would kill a
notebook's kernel, so these races must end in ``SessionClosed`` and nothing else,
every time. ``RMLAB_RACE_ROUNDS`` sets the rounds per executor (default: 1,000
on executors that start in microseconds, 40 on shm, whose every round starts a
worker process, 20 on ray and 10 on shm+ray, whose every round loads a node on an
actor; the closing note of the runtime redesign reports 1,000 on shm).
"""

from __future__ import annotations

import os
import random
import threading
import time

import numpy as np
import pytest

from rmlab import Manifest, SessionClosed, open_session
from rmlab.runtime.watchers import Watcher

from . import nodes  # noqa: F401  # registers the C* test nodes

pytestmark = pytest.mark.unit


def pipeline(executor: str) -> Manifest:
    if executor == "loopback":
        return Manifest(name="loop")
    return Manifest(name="race").add("p", "PassThrough")


def rounds(executor: str) -> int:
    # every round of shm starts a worker process, of the Ray ones a node on an actor
    default = {"shm": 40, "ray": 20, "shm+ray": 10}.get(executor, 1000)
    return int(os.environ.get("RMLAB_RACE_ROUNDS", default))


def test_close_racing_a_pushing_thread(any_executor: str) -> None:
    rng = random.Random(7)
    frame = np.zeros(960, np.float32)
    for _ in range(rounds(any_executor)):
        s = open_session(pipeline(any_executor), any_executor)
        problems: list[BaseException] = []
        started = threading.Event()

        def push(s=s, problems=problems, started=started) -> None:
            started.set()
            try:
                while True:
                    s.push(frame)
            except SessionClosed:
                return
            except BaseException as exc:  # anything else is a failure of the contract
                problems.append(exc)

        t = threading.Thread(target=push)
        t.start()
        started.wait()
        time.sleep(rng.random() * 0.002)
        s.close()
        t.join(timeout=10)
        assert not t.is_alive(), "push() did not return after close()"
        assert not problems, problems


def test_close_from_another_thread_wakes_a_waiting_pull(any_executor: str) -> None:
    s = open_session(pipeline(any_executor), any_executor)
    threading.Timer(0.1, s.close).start()
    t0 = time.monotonic()
    with pytest.raises(SessionClosed):
        s.pull()  # no timeout: only close() can end this wait
    assert time.monotonic() - t0 < 2.0


def test_close_wakes_async_pull(any_executor: str) -> None:
    import asyncio

    async def main() -> None:
        s = open_session(pipeline(any_executor), any_executor)
        asyncio.get_running_loop().call_later(0.1, s.close)
        with pytest.raises(SessionClosed):
            await s.apull()

    asyncio.run(asyncio.wait_for(main(), 5))


def test_close_wakes_a_push_waiting_for_room(executor: str) -> None:
    m = Manifest().add("slow", "CSlow", ms=200.0)
    s = open_session(m, executor, backpressure="block", queue_size=1)
    errors: list[BaseException] = []

    def push() -> None:
        try:
            for i in range(50):
                s.push(i)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=push)
    t.start()
    time.sleep(0.3)  # the pusher is now waiting for credit
    t0 = time.monotonic()
    s.close()
    t.join(timeout=10)
    assert not t.is_alive() and time.monotonic() - t0 < 5.0
    assert len(errors) == 1 and isinstance(errors[0], SessionClosed), errors


def test_many_pullers_and_a_pusher_racing_close(any_executor: str) -> None:
    for _ in range(max(3, rounds(any_executor) // 100)):
        s = open_session(pipeline(any_executor), any_executor)
        problems: list[BaseException] = []

        def work(fn, s=s, problems=problems) -> None:
            try:
                while not s.closed:  # stats() goes on working after close: stop then
                    fn(s)
            except SessionClosed:
                return
            except BaseException as exc:
                problems.append(exc)

        def pull(s) -> None:
            try:
                s.pull(timeout=0.01)
            except Exception as exc:
                if isinstance(exc, SessionClosed):
                    raise
                if type(exc).__name__ != "Timeout":
                    raise

        threads = [threading.Thread(target=work, args=(pull,)) for _ in range(3)]
        threads.append(threading.Thread(target=work, args=(lambda s: s.push(1.0),)))
        threads.append(threading.Thread(target=work, args=(lambda s: s.stats() and None,)))
        for t in threads:
            t.start()
        time.sleep(0.05)
        s.close()
        for t in threads:
            t.join(timeout=10)
        assert not any(t.is_alive() for t in threads)
        assert not [p for p in problems if not isinstance(p, SessionClosed)], problems


def test_close_from_inside_a_watcher(any_executor: str) -> None:
    s = open_session(pipeline(any_executor), any_executor)
    seen = threading.Event()

    class Closer(Watcher):
        def on_output(self, output) -> None:
            s.close()  # on the session's own pump thread: must not deadlock
            seen.set()

    w = s.watch(Closer())
    s.push(1.0)
    assert seen.wait(10)
    assert s.closed and w.error is None
