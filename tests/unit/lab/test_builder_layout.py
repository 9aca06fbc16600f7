"""The builder draws unplaced nodes left to right by topological depth (rmlab._graph.depths)."""

from __future__ import annotations

import pytest

from rmlab import Manifest
from rmlab.lab._builder_state import free_spot, graph_state, layout
from rmlab.manifest import Connection

pytestmark = pytest.mark.unit

X0, DX, Y0, DY = 20, 220, 20, 90  # the builder's grid: margin and column/row pitch


def test_unplaced_nodes_go_into_their_depth_column_in_manifest_order() -> None:
    # added out of pipeline order: the columns still follow the edges
    m = Manifest().add("out", "PassThrough").add("src", "PassThrough")
    m.add("meter", "LevelMeter").add("gain", "Gain")
    m.connect("src", "gain").connect("gain", "out").connect("gain", "meter")
    assert layout(m) == {
        "src": (X0, Y0),
        "gain": (X0 + DX, Y0),
        "out": (X0 + 2 * DX, Y0),
        "meter": (X0 + 2 * DX, Y0 + DY),  # same column as out, next free row
    }


def test_a_cycle_shares_one_column_and_what_follows_it_goes_right() -> None:
    m = Manifest().add("a", "PassThrough").add("b", "PassThrough")
    m.add("c", "PassThrough").add("d", "PassThrough")
    m.connect("a", "b")
    m.connections += [Connection("b", "c"), Connection("c", "b"), Connection("c", "d")]
    assert layout(m) == {
        "a": (X0, Y0),
        "b": (X0 + DX, Y0),
        "c": (X0 + DX, Y0 + DY),
        "d": (X0 + 2 * DX, Y0),
    }
    edges = graph_state(m, rev=1)["edges"]
    assert [bool(e["problems"]) for e in edges] == [False, True, True, False]


def test_saved_positions_win_and_unplaced_nodes_avoid_them() -> None:
    m = Manifest().add("src", "PassThrough").add("gain", "Gain").connect("src", "gain")
    m.node("src").position = {"x": X0 + DX, "y": Y0}  # where gain's column starts
    assert layout(m) == {"src": (X0 + DX, Y0), "gain": (X0 + DX, Y0 + DY)}


# -- where new nodes go ---------------------------------------------------------------------

W, H = 170, 64  # a node's box (NODE_W, NODE_H); boxes keep a 10 px gap


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < W + 10 and abs(a[1] - b[1]) < H + 10


def test_a_drop_in_free_space_stays_where_it_was_let_go() -> None:
    assert free_spot([(20, 20)], 400, 300) == (400, 300)
    assert free_spot([], -15.4, 7.6) == (0, 8)  # never off the canvas's top or left


def test_a_drop_on_a_node_lands_next_to_it_not_on_top() -> None:
    boxes = [(100, 100)]
    spot = free_spot(boxes, 110, 110)
    assert not overlaps(spot, boxes[0])
    assert spot == (110, 190)  # the nearest free 20 px lattice point: just below it
    crowded = [(100, 100), (100, 180), (100, 20), (280, 100), (-80, 100)]
    spot = free_spot(crowded, 110, 110)
    assert not any(overlaps(spot, b) for b in crowded)


def test_the_page_s_drops_and_clicks_never_stack_nodes() -> None:
    from rmlab.lab.builder import Builder

    b = Builder()
    for _ in range(4):  # dropped on the same spot four times
        b.canvas._handle_custom_msg({"type": "add", "node_type": "Gain", "x": 50, "y": 50}, [])
    for _ in range(4):  # clicked four times
        b.canvas._handle_custom_msg({"type": "add", "node_type": "Echo"}, [])
    spots = list(layout(b.manifest).values())
    assert len(spots) == 8 and spots[0] == (50, 50)
    assert not any(overlaps(a, c) for i, a in enumerate(spots) for c in spots[i + 1 :])


def test_a_deep_pipeline_is_laid_out_one_column_per_depth() -> None:
    m = Manifest()
    for i in range(6):
        m.add(f"n{i}", "PassThrough")
    for i in range(5):
        m.connect(f"n{i}", f"n{i + 1}")
    assert layout(m) == {f"n{i}": (X0 + i * DX, Y0) for i in range(6)}
