"""Undo and redo in the Builder: one manifest snapshot per applied edit, kept in Python.

Edits arrive as the page sends them (``canvas._handle_custom_msg``) or as cell calls;
both are undone the same way, and the page's buttons follow ``canvas.history``.
"""

from __future__ import annotations

from typing import Any

import pytest

from rmlab import Manifest
from rmlab.lab._builder_history import History, snapshot
from rmlab.lab.builder import Builder, Change

pytestmark = pytest.mark.unit


def send(b: Builder, **content: Any) -> None:
    b.canvas._handle_custom_msg(content, [])


def ids(b: Builder) -> list[str]:
    return [n.id for n in b.manifest.nodes]


def test_ctrl_z_undoes_an_add_and_redo_brings_it_back_where_it_was() -> None:
    b = Builder()
    changes: list[Change] = []
    b.on_change.append(changes.append)
    manifest = b.manifest
    send(b, type="add", node_type="Gain", x=40, y=60, ask=1)
    assert b.canvas.history == {"undo": 1, "redo": 0}
    send(b, type="undo", ask=2)
    assert ids(b) == [] and b.selected is None  # the selected node went with it
    assert b.canvas.history == {"undo": 0, "redo": 1}
    send(b, type="redo", ask=3)
    assert ids(b) == ["gain"] and b.manifest.node("gain").position == {"x": 40, "y": 60}
    assert b.manifest is manifest  # restored in place: a Console holding it sees the change
    assert [c.kind for c in changes] == ["add", "undo", "redo"]
    assert all(c.structural for c in changes)
    assert b.canvas.answer["ask"] == 3 and b.canvas.answer["message"] == ""


def test_every_kind_of_edit_is_one_step_and_a_new_edit_clears_redo() -> None:
    b = Builder()
    b.add_node("Gain")
    b.add_node("Filter")
    b.connect("gain", "filter")
    b.move("filter", 300, 40)
    b.rename("filter", "lp")
    states = []
    while True:
        states.append(b.manifest.to_dict())
        if not b.undo():
            break
    assert [len(s["nodes"]) for s in states] == [2, 2, 2, 2, 1, 0]
    assert states[1]["nodes"][1]["id"] == "filter"  # before the rename
    assert states[2]["nodes"][1]["position"] != {"x": 300, "y": 40}  # before the move
    assert states[3]["connections"] == []  # before the connect
    assert b.redo() and b.redo() and len(b.manifest.nodes) == 2
    b.add_node("Echo")  # a new edit: what was undone cannot come back any more
    assert not b.redo()
    assert ids(b) == ["gain", "filter", "echo"]


def test_a_refused_edit_and_an_edit_that_changes_nothing_are_not_steps() -> None:
    b = Builder()
    b.add_node("Gain", position=(20, 20))
    b.add_node("Filter")
    b.connect("gain", "filter")
    send(b, type="connect", **{"from": "filter", "to": "gain"})  # a cycle: refused
    assert "would make a cycle" in b.error
    b.move("gain", 20, 20)  # where it already is
    assert b.canvas.history["undo"] == 3
    assert b.undo() and b.manifest.connections == []


def test_dragging_a_slider_is_one_step_back_to_where_the_drag_started() -> None:
    b = Builder()
    b.add_node("Gain")
    for value in (-1.0, -2.0, -3.0, -4.0):  # one edit per slider tick
        b.set_param("gain", "gain_db", value)
    b.set_param("gain", "gain_db", -4.0)
    assert b.canvas.history["undo"] == 2
    b.undo()
    assert b.manifest.node("gain").params == {}
    b.redo()
    assert b.manifest.node("gain").params == {"gain_db": -4.0}


def test_edits_of_one_param_apart_in_time_or_between_others_are_separate_steps() -> None:
    m = Manifest().add("gain", "Gain")
    h = History(merge_s=1.5)
    key = ("set_param", "gain", "gain_db")
    for value, now in ((-1.0, 0.0), (-2.0, 1.0), (-3.0, 10.0)):
        before = snapshot(m)
        m.node("gain").params["gain_db"] = value
        h.record(before, m, key, now=now)
    assert h.can_undo == 2  # -1 and -2 merged; -3 came much later
    h.undo(m)
    assert m.node("gain").params == {"gain_db": -2.0}
    h.undo(m)
    assert m.node("gain").params == {}
    assert not h.undo(m)


def test_a_load_is_undone_and_a_form_shows_the_restored_values() -> None:
    b = Builder(Manifest(name="first").add("gain", "Gain", gain_db=-6.0))
    b.select("gain")
    b.load(Manifest(name="second").add("echo", "Echo"))
    assert ids(b) == ["echo"] and b.selected is None
    b.undo()
    assert ids(b) == ["gain"] and b.manifest.metadata["name"] == "first"
    b.select("gain")
    b.set_param("gain", "gain_db", -12.0)
    b.undo()
    assert b.selected == "gain"
    assert b._form.fields["gain_db"].current == -6.0  # the form shows the value undone to


def test_a_manifest_with_problems_is_restored_exactly() -> None:
    m = Manifest().add("gain", "Gain")
    m.node("gain").params["gain_db"] = 99.0  # out of range: a problem passed in from Python
    b = Builder(m)
    b.add_node("Echo")
    b.undo()
    assert m.node("gain").params == {"gain_db": 99.0} and ids(b) == ["gain"]
    assert b.problems()  # still shown, not silently dropped


def test_the_history_keeps_at_most_its_limit() -> None:
    m = Manifest()
    h = History(limit=3)
    for i in range(5):
        before = snapshot(m)
        m.add(f"g{i}", "Gain")
        h.record(before, m)
    assert h.can_undo == 3
    while h.undo(m):
        pass
    assert [n.id for n in m.nodes] == ["g0", "g1"]
