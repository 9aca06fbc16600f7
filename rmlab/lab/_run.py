"""One run of a pipeline, from Start to Stop (private to the console).

A ``Run`` owns the session and everything that touches it:

- **Pushing.** The source is started with the run itself as its "session": its
  ``push`` forwards to whichever session is current, so the source keeps running when
  the session underneath is replaced. Frames pushed while no session takes them are
  counted as ``lost``.
- **Consuming.** ``Session.pull`` hands each output to one caller only, so exactly one
  thread pulls: the consumer. It passes outputs to ``on_output`` (plots, speaker),
  node errors (``NodeError``, ``NodeCrashed``) to ``on_error``, and calls ``on_end``
  if the pipeline stops by itself (a crashed node without a restart policy).
- **Hot swap.** ``swap(manifest)`` opens a second session with the new manifest in a
  background thread while the first keeps running; the consumer then switches the
  source over between two pulls and closes the old session. Used when the pipeline's
  shape is edited while it runs (params go to ``Session.set_params`` instead). The
  stream has no gap; the nodes' carried state starts over. Several swaps requested
  while one starts collapse into one.

**One owner thread opens and closes every session of a run.** The shm executor's
workers die with the *thread* that started them (``PR_SET_PDEATHSIG`` follows the
forking thread, not the process), so a session opened from a short-lived thread (a
swap helper, possibly a widget handler's) would lose its workers when that thread
ends. The owner lives exactly as long as the run's sessions.

The push lock makes switching sessions atomic for the source thread: a push never
reaches a session that is being closed (closing an shm session while a push writes
into its shared memory would be a use-after-free in iceoryx2).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rmlab.data import RuntimeData
from rmlab.errors import NodeError, SessionClosed, SessionError, Timeout
from rmlab.manifest import Manifest
from rmlab.runtime.session import Output, Session, open_session
from rmlab.runtime.trace import Stats

__all__ = ["Run"]

_PULL_S = 0.1  # bounds how long Stop and a swap wait for the consumer
_RATE_WINDOW_S = 2.0


class Run:
    """A started pipeline: its session, the consumer thread and hot swaps."""

    def __init__(
        self,
        manifest: Manifest,
        executor: str,
        *,
        on_output: Callable[[Output], None],
        on_error: Callable[[BaseException], None],
        on_end: Callable[[str], None],
        on_input: Callable[[RuntimeData], None] | None = None,
        backpressure: str = "drop-oldest",
    ) -> None:
        self.manifest = manifest
        self.executor = executor
        self.backpressure = backpressure
        self.on_output, self.on_error, self.on_end, self.on_input = (
            on_output, on_error, on_end, on_input
        )  # fmt: skip
        self.taps: set[str] = set()
        self.pushed = self.lost = self.outputs = self.swaps = 0
        self.started = time.monotonic()
        self._in_times: deque[float] = deque(maxlen=512)
        self._out_times: deque[float] = deque(maxlen=512)
        self._retired = {"drops": 0, "errors": 0, "restarts": 0}
        self._last_stats: Stats | None = None
        self._push_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._consumed = threading.Event()  # set by stop(): nobody pulls any more
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._pending: Manifest | None = None
        self._opening = False
        self._next: tuple[Session, Manifest] | None = None
        self.session: Session
        self._owner = threading.Thread(
            target=self._own, args=(manifest,), name="rmlab-console-sessions", daemon=True
        )
        self._owner.start()
        self._opened.wait()
        if self._open_error is not None:
            self._owner.join()
            raise self._open_error
        self._consumer = threading.Thread(target=self._consume, name="rmlab-console", daemon=True)
        self._consumer.start()

    # -- the source's side ----------------------------------------------------------

    def push(self, x: Any, to: str | None = None) -> None:
        """Forward one frame to the current session (the source thread calls this)."""
        if self._stopping.is_set():
            raise SessionClosed("the console stopped this run")
        if self.on_input is not None and isinstance(x, RuntimeData):
            self.on_input(x)
        with self._push_lock:
            try:
                self.session.push(x, to)
            except SessionError:  # closed or crashed underneath: the consumer reports it
                self.lost += 1
                return
        self.pushed += 1
        self._in_times.append(time.monotonic())

    # -- control ----------------------------------------------------------------------

    def tap(self, node_id: str) -> None:
        """Also deliver ``node_id``'s outputs, now and after every swap."""
        if node_id not in self.taps:
            self.session.tap(node_id)
            self.taps.add(node_id)

    def swap(self, manifest: Manifest) -> None:
        """Replace the session with one running ``manifest``, without stopping the source."""
        with self._wake:
            self._pending = manifest
            self._wake.notify_all()

    @property
    def swapping(self) -> bool:
        """True while a swap is being prepared or waits for the consumer."""
        return self._pending is not None or self._opening or self._next is not None

    def stop(self) -> None:
        """Stop consuming and close every session. Idempotent; callable from any thread."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        me = threading.current_thread()
        if self._consumer is not me:
            self._consumer.join()
        self._consumed.set()
        if self._owner is not me:
            self._owner.join()

    @property
    def running(self) -> bool:
        return self._consumer.is_alive()

    def status(self) -> dict[str, Any]:
        """Rates and counters for the status line (totals over swaps)."""
        stats = self._stats()
        now = time.monotonic()
        rate = {"in_fps": _rate(self._in_times, now), "out_fps": _rate(self._out_times, now)}
        r = self._retired
        return {
            **rate,
            "pushed": self.pushed,
            "outputs": self.outputs,
            "lost": self.lost,
            "swaps": self.swaps,
            "drops": r["drops"] + (sum(stats.drops.values()) if stats else 0),
            "errors": r["errors"] + (sum(stats.errors.values()) if stats else 0),
            "restarts": r["restarts"] + (sum(stats.restarts.values()) if stats else 0),
            "e2e_ms": stats.end_to_end.median_ms if stats else float("nan"),
        }

    # -- threads ------------------------------------------------------------------------

    def _open(self, manifest: Manifest) -> Session:
        session = open_session(manifest, self.executor, backpressure=self.backpressure)  # type: ignore[arg-type]
        try:
            for t in self.taps:
                session.tap(t)
        except BaseException:
            session.close()
            raise
        return session

    def _consume(self) -> None:
        while not self._stopping.is_set():
            if self._next is not None:
                self._switch()
            session = self.session
            try:
                out = session.pull(timeout=_PULL_S)
            except Timeout:
                continue
            except SessionClosed:
                if not self._stopping.is_set() and session is self.session:
                    self.on_end("the pipeline stopped by itself (see the errors)")
                return
            except NodeError as exc:
                self.on_error(exc)
                continue
            except Exception as exc:  # the executor itself failed: this run cannot go on
                self.on_error(exc)
                self.on_end(f"the session failed: {exc}")
                return
            self.outputs += 1
            self._out_times.append(time.monotonic())
            try:
                self.on_output(out)
            except Exception as exc:  # a plot's bug must not stop the pipeline
                self.on_error(exc)

    def _own(self, manifest: Manifest) -> None:
        try:
            self.session = self._open(manifest)
        except BaseException as exc:  # raised by __init__, in the caller's thread
            self._open_error = exc
            return
        finally:
            self._opened.set()
        while True:
            with self._wake:
                while self._pending is None and not self._stopping.is_set():
                    self._wake.wait()
                if self._stopping.is_set():
                    break
                manifest, self._pending = self._pending, None
                self._opening = True
            try:
                session = self._open(manifest)
            except Exception as exc:
                self.on_error(exc)
                continue
            finally:
                self._opening = False
            with self._push_lock:
                stale, self._next = self._next, (session, manifest)
            if stale is not None:
                stale[0].close()
        self._consumed.wait()  # no pull may be running on a session being closed
        with self._push_lock:
            sessions = [self.session] + ([self._next[0]] if self._next else [])
            self._next = None
        for s in sessions:
            self._remember(s)
            s.close()

    def _switch(self) -> None:
        with self._push_lock:
            if self._next is None:
                return
            old = self.session
            self.session, self.manifest = self._next
            self._next = None
        self._remember(old, retire=True)
        old.close()
        self.swaps += 1

    def _stats(self) -> Stats | None:
        # a deque can grow while stats() reads it: then keep the last snapshot
        with contextlib.suppress(RuntimeError):
            self._last_stats = self.session.stats()
        return self._last_stats

    def _remember(self, session: Session, retire: bool = False) -> None:
        """Keep a closing session's counters (``retire``: add them to the totals)."""
        try:
            stats = session.stats()
        except RuntimeError:
            return
        if retire:
            r = self._retired
            r["drops"] += sum(stats.drops.values())
            r["errors"] += sum(stats.errors.values())
            r["restarts"] += sum(stats.restarts.values())
        elif session is self.session:
            self._last_stats = stats


def _rate(times: deque[float], now: float) -> float:
    """Events per second over the last ``_RATE_WINDOW_S`` (0 until two have happened).

    Measured from the first event in the window, not a fixed span, so a source that
    started a moment ago already reads right, and one that stopped decays to 0.
    """
    recent = [t for t in list(times) if t > now - _RATE_WINDOW_S]
    return (len(recent) - 1) / (now - recent[0]) if len(recent) > 1 else 0.0
