"""Watchers: consumers beside the data path, fed by the events executors report.

``session.watch(w)`` makes ``w`` see every event of the session: outputs (sinks'
and tapped nodes'), one ``HopDone`` per ``process`` call, node errors and crashes,
restarts, drops and the end. Several watchers see the same events (a speaker and
the console's plots on one session), and ``pull()`` still returns every output:
nothing has to be re-fanned by hand. Statistics are a watcher too
(``StatsWatcher``, always attached), which is why ``stats()`` means the same on
every executor.

A watcher's methods run on the thread that receives the session's events: keep them
short (append to a buffer; render elsewhere). A watcher that raises is detached and
its exception kept in ``Watch.error``, so a plot's bug never stops the pipeline.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rmlab.errors import NodeError
from rmlab.runtime.executor import (
    Dropped,
    Ended,
    Event,
    HopDone,
    NodeFailed,
    NodeRestarted,
    Output,
)
from rmlab.runtime.trace import LatencyStats, Stats

__all__ = ["StatsWatcher", "Watch", "Watcher"]

_WINDOW = 4096  # latency samples kept per series: recent enough to be live, enough for a p99


class Watcher:
    """Base class of watchers: override the ``on_*`` methods you need (all optional)."""

    def on_output(self, output: Output) -> None:
        """A sink's or tapped node's output reached the session."""

    def on_hop(self, hop: HopDone) -> None:
        """A node's ``process`` returned (``hop.count`` calls)."""

    def on_error(self, error: NodeError) -> None:
        """A node raised, or its process died (``NodeCrashed``)."""

    def on_restart(self, node_id: str, restarts: int) -> None:
        """A node was restarted by its restart policy."""

    def on_drop(self, edge: str, count: int) -> None:
        """The drop-oldest policy discarded frames on ``edge``."""

    def on_end(self, reason: str) -> None:
        """The session ended (``reason`` is empty for a normal end)."""

    def on_event(self, event: Event) -> None:
        """Every event; the default dispatches to the ``on_*`` methods."""
        if isinstance(event, Output):
            self.on_output(event)
        elif isinstance(event, HopDone):
            self.on_hop(event)
        elif isinstance(event, NodeFailed):
            self.on_error(event.error)
        elif isinstance(event, NodeRestarted):
            self.on_restart(event.node_id, event.restarts)
        elif isinstance(event, Dropped):
            self.on_drop(event.edge, event.count)
        elif isinstance(event, Ended):
            self.on_end(event.reason)


class Watch:
    """The handle ``Session.watch`` returns: ``close()`` detaches the watcher."""

    def __init__(self, watcher: Any, detach: Any):
        self.watcher = watcher
        self.error: BaseException | None = None
        """What the watcher raised, if it did (it was detached then)."""
        self.consumes = False
        """The watcher takes the outputs for itself (see ``Session.watch``)."""
        self._detach = detach

    def close(self) -> None:
        """Stop delivering events to the watcher. Idempotent."""
        self._detach(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StatsWatcher(Watcher):
    """Per-node and end-to-end latency, call counts, outputs, drops, errors, restarts."""

    def __init__(self, node_ids: tuple[str, ...]):
        self.node_ids = node_ids
        self.node: dict[str, deque[int]] = {n: deque(maxlen=_WINDOW) for n in node_ids}
        self.calls: dict[str, int] = dict.fromkeys(node_ids, 0)
        self.end_to_end: deque[int] = deque(maxlen=_WINDOW)
        self.outputs = 0
        self.drops: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.restarts: dict[str, int] = {}

    def on_event(self, event: Event) -> None:  # the hot path: no double dispatch
        if isinstance(event, HopDone):
            nid = event.node_id
            series = self.node.get(nid)
            if series is None:
                series = self.node[nid] = deque(maxlen=_WINDOW)
                self.calls[nid] = 0
            series.append(event.done_ns - event.recv_ns)
            self.calls[nid] += event.count
        elif isinstance(event, Output):
            self.outputs += 1
            t = event.trace
            if t.arrived_ns:
                self.end_to_end.append(t.arrived_ns - t.origin_ns)
        else:
            super().on_event(event)

    def on_error(self, error: NodeError) -> None:
        self.errors[error.node_id] = self.errors.get(error.node_id, 0) + 1

    def on_restart(self, node_id: str, restarts: int) -> None:
        self.restarts[node_id] = restarts

    def on_drop(self, edge: str, count: int) -> None:
        self.drops[edge] = self.drops.get(edge, 0) + count

    def snapshot(self, executor: str, started: float, pushed: int, **extra: Any) -> Stats:
        nodes = {
            nid: LatencyStats.of(list(self.node.get(nid, ())), self.calls.get(nid, 0))
            for nid in self.node_ids
        }
        return Stats(
            executor=executor,
            elapsed_s=time.monotonic() - started,
            pushed=pushed,
            outputs=self.outputs,
            nodes=nodes,
            end_to_end=LatencyStats.of(list(self.end_to_end), self.outputs),
            drops=dict(self.drops),
            errors=dict(self.errors),
            restarts={n: self.restarts.get(n, 0) for n in self.node_ids},
            **extra,
        )
