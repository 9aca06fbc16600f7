"""Graph algorithms on pipelines, shared by the manifest, the runtime and the builder.

A graph is a mapping ``succ`` from every node id to the ids of its successors (one
entry per connection, so an edge given twice appears twice). Its key order is the
manifest's node order, and every algorithm here breaks ties by it, so the same
manifest always gives the same order, the same reported cycle and the same layout.
Every successor must itself be a key (``Manifest._successors`` drops connections to
unknown ids; those are reported as problems of their own).

Validation (``find_cycle``, ``reaches``), execution (``topo_order``) and drawing
(``depths``, ``cycle_edges``) all answer from this one module, so what the builder
draws as a cycle is exactly what the manifest refuses as one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence

__all__ = ["cycle_edges", "depths", "find_cycle", "reaches", "topo_order"]

Successors = Mapping[str, Sequence[str]]


def topo_order(succ: Successors) -> list[str]:
    """Node ids in topological order, ties broken by manifest order.

    Whenever several nodes are ready (all their predecessors placed), the one that
    comes first in the manifest goes next, so a manifest whose nodes are already in
    topological order comes back as it is. Nodes on a cycle, and nodes downstream
    of one, are left out: an order shorter than ``succ`` means the graph has a cycle
    (``find_cycle`` names it).
    """
    names = list(succ)
    rank = {n: i for i, n in enumerate(names)}
    indeg = dict.fromkeys(names, 0)
    for targets in succ.values():
        for t in targets:
            indeg[t] += 1
    # Kahn's algorithm with a heap of manifest positions: ready nodes leave in
    # manifest order, not in the order they became ready.
    ready = [rank[n] for n in names if indeg[n] == 0]  # ascending, so already a heap
    order = []
    while ready:
        n = names[heapq.heappop(ready)]
        order.append(n)
        for t in succ[n]:
            indeg[t] -= 1
            if indeg[t] == 0:
                heapq.heappush(ready, rank[t])
    return order


def find_cycle(succ: Successors) -> list[str] | None:
    """One cycle as the path of ids around it, the first id repeated at the end, or None.

    ``["a", "b", "a"]`` for ``a -> b -> a``, ``["a", "a"]`` for a self-loop. The
    search starts from nodes in manifest order, so the cycle reported for a given
    manifest is always the same one (error messages stay stable).
    """
    color: dict[str, int] = {}  # absent: unvisited, 1: on the current path, 2: done
    for root in succ:
        if root in color:
            continue
        # iterative DFS: a long chain of nodes must not hit the recursion limit
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(succ[root]))]
        path = [root]
        color[root] = 1
        while stack:
            nid, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[nid] = 2
                stack.pop()
                path.pop()
            elif color.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in color:
                color[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
                path.append(nxt)
    return None


def reaches(succ: Successors, start: str, goal: str) -> bool:
    """Whether a path leads from ``start`` to ``goal`` (True when they are the same id).

    ``reaches(succ, target, source)`` is the question "would ``source -> target``
    close a cycle?", asked before the edge is added.
    """
    stack, seen = [start], set()
    while stack:
        n = stack.pop()
        if n == goal:
            return True
        if n not in seen:
            seen.add(n)
            stack.extend(succ.get(n, ()))
    return False


def _components(succ: Successors) -> dict[str, int]:
    """The strongly connected component of each node (Tarjan, iterative).

    Components are numbered in the order Tarjan completes them, which is a reverse
    topological order of the condensed graph: an edge between two components always
    goes from a higher number to a lower one.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comp: dict[str, int] = {}
    count = 0
    for root in succ:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(succ[root]))]
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ[w])))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:  # v is the root of a component: pop it whole
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp[x] = count
                    if x == v:
                        break
                count += 1
    return comp


def cycle_edges(succ: Successors) -> set[tuple[str, str]]:
    """Every edge ``(u, v)`` that lies on some cycle (``v`` reaches ``u``), self-loops included.

    The builder marks these edges when a manifest built in Python holds a cycle:
    each of them is one the person could remove to break it.
    """
    comp = _components(succ)
    # Both ends in one strongly connected component is the same as "v reaches u".
    return {(u, v) for u, targets in succ.items() for v in targets if comp[u] == comp[v]}


def depths(succ: Successors) -> dict[str, int]:
    """Each node's topological depth: the length of the longest path to it from a source.

    Sources are at depth 0 and every edge goes from a smaller depth to a larger
    one, so drawing node ``n`` in column ``depths[n]`` lays a pipeline out left to
    right. The nodes of a cycle (possible in a manifest that is still being edited)
    share one depth, that of the cycle as a whole, so every edge that is not on a
    cycle still points rightwards.
    """
    comp = _components(succ)
    members: dict[int, list[str]] = {}
    for n in succ:
        members.setdefault(comp[n], []).append(n)
    depth = dict.fromkeys(members, 0)
    # Highest component number first is a topological order of the components, so
    # each one's depth is final before it is pushed onto its successors.
    for c in sorted(members, reverse=True):
        for u in members[c]:
            for v in succ[u]:
                if comp[v] != c:
                    depth[comp[v]] = max(depth[comp[v]], depth[c] + 1)
    return {n: depth[comp[n]] for n in succ}
