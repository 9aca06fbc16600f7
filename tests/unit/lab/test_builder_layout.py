"""The builder draws unplaced nodes left to right by topological depth (rmlab._graph.depths)."""

from __future__ import annotations

import pytest

from rmlab import Manifest
from rmlab.lab._builder_state import graph_state, layout
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
