"""The seam between a ``Session`` and whatever runs the nodes: the ``Executor`` protocol.

A ``Session`` (one concrete class) owns the public API: validation, stamping,
the pull queue, watchers, async and the close-versus-everything race. An executor
owns only the data path, through six calls::

    submit(frame, target, trace)   one input (target: a source node id, or None for all);
                                   may wait, as the backpressure policy says
    finish()                       no more input: flush the nodes, then report Ended
    receive() -> list[Event]       what happened since the last call; never blocks
    fileno() -> int                readable when receive() may have something
    set_params(node_id, params)    apply validated params between two frames
    tap(node_id)                   also report that inner node's outputs
    close()                        release everything; called once, when no other call runs

and one constructor, ``Executor(graph, context)``. Everything a user observes
(outputs, per-node latency and call counts, drops, errors, restarts, the end) comes
out of ``receive()`` as ``Event``s, so statistics, plots, speakers and taps are
watchers of one event stream, identical on every executor.

Adding an executor is one class and one ``register_executor`` call.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rmlab.errors import ExecutorError, NodeError

if TYPE_CHECKING:
    from rmlab.data import RuntimeData
    from rmlab.runtime.trace import Trace

__all__ = [
    "Backpressure",
    "Cancel",
    "Dropped",
    "Ended",
    "Event",
    "EventBuffer",
    "Executor",
    "ExecutorContext",
    "HopDone",
    "NodeFailed",
    "NodeRestarted",
    "Output",
    "close_fds",
    "executor_class",
    "executor_names",
    "refuse_options",
    "register_executor",
]

Backpressure = Literal["drop-oldest", "block"]


@dataclass(frozen=True, slots=True)
class Output:
    """One frame returned by a session: which node emitted it, the frame, its trace."""

    node_id: str
    """The sink or tapped node that emitted it ("" for a loopback pipeline)."""
    data: RuntimeData
    trace: Trace


@dataclass(frozen=True, slots=True)
class HopDone:
    """A node's ``process`` returned (once per call, whatever it emitted)."""

    node_id: str
    recv_ns: int
    done_ns: int
    count: int = 1
    """Calls this event stands for: more than 1 when an executor had to coalesce
    events nobody received in time (the latency sample is the newest call's)."""


@dataclass(frozen=True, slots=True)
class NodeFailed:
    """A node raised (``NodeError``) or its process died (``NodeCrashed``)."""

    error: NodeError


@dataclass(frozen=True, slots=True)
class NodeRestarted:
    """A node was started again by its restart policy (``restarts`` so far)."""

    node_id: str
    restarts: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """The drop-oldest policy discarded ``count`` frames on ``edge`` ("a->b")."""

    edge: str
    count: int


@dataclass(frozen=True, slots=True)
class Ended:
    """Every output after ``finish()`` was reported, or the pipeline cannot go on."""

    reason: str = ""
    """Empty for a normal end; otherwise why the pipeline stopped by itself."""


Event = Output | HopDone | NodeFailed | NodeRestarted | Dropped | Ended


@dataclass(frozen=True)
class ExecutorContext:
    """What every executor is started with, besides the graph."""

    session_id: str
    backpressure: Backpressure
    queue_size: int
    cancel: Cancel
    """Set once the session starts closing: every blocking wait inside an executor
    must include ``cancel.fd`` in its poll (or register ``cancel.add_callback``),
    so ``close()`` never waits on a stuck call."""
    start_timeout: float = 30.0
    max_frame_bytes: int = 64 * 1024 * 1024
    options: dict[str, Any] = field(default_factory=dict)
    """Executor-specific options given to ``open_session`` (validated by the executor)."""


class Executor(Protocol):
    """Runs a compiled graph; see the module docstring for the contract of each call."""

    def submit(self, frame: RuntimeData, target: str | None, trace: Trace) -> None: ...
    def finish(self) -> None: ...
    def receive(self) -> list[Event]: ...
    def fileno(self) -> int: ...
    def set_params(self, node_id: str, params: dict[str, Any]) -> None: ...
    def tap(self, node_id: str) -> None: ...
    def close(self) -> None: ...


class Cancel:
    """The session's "closing" signal for executors: an fd for polls, callbacks for the rest."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._set = False
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def fd(self) -> int:
        return self._r

    def is_set(self) -> bool:
        return self._set

    def add_callback(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when the session starts closing (at once if it already has)."""
        with self._lock:
            if not self._set:
                self._callbacks.append(fn)
                return
        fn()

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set = True
            callbacks, self._callbacks = self._callbacks, []
        try:
            os.write(self._w, b"\x01")  # never drained: stays readable
        except OSError:  # closed already: nobody is left to wake
            pass
        for fn in callbacks:
            fn()

    def close(self) -> None:
        close_fds(self._r, self._w)


def close_fds(*fds: int) -> None:
    """Close file descriptors, ignoring those already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def refuse_options(executor: str, context: ExecutorContext) -> None:
    """For executors that take no options of their own: name the ones given."""
    if context.options:
        raise ExecutorError(
            f"the {executor} executor takes no options; got {', '.join(sorted(context.options))}"
        )


# -- the registry --------------------------------------------------------------------

_REGISTRY: dict[str, str | type] = {
    "local": "rmlab.runtime.local:LocalExecutor",
    "shm": "rmlab.runtime.shm.executor:ShmExecutor",
    "loopback": "rmlab.runtime.loopback:LoopbackExecutor",
    "ray": "rmlab.runtime.ray.executor:RayExecutor",
}


def register_executor(name: str, cls: str | type) -> None:
    """Make ``open_session(..., executor=name)`` use ``cls`` ("module:Class" is imported lazily)."""
    if not isinstance(name, str) or not name:
        raise ExecutorError(f"an executor name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = cls


def executor_names() -> list[str]:
    """The registered executor names."""
    return list(_REGISTRY)


def executor_class(name: Any) -> type:
    """The class registered as ``name``; ``ExecutorError`` listing the choices otherwise."""
    target = _REGISTRY.get(name) if isinstance(name, str) else None
    if target is None:
        raise ExecutorError(
            f"unknown executor {name!r}; choose one of: {', '.join(executor_names())}"
        )
    if isinstance(target, type):
        return target
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    _REGISTRY[name] = cls
    return cls


# -- a ready-made event buffer for executors whose nodes run on threads -----------------


class EventBuffer:
    """Events waiting for ``receive()``, with a pipe doorbell that makes ``fileno`` work.

    Bounded the way the session's backpressure says: in "drop-oldest" mode at most
    ``queue_size`` outputs wait (the oldest is dropped and reported as ``Dropped``
    on ``"<node>->session"``); errors and the end are never dropped. Per-call
    ``HopDone`` events are kept apart and coalesced past a bound, so a session
    nobody reads cannot grow without limit, and call counts stay exact.

    Thread-safe for one producer thread and one receiving thread; ``put`` is cheap.
    """

    MAX_HOPS = 1024
    """Latency samples kept per node between two receives (counts stay exact)."""

    def __init__(self, queue_size: int | None):
        self._events: deque[Event] = deque()
        self._hops: dict[str, deque[HopDone]] = {}
        self._calls: dict[str, int] = {}
        self._outputs = 0
        self._limit = queue_size
        self._lock = threading.Lock()
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._rung = False

    def fileno(self) -> int:
        return self._r

    def put(self, event: Event, *, wake: bool = True) -> None:
        """Add an event. ``wake=False`` defers the doorbell to ``wake()``: a producer
        thread in this process rings once it is about to block, because writing the
        pipe releases the GIL to the woken consumer mid-work (a convoy that cost a
        local hop about 25 us)."""
        with self._lock:
            if isinstance(event, HopDone):
                q = self._hops.get(event.node_id)
                if q is None:
                    q = self._hops[event.node_id] = deque(maxlen=self.MAX_HOPS)
                q.append(event)
                self._calls[event.node_id] = self._calls.get(event.node_id, 0) + event.count
                return  # hop events alone need no wake-up: they ride with the next output
            if isinstance(event, Output):
                if self._limit is not None and self._outputs >= self._limit:
                    self._evict_output()
                self._outputs += 1
            self._events.append(event)
        if wake:
            self.wake()

    def wake(self) -> None:
        """Ring the doorbell if events wait and it has not been rung since the last take."""
        with self._lock:
            ring = not self._rung and bool(self._events)
            self._rung = self._rung or ring
        if ring:
            try:
                os.write(self._w, b"\x01")
            except OSError:  # closed
                pass

    def _evict_output(self) -> None:
        for i, old in enumerate(self._events):
            if isinstance(old, Output):
                del self._events[i]
                self._outputs -= 1
                self._events.append(Dropped(f"{old.node_id or 'pipeline'}->session", 1))
                return

    def take(self) -> list[Event]:
        """Everything waiting (hop events first), and reset the doorbell."""
        with self._lock:
            if self._rung:
                try:
                    os.read(self._r, 4096)
                except OSError:
                    pass
                self._rung = False
            if not self._events and not self._hops:
                return []
            out: list[Event] = []
            for nid, q in self._hops.items():
                missed = self._calls[nid] - sum(h.count for h in q)
                if missed:  # coalesced: the oldest kept sample stands for the lost ones too
                    h = q[0]
                    q[0] = HopDone(nid, h.recv_ns, h.done_ns, h.count + missed)
                out += q
            out += self._events
            self._hops.clear()
            self._calls.clear()
            self._events.clear()
            self._outputs = 0
            return out

    def close(self) -> None:
        close_fds(self._r, self._w)
