"""Per-hop timestamps and latency statistics.

Every frame that enters a session gets a ``Trace``: a sequence number, its origin
time, and for each node it passed through the time it was received and the time
its ``process`` returned (``time.monotonic_ns``, comparable across processes on
one machine). A session's ``stats()`` summarises them: per-node processing time,
end-to-end latency (origin to arrival at the session), drops and restarts.
"""

from __future__ import annotations

import html
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Hop", "LatencyStats", "Stats", "Trace"]


@dataclass(frozen=True, slots=True)
class Hop:
    """One node a frame passed through, as recorded in its ``Trace``.

    ``recv_ns`` is when the node received the frame and ``done_ns`` when its
    ``process`` returned (``time.monotonic_ns``, comparable across the processes of
    one machine), so ``done_ns - recv_ns`` is the node's processing time for it.
    """

    node_id: str
    recv_ns: int
    done_ns: int


@dataclass(frozen=True, slots=True)
class Trace:
    """Where a frame has been and when: the ``trace`` of every ``Output`` a session returns.

    ``seq`` is the sequence number of the push the output derives from (pushes are
    numbered from 0 per session), ``origin_ns`` the time of that push, ``hops`` the
    nodes it passed through in order and ``arrived_ns`` when it reached the session.
    All times are ``time.monotonic_ns`` readings; ``latency_ns`` is the end-to-end
    latency of this one output.
    """

    seq: int
    origin_ns: int
    hops: tuple[Hop, ...] = ()
    arrived_ns: int = 0
    """When the output reached the session (0 until it has)."""

    @property
    def latency_ns(self) -> int:
        """Origin to arrival at the session."""
        return self.arrived_ns - self.origin_ns if self.arrived_ns else 0


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one latency series, in milliseconds: a node's or end to end.

    ``count`` is the length of the whole series (a node's ``process`` calls, or a
    session's outputs); the median, p99, mean and max are over its most recent
    samples only (a rolling window), so they describe the session as it runs now.
    With no samples yet they are NaN.
    """

    count: int
    median_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_ns: deque[int] | list[int], total: int | None = None) -> LatencyStats:
        if not samples_ns:
            return cls(total or 0, float("nan"), float("nan"), float("nan"), float("nan"))
        a = np.fromiter(samples_ns, dtype=np.float64, count=len(samples_ns)) / 1e6
        med, p99 = np.percentile(a, [50, 99])
        return cls(total if total is not None else a.size, med, p99, a.mean(), a.max())


@dataclass(frozen=True)
class Stats:
    """A snapshot of a session: per-node and end-to-end latency, counts, drops, restarts.

    What ``Session.stats()`` returns. ``nodes`` maps each node id to the
    ``LatencyStats`` of its processing time; ``end_to_end`` is push to arrival at
    the session. ``str()`` is a plain-text table, ``_repr_html_`` the same table in
    a notebook, and ``to_dict()`` plain values for JSON or a DataFrame.
    """

    executor: str
    elapsed_s: float
    pushed: int
    outputs: int
    nodes: dict[str, LatencyStats]
    end_to_end: LatencyStats
    drops: dict[str, int] = field(default_factory=dict)
    """Frames dropped by the drop-oldest policy, per edge (``"session->gain"``)."""
    errors: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    shm_bytes: int = 0
    """Shared memory the session's channels and board occupy now, in bytes (pages
    actually in use, not reservations; 0 for an executor without shared memory)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON or a DataFrame."""
        return {
            "executor": self.executor,
            "elapsed_s": self.elapsed_s,
            "pushed": self.pushed,
            "outputs": self.outputs,
            "nodes": {k: vars(v) for k, v in self.nodes.items()},
            "end_to_end": vars(self.end_to_end),
            "drops": dict(self.drops),
            "errors": dict(self.errors),
            "restarts": dict(self.restarts),
            "shm_bytes": self.shm_bytes,
        }

    def _rows(self) -> list[tuple[str, ...]]:
        rows = [("node", "frames", "median ms", "p99 ms", "max ms", "errors", "restarts")]
        for nid, s in [*self.nodes.items(), ("end to end", self.end_to_end)]:
            rows.append(
                (
                    nid,
                    str(s.count),
                    f"{s.median_ms:.3f}",
                    f"{s.p99_ms:.3f}",
                    f"{s.max_ms:.3f}",
                    str(self.errors.get(nid, 0)) if nid in self.nodes else "",
                    str(self.restarts.get(nid, 0)) if nid in self.nodes else "",
                )
            )
        return rows

    def _summary(self) -> str:
        drops = sum(self.drops.values())
        text = (
            f"{self.executor} executor, {self.elapsed_s:.1f} s: {self.pushed} pushed, "
            f"{self.outputs} outputs, {drops} dropped"
        )
        if drops:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in self.drops.items() if v) + ")"
        if self.shm_bytes:
            text += f", {self.shm_bytes / 2**20:.1f} MiB of shared memory"
        return text

    def __str__(self) -> str:
        rows = self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [self._summary()]
        for r in rows:
            lines.append(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head, *body = self._rows()
        th = "".join(f"<th>{html.escape(c)}</th>" for c in head)
        trs = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body
        )
        return (
            f"<div class='rmlab-stats'><p>{html.escape(self._summary())}</p>"
            f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table></div>"
        )
