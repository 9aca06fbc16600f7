"""The one small protocol every audio source and sink follows.

A **source** produces ``Audio`` frames and pushes them into a session; a **sink**
consumes a session's outputs. Both have the same lifecycle::

    mic = Microphone().start(session)     # start() returns self: `with X().start(s):` works
    ...
    mic.stats()                           # {"frames": ..., "drops": ..., ...}
    mic.stop()                            # or leave the `with` block

Each runs one background thread (``_loop``); an exception there does not vanish: it
is kept in ``.error``, counted in ``stats()["errors"]`` and re-raised by ``wait()``.

**A sink watches its session.** ``sink.start(session)`` attaches a watcher
(``Session.watch``), so a sink is one consumer among any number: a ``Speaker``, a
``FileSink``, the console's plots and your own ``pull()`` loop all see every output
of one session. The watcher runs on the session's pump thread, where a slow step
would hold up every other watcher, so it only hands outputs over (``DropOldest``:
never waits); the sink's own thread writes them (resampling, a file, the page) and
an audio callback reads what it wrote. The sink plays or writes the Audio frames of
``node`` (every Audio output when ``node`` is None). On a ``"drop-oldest"`` session
at most ``queue_size`` outputs wait for the sink's thread: a sink that falls behind
drops the oldest and counts them (``stats()["drops"]``) rather than delay the
stream; on a ``"block"`` session it loses nothing (what it has not written yet
waits in memory). A sink started without a session
plays or writes what you give ``sink.write(frame)``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol, Self

import numpy as np

from rmlab.data import Audio
from rmlab.errors import DeviceError, NodeError, SessionClosed, SessionError
from rmlab.runtime.executor import Output
from rmlab.runtime.watchers import Watcher

__all__ = ["Clock", "DropOldest", "MonotonicClock", "PacedSource", "Sink", "Source"]

_POLL_S = 0.1  # how often a waiting thread re-checks stop(): bounds stop()'s latency
_END = object()  # what a sink's watcher hands over when the session ended


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
    """A hand-off between threads whose ``put`` never blocks.

    When ``maxsize`` items wait (None: no bound), the oldest is discarded and counted
    in ``dropped``: an audio callback or a session's pump thread must never wait for
    a slow consumer, and for live audio the newest frame is the one worth keeping.
    An item put with ``keep=True`` (an error, the end of a stream) is never
    discarded and does not count towards ``maxsize``.
    """

    def __init__(self, maxsize: int | None):
        self._items: deque[tuple[bool, Any]] = deque()  # (keep, item)
        self._maxsize = maxsize
        self._droppable = 0
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any, keep: bool = False) -> None:
        with self._cond:
            if not keep:
                if self._maxsize is not None and self._droppable >= self._maxsize:
                    self._drop_oldest()
                self._droppable += 1
            self._items.append((keep, item))
            self._cond.notify()

    def get(self, timeout: float) -> Any:
        """The oldest item, or None if none came within ``timeout`` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return None
            keep, item = self._items.popleft()
            if not keep:
                self._droppable -= 1
            return item

    def _drop_oldest(self) -> None:
        for i, (keep, _) in enumerate(self._items):  # kept items are rare: nearly always i == 0
            if not keep:
                del self._items[i]
                self._droppable -= 1
                self.dropped += 1
                return


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
    """Consumes Audio frames: a session's outputs (by watching it) or ``write()`` calls.

    ``start(session)`` watches the session (see the module docstring: every other
    consumer still sees every output); ``start()`` without one leaves the sink to
    ``write()``. ``node`` keeps only that node's outputs (None: every Audio output);
    the others are counted as ``ignored``. ``on_output(out)``, if given, is called on
    the sink's thread for every output it was handed, played or not, after the frame
    was written (to see what a sink consumed; any other code can watch or pull the
    session itself). A node's error is counted and kept in ``.error`` without
    stopping the sink. ``wait()`` returns True once the session has ended and every
    output handed over was written, or the session closed.
    """

    def __init__(
        self, *, node: str | None = None, on_output: Callable[[Any], None] | None = None
    ) -> None:
        super().__init__()
        self.node = node
        self.on_output = on_output
        self._counts["ignored"] = 0
        self._counts["drops"] = 0  # of earlier starts; the current hand-off counts its own
        self._handoff = DropOldest(None)
        self._watch: Any = None

    def start(self, session: Any = None) -> Self:
        """Watch ``session`` and write its Audio outputs from now on (None: only ``write()``)."""
        if session is not None and not callable(getattr(session, "watch", None)):
            raise SessionError(
                f"{type(self).__name__}.start() takes a session to watch "
                f"(rmlab.open_session(...)), or nothing to be fed with write(); "
                f"got {type(session).__name__}"
            )
        if self.running:
            raise SessionError(f"{type(self).__name__} is already running; stop() it first")
        # lossless on a "block" session; bounded like the session's own queues otherwise
        block = getattr(session, "backpressure", None) == "block"
        bound = None if block else getattr(session, "queue_size", 64)
        self._counts["drops"] += self._handoff.dropped
        self._handoff = DropOldest(bound)
        super().start(session)
        if session is not None:
            try:
                self._watch = session.watch(_SinkWatcher(self, self._handoff), consumes=True)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Stop watching, stop the thread and release the device. Idempotent."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        super().stop()

    def stats(self) -> dict[str, Any]:
        """``frames`` written, ``ignored`` outputs, ``errors``, and ``drops``: outputs
        discarded because the sink's thread fell behind (``"drop-oldest"`` sessions)."""
        counts = super().stats()
        counts["drops"] += self._handoff.dropped
        return counts

    def write(self, frame: Audio) -> None:
        """Consume one frame (called by the sink's own thread, or by you when started
        without a session)."""
        self._write(frame)
        self._counts["frames"] += 1

    def _wants_thread(self) -> bool:
        return self.session is not None

    def _loop(self) -> None:
        try:
            self._consume()
        finally:  # ended by itself (the session ended, a write failed): nobody takes more
            watch = self._watch
            if watch is not None:
                watch.close()

    def _consume(self) -> None:
        handoff = self._handoff
        while not self._stop.is_set():
            item = handoff.get(_POLL_S)
            if item is None:
                watch = self._watch
                if watch is not None and watch.error is not None:
                    raise watch.error  # the watcher failed and was detached: nothing comes
                if getattr(self.session, "closed", False):
                    return  # closed before it ended: everything handed over is written
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):  # errors are data here: report, keep playing
                self.error = item
                self._counts["errors"] += 1
                continue
            out, wanted = item
            if wanted:
                self.write(out.data)
            if self.on_output is not None:
                self.on_output(out)

    def _write(self, frame: Audio) -> None:
        raise NotImplementedError


class _SinkWatcher(Watcher):
    """A sink's watcher, on the session's pump thread: it only hands things over."""

    def __init__(self, sink: Sink, handoff: DropOldest) -> None:
        self.sink = sink
        self.handoff = handoff

    def on_output(self, output: Output) -> None:
        sink = self.sink
        wanted = isinstance(output.data, Audio) and sink.node in (None, output.node_id)
        if not wanted:
            sink._counts["ignored"] += 1
            if sink.on_output is None:
                return  # nothing on the sink's thread wants it
        self.handoff.put((output, wanted))

    def on_error(self, error: NodeError) -> None:
        self.handoff.put(error, keep=True)

    def on_end(self, reason: str) -> None:
        self.handoff.put(_END, keep=True)


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
