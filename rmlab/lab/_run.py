"""One run of a pipeline, from Start to Stop (private to the console).

A ``Run`` owns the session and everything that touches it:

- **Pushing.** The source is started with the run itself as its "session": its
  ``push`` forwards to whichever session is current, so the source keeps running when
  the session underneath is replaced. A push that meets a session just replaced goes
  to the new one; frames no session takes (the run stopped, the pipeline crashed) are
  counted as ``lost``.
- **Watching.** One watcher per session (``Session.watch``: it runs on the session's
  pump thread) passes outputs to ``on_output`` and hops to ``on_hop`` (the plots), node
  errors (``NodeError``, ``NodeCrashed``) to ``on_error``, and calls ``on_end`` if the
  pipeline stops by itself (a crashed node without a restart policy). Sinks watch the
  run (``run.watch``) and follow it from session to session. Nobody pulls.
- **Hot swap.** ``swap(manifest)`` opens a second session with the new manifest while
  the first keeps running, attaches the watchers, switches the source over and closes
  the old session. Used when the pipeline's shape is edited while it runs (params go
  to ``Session.set_params`` instead). The stream has no gap; the nodes' carried state
  starts over. Several swaps requested while one starts collapse into one.
- **Counters** come from the sessions' ``stats()``: the current one's, plus those of
  the sessions swaps replaced.

**One owner thread opens and closes every session of a run.** The shm executor's
workers die with the *thread* that started them (``PR_SET_PDEATHSIG`` follows the
forking thread, not the process), so a session opened from a short-lived thread (a
swap helper, possibly a widget handler's) would lose its workers when that thread
ends. The owner lives exactly as long as the run's sessions.

Switching needs no lock around pushes: ``Session.close`` is safe while another
thread pushes into the session or its pump feeds the watchers (calls in flight raise
``SessionClosed``; nothing is released under them), and a push that loses that race
is sent again to the session that replaced it. The run's lock only makes "the
current session" and the watchers and taps that follow it change together.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rmlab import (
    Manifest,
    NodeError,
    Output,
    RuntimeData,
    Session,
    SessionClosed,
    SessionError,
    Stats,
    open_session,
)
from rmlab.events import HopDone, Watch, Watcher

__all__ = ["Run"]

_RATE_WINDOW_S = 2.0
_TOTALS = ("pushed", "outputs", "drops", "errors", "restarts")


class Run:
    """A started pipeline: its sessions, their watchers and hot swaps."""

    def __init__(
        self,
        manifest: Manifest,
        executor: str,
        *,
        on_output: Callable[[Output], None],
        on_error: Callable[[BaseException], None],
        on_end: Callable[[str], None],
        on_hop: Callable[[HopDone], None] | None = None,
        on_input: Callable[[RuntimeData], None] | None = None,
        backpressure: str = "drop-oldest",
    ) -> None:
        self.manifest = manifest
        self.executor = executor
        self.backpressure = backpressure
        self.on_output, self.on_error, self.on_end = on_output, on_error, on_end
        self.on_hop, self.on_input = on_hop, on_input
        self.taps: set[str] = set()
        self.lost = self.swaps = 0
        self.started = time.monotonic()
        self._in_times: deque[float] = deque(maxlen=512)
        self._out_times: deque[float] = deque(maxlen=512)
        self._lock = threading.Lock()  # the current session, what follows it, the totals
        self._following: list[_Following] = []
        self._retiring: list[Session] = []  # replaced, closing, not yet in the totals
        self._retired = dict.fromkeys(_TOTALS, 0)
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._pending: Manifest | None = None
        self._opening = False
        self.session: Session
        self._owner = threading.Thread(
            target=self._own, args=(manifest,), name="rmlab-console-sessions", daemon=True
        )
        self._owner.start()
        self._opened.wait()
        if self._open_error is not None:
            self._owner.join()
            raise self._open_error

    # -- what sources and sinks see: a session that outlives swaps --------------------

    def push(self, x: Any, to: str | None = None) -> None:
        """Forward one frame to the current session (the source thread calls this)."""
        if self._stopping.is_set():
            raise SessionClosed("the console stopped this run")
        if self.on_input is not None and isinstance(x, RuntimeData):
            self.on_input(x)
        session = self.session
        while True:
            try:
                session.push(x, to)
                break
            except SessionError:  # closed (a swap, Stop) or crashed: the watcher reports it
                if self.session is session:
                    self.lost += 1
                    return
                session = self.session  # replaced meanwhile: the new session takes it
        self._in_times.append(time.monotonic())

    def watch(
        self, watcher: Watcher | Callable[[Any], None], *, consumes: bool = False
    ) -> _Following:
        """Deliver the events of the current session, and of every session a hot swap
        brings, to ``watcher`` (what a sink started on the run does)."""
        f = _Following(self, watcher, consumes)
        with self._lock:
            if self._stopping.is_set():
                raise SessionClosed("the console stopped this run")
            f.attach(self.session)
            self._following.append(f)
        return f

    @property
    def closed(self) -> bool:
        """True once the run was stopped (a sink watching it ends then)."""
        return self._stopping.is_set()

    # -- control ----------------------------------------------------------------------

    def tap(self, node_id: str) -> None:
        """Also deliver ``node_id``'s outputs, now and after every swap."""
        with self._lock:
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
        """True while a swap is being prepared."""
        return self._pending is not None or self._opening

    def stop(self) -> None:
        """Close every session (watchers stop with them). Idempotent; any thread."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._owner is not threading.current_thread():
            self._owner.join()

    @property
    def running(self) -> bool:
        return self._owner.is_alive() and not self._stopping.is_set()

    def status(self) -> dict[str, Any]:
        """Rates and counters for the status line (totals over swaps)."""
        with self._lock:  # one consistent picture, also in the middle of a swap
            current = self.session.stats()
            replaced = [s.stats() for s in self._retiring]
            totals = dict(self._retired)
        for stats in (current, *replaced):
            for key, value in _counts(stats).items():
                totals[key] += value
        now = time.monotonic()
        return {
            "in_fps": _rate(self._in_times, now),
            "out_fps": _rate(self._out_times, now),
            **totals,
            "lost": self.lost,
            "swaps": self.swaps,
            "e2e_ms": current.end_to_end.median_ms,
        }

    # -- the owner thread ------------------------------------------------------------------

    def _own(self, manifest: Manifest) -> None:
        try:
            self._start_session(manifest)
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
                old = self._start_session(manifest)
            except Exception as exc:
                self.on_error(exc)
                continue
            finally:
                self._opening = False
            assert old is not None
            self._retire(old)
            self.swaps += 1
        self.session.close()

    def _start_session(self, manifest: Manifest) -> Session | None:
        """Open a session for ``manifest`` and make it the current one; returns the old."""
        session = open_session(manifest, self.executor, backpressure=self.backpressure)  # type: ignore[arg-type]
        try:
            # under the lock: a tap or a sink added meanwhile is carried over, not missed
            with self._lock:
                for t in sorted(self.taps & set(session.graph.order)):
                    session.tap(t)
                session.watch(_Feed(self, session), consumes=True)
                for f in self._following:
                    f.attach(session)
                old = getattr(self, "session", None)
                if old is not None:
                    self._retiring.append(old)
                self.session, self.manifest = session, manifest
        except BaseException:
            session.close()
            raise
        return old

    def _retire(self, session: Session) -> None:
        """Close a replaced session and add its counters to the totals."""
        session.close()
        stats = session.stats()  # final: nothing reaches a closed session's statistics
        with self._lock:
            for key, value in _counts(stats).items():
                self._retired[key] += value
            self._retiring.remove(session)


class _Feed(Watcher):
    """The run's watcher of one session (on its pump thread): plots, error panel, the end."""

    def __init__(self, run: Run, session: Session) -> None:
        self.run = run
        self.session = session

    def on_output(self, output: Output) -> None:
        run = self.run
        sinks = self.session.graph.sinks
        if output.node_id in sinks[:1]:  # "out" is frames/s leaving the pipeline, not taps'
            run._out_times.append(time.monotonic())
        try:
            run.on_output(output)
        except Exception as exc:  # a plot's bug must not stop the plots (nor the pipeline)
            run.on_error(exc)

    def on_hop(self, hop: HopDone) -> None:
        run = self.run
        if run.on_hop is not None:
            try:
                run.on_hop(hop)
            except Exception as exc:
                run.on_error(exc)

    def on_error(self, error: NodeError) -> None:
        self.run.on_error(error)

    def on_end(self, reason: str) -> None:
        run = self.run
        # the run only ever closes its sessions: an end is the pipeline stopping by itself
        # (a crash), or someone calling end() on console.session; a replaced session's
        # end is no longer the run's business
        if self.session is run.session and not run._stopping.is_set():
            run.on_end(reason or "the session was ended")


class _Following:
    """``Run.watch``'s handle: one watcher attached to each session the run runs."""

    def __init__(self, run: Run, watcher: Watcher | Callable[[Any], None], consumes: bool) -> None:
        self.run = run
        self.watcher = watcher
        self.consumes = consumes
        self._watches: list[Watch] = []

    @property
    def error(self) -> BaseException | None:
        """What the watcher raised, if it did (it was detached then, and stays so)."""
        return next((w.error for w in self._watches if w.error is not None), None)

    def attach(self, session: Session) -> None:
        """Watch ``session`` too (the caller holds the run's lock)."""
        if self.error is None:
            # the replaced session's handle goes with it; keep the last one for its error
            w = session.watch(self.watcher, consumes=self.consumes)
            self._watches = [*self._watches[-1:], w]

    def close(self) -> None:
        """Stop delivering events to the watcher. Idempotent."""
        with self.run._lock:
            if self in self.run._following:
                self.run._following.remove(self)
            watches = list(self._watches)
        for w in watches:
            w.close()


def _counts(stats: Stats) -> dict[str, int]:
    return {
        "pushed": stats.pushed,
        "outputs": stats.outputs,
        "drops": sum(stats.drops.values()),
        "errors": sum(stats.errors.values()),
        "restarts": sum(stats.restarts.values()),
    }


def _rate(times: deque[float], now: float) -> float:
    """Events per second over the last ``_RATE_WINDOW_S`` (0 until two have happened).

    Measured from the first event in the window, not a fixed span, so a source that
    started a moment ago already reads right, and one that stopped decays to 0.
    """
    recent = [t for t in list(times) if t > now - _RATE_WINDOW_S]
    return (len(recent) - 1) / (now - recent[0]) if len(recent) > 1 else 0.0
