"""The in-process executor: the reference semantics every other executor must match.

All nodes live in the caller's process and run on one runner thread, so ``push``
returns as soon as the frame is queued (a microphone callback never runs a node).
For each input the runner walks the graph breadth-first: a node's outputs are
queued to every successor in emission order, which keeps order per edge and makes
fan-in merge in arrival order. ``finish()`` flushes nodes in topological order, so
a node's flushed output reaches its successors before they are flushed themselves.

A node placed on Ray (``"execution": {"placement": "remote"}``) runs in its actor
and is driven here through a stand-in (``rmlab.runtime.ray.proxy``): each call waits
for the actor, so it keeps these semantics with one frame in flight.

Queues: the input holds ``queue_size`` frames (drop-oldest drops and counts the
oldest; block makes ``submit`` wait), and so do outputs waiting to be received in
drop-oldest mode (``EventBuffer``). Inner edges need no queue: each input is
walked through the whole graph before the next one.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from typing import Any

from rmlab.data import RuntimeData
from rmlab.errors import NodeError, SessionClosed
from rmlab.nodes.base import Node, run_flush, run_process, run_update
from rmlab.runtime.executor import (
    Dropped,
    Ended,
    Event,
    EventBuffer,
    ExecutorContext,
    HopDone,
    NodeFailed,
    Output,
)
from rmlab.runtime.graph import Graph
from rmlab.runtime.queue import FrameQueue
from rmlab.runtime.ray.placement import cluster_configured, ray_option, remote_placements
from rmlab.runtime.trace import Hop, Trace

__all__ = ["LocalExecutor"]

_END = object()


class _SetParams:
    """A param change travelling through the input queue, so it lands between frames."""

    __slots__ = ("node_id", "params")

    def __init__(self, node_id: str, params: dict[str, Any]):
        self.node_id, self.params = node_id, params


class LocalExecutor:
    """Runs every node in this process, on one runner thread."""

    def __init__(self, graph: Graph, context: ExecutorContext):
        option = ray_option("local", context)
        self.graph = graph
        self._nodes: dict[str, Node] = {}
        self._remote: set[str] = set()
        placements = remote_placements(
            graph, every_node=False, configured=cluster_configured(option)
        )
        try:
            if placements:  # nodes placed on Ray: started together, run through stand-ins
                from rmlab.runtime.ray.proxy import start_proxies

                proxies = start_proxies(graph, placements, option, context, self._report)
                self._nodes.update(proxies)
                self._remote = set(placements)
            for nid in graph.order:
                if nid in self._remote:
                    continue
                node = graph.instantiate(nid)
                self._nodes[nid] = node
                _call(nid, "setup", node.setup)
        except BaseException:
            self._teardown(quiet=True)  # the setup error is the one to report
            raise
        self._accepts = {nid: tuple(n.accepts) for nid, n in self._nodes.items()}
        self._deliver = {nid: not graph.successors[nid] for nid in graph.order}
        drop = context.backpressure == "drop-oldest"
        self._events = EventBuffer(context.queue_size if drop else None)
        self._in = FrameQueue(context.queue_size, context.backpressure, self._evicted)
        context.cancel.add_callback(self._in.close)  # wakes a push waiting for room
        self._runner = threading.Thread(
            target=self._run, name=f"rmlab-local-{context.session_id}", daemon=True
        )
        self._runner.start()

    # -- Executor ----------------------------------------------------------------

    def submit(self, frame: RuntimeData, target: str | None, trace: Trace) -> None:
        targets = self.graph.sources if target is None else (target,)
        self._in.put((frame, targets, trace))

    def _evicted(self, item: tuple[RuntimeData, tuple[str, ...], Trace]) -> None:
        for t in item[1]:  # one dropped frame per source it was for, as on every executor
            self._events.put(Dropped(f"session->{t}", 1))

    def finish(self) -> None:
        self._in.put(_END, force=True)

    def receive(self) -> list[Event]:
        return self._events.take()

    def fileno(self) -> int:
        return self._events.fileno()

    def set_params(self, node_id: str, params: dict[str, Any]) -> None:
        self._in.put(_SetParams(node_id, params), force=True)

    def tap(self, node_id: str) -> None:
        self._deliver[node_id] = True

    def close(self) -> None:
        self._in.close()  # the runner stops at its next get(); queued frames are discarded
        if self._runner is not threading.current_thread():
            self._runner.join(timeout=10)
        try:
            self._teardown()
        finally:
            self._events.close()

    # -- the runner thread ---------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug of this executor: end the session, visibly
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._events.put(Ended(
                f"the local executor failed: {type(exc).__name__}: {exc} (in {where.name}, "
                f"{where.filename}:{where.lineno}); please report it"
            ))  # fmt: skip

    def _loop(self) -> None:
        while True:
            # one input's walk is done: ring now (never mid-walk, where writing the pipe
            # hands the GIL to the consumer); a no-op when it is already rung
            self._events.wake()
            try:
                item = self._in.get()
            except SessionClosed:
                return
            if item is _END:
                self._flush_all()
                self._events.put(Ended())
                return
            if isinstance(item, _SetParams):
                try:
                    run_update(self._nodes[item.node_id], item.params)
                except Exception as exc:
                    self._fail(_node_error(item.node_id, "update", exc))
                continue
            frame, targets, trace = item
            self._dispatch(deque((t, None, frame, trace) for t in targets))

    def _dispatch(self, work: deque[tuple[str, str | None, RuntimeData, Trace]]) -> None:
        put = self._events.put
        while work:
            nid, source, frame, trace = work.popleft()
            if not isinstance(frame, self._accepts[nid]):
                node = self._nodes[nid]
                took = ", ".join(sorted(t.__name__ for t in node.accepts))
                got = type(frame).__name__
                self._fail(
                    NodeError(nid, f"{node.node_type} does not accept {got} (accepts {took})")
                )
                continue
            if nid in self._remote:
                self._events.wake()  # about to wait for the actor: let the consumer in
            t0 = time.monotonic_ns()
            try:
                outs = run_process(self._nodes[nid], frame, source)
            except Exception as exc:
                self._fail(_node_error(nid, "process", exc))
                continue
            t1 = time.monotonic_ns()
            if nid in self._remote:  # the actor's own times, not the round trip
                t0, t1 = self._nodes[nid].last_call  # type: ignore[attr-defined]
            put(HopDone(nid, t0, t1))
            if outs:
                self._emit(nid, outs, trace, Hop(nid, t0, t1), work)

    def _emit(
        self,
        nid: str,
        outs: list[RuntimeData],
        trace: Trace,
        hop: Hop,
        work: deque[tuple[str, str | None, RuntimeData, Trace]],
    ) -> None:
        """Deliver ``outs`` (if ``nid`` is a sink or tapped) and queue them for successors.

        One ``Trace`` per output: the delivered one carries its arrival time, the one
        that travels on is shared by every successor.
        """
        successors = self.graph.successors[nid]
        hops = (*trace.hops, hop)
        onward = Trace(trace.seq, trace.origin_ns, hops) if successors else trace
        deliver = self._deliver[nid]
        for out in outs:
            if deliver:
                arrived = Trace(trace.seq, trace.origin_ns, hops, time.monotonic_ns())
                self._events.put(Output(nid, out, arrived), wake=False)
            for s in successors:
                work.append((s, nid, out, onward))

    def _flush_all(self) -> None:
        for nid in self.graph.order:
            t0 = time.monotonic_ns()
            try:
                outs = run_flush(self._nodes[nid])
            except Exception as exc:
                self._fail(_node_error(nid, "flush", exc))
                continue
            t1 = time.monotonic_ns()
            work: deque[tuple[str, str | None, RuntimeData, Trace]] = deque()
            self._emit(nid, outs, Trace(-1, t0), Hop(nid, t0, t1), work)
            self._dispatch(work)

    @property
    def remote_nodes(self) -> dict[str, Any]:
        """The ``RemoteNode`` of each node placed on Ray (where it runs: ``.hosts``)."""
        return {nid: self._nodes[nid].remote for nid in self._remote}  # type: ignore[attr-defined]

    def _report(self, event: Event) -> None:
        """What a remote node's stand-in reports itself (restarts, a final crash)."""
        self._events.put(event)

    def _fail(self, error: NodeError) -> None:
        self._events.put(NodeFailed(error), wake=False)

    def _teardown(self, quiet: bool = False) -> None:
        errors = []
        for nid, node in self._nodes.items():
            try:
                _call(nid, "teardown", node.teardown)
            except NodeError as exc:
                errors.append(exc)
        self._nodes = {}
        if errors and not quiet:
            raise errors[0]


def _node_error(nid: str, stage: str, exc: BaseException) -> NodeError:
    if isinstance(exc, NodeError):  # already says which node and how (a remote node's)
        return exc
    tb = "".join(traceback.format_exception(exc))
    err = NodeError(nid, f"{type(exc).__name__} in {stage}(): {exc}", tb)
    err.__cause__ = exc
    return err


def _call(nid: str, stage: str, fn: Any) -> None:
    try:
        fn()
    except Exception as exc:
        raise _node_error(nid, stage, exc) from exc
