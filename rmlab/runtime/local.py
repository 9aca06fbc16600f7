"""The in-process executor: the reference semantics every other executor must match.

All nodes live in the caller's process and run on one runner thread, so ``push``
returns as soon as the frame is queued (a microphone callback never runs a node).
For each input the runner walks the graph breadth-first: a node's outputs are
queued to every successor in emission order, which keeps order per edge and makes
fan-in merge in arrival order. ``end()`` flushes nodes in topological order, so a
node's flushed output reaches its successors before they are flushed themselves.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from typing import Any

from rmlab.data import RuntimeData
from rmlab.errors import NodeError, SessionClosed
from rmlab.nodes.base import Node, outputs
from rmlab.runtime.graph import Graph
from rmlab.runtime.session import FrameQueue, Session
from rmlab.runtime.trace import Hop, Trace

__all__ = ["LocalSession"]

_END = object()


class _SetParams:
    """A param change travelling through the input queue, so it lands between frames."""

    __slots__ = ("node_id", "params")

    def __init__(self, node_id: str, params: dict[str, Any]):
        self.node_id, self.params = node_id, params


class LocalSession(Session):
    """Runs every node in this process, on one runner thread."""

    executor = "local"

    def __init__(self, graph: Graph, **kwargs: Any):
        super().__init__(graph, **kwargs)
        self._nodes: dict[str, Node] = {}
        try:
            for nid in graph.order:
                node = graph.instantiate(nid)
                self._nodes[nid] = node
                _call(nid, "setup", node.setup)
        except BaseException:
            self._teardown(quiet=True)  # the setup error is the one to report
            raise
        self._accepts = {nid: tuple(n.accepts) for nid, n in self._nodes.items()}
        self._in = FrameQueue(self.queue_size, self.backpressure)
        self._runner = threading.Thread(
            target=self._run, name=f"rmlab-local-{self.session_id or id(self)}", daemon=True
        )
        self._runner.start()

    # -- Session hooks -----------------------------------------------------------

    def _submit(self, frame: RuntimeData, targets: tuple[str, ...], trace: Trace) -> None:
        self._in.put((frame, targets, trace))

    def _finish(self) -> None:
        self._in.put(_END, force=True)

    def _set_params(self, node_id: str, params: dict[str, Any]) -> None:
        self._in.put(_SetParams(node_id, params), force=True)

    def _shutdown(self) -> None:
        self._in.close()  # the runner stops at its next get(); queued frames are discarded
        if self._runner is not threading.current_thread():
            self._runner.join(timeout=10)
        self._teardown()

    def _drops(self) -> dict[str, int]:
        return {"session->pipeline": self._in.dropped, **super()._drops()}

    # -- the runner thread ---------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._in.get()
            except SessionClosed:
                return
            if item is _END:
                self._flush_all()
                self._ended()
                return
            if isinstance(item, _SetParams):
                try:
                    self._nodes[item.node_id].update(**item.params)
                except Exception as exc:
                    self._fail(_node_error(item.node_id, "update", exc))
                continue
            frame, targets, trace = item
            self._dispatch(deque((t, frame, trace) for t in targets))

    def _dispatch(self, work: deque[tuple[str, RuntimeData, Trace]]) -> None:
        rec = self._rec
        while work:
            nid, frame, trace = work.popleft()
            if not isinstance(frame, self._accepts[nid]):
                node = self._nodes[nid]
                took = ", ".join(sorted(t.__name__ for t in node.accepts))
                got = type(frame).__name__
                self._fail(
                    NodeError(nid, f"{node.node_type} does not accept {got} (accepts {took})")
                )
                continue
            t0 = time.monotonic_ns()
            try:
                outs = outputs(self._nodes[nid].process(frame))
            except Exception as exc:
                self._fail(_node_error(nid, "process", exc))
                continue
            t1 = time.monotonic_ns()
            rec.hop(nid, t1 - t0)
            hops = (*trace.hops, Hop(nid, t0, t1))
            self._emit(nid, outs, Trace(trace.seq, trace.origin_ns, hops), work)

    def _emit(
        self,
        nid: str,
        outs: list[RuntimeData],
        trace: Trace,
        work: deque[tuple[str, RuntimeData, Trace]],
    ) -> None:
        deliver = nid in self._taps or not self.graph.successors[nid]
        for out in outs:
            if deliver:
                self._deliver(nid, out, trace)
            for s in self.graph.successors[nid]:
                work.append((s, out, trace))

    def _flush_all(self) -> None:
        for nid in self.graph.order:
            t0 = time.monotonic_ns()
            try:
                outs = outputs(self._nodes[nid].flush())
            except Exception as exc:
                self._fail(_node_error(nid, "flush", exc))
                continue
            t1 = time.monotonic_ns()
            work: deque[tuple[str, RuntimeData, Trace]] = deque()
            self._emit(nid, outs, Trace(-1, t0, (Hop(nid, t0, t1),)), work)
            self._dispatch(work)

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
    tb = "".join(traceback.format_exception(exc))
    err = NodeError(nid, f"{type(exc).__name__} in {stage}(): {exc}", tb)
    err.__cause__ = exc
    return err


def _call(nid: str, stage: str, fn: Any) -> None:
    try:
        fn()
    except Exception as exc:
        raise _node_error(nid, stage, exc) from exc
