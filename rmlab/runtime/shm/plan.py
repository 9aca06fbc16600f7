"""The wiring of a shared-memory session, as data: no processes, no shared memory.

``Plan.of(graph, session_id, queue_size)`` decides everything the session and
its workers must agree on: each node's index, the service names, channel sizes,
which doorbell each process sleeps on and which ones it rings, and each worker's
inputs and successors. The executor then creates exactly what the plan says, and
each worker receives its ``WorkerPlan``. Being plain data, the wiring is tested
without starting anything (``tests/unit/test_shm_plan.py``).

Doorbells are numbered here and become pipes at run time: bell ``i < n`` wakes
worker ``i``; ``SESSION`` wakes the session (sinks, taps and the supervisor ring
it); ``CREDIT`` wakes a session waiting to push in "block" mode.

Co-located nodes (``"execution": {"process": "name"}`` on several nodes) share one
worker process, listed in ``processes``: a frame from one of them to another is a
function call, so it needs no service subscription, no doorbell and no credit. The
process sleeps on the bell of its first node (its *leader*), which everything that
feeds any of its nodes rings. Every node keeps its own output service, board slots
and index, so taps, stats and errors stay per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rmlab.errors import ManifestError
from rmlab.runtime.graph import Graph

__all__ = ["Plan", "WorkerPlan"]

BORROWED = 8
"""Samples one subscriber may hold at once (zero-copy views alive in a node or the caller)."""
CHUNK_ESTIMATE = 8 * 1024
"""Initial sample size (4 KiB slice + header) before channels grow for bigger frames."""


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process needs to know about its place in the graph."""

    node_id: str
    index: int
    inputs: tuple[int, ...]
    """Producer indices this node subscribes to (``n`` is the session's input)."""
    input_names: tuple[str | None, ...]
    """For each input, the predecessor's node id (None: pushed by the session)."""
    input_credit_bells: tuple[int, ...]
    """For each input, the bell its producer waits on for credit ("block" mode)."""
    successors: tuple[int, ...]
    doorbell: int
    """The bell this worker sleeps on."""
    successor_bells: tuple[int, ...]
    """The bells of successors in other processes, each once."""
    restart: dict[str, Any] = field(default_factory=dict)
    local_successors: tuple[int, ...] = ()
    """Successors in this node's own process: called directly, never subscribed."""
    external_successors: tuple[int, ...] = ()
    """Successors in other processes: they subscribe, and "block" counts their credit."""


@dataclass(frozen=True)
class Plan:
    """Indices, services, sizes, doorbells and worker wiring of one session."""

    session_id: str
    order: tuple[str, ...]
    """Node ids by index (topological order)."""
    services: tuple[str, ...]
    """Service name of each node's output, then the session's input (index ``n``)."""
    buffer: int
    """Frames each subscriber's buffer holds: the session's ``queue_size``."""
    borrowed: int
    max_subscribers: int
    sources: tuple[int, ...]
    sinks: tuple[int, ...]
    workers: tuple[WorkerPlan, ...]
    processes: tuple[tuple[int, ...], ...] = ()
    """The node indices each worker process runs, in topological order; a node that
    is not co-located is alone in its process."""

    @property
    def n(self) -> int:
        return len(self.order)

    @property
    def SESSION(self) -> int:  # a constant of this plan
        return self.n

    @property
    def CREDIT(self) -> int:
        return self.n + 1

    @property
    def bells(self) -> int:
        """How many doorbells (pipes) the session creates."""
        return self.n + 2

    @property
    def board_path(self) -> str:
        return f"/dev/shm/rmlab-board-{self.session_id}"

    def index(self, node_id: str) -> int:
        return self.order.index(node_id)

    def shm_estimate(self) -> int:
        """Bytes of shared memory the channels reserve before any grows (for a space check)."""
        slots = self.max_subscribers * (self.buffer + self.borrowed) + 2
        return len(self.services) * slots * CHUNK_ESTIMATE

    def process_of(self, index: int) -> tuple[int, ...]:
        """The node indices sharing node ``index``'s worker process (its leader first)."""
        return next(p for p in self.processes if index in p)

    @classmethod
    def of(cls, graph: Graph, session_id: str, queue_size: int) -> Plan:
        order = graph.order
        n = len(order)
        idx = {nid: i for i, nid in enumerate(order)}
        processes = _processes(graph, idx)
        leader = {i: p[0] for p in processes for i in p}  # whose bell wakes node i
        sources = tuple(idx[s] for s in graph.sources)
        # every successor and the session (sinks, taps: any node may be tapped) subscribe
        # to a node's output; sources subscribe to the session's input. A zero here is a
        # fatal panic inside iceoryx2, hence the 1.
        max_subs = max([1, len(sources), *(len(graph.successors[i]) + 1 for i in order)])
        workers = []
        for nid in order:
            i = idx[nid]
            preds = tuple(idx[p] for p in graph.predecessors[nid]) or (n,)
            # inputs from the node's own process arrive by call, not by subscription
            preds_ext = tuple(p for p in preds if p == n or leader[p] != leader[i])
            succ = tuple(idx[s] for s in graph.successors[nid])
            local = tuple(s for s in succ if leader[s] == leader[i])
            external = tuple(s for s in succ if leader[s] != leader[i])
            workers.append(
                WorkerPlan(
                    node_id=nid,
                    index=i,
                    inputs=preds_ext,
                    input_names=tuple(order[p] if p < n else None for p in preds_ext),
                    # a producer waits for credit on its process's doorbell; the session on
                    # CREDIT
                    input_credit_bells=tuple(leader[p] if p < n else n + 1 for p in preds_ext),
                    successors=succ,
                    doorbell=leader[i],
                    successor_bells=tuple(dict.fromkeys(leader[s] for s in external)),
                    restart=dict(graph.manifest.node(order[leader[i]]).restart or {}),
                    local_successors=local,
                    external_successors=external,
                )
            )
        return cls(
            session_id=session_id,
            order=order,
            services=(*(f"rmlab/{session_id}/out/{i}" for i in range(n)),
                      f"rmlab/{session_id}/in"),
            buffer=queue_size,
            borrowed=BORROWED,
            max_subscribers=max_subs,
            sources=sources,
            sinks=tuple(idx[s] for s in graph.sinks),
            workers=tuple(workers),
            processes=processes,
        )  # fmt: skip


def process_name(spec: Any) -> str | None:
    """The ``execution.process`` a node asks to share, or None (a process of its own)."""
    ex = spec.extra.get("execution")
    name = ex.get("process") if isinstance(ex, dict) else None
    return name if isinstance(name, str) and name else None


def _processes(graph: Graph, idx: dict[str, int]) -> tuple[tuple[int, ...], ...]:
    """Group node indices by ``execution.process``; refuse groups that cannot share."""
    groups: dict[str, list[int]] = {}
    alone: list[tuple[int, ...]] = []
    for nid in graph.order:
        name = process_name(graph.manifest.node(nid))
        if name is None:
            alone.append((idx[nid],))
        else:
            groups.setdefault(name, []).append(idx[nid])
    problems = []
    for name, members in groups.items():
        policies = {repr(graph.manifest.node(graph.order[i]).restart or {}) for i in members}
        if len(policies) > 1:
            ids = ", ".join(repr(graph.order[i]) for i in members)
            problems.append((
                f"nodes {ids}",
                f'share process "{name}" but have different restart policies; a crash '
                "restarts the whole process, so give them the same restart",
            ))  # fmt: skip
    if problems:
        raise ManifestError(problems)
    return tuple(sorted([*alone, *(tuple(g) for g in groups.values())]))
