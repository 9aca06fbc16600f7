"""Sessions: the one API, over any executor.

::

    with rmlab.open_session(manifest, executor="local") as s:
        s.push(frame)               # ndarray | RuntimeData | str | bytes | dict
        out = s.pull(timeout=1.0)   # Output(node_id, data, trace), or raises
        s.end()                     # flush; iteration stops once drained
        for out in s: ...

Semantics shared by every executor (and proven by ``tests/conformance``): inputs go
to every source node (or the node named by ``to=``); sink outputs and tapped
nodes' outputs come back; fan-out delivers each output to every successor;
fan-in merges in arrival order; a node emits 0..N outputs per input; order is kept
per edge; a node's input arrays are read-only. An exception in a node comes back
from ``pull`` as ``NodeError`` (the frame is dropped, the session goes on).

Backpressure: ``"drop-oldest"`` (live sources: ``push`` never blocks; when a
queue of ``queue_size`` frames is full its oldest frame is dropped and counted in
``stats().drops``) or ``"block"`` (offline work: lossless; ``push`` waits while the
pipeline is busy and outputs are kept until pulled).

How it works: ``Session`` is one concrete class over an ``Executor``
(``rmlab.runtime.executor``), which runs the nodes and reports events. Events are
received on demand (by ``pull``, ``stats`` or a waiting ``push``) or, once a watcher
is attached, by one pump thread; each event goes to the statistics, to every
watcher, and outputs and errors to the pull queue. Every call into the executor
passes a gate that ``close()`` shuts: ``close`` first wakes every waiting call, then
the executor is closed by whichever thread leaves the gate last, so no thread can
ever touch a released shared-memory object (a crash that would take a notebook's
kernel down).
"""

from __future__ import annotations

import asyncio
import itertools
import select
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from rmlab.data import EndOfInput, RuntimeData, as_data
from rmlab.errors import ManifestError, SessionClosed, SessionError, Timeout
from rmlab.runtime.executor import (
    Backpressure,
    Cancel,
    Ended,
    Event,
    Executor,
    ExecutorContext,
    NodeFailed,
    Output,
    executor_class,
)
from rmlab.runtime.graph import Graph
from rmlab.runtime.trace import Stats, Trace
from rmlab.runtime.watchers import StatsWatcher, Watch, Watcher

__all__ = ["Backpressure", "Output", "Session", "open_session", "warm_up"]

_END = object()
_BACKPRESSURE = ("drop-oldest", "block")
_CLOSE_WAIT_S = 10.0  # close() waits this long for calls in flight, then leaves it to them


class Session:
    """A running pipeline. Create one with ``rmlab.open_session``; use it as a context manager."""

    def __init__(
        self,
        graph: Graph,
        executor: str,
        make: Callable[[Graph, ExecutorContext], Executor],
        context: ExecutorContext,
        cancel: Cancel,
    ):
        self.graph = graph
        self.executor = executor
        """The executor's name (``"local"``, ``"shm"``, ...)."""
        self.backpressure: Backpressure = context.backpressure
        self.queue_size = context.queue_size
        self.session_id = context.session_id
        self._state = "open"  # -> "ended" (end() called) -> "drained" / "closed"
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._pushed = 0
        self._started = time.monotonic()
        self._stats = StatsWatcher(graph.order)
        self._watches: tuple[Watch, ...] = ()
        self._pending: deque[Any] = deque()  # Output | NodeError | _END, for pull()
        self._cond = threading.Condition()
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._rx = threading.Lock()  # one thread receives events at a time
        self._pump: threading.Thread | None = None
        self._end_received = False
        self._end_reason = ""  # why the pipeline stopped by itself, if it did
        # the gate: calls into the executor in flight, and who closes it
        self._cancel = cancel
        self._gate = threading.Lock()
        self._inflight = 0
        self._inside = threading.local()
        self._ex_closed = False
        self._ex: Executor = make(graph, context)
        # one thread at a time waits here (the pump, or a pull holding _rx)
        self._poller = select.poll()
        self._poller.register(self._ex.fileno(), select.POLLIN)
        self._poller.register(cancel.fd, select.POLLIN)

    # -- the public API -------------------------------------------------------------

    def push(self, x: Any, to: str | None = None) -> None:
        """Send one input: an ndarray, RuntimeData, str, bytes or dict (see ``as_data``).

        ``to=None`` sends it to every source node; ``to="id"`` to that source only
        (inner nodes get their input from their predecessors).
        Pushing ``EndOfInput`` is the same as calling ``end()``.
        """
        if self._state != "open":
            self._check_open("push")
        fresh = not isinstance(x, RuntimeData)
        frame = as_data(x)
        if isinstance(frame, EndOfInput):
            self.end()
            return
        if to is not None and to not in self.graph.sources:
            srcs = ", ".join(self.graph.sources) or "none: the pipeline is a loopback"
            what = "not a source node" if to in self.graph.successors else "no such node"
            raise SessionError(f"push(to={to!r}): {what}; push into a source ({srcs})")
        if not frame.timestamp_us or not frame.session_id:
            frame = _stamped(frame, fresh, self.session_id)
        trace = Trace(next(self._seq), time.monotonic_ns())
        self._enter("push")
        try:
            self._ex.submit(frame, to, trace)
        finally:
            self._leave()
        self._pushed += 1

    def pull(self, timeout: float | None = None) -> Output:
        """The next output. Waits up to ``timeout`` seconds (``None``: until one comes).

        Raises ``Timeout`` if none came, ``NodeError`` if a node failed, and
        ``SessionClosed`` once the session has ended and every output was pulled.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self._next_pending()
            if item is not None:
                return self._unwrap(item)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Timeout(self._timeout_message(timeout))
            if self._pump is None and self._rx.acquire(blocking=False):
                try:
                    first = self._receive_until(deadline)
                finally:
                    self._rx.release()
                if first is not None:  # the usual case: straight to the caller
                    return self._unwrap(first)
            else:  # the pump (or another thread) receives: it notifies us
                with self._cond:
                    if not self._pending and self._state not in ("closed", "drained"):
                        self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))

    async def apull(self, timeout: float | None = None) -> Output:
        """Async ``pull``: waits on the event loop; cancelling it loses no output."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            item = self._next_pending()
            if item is not None:
                return self._unwrap(item)
            if self._receive_if_free():
                continue
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise Timeout(self._timeout_message(timeout))
            fut: asyncio.Future[None] = loop.create_future()

            def wake(fut: asyncio.Future[None] = fut) -> None:
                if not fut.done():
                    fut.set_result(None)

            fds = () if self._pump is not None else (self._ex.fileno(), self._cancel.fd)
            with self._cond:
                if self._pending or self._state in ("closed", "drained"):
                    continue
                self._async_waiters.append((loop, fut))
            for fd in fds:
                loop.add_reader(fd, wake)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                raise Timeout(self._timeout_message(timeout)) from None
            finally:
                for fd in fds:
                    loop.remove_reader(fd)

    async def apush(self, x: Any, to: str | None = None) -> None:
        """Async ``push``: never blocks the event loop (a waiting push runs in a thread)."""
        if self.backpressure == "drop-oldest":
            self.push(x, to)
        else:
            await asyncio.to_thread(self.push, x, to)

    def tap(self, node_id: str) -> Session:
        """Also return the outputs of ``node_id`` (not only sinks'); returns ``self``."""
        if node_id not in self.graph.successors:
            raise SessionError(
                f"tap({node_id!r}): no such node (nodes: {', '.join(self.graph.order)})"
            )
        self._enter("tap")
        try:
            self._ex.tap(node_id)
        finally:
            self._leave()
        return self

    def watch(self, watcher: Watcher | Callable[[Event], None], *, consumes: bool = False) -> Watch:
        """Deliver every event of this session to ``watcher`` as well; returns its handle.

        ``watcher`` is a ``Watcher`` (override the ``on_*`` methods you need) or a
        function of one event. Watchers run on the thread that receives events: once
        one is attached, a pump thread receives them, so watchers are fed whether or
        not anybody pulls. ``pull()`` keeps working beside them. Outputs kept for
        ``pull()`` are bounded by ``queue_size`` (newest kept) in "drop-oldest" mode,
        and in "block" mode too while a watcher with ``consumes=True`` is attached
        (a speaker, a file writer, the console: the outputs are theirs, so a session
        nobody pulls does not grow); otherwise "block" keeps every output for
        ``pull()``. ``handle.close()`` detaches.
        """
        if not isinstance(watcher, Watcher):
            if not callable(watcher):
                raise SessionError(
                    f"watch() takes a Watcher or a function of one event, got "
                    f"{type(watcher).__name__}"
                )
            watcher = _FunctionWatcher(watcher)
        if self._state == "closed":
            self._check_open("watch")
        w = Watch(watcher, self._unwatch)
        w.consumes = bool(consumes)
        with self._cond:
            self._watches = (*self._watches, w)
        if self._pump is None:
            with self._lock:
                if self._pump is None and self._state != "closed":
                    self._pump = threading.Thread(
                        target=self._run_pump, name=f"rmlab-session-{self.session_id}",
                        daemon=True,
                    )  # fmt: skip
                    self._pump.start()
        return w

    def set_params(self, node_id: str, **params: Any) -> None:
        """Change a running node's params; frames pushed from now on see the new values.

        Validated at once (``ManifestError`` naming the param's path); applied between
        two frames through the node's ``update`` (which calls its ``reset`` hook, so
        carried state such as a filter's memory is rebuilt), and kept in the
        session's own copy of the manifest, so a restarted node starts with them.
        The manifest given to ``open_session`` is never changed.
        """
        self._check_open("set_params")
        if node_id not in self.graph.successors:
            raise SessionError(
                f"set_params({node_id!r}): no such node (nodes: {', '.join(self.graph.order)})"
            )
        from rmlab.nodes import plain

        spec = self.graph.manifest.node(node_id)
        i = self.graph.manifest.nodes.index(spec)
        params = {k: plain(v) for k, v in params.items()}
        problems = self.graph.node_class(node_id).param_problems(
            {**spec.params, **params}, f"nodes[{i}].params"
        )
        if problems:
            raise ManifestError(problems)
        spec.params.update(params)
        self._enter("set_params")
        try:
            self._ex.set_params(node_id, params)
        finally:
            self._leave()

    def end(self) -> None:
        """No more input: nodes flush, remaining outputs come back, then iteration stops."""
        with self._lock:
            if self._state != "open":
                return
            self._state = "ended"
        self._enter("end")
        try:
            self._ex.finish()
        finally:
            self._leave()

    def close(self) -> None:
        """Stop now and release everything (threads, processes, shared memory). Idempotent.

        Safe from any thread, while other threads push, pull or wait: they are woken
        and raise ``SessionClosed``; the executor is released once none of them is
        inside it any more.
        """
        with self._lock:
            if self._state == "closed":
                return
            self._state = "closed"
        self._cancel.set()
        with self._cond:
            self._cond.notify_all()
            self._wake_async()
        inside = getattr(self._inside, "depth", 0)
        deadline = time.monotonic() + _CLOSE_WAIT_S
        while self._inflight > inside and time.monotonic() < deadline:
            time.sleep(0.001)  # woken calls leave within microseconds; close is rare
        with self._gate:
            last = self._inflight == 0 and not self._ex_closed
            if last:
                self._ex_closed = True
        if last:
            self._close_executor()
        pump = self._pump
        if pump is not None and pump is not threading.current_thread():
            pump.join(timeout=_CLOSE_WAIT_S)

    def stats(self) -> Stats:
        """Per-node and end-to-end latency, call counts, drops, errors and restarts so far.

        ``nodes[id].count`` is the number of ``process`` calls of that node.
        """
        self._receive_if_free()
        extra = {}
        measure = getattr(self._ex, "shared_memory", None)  # an optional executor method
        if measure is not None:
            try:
                self._enter("stats")
            except SessionClosed:
                pass
            else:
                try:
                    extra["shm_bytes"] = measure()
                finally:
                    self._leave()
        return self._stats.snapshot(self.executor, self._started, self._pushed, **extra)

    @property
    def pids(self) -> dict[str, int | None]:
        """The process id of each node that runs in a process of its own (``ps``, ``kill``,
        a profiler); empty on executors that run nodes in this process."""
        return dict(getattr(self._ex, "pids", {}))

    @property
    def manifest(self) -> Any:
        """The session's own copy of the manifest (with params changed by ``set_params``)."""
        return self.graph.manifest

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._state == "closed"

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Output]:
        return self

    def __next__(self) -> Output:
        try:
            return self.pull()
        except SessionClosed:
            raise StopIteration from None

    def __aiter__(self) -> AsyncIterator[Output]:
        return self

    async def __anext__(self) -> Output:
        try:
            return await self.apull()
        except SessionClosed:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        name = self.graph.manifest.metadata.get("name") or "unnamed"
        return f"<Session {name!r} executor={self.executor} {self._state}>"

    def _repr_html_(self) -> str:
        return f"<p>{repr(self).replace('<', '&lt;')}</p>" + self.stats()._repr_html_()

    # -- the gate ------------------------------------------------------------------------

    def _enter(self, what: str) -> None:
        with self._gate:
            if self._ex_closed or self._cancel.is_set():
                raise SessionClosed(
                    f"{what}() on a session that has closed; open a new session to go on"
                )
            self._inflight += 1
        self._inside.depth = getattr(self._inside, "depth", 0) + 1

    def _leave(self) -> None:
        self._inside.depth -= 1
        with self._gate:
            self._inflight -= 1
            # close() sets the cancel signal before it waits: from then on the last one out
            # releases the executor
            last = self._cancel.is_set() and self._inflight == 0 and not self._ex_closed
            if last:
                self._ex_closed = True
        if last:
            self._close_executor()

    def _close_executor(self) -> None:
        # what the executor reported but nobody received yet still reaches stats() and
        # the watchers (an error panel must agree with the error count)
        try:
            events = self._ex.receive()
        except Exception:  # a failing executor is closed all the same
            events = []
        for ev in events:
            self._stats.on_event(ev)
            for w in self._watches:
                try:
                    w.watcher.on_event(ev)
                except Exception as exc:
                    w.error = exc
                    self._unwatch(w)
        try:
            self._ex.close()
        finally:
            self._cancel.close()

    # -- receiving events ------------------------------------------------------------------

    def _receive_now(self, take: bool = False) -> tuple[int, Any]:
        """Receive and dispatch what the executor has (hold ``_rx``).

        Returns how many events came and, with ``take``, the first item for the
        caller when nothing else waits in the pull queue (it then skips the queue).
        """
        try:
            self._enter("pull")
        except SessionClosed:
            return 0, None
        try:
            events = self._ex.receive()
        finally:
            self._leave()
        if not events:
            return 0, None
        return len(events), self._dispatch(events, take)

    def _receive_until(self, deadline: float | None) -> Any:
        """Receive (hold ``_rx``) until events come, the deadline passes or the session
        closes, in one pass through the gate; returns the first item for the caller
        when it skipped the pull queue (else None: look in the queue)."""
        try:
            self._enter("pull")
        except SessionClosed:
            return None
        try:
            receive, poll = self._ex.receive, self._poller.poll
            while True:
                events = receive()
                if events:
                    return self._dispatch(events, take=True)
                if deadline is None:
                    poll(-1)  # GIL released: the one wake-up of this hop
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    poll(max(1, int(remaining * 1000)))
                if self._cancel.is_set():
                    return None
        finally:
            self._leave()

    def _receive_if_free(self) -> int:
        """Receive now unless another thread is receiving (then it dispatches for us)."""
        if self._pump is not None or not self._rx.acquire(blocking=False):
            return 0
        try:
            return self._receive_now()[0]
        finally:
            self._rx.release()

    def _next_pending(self) -> Any:
        """The oldest item waiting for pull (None if none); ``SessionClosed`` once closed."""
        if self._state == "closed":
            raise self._closed_error()
        if not self._pending:
            return None
        with self._cond:
            return self._pending.popleft() if self._pending else None

    def _wait_executor(self, timeout: float | None) -> None:
        """Sleep until the executor may have events, or the session closes (GIL released)."""
        try:
            self._enter("pull")
        except SessionClosed:
            return
        try:
            ms = -1 if timeout is None else max(1, int(timeout * 1000))
            self._poller.poll(ms)
        finally:
            self._leave()

    def _dispatch(self, events: list[Event], take: bool = False) -> Any:
        """Feed events to the statistics and watchers; outputs and errors to the pull
        queue. With ``take`` (a pull that received them itself) the first one is
        returned instead, if nothing is queued ahead of it."""
        stats = self._stats.on_event
        watches = self._watches
        keep: list[Any] = []
        for ev in events:
            stats(ev)
            for w in watches:
                try:
                    w.watcher.on_event(ev)
                except Exception as exc:  # a watcher's bug must not stop the pipeline
                    w.error = exc
                    self._unwatch(w)
            if isinstance(ev, Output):
                keep.append(ev)
            elif isinstance(ev, NodeFailed):
                keep.append(ev.error)
            elif isinstance(ev, Ended):
                keep.append(_END)
                self._end_received = True
                self._end_reason = ev.reason
        if not keep:
            return None
        if take and not self._pending and len(keep) == 1 and not self._async_waiters:
            return keep[0]  # one output for the one thread that asked: no queue, no notify
        first = None
        with self._cond:
            if take and not self._pending:
                first = keep.pop(0)
            self._pending.extend(keep)
            if watches and (self.backpressure == "drop-oldest" or any(w.consumes for w in watches)):
                self._bound_pending()
            self._cond.notify_all()
            self._wake_async()
        return first

    def _bound_pending(self) -> None:
        extra = sum(isinstance(x, Output) for x in self._pending) - self.queue_size
        if extra <= 0:
            return
        kept: deque[Any] = deque()
        for x in self._pending:
            if extra and isinstance(x, Output):
                extra -= 1
                continue
            kept.append(x)
        self._pending = kept

    def _run_pump(self) -> None:
        with self._rx:
            while self._state != "closed":
                try:
                    if self._receive_now()[0]:
                        continue
                except Exception as exc:  # the executor failed: tell everyone, then stop
                    self._dispatch([Ended(f"the executor failed: {exc}")])
                    with self._cond:
                        self._pending.appendleft(exc)  # pull() raises it, before the end
                        self._cond.notify_all()
                        self._wake_async()
                    return
                if self._end_received:
                    return  # nothing more will come
                self._wait_executor(None)

    def _unwatch(self, w: Watch) -> None:
        with self._cond:
            self._watches = tuple(x for x in self._watches if x is not w)

    def _wake_async(self) -> None:
        waiters, self._async_waiters = self._async_waiters, []
        for loop, fut in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_done, fut)

    # -- helpers ------------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._state != "open":
            how = "closed" if self._state == "closed" else "ended"
            raise SessionClosed(
                f"{what}() on a session that has {how}; open a new session to send more input"
            )

    def _closed_error(self) -> SessionClosed:
        if self._state == "drained":
            if self._end_reason:
                return SessionClosed(f"the session stopped by itself: {self._end_reason}")
            return SessionClosed("the session has ended and every output was pulled")
        return SessionClosed("the session is closed; open a new one")

    def _unwrap(self, item: Any) -> Output:
        if item is _END:
            with self._lock:
                if self._state != "closed":
                    self._state = "drained"
            with self._cond:
                self._pending.appendleft(_END)  # every later pull sees the end too
                self._cond.notify_all()
            raise self._closed_error()
        if isinstance(item, BaseException):  # a NodeError, or the executor's own failure
            raise item
        return item

    def _timeout_message(self, timeout: float | None) -> str:
        hint = "" if self._state == "ended" else "; call end() to flush buffered output"
        return (
            f"no output within {timeout} s ({self._pushed} pushed, "
            f"{self._stats.outputs} returned so far{hint})"
        )


class _FunctionWatcher(Watcher):
    def __init__(self, fn: Callable[[Event], None]):
        self.fn = fn

    def on_event(self, event: Event) -> None:
        self.fn(event)


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _stamped(frame: RuntimeData, fresh: bool, session_id: str) -> RuntimeData:
    """``frame`` with its capture time and session set (if unset), built once.

    A frame ``as_data`` just made is ours and is stamped in place; a caller's frame
    is copied shallowly (never changed: it may be pushed again elsewhere).
    """
    if not fresh:
        new = object.__new__(type(frame))
        new.__dict__.update(frame.__dict__)
        frame = new
    if not frame.timestamp_us:
        object.__setattr__(frame, "timestamp_us", time.time_ns() // 1000)
    if not frame.session_id:
        object.__setattr__(frame, "session_id", session_id)
    return frame


def open_session(
    manifest: Any,
    executor: str = "local",
    *,
    backpressure: Backpressure = "drop-oldest",
    queue_size: int = 64,
    session_id: str | None = None,
    start_timeout: float = 30.0,
    max_frame_bytes: int = 64 * 1024 * 1024,
    **options: Any,
) -> Session:
    """Start a pipeline and return its ``Session`` (use it in a ``with`` block).

    ``manifest`` is a ``Manifest``, a path, JSON text or a dict; it is validated
    first (``ManifestError`` lists every problem) and the session runs on its own
    copy, so later edits of your ``Manifest`` never reach a running session.
    ``executor`` is ``"local"`` (every node in this process, on one thread) or
    ``"shm"`` (every node in its own process, frames through iceoryx2 shared
    memory); an empty manifest is a loopback on any executor. ``backpressure`` is
    ``"drop-oldest"`` for live sources or ``"block"`` for lossless offline work;
    ``queue_size`` is how many frames each queue holds (every edge and the
    session's input and output, on every executor). ``start_timeout`` is how long
    nodes may take to start (import and ``setup()``), ``max_frame_bytes`` the
    largest encoded frame a channel accepts (executors that copy frames between
    processes). Other keyword ``options`` go to the executor.
    """
    import re
    import uuid

    from rmlab.manifest import Manifest

    if backpressure not in _BACKPRESSURE:
        raise SessionError(f"backpressure must be 'drop-oldest' or 'block', got {backpressure!r}")
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise SessionError(f"queue_size must be a positive integer, got {queue_size!r}")
    if not isinstance(start_timeout, int | float) or start_timeout <= 0:
        raise SessionError(f"start_timeout must be a positive number, got {start_timeout!r}")
    if (
        isinstance(max_frame_bytes, bool)
        or not isinstance(max_frame_bytes, int)
        or (max_frame_bytes < 1024)
    ):
        raise SessionError(f"max_frame_bytes must be at least 1024, got {max_frame_bytes!r}")
    if isinstance(manifest, Manifest):
        m = Manifest.load(manifest.to_dict())  # a snapshot: the caller may keep editing theirs
    else:
        m = Manifest.load(manifest)
    graph = Graph.compile(m)
    cls = executor_class(executor)
    if graph.is_loopback:
        cls = executor_class("loopback")
    elif executor == "loopback":
        from rmlab.errors import ExecutorError

        raise ExecutorError(
            "executor='loopback' runs only an empty manifest (inputs come back unchanged); "
            "use 'local' or 'shm' for a pipeline with nodes"
        )
    sid = session_id if session_id is not None else uuid.uuid4().hex[:12]
    if not (isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", sid)):
        raise SessionError(
            f"session_id must be 1-64 letters, digits, '_' or '-', got {session_id!r}"
        )
    cancel = Cancel()
    context = ExecutorContext(
        session_id=sid,
        backpressure=backpressure,
        queue_size=queue_size,
        cancel=cancel,
        start_timeout=float(start_timeout),
        max_frame_bytes=max_frame_bytes,
        options=options,
    )
    try:
        return Session(graph, executor, cls, context, cancel)
    except BaseException:
        cancel.close()
        raise


def warm_up(executor: str = "shm") -> None:
    """Get ``executor`` ready, so that the next ``open_session`` on it starts fast.

    On ``"shm"`` it starts, in the background, the pre-imported process that forks
    worker processes: without it, the first session of a Python process waits
    about half a second for that process's imports. Returns at once; calling it
    again does nothing. Other executors need nothing. An unknown name raises
    ``ExecutorError``, as ``open_session`` does. The lab's Console calls it when it
    is created, so the first Start is as quick as the ones after it.
    """
    prepare = getattr(executor_class(executor), "warm_up", None)  # optional for executors
    if prepare is not None:
        prepare()
