"""Sessions: the one API every executor implements.

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
per edge. An exception in a node comes back from ``pull`` as ``NodeError`` (the
frame is dropped, the session goes on).

Backpressure: ``"drop-oldest"`` (live sources: ``push`` never blocks; when a
queue is full its oldest frame is dropped and counted in ``stats().drops``) or
``"block"`` (offline work: lossless; ``push`` waits while the pipeline is busy and
outputs are kept until pulled).

Executors subclass ``Session`` and implement ``_submit``, ``_finish`` and
``_shutdown``; they report results with ``_deliver``, ``_fail`` and ``_ended``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rmlab.data import EndOfInput, RuntimeData, as_data
from rmlab.errors import ManifestError, NodeError, SessionClosed, SessionError, Timeout
from rmlab.runtime.graph import Graph
from rmlab.runtime.trace import LatencyRecorder, LatencyStats, Stats, Trace

__all__ = ["Backpressure", "Output", "Session", "open_session"]

Backpressure = Literal["drop-oldest", "block"]
_END = object()
_BACKPRESSURE = ("drop-oldest", "block")


@dataclass(frozen=True, slots=True)
class Output:
    """One frame returned by a session: which node emitted it, the frame, its trace."""

    node_id: str
    """The sink or tapped node that emitted it ("" for a loopback pipeline)."""
    data: RuntimeData
    trace: Trace


class FrameQueue:
    """A thread-safe FIFO that is unbounded, or bounded with drop-oldest or blocking.

    Error records are never evicted by drop-oldest: losing one would hide a failure.
    Async waiters are woken through their event loop, so ``apull`` takes an item
    only while its coroutine runs (cancel-safe).
    """

    def __init__(self, maxsize: int | None, policy: Backpressure = "drop-oldest"):
        self.maxsize = maxsize
        self.policy = policy
        self.dropped = 0
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, *, force: bool = False) -> None:
        """Add ``item``; may drop the oldest frame or wait, as the policy says.

        ``force`` bypasses the bound (control records). Raises ``SessionClosed``
        if the queue is closed while waiting.
        """
        with self._cond:
            if self._closed:
                raise SessionClosed("the session is closed")
            if not force and self.maxsize is not None:
                if self.policy == "block":
                    while len(self._items) >= self.maxsize and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        raise SessionClosed("the session was closed while push() was waiting")
                elif len(self._items) >= self.maxsize:
                    self._evict_one()
            self._items.append(item)
            self._cond.notify_all()
            self._wake_async()

    def _evict_one(self) -> None:
        for i, old in enumerate(self._items):
            if isinstance(old, tuple | Output):  # frames, not error/control records
                del self._items[i]
                self.dropped += 1
                return

    def get(self, timeout: float | None = None) -> Any:
        """Remove and return the oldest item; ``Timeout`` if none came in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items or self._closed:
                if self._closed:
                    raise SessionClosed("the session is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout(f"nothing arrived within {timeout} s")
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def get_nowait(self) -> Any:
        with self._cond:
            if self._closed:
                raise SessionClosed("the session is closed")
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return None

    async def aget(self, timeout: float | None = None) -> Any:
        """Async twin of ``get``: waits on the event loop, not a thread."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            fut: asyncio.Future[None] = loop.create_future()
            with self._cond:
                if self._items or self._closed:
                    continue
                self._async_waiters.append((loop, fut))
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise Timeout(f"nothing arrived within {timeout} s")
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                raise Timeout(f"nothing arrived within {timeout} s") from None

    def add_async_waiter(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
        """Resolve ``fut`` (through ``loop``) at the next put or close."""
        with self._cond:
            if self._items or self._closed:
                loop.call_soon_threadsafe(_set_done, fut)
            else:
                self._async_waiters.append((loop, fut))

    def _wake_async(self) -> None:
        waiters, self._async_waiters = self._async_waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_set_done, fut)

    def close(self) -> None:
        """Wake every waiter; later puts and empty gets raise ``SessionClosed``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._wake_async()


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Session:
    """A running pipeline. Create one with ``rmlab.open_session``; use it as a context manager."""

    executor: ClassVar[str] = ""

    def __init__(
        self,
        graph: Graph,
        *,
        backpressure: Backpressure = "drop-oldest",
        queue_size: int = 64,
        session_id: str = "",
    ):
        if backpressure not in _BACKPRESSURE:
            raise SessionError(
                f"backpressure must be 'drop-oldest' or 'block', got {backpressure!r}"
            )
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise SessionError(f"queue_size must be a positive integer, got {queue_size!r}")
        self.graph = graph
        self.backpressure: Backpressure = backpressure
        self.queue_size = queue_size
        self.session_id = session_id
        self._state = "open"  # -> "ended" (end() called) -> "drained" / "closed"
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._pushed = 0
        self._started = time.monotonic()
        self._taps: set[str] = set()
        self._rec = LatencyRecorder()
        self._errors: dict[str, int] = {}
        # drop-oldest bounds outputs too (a plot that stops pulling must not grow memory);
        # block keeps every output so a producer that pushes before pulling cannot deadlock.
        self._out = FrameQueue(queue_size if backpressure == "drop-oldest" else None)

    # -- the public API -------------------------------------------------------------

    def push(self, x: Any, to: str | None = None) -> None:
        """Send one input: an ndarray, RuntimeData, str, bytes or dict (see ``as_data``).

        ``to=None`` sends it to every source node; ``to="id"`` to that source only
        (inner nodes get their input from their predecessors).
        Pushing ``EndOfInput`` is the same as calling ``end()``.
        """
        self._check_open("push")
        frame = as_data(x)
        if isinstance(frame, EndOfInput):
            self.end()
            return
        if to is None:
            targets = self.graph.sources
        elif isinstance(to, str) and to in self.graph.sources:
            targets = (to,)
        else:
            srcs = ", ".join(self.graph.sources) or "none: the pipeline is a loopback"
            what = "not a source node" if to in self.graph.successors else "no such node"
            raise SessionError(f"push(to={to!r}): {what}; push into a source ({srcs})")
        if not frame.timestamp_us or not frame.session_id:
            frame = frame.replace(
                timestamp_us=frame.timestamp_us or time.time_ns() // 1000,
                session_id=frame.session_id or self.session_id,
            )
        trace = Trace(next(self._seq), time.monotonic_ns())
        self._pushed += 1
        if self.graph.is_loopback:
            self._deliver("", frame, trace)
        else:
            self._submit(frame, targets, trace)

    def pull(self, timeout: float | None = None) -> Output:
        """The next output. Waits up to ``timeout`` seconds (``None``: until one comes).

        Raises ``Timeout`` if none came, ``NodeError`` if a node failed, and
        ``SessionClosed`` once the session has ended and every output was pulled.
        """
        if self._state in ("closed", "drained"):
            raise self._closed_error()
        try:
            item = self._next_item(timeout)
        except SessionClosed:
            raise self._closed_error() from None
        except Timeout:
            raise Timeout(self._timeout_message(timeout)) from None
        return self._unwrap(item)

    async def apull(self, timeout: float | None = None) -> Output:
        """Async ``pull``: waits on the event loop; cancelling it loses no output."""
        if self._state in ("closed", "drained"):
            raise self._closed_error()
        try:
            item = await self._anext_item(timeout)
        except SessionClosed:
            raise self._closed_error() from None
        except Timeout:
            raise Timeout(self._timeout_message(timeout)) from None
        return self._unwrap(item)

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
        self._taps.add(node_id)
        self._tapped(node_id)
        return self

    def set_params(self, node_id: str, **params: Any) -> None:
        """Change a running node's params; frames pushed from now on see the new values.

        Validated at once (``ManifestError`` naming the param's path); applied between
        two frames through the node's ``update`` (which may reset carried state, such
        as a filter's memory), and kept in the session's manifest, so a restarted
        worker starts with them too.
        """
        self._check_open("set_params")
        if node_id not in self.graph.successors:
            raise SessionError(
                f"set_params({node_id!r}): no such node (nodes: {', '.join(self.graph.order)})"
            )
        from rmlab.nodes.base import plain

        spec = self.graph.manifest.node(node_id)
        i = self.graph.manifest.nodes.index(spec)
        params = {k: plain(v) for k, v in params.items()}
        problems = self.graph.node_class(node_id).param_problems(
            {**spec.params, **params}, f"nodes[{i}].params"
        )
        if problems:
            raise ManifestError(problems)
        spec.params.update(params)
        self._set_params(node_id, params)

    def end(self) -> None:
        """No more input: nodes flush, remaining outputs come back, then iteration stops."""
        with self._lock:
            if self._state != "open":
                return
            self._state = "ended"
        if self.graph.is_loopback:
            self._ended()
        else:
            self._finish()

    def close(self) -> None:
        """Stop now and release everything (threads, processes, shared memory). Idempotent."""
        with self._lock:
            if self._state == "closed":
                return
            self._state = "closed"
        self._out.close()
        self._shutdown()

    def stats(self) -> Stats:
        """Per-node and end-to-end latency, counts, drops, errors and restarts so far."""
        rec = self._rec
        nodes = {
            nid: LatencyStats.of(list(rec.node.get(nid, ())), rec.node_count.get(nid, 0))
            for nid in self.graph.order
        }
        return Stats(
            executor=self.executor,
            elapsed_s=time.monotonic() - self._started,
            pushed=self._pushed,
            outputs=rec.outputs,
            nodes=nodes,
            end_to_end=LatencyStats.of(list(rec.end_to_end), rec.outputs),
            drops=self._drops(),
            errors=dict(self._errors),
            restarts=self._restarts(),
        )

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
        return f"<{type(self).__name__} {name!r} executor={self.executor} {self._state}>"

    def _repr_html_(self) -> str:
        return f"<p>{repr(self).replace('<', '&lt;')}</p>" + self.stats()._repr_html_()

    # -- for executors ----------------------------------------------------------------

    def _deliver(self, node_id: str, data: RuntimeData, trace: Trace) -> None:
        """Hand an output to the consumer (records its end-to-end latency)."""
        t = Trace(trace.seq, trace.origin_ns, trace.hops, time.monotonic_ns())
        self._rec.output(t)
        # closed while the pipeline was still producing: nobody is listening
        with contextlib.suppress(SessionClosed):
            self._out.put(Output(node_id, data, t))

    def _fail(self, error: NodeError) -> None:
        """Hand a node's error to the consumer; ``pull`` raises it."""
        self._errors[error.node_id] = self._errors.get(error.node_id, 0) + 1
        with contextlib.suppress(SessionClosed):
            self._out.put(error, force=True)

    def _ended(self) -> None:
        """Every output after ``end()`` has been delivered."""
        with contextlib.suppress(SessionClosed):
            self._out.put(_END, force=True)

    def _submit(self, frame: RuntimeData, targets: tuple[str, ...], trace: Trace) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError

    def _next_item(self, timeout: float | None) -> Any:
        """The next output record; an executor that receives on demand overrides this."""
        return self._out.get(timeout)

    async def _anext_item(self, timeout: float | None) -> Any:
        return await self._out.aget(timeout)

    def _set_params(self, node_id: str, params: dict[str, Any]) -> None:
        """Hook: apply validated params to the running node, between frames."""
        raise NotImplementedError

    def _tapped(self, node_id: str) -> None:
        """Hook: an executor that must subscribe to a node's output does it here."""

    def _drops(self) -> dict[str, int]:
        return {"pipeline->session": self._out.dropped}

    def _restarts(self) -> dict[str, int]:
        return {}

    # -- helpers ------------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._state != "open":
            how = "closed" if self._state == "closed" else "ended"
            raise SessionClosed(
                f"{what}() on a session that has {how}; open a new session to send more input"
            )

    def _closed_error(self) -> SessionClosed:
        if self._state == "drained":
            return SessionClosed("the session has ended and every output was pulled")
        return SessionClosed("the session is closed; open a new one")

    def _unwrap(self, item: Any) -> Output:
        if item is _END:
            if self._state != "closed":
                self._state = "drained"
            self._out.close()
            raise self._closed_error()
        if isinstance(item, NodeError):
            raise item
        return item

    def _timeout_message(self, timeout: float | None) -> str:
        hint = "" if self._state == "ended" else "; call end() to flush buffered output"
        return (
            f"no output within {timeout} s ({self._pushed} pushed, "
            f"{self._rec.outputs} returned so far{hint})"
        )


_EXECUTORS = {
    "local": "rmlab.runtime.local:LocalSession",
    "shm": "rmlab.runtime.shm.supervisor:ShmSession",
}


def open_session(
    manifest: Any,
    executor: str = "local",
    *,
    backpressure: Backpressure = "drop-oldest",
    queue_size: int = 64,
    session_id: str | None = None,
    start_timeout: float = 30.0,
    max_frame_bytes: int = 64 * 1024 * 1024,
) -> Session:
    """Start a pipeline and return its ``Session`` (use it in a ``with`` block).

    ``manifest`` is a ``Manifest``, a path, JSON text or a dict; it is validated
    first (``ManifestError`` lists every problem). ``executor`` is ``"local"`` (every
    node in this process, on one thread) or ``"shm"`` (every node in its own
    process, frames through iceoryx2 shared memory). ``backpressure`` is
    ``"drop-oldest"`` for live sources or ``"block"`` for lossless offline work;
    ``queue_size`` bounds each queue. For ``"shm"``: ``start_timeout`` is how long
    the workers may take to start (import and ``setup()``), ``max_frame_bytes`` the
    largest encoded frame a channel accepts.
    """
    import importlib
    import re
    import uuid

    from rmlab.errors import ExecutorError
    from rmlab.manifest import Manifest

    m = manifest if isinstance(manifest, Manifest) else Manifest.load(manifest)
    graph = Graph.compile(m)
    target = _EXECUTORS.get(executor) if isinstance(executor, str) else None
    if target is None:
        raise ExecutorError(
            f"unknown executor {executor!r}; choose one of: {', '.join(_EXECUTORS)}"
        )
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    sid = session_id if session_id is not None else uuid.uuid4().hex[:12]
    if not (isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", sid)):
        raise SessionError(
            f"session_id must be 1-64 letters, digits, '_' or '-', got {session_id!r}"
        )
    options = {"start_timeout": start_timeout, "max_frame_bytes": max_frame_bytes}
    if executor == "local":
        options = {}  # one process, no channels: nothing to bound
    return cls(graph, backpressure=backpressure, queue_size=queue_size, session_id=sid, **options)
