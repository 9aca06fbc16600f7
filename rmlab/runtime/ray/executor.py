"""The Ray executor (``executor="ray"``): every node is a Ray actor, frames move through
Ray's object store.

Each node is a ``RemoteNode`` (an actor per node, or per replica), started together
at ``open_session``. One scheduler thread in this process drives the graph:

- ``submit`` appends the frame to each target source's queue (``queue_size`` frames:
  drop-oldest drops and counts the oldest, block makes ``submit`` wait);
- the scheduler sends queued work to each node while it has room
  (``max_in_flight`` frames per replica); a call returns its outputs' ``ObjectRef``
  and a small record of what happened, and the scheduler hands that ref straight to
  every successor, so frames go from cluster node to cluster node and only sinks'
  and tapped nodes' outputs are fetched here (small frames travel inline in Ray's
  messages; large arrays are read zero-copy from the local object store);
- each successor's work waits in one queue in arrival order (fan-in merges in
  arrival order), bounded per edge like the input: in "block" mode a node is not
  sent more while any successor's edge is full, so backpressure reaches ``push``;
- a Ray actor runs one caller's calls in order, and ``RemoteNode`` returns finished
  calls in submission order, so order holds per edge, replicas included;
- a node's error travels to the session the way its frames do, through the queues of
  its successors (as on shm, where error records follow the frames), so it comes out
  after every output of the frames before it; reached by several paths, it is
  reported once.

``finish`` flushes each node once its predecessors have flushed and its work is
done, in topological order, then reports ``Ended``. Crashes and restarts follow the
manifest's restart policy (``RemoteNode``); a node that cannot go on ends the
session like a crashed worker on shm. Nothing here waits on Ray with the session's
locks held, and the Ray callbacks only wake the scheduler.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from rmlab.data import RuntimeData
from rmlab.errors import ExecutorError, NodeError, SessionClosed, SessionError
from rmlab.runtime.executor import (
    Dropped,
    Ended,
    Event,
    EventBuffer,
    ExecutorContext,
    HopDone,
    NodeFailed,
    NodeRestarted,
    Output,
)
from rmlab.runtime.graph import Graph
from rmlab.runtime.ray.placement import ray_option, remote_placements
from rmlab.runtime.ray.remote import RemoteNode, Result, start_remote
from rmlab.runtime.trace import Hop, Trace

__all__ = ["RayExecutor"]

_TODO, _FLUSHING, _DONE = 0, 1, 2
_FLUSH = object()


class _Work:
    """Frames waiting for a node: from one predecessor (None: the session), one input's;
    or a node's error on its way to the session (``error``, no frames)."""

    __slots__ = ("count", "error", "frames", "hops", "origin_ns", "seq", "source")

    def __init__(
        self,
        source: str | None,
        frames: Any,
        count: int,
        seq: int,
        origin_ns: int,
        hops: list[tuple[Hop, ...]],
        error: NodeError | None = None,
    ):
        self.source, self.frames, self.count = source, frames, count
        self.seq, self.origin_ns, self.hops = seq, origin_ns, hops
        self.error = error


class RayExecutor:
    """Runs every node as a Ray actor; see the module docstring."""

    def __init__(self, graph: Graph, context: ExecutorContext):
        option = ray_option("ray", context)
        self.graph = graph
        self._ctx = context
        self._block = context.backpressure == "block"
        self._qsize = context.queue_size
        self._cv = threading.Condition()
        self._woken = False
        self.remote_nodes: dict[str, RemoteNode] = start_remote(
            graph,
            remote_placements(graph, every_node=True),
            option,
            context.start_timeout,
            lambda _nid: self._wake,
            why="executor='ray' places every node on Ray",
        )
        self._events = EventBuffer(None if self._block else context.queue_size)
        self._queue: dict[str, deque[_Work]] = {nid: deque() for nid in graph.order}
        self._edge: dict[tuple[str | None, str], int] = {}
        self._control: deque[tuple[str, dict[str, Any]]] = deque()
        self._deliver = {nid: not graph.successors[nid] for nid in graph.order}
        self._flush = dict.fromkeys(graph.order, _TODO)
        self._closed = False
        self._finishing = False
        self._ended = False
        self._fatal: NodeError | None = None
        self._reported: set[NodeError] = set()
        self._failure: BaseException | None = None
        context.cancel.add_callback(self._cancelled)
        self._thread = threading.Thread(
            target=self._run, name=f"rmlab-ray-{context.session_id}", daemon=True
        )
        self._thread.start()

    # -- Executor ----------------------------------------------------------------

    def submit(self, frame: RuntimeData, target: str | None, trace: Trace) -> None:
        targets = self.graph.sources if target is None else (target,)
        with self._cv:
            if self._block:
                while (
                    not self._closed
                    and self._fatal is None
                    and any(self._edge.get((None, t), 0) >= self._qsize for t in targets)
                ):
                    self._cv.wait()
            if self._closed:
                raise SessionClosed("the session was closed while push() was waiting")
            if self._fatal is not None:
                raise SessionError(f"the session cannot continue: {self._fatal}")
            for t in targets:
                work = _Work(None, [frame], 1, trace.seq, trace.origin_ns, [()])
                self._enqueue(t, work)
            self._woken = True
            self._cv.notify_all()

    def finish(self) -> None:
        with self._cv:
            self._finishing = True
            self._woken = True
            self._cv.notify_all()

    def receive(self) -> list[Event]:
        if self._failure is not None:
            exc, self._failure = self._failure, None
            raise exc
        return self._events.take()

    def fileno(self) -> int:
        return self._events.fileno()

    def set_params(self, node_id: str, params: dict[str, Any]) -> None:
        with self._cv:
            self._control.append((node_id, params))
            self._woken = True
            self._cv.notify_all()

    def tap(self, node_id: str) -> None:
        self._deliver[node_id] = True

    def close(self) -> None:
        self._cancelled()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        errors: list[NodeError] = []
        try:
            for rn in self.remote_nodes.values():
                errors += rn.close()
        finally:
            self._events.close()
        if errors:
            raise errors[0]

    # -- queues (hold self._cv) ----------------------------------------------------------

    def _enqueue(self, nid: str, work: _Work) -> None:
        """Queue ``work`` for ``nid``; in drop-oldest mode the edge's oldest frames go first."""
        key = (work.source, nid)
        self._edge[key] = self._edge.get(key, 0) + work.count
        q = self._queue[nid]
        q.append(work)
        if self._block:
            return
        while self._edge[key] > self._qsize:
            old = next(w for w in q if w.source == work.source and w.error is None)
            if old is work and len(q) == 1:
                break  # one call's outputs bigger than the queue: let them through
            q.remove(old)
            self._edge[key] -= old.count
            edge = f"{work.source or 'session'}->{nid}"
            self._events.put(Dropped(edge, old.count))

    def _wake(self) -> None:
        """Something finished on Ray (called from Ray's thread): wake the scheduler."""
        with self._cv:
            self._woken = True
            self._cv.notify_all()

    def _cancelled(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    # -- the scheduler thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    while not self._woken and not self._closed:
                        self._cv.wait()
                    if self._closed:
                        return
                    self._woken = False
                while self._step():
                    pass
                if self._ended or self._fatal is not None:
                    return
        except BaseException as exc:  # a bug or a broken cluster: receive() raises it
            self._failure = exc if isinstance(exc, Exception) else ExecutorError(str(exc))
            self._events.put(Ended(f"the ray executor failed: {exc}"))

    def _step(self) -> bool:
        """Take results, send work, flush; True if anything happened."""
        moved = self._apply_control()
        for nid, rn in self.remote_nodes.items():
            for res in rn.results():
                moved = True
                self._on_result(nid, rn, res)
                if self._fatal is not None:
                    return False
        for nid in self.graph.order:
            moved |= self._send(nid)
        if self._finishing:
            moved |= self._flush_ready()
        return moved

    def _send(self, nid: str) -> bool:
        rn = self.remote_nodes[nid]
        q = self._queue[nid]
        sent = False
        while q and not rn.full and self._room_after(nid):
            self._apply_control()  # a param change made before this push goes first
            with self._cv:
                if not q:
                    break
                work = q.popleft()
                key = (work.source, nid)
                self._edge[key] -= work.count
                if work.source is None:
                    self._cv.notify_all()  # a push may be waiting for room
            if work.error is not None:
                rn.mark(work)  # behind the frames sent before it
            else:
                rn.submit(work.frames, work.source, work, work.count)
            sent = True
        return sent

    def _apply_control(self) -> bool:
        """Send waiting param changes (``set_params`` queues them before any later push)."""
        with self._cv:
            if not self._control:
                return False
            control = list(self._control)
            self._control.clear()
        for nid, params in control:
            self.remote_nodes[nid].update(params)
        return True

    def _room_after(self, nid: str) -> bool:
        """In "block" mode a node gets more only while every successor's edge has room."""
        if not self._block:
            return True
        return all(self._edge.get((nid, s), 0) < self._qsize for s in self.graph.successors[nid])

    def _flush_ready(self) -> bool:
        moved = False
        for nid in self.graph.order:
            if self._flush[nid] != _TODO:
                continue
            preds = self.graph.predecessors[nid]
            rn = self.remote_nodes[nid]
            if any(self._flush[p] != _DONE for p in preds) or self._queue[nid] or rn.busy:
                continue
            rn.flush(_FLUSH)
            self._flush[nid] = _FLUSHING
            moved = True
        if (
            not self._ended
            and all(s == _DONE for s in self._flush.values())
            and not any(rn.busy for rn in self.remote_nodes.values())
        ):
            self._ended = True
            self._events.put(Ended())
        return moved

    def _on_result(self, nid: str, rn: RemoteNode, res: Result) -> None:
        put = self._events.put
        kind = res.kind
        if kind == "crashed":
            put(NodeFailed(res.error))  # type: ignore[arg-type]
            if res.fatal:
                with self._cv:
                    self._fatal = res.error
                    self._cv.notify_all()
                put(Ended(f"node {nid!r} crashed"))  # the pipeline cannot finish
            return
        if kind == "restarted":
            put(NodeRestarted(nid, rn.restarts))
            return
        if kind == "lost":
            if res.tag is _FLUSH:
                self._flush[nid] = _TODO  # flush again, on the restarted actor
            return
        if kind == "mark":
            self._error(nid, res.tag.error)
            return
        if res.error is not None:
            self._error(nid, res.error)
        if kind == "update":
            return
        flushing = kind == "flush"
        if flushing:
            self._flush[nid] = _DONE
        work: _Work | None = None if flushing else res.tag
        hops: list[tuple[Hop, ...]] = []
        errors = []
        for j, (t0, t1, n, err) in enumerate(res.calls):
            if err is not None:
                errors.append(err)
                continue
            if not flushing:
                put(HopDone(nid, t0, t1))
            before = work.hops[j] if work is not None else ()
            hop = (*before, Hop(nid, t0, t1))
            hops += [hop] * n
        if hops:
            self._forward(nid, rn, res, work, hops)
        for err in errors:  # after the outputs of the same call
            self._error(nid, err)

    def _forward(
        self, nid: str, rn: RemoteNode, res: Result, work: _Work | None, hops: list[Any]
    ) -> None:
        """Deliver a call's outputs (sinks, taps) and queue them for the successors."""
        put = self._events.put
        if work is not None:
            seq, origin = work.seq, work.origin_ns
        else:
            seq, origin = -1, res.calls[0][0]
        successors = self.graph.successors[nid]
        frames: list[RuntimeData] | None = None
        if self._deliver[nid] or (successors and len(res.outs) != 1):
            try:
                frames = rn.fetch(res)
            except NodeError as exc:
                self._error(nid, exc)
                return
        if self._deliver[nid] and frames is not None:
            now = time.monotonic_ns()
            for f, h in zip(frames, hops, strict=True):
                put(Output(nid, f, Trace(seq, origin, h, now)))
        if successors:
            payload: Any = res.outs[0] if len(res.outs) == 1 else frames
            with self._cv:
                for s in successors:
                    self._enqueue(s, _Work(nid, payload, len(hops), seq, origin, hops))

    def _error(self, nid: str, err: NodeError) -> None:
        """A node's error: reported where it reaches the session (a sink or a tapped node),
        and passed on to the successors behind the frames sent before it."""
        if self._deliver[nid] and err not in self._reported:
            self._reported.add(err)
            self._events.put(NodeFailed(err))
        successors = self.graph.successors[nid]
        if successors:
            with self._cv:
                for s in successors:
                    self._enqueue(s, _Work(nid, None, 0, -1, 0, [], err))

    @property
    def restarts(self) -> dict[str, int]:
        return {nid: rn.restarts for nid, rn in self.remote_nodes.items()}
