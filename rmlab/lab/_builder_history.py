"""The Builder's undo and redo: one snapshot of the manifest per applied edit.

Python keeps the history, not the page: the Builder is the authority on the graph,
and an edit made from a cell is undone the same way as one made with the mouse. A
snapshot is a deep copy of the manifest's fields (nodes, connections, metadata), so
restoring one needs no validation and brings back exactly what was there, even a
manifest with problems that was passed in from Python.

Consecutive edits of one param of one node within ``merge_s`` seconds are one step
(dragging a slider sends an edit per tick; undo should put the value back where the
drag started, not one tick back). Edits that change nothing are not recorded.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from rmlab import Manifest

__all__ = ["History", "merge_key", "snapshot"]

Snapshot = dict[str, Any]


def snapshot(manifest: Manifest) -> Snapshot:
    """Every field of ``manifest``, deep-copied: what ``History`` stores per step."""
    return copy.deepcopy(vars(manifest))


def merge_key(change: Any) -> tuple[Any, ...] | None:
    """What a following edit must match to be one step with ``change`` (a ``Change``):
    the same param of the same node; None for every other kind of edit."""
    if change.kind == "set_param":
        return ("set_param", change.node_id, change.param)
    return None


def _restore(manifest: Manifest, state: Snapshot) -> None:
    fields = vars(manifest)
    fields.clear()
    fields.update(copy.deepcopy(state))  # the snapshot stays reusable (redo after undo)


@dataclass
class _Step:
    before: Snapshot
    key: tuple[Any, ...] | None  # what a following edit must match to merge into this step
    at: float


class History:
    """Undo and redo stacks of manifest snapshots (at most ``limit`` undo steps).

    ``record(before, manifest, key)`` after each applied edit; ``undo(manifest)`` and
    ``redo(manifest)`` restore a snapshot into ``manifest`` in place (the Builder's
    manifest stays the same object) and return whether there was one to restore.
    """

    def __init__(self, limit: int = 200, merge_s: float = 1.5) -> None:
        self.limit = limit
        self.merge_s = merge_s
        self._undo: list[_Step] = []
        self._redo: list[Snapshot] = []

    @property
    def can_undo(self) -> int:
        """How many steps can be undone."""
        return len(self._undo)

    @property
    def can_redo(self) -> int:
        """How many undone steps can be redone."""
        return len(self._redo)

    def record(
        self,
        before: Snapshot,
        manifest: Manifest,
        key: tuple[Any, ...] | None = None,
        now: float | None = None,
    ) -> bool:
        """Remember ``before`` as the state an edit of ``manifest`` started from.

        ``key`` names a mergeable edit (``("set_param", node, param)``): when it
        matches the last step's key within ``merge_s`` seconds, that step stays the
        one to undo. Returns whether a step was added. A new edit clears redo.
        """
        if before == vars(manifest):
            return False  # nothing changed (a move to where the node was)
        now = time.monotonic() if now is None else now
        self._redo.clear()
        last = self._undo[-1] if self._undo else None
        if key is not None and last and last.key == key and now - last.at <= self.merge_s:
            last.at = now
            return False
        self._undo.append(_Step(before, key, now))
        del self._undo[: -self.limit]
        return True

    def undo(self, manifest: Manifest) -> bool:
        """Put ``manifest`` back as it was before the last recorded edit."""
        if not self._undo:
            return False
        step = self._undo.pop()
        self._redo.append(snapshot(manifest))
        _restore(manifest, step.before)
        return True

    def redo(self, manifest: Manifest) -> bool:
        """Re-apply the last undone edit to ``manifest``."""
        if not self._redo:
            return False
        self._undo.append(_Step(snapshot(manifest), None, time.monotonic()))
        _restore(manifest, self._redo.pop())
        return True

    def clear(self) -> None:
        """Forget every step (nothing to undo or redo)."""
        self._undo.clear()
        self._redo.clear()
