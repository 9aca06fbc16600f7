"""What the Builder's graph shows while a pipeline runs (``GraphCanvas.live``).

``LiveMarks.update`` turns one ``Session.stats()`` snapshot, and the errors the
Console has collected, into plain JSON the page draws on the nodes and edges:

    {"nodes": {ID: {"ms": median process time or None, "fps": calls per second,
                    "share": ms / end-to-end median (0..1), "slowest": bool,
                    "error": message or None, "restarts": int}},
     "drops": {"a->b": frames dropped on that edge, only edges with drops},
     "e2e_ms": end-to-end median or None}

An empty dict means nothing runs: the page clears every mark. One ``LiveMarks``
follows one session (a hot swap starts a new one: its counters start at zero).

Errors: a node is marked failed when its error count grows, with the latest
message the Console logged for it; the mark goes when the node next completes
frames without a new error, or when its params change (the person tried a fix: if
it still fails, the next error marks it again).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from rmlab import NodeError, Stats

__all__ = ["LiveMarks"]

_FPS_WINDOW_S = 2.0  # frames/s over about the last two seconds: steady, still live


def _finite(x: float) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _message(node_id: str, errors: Iterable[BaseException]) -> str:
    """The latest logged message of ``node_id``'s errors (the Console keeps them)."""
    latest = None
    for exc in errors:
        if isinstance(exc, NodeError) and exc.node_id == node_id:
            latest = exc
    if latest is None:
        return "raised an error (see the error panel)"
    return (latest.message.splitlines() or [type(latest).__name__])[0]


class LiveMarks:
    """The live marks of one running session, from successive ``stats()`` snapshots."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=64)
        self._errors: dict[str, int] = {}  # per node, at the last update
        self._calls: dict[str, int] = {}
        self._failed: dict[str, tuple[str, Any]] = {}  # node -> (message, its params then)

    def update(
        self,
        stats: Stats,
        errors: Iterable[BaseException] = (),
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``live`` payload for ``stats``; ``params``: each node's params now."""
        errors = list(errors)
        params = params or {}
        now = stats.elapsed_s
        calls = {nid: s.count for nid, s in stats.nodes.items()}
        then, before = self._baseline(now)
        self._samples.append((now, calls))
        medians = {nid: m for nid, s in stats.nodes.items() if (m := _finite(s.median_ms))}
        e2e = _finite(stats.end_to_end.median_ms)
        whole = e2e if e2e else sum(medians.values())
        # marked among two or more timed nodes (a lone node is trivially the slowest)
        slowest = max(medians, key=lambda n: medians[n]) if len(medians) > 1 else None
        dt = now - then
        nodes = {}
        for nid in stats.nodes:
            done = calls[nid] - before.get(nid, 0)
            self._follow_errors(nid, stats.errors.get(nid, 0), calls[nid], errors, params.get(nid))
            ms = medians.get(nid)
            failed = self._failed.get(nid)
            nodes[nid] = {
                "ms": ms,
                "fps": done / dt if dt > 0 else 0.0,
                "share": min(1.0, ms / whole) if ms and whole else 0.0,
                "slowest": nid == slowest,
                "error": failed[0] if failed else None,
                "restarts": stats.restarts.get(nid, 0),
            }
        drops = {edge: n for edge, n in stats.drops.items() if n}
        return {"nodes": nodes, "drops": drops, "e2e_ms": e2e}

    def _baseline(self, now: float) -> tuple[float, dict[str, int]]:
        """The oldest sample of the rate window (the session's start before there is one)."""
        while len(self._samples) > 1 and self._samples[1][0] <= now - _FPS_WINDOW_S:
            self._samples.popleft()
        if self._samples and self._samples[0][0] < now:
            return self._samples[0]
        return 0.0, {}

    def _follow_errors(
        self, nid: str, count: int, calls: int, errors: list[BaseException], params: Any
    ) -> None:
        """Mark ``nid`` failed when its error count grew since the last update; unmark
        it once it completed frames since then without a new error, or its params
        changed."""
        new = count > self._errors.get(nid, 0)
        succeeded = calls > self._calls.get(nid, 0)
        self._errors[nid], self._calls[nid] = count, calls
        if new:
            self._failed[nid] = (_message(nid, errors), params)
        elif nid in self._failed and (succeeded or params != self._failed[nid][1]):
            del self._failed[nid]
