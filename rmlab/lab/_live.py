"""Which edits of a running pipeline can be applied live (private to the console).

A params-only edit goes to ``Session.set_params``, which every executor implements
between two frames (the local runner thread; an shm worker before its next frame)
through the node's ``update``. Anything else (a node or connection added or
removed, a type or restart policy changed) needs a new session: the console
hot-swaps it (``rmlab.lab._run``).
"""

from __future__ import annotations

from typing import Any

from rmlab import Manifest, ManifestError
from rmlab.nodes import lookup

__all__ = ["param_changes", "validated"]

_UNSET: Any = object()


def param_changes(old: Manifest, new: Manifest) -> dict[str, dict[str, Any]] | None:
    """The params that differ, per node id, or None if anything else differs.

    Layout (``position``) is ignored. A param removed from ``new`` comes back as its
    default value.
    """
    a, b = old.to_dict(), new.to_dict()
    for d in (a, b):
        for n in d["nodes"]:
            n.pop("position", None)
    a_params = {n["id"]: n.pop("params") for n in a["nodes"]}
    b_params = {n["id"]: n.pop("params") for n in b["nodes"]}
    if a != b:
        return None
    changes: dict[str, dict[str, Any]] = {}
    for n in b["nodes"]:
        nid, params, before = n["id"], b_params[n["id"]], a_params[n["id"]]
        diff = {k: v for k, v in params.items() if before.get(k, _UNSET) != v}
        for gone in set(before) - set(params):
            cls = lookup(n["node_type"])
            diff[gone] = cls.params[cls.param_name(gone)].default
        if diff:
            changes[nid] = diff
    return changes


def validated(manifest: Manifest, node_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The node's params after applying ``params``; ``ManifestError`` if invalid."""
    spec = manifest.node(node_id)
    merged = {**spec.params, **params}
    i = manifest.nodes.index(spec)
    problems = lookup(spec.node_type).param_problems(merged, f"nodes[{i}].params")
    if problems:
        raise ManifestError(problems)
    return merged
