"""The Builder's pure parts: palette groups, node ids, layout, and the state sent to the page.

Nothing here touches a widget, so all of it is tested directly. The page renders
exactly what ``palette_payload`` and ``graph_state`` return; it never decides on its
own what the graph is (see ``rmlab.lab.builder`` for why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rmlab import Manifest, ManifestError
from rmlab._graph import cycle_edges, depths
from rmlab.nodes import Node, available, lookup

__all__ = [
    "GROUP_ORDER",
    "NODE_H",
    "NODE_W",
    "auto_id",
    "free_spot",
    "graph_state",
    "group_of",
    "layout",
    "locate",
    "palette",
    "palette_payload",
    "place",
]

# Notebook-defined nodes first: they are what the person is working on.
GROUP_ORDER = ("notebook", "core", "audio", "analysis", "vad", "compat")
# A node's box in the canvas, in CSS pixels at zoom 1 (the page reads these): three
# lines (id, type and params, live figures) at sizes readable on a projector.
NODE_W, NODE_H = 170, 64
_GRID_X, _GRID_Y, _MARGIN = 220, 90, 20


# -- the palette --------------------------------------------------------------------------


def group_of(cls: type[Node]) -> str:
    """The palette group of a node class: its module inside rmlab, else its package.

    ``rmlab.nodes.audio`` -> ``audio``; ``rmlab.nodes.base`` -> ``core``; a class
    defined in a notebook cell (module ``__main__``) -> ``notebook``; a plugin's
    node -> its top-level package name.
    """
    module = cls.__module__
    if module == "__main__":
        return "notebook"
    parts = module.split(".")
    if parts[:2] == ["rmlab", "nodes"] and len(parts) > 2 and parts[2] != "base":
        return parts[2].lstrip("_") or "core"
    if parts[0] == "rmlab":
        return "core"
    return parts[0]


def _plain_doc(cls: type[Node]) -> str:
    """The node's doc without reStructuredText's double backquotes (shown as plain text)."""
    return cls.doc().replace("``", "")


def palette(query: str = "") -> dict[str, list[type[Node]]]:
    """Registered node classes grouped by ``group_of`` and filtered by ``query``.

    Every whitespace-separated word of ``query`` must appear (case-insensitively) in
    the node's type, group, doc or param names. Groups come in ``GROUP_ORDER``, then
    the others alphabetically; nodes within a group alphabetically.
    """
    words = query.lower().split()
    groups: dict[str, list[type[Node]]] = {}
    for name, cls in available().items():
        group = group_of(cls)
        haystack = " ".join([name, group, cls.doc(), *cls.params]).lower()
        if all(w in haystack for w in words):
            groups.setdefault(group, []).append(cls)

    def rank(group: str) -> tuple[int, str]:
        return (GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER), group)

    return {g: sorted(groups[g], key=lambda c: c.node_type) for g in sorted(groups, key=rank)}


def palette_payload(groups: dict[str, list[type[Node]]]) -> list[dict[str, Any]]:
    """``palette()`` as the JSON the page renders: groups of ``{type, summary, doc}``."""
    return [
        {
            "group": group,
            "items": [
                {
                    "type": cls.node_type,
                    "summary": (_plain_doc(cls).splitlines() or [""])[0],
                    "doc": _plain_doc(cls),
                }
                for cls in classes
            ],
        }
        for group, classes in groups.items()
    ]


# -- ids and layout ---------------------------------------------------------------------------


def auto_id(node_type: str, taken: Iterable[str]) -> str:
    """A fresh node id from a type name: ``Gain`` -> ``gain``, then ``gain_2``, ...

    CamelCase becomes snake_case and a trailing ``Node`` is dropped
    (``AudioChunkerNode`` -> ``audio_chunker``, ``EnergyVAD`` -> ``energy_vad``).
    """
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", node_type)
    base = re.sub(r"\W+", "_", words).strip("_").lower()
    base = re.sub(r"_node$", "", base) or "node"
    taken = set(taken)
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def _overlaps(x: float, y: float, boxes: Iterable[tuple[float, float]]) -> bool:
    return any(abs(x - bx) < NODE_W + 10 and abs(y - by) < NODE_H + 10 for bx, by in boxes)


def place(boxes: Iterable[tuple[float, float]], column: int | None = None) -> tuple[int, int]:
    """The first free grid slot (top-left corner) that overlaps none of ``boxes``.

    With ``column`` the slot is in that grid column; otherwise rows are filled
    left to right across four columns, so clicked-in nodes form a readable grid.
    """
    boxes = list(boxes)
    for row in range(1000):
        for col in [column] if column is not None else range(4):
            x, y = _MARGIN + col * _GRID_X, _MARGIN + row * _GRID_Y
            if not _overlaps(x, y, boxes):
                return x, y
    return _MARGIN, _MARGIN + 1000 * _GRID_Y  # 1000 full rows: stack below, never fail


def free_spot(boxes: Iterable[tuple[float, float]], x: float, y: float) -> tuple[int, int]:
    """The free top-left corner nearest ``(x, y)``: where a node dropped there goes.

    ``(x, y)`` itself when no box is in the way; otherwise the nearest point of a
    20 px lattice around it, ring by ring, that overlaps none of ``boxes`` (with a
    10 px gap) and stays on the canvas (x, y >= 0). So a node is never dropped on
    top of another, and lands as close as it can to where the person let go.
    """
    boxes = list(boxes)
    x, y = max(0, round(x)), max(0, round(y))
    step = 20
    for r in range(1000):
        ring = [
            (x + i * step, y + j * step)
            for i in range(-r, r + 1)
            for j in range(-r, r + 1)
            if max(abs(i), abs(j)) == r
        ]
        free = [(a, b) for a, b in ring if a >= 0 and b >= 0 and not _overlaps(a, b, boxes)]
        if free:
            return min(free, key=lambda p: (p[0] - x) ** 2 + (p[1] - y) ** 2)
    return x, max([y, *(by + NODE_H + 10 for _, by in boxes)])  # never reached in practice


def layout(manifest: Manifest) -> dict[str, tuple[float, float]]:
    """Where each node is drawn: its saved ``position``, else a free slot in its depth column.

    Unplaced nodes (built in Python, or loaded without a layout) are drawn but not
    written back: the manifest changes only when a person moves or adds a node.
    """
    shown: dict[str, tuple[float, float]] = {}
    for n in manifest.nodes:
        pos = n.position
        if isinstance(pos, dict) and all(_number(pos.get(k)) for k in ("x", "y")):
            shown[n.id] = (pos["x"], pos["y"])
    column = depths(manifest._successors())
    for n in manifest.nodes:
        if n.id not in shown:
            shown[n.id] = place(shown.values(), column=column.get(n.id, 0))
    return shown


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# -- the graph as the page sees it ----------------------------------------------------------

_NODE_PATH = re.compile(r"nodes\[(\d+)\]")
_EDGE_PATH = re.compile(r"connections\[(\d+)\]")


def _cycle_edges(manifest: Manifest) -> set[int]:
    """Indices of connections that lie on a cycle (``u -> v`` where ``v`` reaches ``u``)."""
    on_cycle = cycle_edges(manifest._successors())  # the graph Manifest itself checks
    return {i for i, c in enumerate(manifest.connections) if (c.source, c.target) in on_cycle}


def locate(manifest: Manifest, path: str, message: str) -> tuple[str | None, list[int]]:
    """The node id and the connection indices a problem's JSON path points at."""
    if m := _NODE_PATH.match(path):
        i = int(m[1])
        return (manifest.nodes[i].id if i < len(manifest.nodes) else None), []
    if m := _EDGE_PATH.match(path):
        return None, [int(m[1])]
    if path == "connections" and message.startswith("cycle"):
        return None, sorted(_cycle_edges(manifest))
    return None, []


def _variants(classes: Iterable[type] | None) -> list[str] | None:
    return None if classes is None else sorted(c.__name__ for c in classes)


def _params_text(params: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
    return text if len(text) <= 28 else text[:27] + "\u2026"


def graph_state(manifest: Manifest, rev: int) -> dict[str, Any]:
    """The whole graph as the page draws it, with every problem placed on its node or edge.

    ``rev`` grows on every sync, so the page re-renders even when the graph is
    unchanged (after a refused edit, its own half-done drag must be undone).
    """
    positions = layout(manifest)
    node_problems: dict[str, list[str]] = {}
    edge_problems: dict[int, list[str]] = {}
    problems = []
    for path, message in manifest.problems():
        nid, edges = locate(manifest, path, message)
        if nid is not None:
            node_problems.setdefault(nid, []).append(f"{path}: {message}")
        for i in edges:
            edge_problems.setdefault(i, []).append(f"{path}: {message}")
        problems.append({"path": path, "message": message, "node": nid, "edges": edges})
    nodes = []
    for n in manifest.nodes:
        try:
            cls: type[Node] | None = lookup(n.node_type)
        except ManifestError:
            cls = None
        x, y = positions[n.id]
        nodes.append(
            {
                "id": n.id,
                "type": n.node_type,
                "x": x,
                "y": y,
                "placed": n.position is not None,
                "params": n.params,
                "label": _params_text(n.params),
                "doc": _plain_doc(cls) if cls else f"unknown node type {n.node_type!r}",
                "accepts": _variants(cls.accepts) if cls else None,
                "produces": _variants(cls.produces) if cls else None,
                "problems": node_problems.get(n.id, []),
            }
        )
    edges = [
        {"from": c.source, "to": c.target, "problems": edge_problems.get(i, [])}
        for i, c in enumerate(manifest.connections)
    ]
    state = {
        "rev": rev,
        "size": {"w": NODE_W, "h": NODE_H},
        "nodes": nodes,
        "edges": edges,
        "problems": problems,
    }
    # A manifest built in Python may hold values JSON cannot carry (an invalid one is
    # still shown): send their repr rather than fail the whole sync.
    return json.loads(json.dumps(state, default=repr))
