"""rmlab._graph: topological order, cycles and depths, checked against brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmlab._graph import cycle_edges, depths, find_cycle, reaches, topo_order

pytestmark = pytest.mark.unit

Succ = dict[str, list[str]]


def graph(n: int, edges: list[tuple[int, int]]) -> Succ:
    """Nodes ``n0 .. n{n-1}`` in that (manifest) order, with the given edges."""
    succ: Succ = {f"n{i}": [] for i in range(n)}
    for u, v in edges:
        succ[f"n{u}"].append(f"n{v}")
    return succ


@st.composite
def graphs(draw: st.DrawFn, acyclic: bool = False, max_nodes: int = 8) -> Succ:
    """Up to ``max_nodes`` nodes; edges (duplicates allowed) between any two, or forward only.

    Acyclic graphs get their nodes shuffled afterwards, so manifest order is not
    always a topological order.
    """
    n = draw(st.integers(0, max_nodes))
    pairs = [(u, v) for u in range(n) for v in range(n) if not acyclic or u < v]
    edges = draw(st.lists(st.sampled_from(pairs), max_size=16)) if pairs else []
    succ = graph(n, edges)
    if acyclic:
        keys = draw(st.permutations(list(succ)))
        succ = {k: succ[k] for k in keys}
    return succ


def edges_of(succ: Succ) -> list[tuple[str, str]]:
    return [(u, v) for u, targets in succ.items() for v in targets]


def brute_reaches(succ: Succ, a: str, b: str) -> bool:
    """Transitive closure by repeated squaring of a boolean relation (no search)."""
    seen = {a}
    while True:
        grown = seen | {v for u in seen for v in succ[u]}
        if grown == seen:
            return b in seen
        seen = grown


def is_topological(order: list[str], succ: Succ) -> bool:
    pos = {n: i for i, n in enumerate(order)}
    return all(pos[u] < pos[v] for u, v in edges_of(succ))


# -- topo_order ---------------------------------------------------------------------------


@given(graphs(acyclic=True))
def test_topo_order_of_a_dag_has_every_node_once_and_respects_every_edge(succ: Succ) -> None:
    order = topo_order(succ)
    assert sorted(order) == sorted(succ)
    assert is_topological(order, succ)


@given(graphs(acyclic=True, max_nodes=6))  # every permutation is tried: 6! at most
def test_topo_order_is_the_first_topological_order_in_manifest_order(succ: Succ) -> None:
    # Ties in manifest order means: compared position by position, no valid order
    # has an earlier manifest node where this one has a later one.
    rank = {n: i for i, n in enumerate(succ)}
    best = min(
        (list(p) for p in itertools.permutations(succ) if is_topological(list(p), succ)),
        key=lambda p: [rank[n] for n in p],
    )
    assert topo_order(succ) == best


def test_topo_order_keeps_a_manifest_that_is_already_in_order() -> None:
    # src feeds two branches; first-ready-first-out would interleave them (src, a1, b1, a2)
    succ = {"src": ["a1", "b1"], "a1": ["a2"], "a2": [], "b1": []}
    assert topo_order(succ) == ["src", "a1", "a2", "b1"]


def test_topo_order_puts_later_manifest_nodes_after_earlier_ready_ones() -> None:
    # a -> d, c -> b: once a and c have run, b (manifest 1) goes before d (manifest 3)
    succ = {"a": ["d"], "b": [], "c": ["b"], "d": []}
    assert topo_order(succ) == ["a", "c", "b", "d"]


def test_topo_order_leaves_out_cycles_and_what_follows_them() -> None:
    succ = {"src": ["x"], "x": ["y"], "y": ["x", "out"], "out": [], "free": []}
    assert topo_order(succ) == ["src", "free"]
    assert topo_order({"a": ["a"]}) == []
    assert topo_order({}) == []


def test_topo_order_counts_a_duplicate_edge_twice_on_both_sides() -> None:
    assert topo_order({"b": [], "a": ["b", "b"]}) == ["a", "b"]


# -- find_cycle -------------------------------------------------------------------------------


@given(graphs())
def test_find_cycle_finds_a_real_cycle_exactly_when_there_is_one(succ: Succ) -> None:
    cycle = find_cycle(succ)
    has_cycle = any(brute_reaches(succ, v, u) for u, v in edges_of(succ))
    if not has_cycle:
        assert cycle is None
        return
    assert cycle is not None
    assert cycle[0] == cycle[-1] and len(cycle) >= 2
    assert len(set(cycle[:-1])) == len(cycle) - 1  # a simple cycle: no node twice
    for u, v in itertools.pairwise(cycle):
        assert v in succ[u], f"{u} -> {v} in {cycle} is not an edge"


@given(graphs())
def test_a_graph_has_a_cycle_exactly_when_topo_order_leaves_a_node_out(succ: Succ) -> None:
    assert (find_cycle(succ) is None) == (len(topo_order(succ)) == len(succ))


def test_find_cycle_paths_for_messages() -> None:
    assert find_cycle({"mix": ["mix"]}) == ["mix", "mix"]
    succ = {"src": ["chunk"], "chunk": ["rs"], "rs": ["chunk", "out"], "out": []}
    assert find_cycle(succ) == ["chunk", "rs", "chunk"]
    assert find_cycle({"a": ["b"], "b": []}) is None


def test_find_cycle_reports_the_first_cycle_in_manifest_order() -> None:
    succ = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}
    assert find_cycle(succ) == ["a", "b", "a"]
    assert find_cycle({"c": ["d"], "d": ["c"], "a": ["b"], "b": ["a"]}) == ["c", "d", "c"]


def test_find_cycle_does_not_recurse_on_a_long_chain() -> None:
    n = 5000  # far past the interpreter's recursion limit
    succ = graph(n, [(i, i + 1) for i in range(n - 1)] + [(n - 1, 0)])
    cycle = find_cycle(succ)
    assert cycle is not None and len(cycle) == n + 1
    assert depths(succ) == dict.fromkeys(succ, 0)


# -- reaches ----------------------------------------------------------------------------------


@given(graphs(), st.integers(0, 7), st.integers(0, 7))
def test_reaches_is_the_transitive_closure(succ: Succ, a: int, b: int) -> None:
    if not succ:
        return
    u, v = f"n{a % len(succ)}", f"n{b % len(succ)}"
    assert reaches(succ, u, v) == brute_reaches(succ, u, v)


def test_reaches_answers_would_this_edge_close_a_cycle() -> None:
    succ = {"gain": ["filter"], "filter": ["meter"], "meter": []}
    assert reaches(succ, "gain", "meter")  # so meter -> gain would close a cycle
    assert not reaches(succ, "meter", "gain")
    assert reaches(succ, "gain", "gain")  # gain -> gain is a cycle of its own


# -- cycle_edges ------------------------------------------------------------------------------


@given(graphs())
def test_cycle_edges_are_the_edges_whose_target_reaches_their_source(succ: Succ) -> None:
    expected = {(u, v) for u, v in edges_of(succ) if brute_reaches(succ, v, u)}
    assert cycle_edges(succ) == expected


def test_cycle_edges_of_two_cycles_joined_by_a_bridge() -> None:
    succ = {"a": ["b"], "b": ["a", "c"], "c": ["d"], "d": ["c", "d"], "e": []}
    assert cycle_edges(succ) == {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"), ("d", "d")}


# -- depths -----------------------------------------------------------------------------------


def brute_depths(succ: Succ) -> dict[str, int]:
    """Longest path to each node of a DAG, by relaxing every edge n times."""
    depth = dict.fromkeys(succ, 0)
    for _ in succ:
        for u, v in edges_of(succ):
            depth[v] = max(depth[v], depth[u] + 1)
    return depth


@given(graphs(acyclic=True))
def test_depths_of_a_dag_are_longest_paths_from_the_sources(succ: Succ) -> None:
    assert depths(succ) == brute_depths(succ)


@given(graphs())
def test_every_edge_off_a_cycle_points_rightwards_and_a_cycle_shares_a_column(
    succ: Succ,
) -> None:
    d = depths(succ)
    assert set(d) == set(succ)
    on_cycle = cycle_edges(succ)
    for u, v in edges_of(succ):
        if (u, v) in on_cycle:
            assert d[u] == d[v]
        else:
            assert d[u] < d[v]

    # nothing is further right than an edge into it (or into its cycle) requires
    def together(a: str, b: str) -> bool:  # the same node, or on one cycle
        return brute_reaches(succ, a, b) and brute_reaches(succ, b, a)

    for n, k in d.items():
        if k:
            assert any(
                d[u] == k - 1
                for u, v in edges_of(succ)
                if (u, v) not in on_cycle and together(v, n)
            ), f"{n} at depth {k} has no edge from depth {k - 1} into it or its cycle"


def test_depths_for_the_builder_layout() -> None:
    succ = {"mic": ["gain"], "gain": ["lp", "meter"], "lp": ["out"], "meter": [], "out": []}
    assert depths(succ) == {"mic": 0, "gain": 1, "lp": 2, "meter": 2, "out": 3}
    # a cycle b <-> c behind a: the cycle sits one column right of a, what follows it
    # one further
    succ = {"a": ["b"], "b": ["c"], "c": ["b", "d"], "d": []}
    assert depths(succ) == {"a": 0, "b": 1, "c": 1, "d": 2}
