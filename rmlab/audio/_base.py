"""The one small protocol every audio source and sink follows.

A **source** produces ``Audio`` frames and pushes them into a session; a **sink**
consumes a session's outputs. Both have the same lifecycle::

    mic = Microphone().start(session)     # start() returns self: `with X().start(s):` works
    ...
    mic.stats()                           # {"frames": ..., "drops": ..., ...}
    mic.stop()                            # or leave the `with` block

Each runs one background thread (``_loop``); an exception there does not vanish: it
is kept in ``.error``, counted in ``stats()["errors"]`` and re-raised by ``wait()``.

**A sink is its session's consumer.** ``Session.pull`` hands each output to exactly one
caller, so two threads pulling the same session would each see half the frames.
A started sink therefore pulls *every* output itself: it plays or writes the Audio
frames of ``node`` (every sink node's when ``node`` is None) and passes each output,
its own included, to ``on_output`` so the caller still sees them all. A caller who
wants to pull the session itself starts the sink without a session and feeds it
with ``sink.write(frame)``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol, Self

import numpy as np

from rmlab.data import Audio
from rmlab.errors import DeviceError, NodeError, SessionClosed, SessionError, Timeout

__all__ = ["Clock", "DropOldest", "MonotonicClock", "PacedSource", "Sink", "Source"]

_POLL_S = 0.1  # how often a waiting thread re-checks stop(): bounds stop()'s latency


class Clock(Protocol):
    """Where paced sources get the time: injectable, so tests need no real sleeps."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        """Wait until ``now() >= deadline``; return False at once if ``stop`` gets set."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and an interruptible wait."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        while (remaining := deadline - time.monotonic()) > 0:
            if stop.wait(remaining):
                return False
        return not stop.is_set()


class DropOldest:
    """A bounded hand-off between threads whose ``put`` never blocks.

    When full, the oldest item is discarded and counted in ``dropped``: an audio
    callback must never wait for a slow consumer, and for live audio the newest
    frame is the one worth keeping.
    """

    def __init__(self, maxsize: int):
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float) -> Any:
        """The oldest item, or None if none came within ``timeout`` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None


class _Endpoint:
    """What sources and sinks share: start/stop, one background thread, counters."""

    def __init__(self) -> None:
        self.session: Any = None
        self.error: BaseException | None = None
        """The exception that ended the background thread, if any."""
        self._counts: dict[str, int] = {"frames": 0, "errors": 0}
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, session: Any = None) -> Self:
        """Open the device (if any) and start the background thread; returns ``self``."""
        if self.running:
            raise SessionError(f"{type(self).__name__} is already running; stop() it first")
        self.session, self.error = session, None
        self._stop.clear()
        self._done.clear()
        self._open()
        if self._wants_thread():
            name = f"rmlab-{type(self).__name__.lower()}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and release the device. Idempotent; never raises the thread's error."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        self._close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread finished by itself (True) or ``timeout`` passed (False).

        Re-raises the exception that ended the thread, so offline scripts see failures.
        """
        done = self._done.wait(timeout)
        if self.error is not None:
            raise self.error
        return done

    @property
    def running(self) -> bool:
        """True while the background thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        """Counters so far: ``frames`` handled, ``errors``, and what each class adds."""
        return dict(self._counts)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {state} {self.stats()}>"

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # kept for wait(): a thread's exception would vanish
            self.error = exc
            self._counts["errors"] += 1
        finally:
            self._done.set()

    # -- for subclasses ----------------------------------------------------------------

    def _open(self) -> None:
        """Acquire the device (may raise ``DeviceError`` into ``start()``)."""

    def _close(self) -> None:
        """Release the device."""

    def _wants_thread(self) -> bool:
        return True

    def _loop(self) -> None:
        raise NotImplementedError


class Source(_Endpoint):
    """Produces ``Audio`` frames and pushes them into a session (anything with ``push``).

    ``wait()`` returns True once a finite source pushed its last frame; a source
    stops by itself when the session closes or ends.
    """

    def start(self, session: Any) -> Self:
        """Start pushing into ``session``; returns ``self``."""
        if session is None or not callable(getattr(session, "push", None)):
            raise SessionError(f"{type(self).__name__}.start() needs a session to push into")
        return super().start(session)

    def _push(self, frame: Audio) -> bool:
        """Push one frame; False (and the thread should end) once the session is closed."""
        try:
            self.session.push(frame)
        except SessionClosed:
            return False
        self._counts["frames"] += 1
        return True


class Sink(_Endpoint):
    """Consumes Audio frames: a session's outputs (as its only consumer) or ``write()`` calls.

    ``node`` keeps only that node's outputs (None: every Audio output); the others
    are counted as ``ignored``. ``on_output(out)`` sees every output pulled, played or
    not. A node's error is counted and kept in ``.error`` without stopping the sink.
    ``wait()`` returns True once the session has ended and every output was pulled.
    """

    def __init__(
        self, *, node: str | None = None, on_output: Callable[[Any], None] | None = None
    ) -> None:
        super().__init__()
        self.node = node
        self.on_output = on_output
        self._counts["ignored"] = 0

    def write(self, frame: Audio) -> None:
        """Consume one frame (called by the sink's own thread, or by you)."""
        self._write(frame)
        self._counts["frames"] += 1

    def _wants_thread(self) -> bool:
        return self.session is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                out = self.session.pull(timeout=_POLL_S)
            except Timeout:
                continue
            except SessionClosed:
                return
            except NodeError as exc:  # errors are data here: report, keep playing
                self.error = exc
                self._counts["errors"] += 1
                continue
            if isinstance(out.data, Audio) and self.node in (None, out.node_id):
                self.write(out.data)
            else:
                self._counts["ignored"] += 1
            if self.on_output is not None:
                self.on_output(out)

    def _write(self, frame: Audio) -> None:
        raise NotImplementedError


class PacedSource(Source):
    """A source of blocks generated or read in Python, paced in real time or not at all.

    Real time: the frame starting at sample ``n`` is pushed at ``t0 + n / rate`` on
    ``clock``, computed afresh for every frame, so late wake-ups never add up (no
    drift, however long it runs). ``realtime=False``: as fast as the session takes
    frames (open it with ``backpressure="block"`` for lossless offline work).
    ``timestamp_us`` is the wall time at start plus ``n / rate``, exact in integers.
    """

    def __init__(
        self, sample_rate: int, block: int, channels: int, realtime: bool, clock: Clock | None
    ) -> None:
        super().__init__()
        if block < 1 or sample_rate < 1 or channels < 1:
            raise DeviceError("block, sample_rate and channels must be positive")
        self.sample_rate, self.block, self.channels = int(sample_rate), int(block), int(channels)
        self.realtime = realtime
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self._counts["max_late_us"] = 0

    def _blocks(self) -> Iterator[np.ndarray]:
        """The frames' samples, ``(frames, channels)`` float32, in order."""
        raise NotImplementedError

    def _loop(self) -> None:
        clock, rate = self.clock, self.sample_rate
        epoch_us = time.time_ns() // 1000
        t0 = clock.now()
        n = 0  # samples pushed so far: every deadline and timestamp derives from it
        for samples in self._blocks():
            if self.realtime:
                if not clock.sleep_until(t0 + n / rate, self._stop):
                    return
                late_us = int((clock.now() - t0 - n / rate) * 1e6)
                self._counts["max_late_us"] = max(self._counts["max_late_us"], late_us)
            elif self._stop.is_set():
                return
            ts = epoch_us + n * 1_000_000 // rate
            if not self._push(Audio(samples, rate, self.channels, timestamp_us=ts)):
                return
            n += samples.shape[0]
