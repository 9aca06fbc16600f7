"""Builder without a browser: simulated page messages, form widgets set from Python.

The page's messages go through ``canvas._handle_custom_msg`` exactly as a real comm
delivers them; form edits set the ipywidgets' values, which fires the same observers
a browser's state update does.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from rmlab import Manifest
from rmlab.data import Audio
from rmlab.errors import ManifestError
from rmlab.lab._builder_canvas import REQUESTS
from rmlab.lab._builder_state import auto_id, graph_state, group_of, palette_payload
from rmlab.lab.builder import Builder, Change
from rmlab.manifest import Connection, NodeSpec
from rmlab.nodes import Node, Param

pytestmark = pytest.mark.unit

WIDGETS = Path(__file__).resolve().parents[3] / "widgets"


class BuilderTestNeeds(Node):
    """A node with a required param and params of every form kind.

    Second paragraph of the doc.
    """

    __module__ = "__main__"  # as if defined in a notebook cell
    accepts = frozenset({Audio})
    label: str = Param(doc="a required label")
    anything = Param(None, doc="any JSON value")
    scale: float = Param(1.0, doc="an unbounded number")
    count: int = Param(3, doc="an unbounded count")

    def process(self, frame: Any) -> Any:
        return frame


def send(b: Builder, **content: Any) -> None:
    """What the page does: one custom message through the widget's comm handler."""
    b.canvas._handle_custom_msg(content, [])


def three_nodes() -> tuple[Builder, list[Change]]:
    """gain -> filter -> level_meter, built from the page, with every Change recorded."""
    b = Builder()
    changes: list[Change] = []
    b.on_change.append(changes.append)
    send(b, type="add", node_type="Gain", x=20, y=30)
    send(b, type="add", node_type="Filter", x=240, y=30)
    send(b, type="add", node_type="LevelMeter", x=460.4, y=30.6)
    send(b, type="connect", **{"from": "gain", "to": "filter"})
    send(b, type="connect", **{"from": "filter", "to": "level_meter"})
    assert b.error == ""
    return b, changes


def edges(b: Builder) -> list[tuple[str, str]]:
    return [(c.source, c.target) for c in b.manifest.connections]


# -- edits from the page -------------------------------------------------------------------


def test_the_page_builds_a_pipeline_and_the_manifest_follows() -> None:
    b, changes = three_nodes()
    m = b.manifest.to_dict()
    assert [(n["id"], n["node_type"], n["position"]) for n in m["nodes"]] == [
        ("gain", "Gain", {"x": 20, "y": 30}),
        ("filter", "Filter", {"x": 240, "y": 30}),
        ("level_meter", "LevelMeter", {"x": 460, "y": 31}),  # whole pixels
    ]
    assert edges(b) == [("gain", "filter"), ("filter", "level_meter")]
    assert b.selected == "level_meter"  # a node added from the page is selected
    assert [c.kind for c in changes] == ["add", "add", "add", "connect", "connect"]
    graph = b.canvas.graph
    assert [n["id"] for n in graph["nodes"]] == ["gain", "filter", "level_meter"]
    assert graph["edges"] == [
        {"from": "gain", "to": "filter", "problems": []},
        {"from": "filter", "to": "level_meter", "problems": []},
    ]
    assert graph["problems"] == []


def test_move_saves_the_position_once_per_drag() -> None:
    b, changes = three_nodes()
    rev = b.canvas.graph["rev"]
    send(b, type="move", id="filter", x=300.7, y=-5)
    assert b.manifest.node("filter").position == {"x": 301, "y": 0}  # never off the canvas
    assert changes[-1] == Change("move", "filter", value={"x": 301, "y": 0})
    assert not changes[-1].structural
    assert b.canvas.graph["rev"] == rev + 1
    assert b.canvas.graph["nodes"][1]["x"] == 301


def test_ids_come_from_the_type_and_stay_unique() -> None:
    b = Builder()
    for _ in range(3):
        send(b, type="add", node_type="Gain")
    send(b, type="add", node_type="AudioChunkerNode")
    assert [n.id for n in b.manifest.nodes] == ["gain", "gain_2", "gain_3", "audio_chunker"]
    assert auto_id("EnergyVAD", []) == "energy_vad"
    assert auto_id("SileroVADNode", ["silero_vad"]) == "silero_vad_2"
    assert auto_id("my gain!", []) == "my_gain"


def test_nodes_added_without_a_position_do_not_overlap() -> None:
    b = Builder()
    for _ in range(6):
        send(b, type="add", node_type="PassThrough")
    spots = [(n.position["x"], n.position["y"]) for n in b.manifest.nodes]
    assert len(set(spots)) == 6
    for i, (x1, y1) in enumerate(spots):
        for x2, y2 in spots[i + 1 :]:
            assert abs(x1 - x2) >= 170 or abs(y1 - y2) >= 50


def test_delete_a_node_and_an_edge_from_the_page() -> None:
    b, changes = three_nodes()
    send(b, type="disconnect", **{"from": "filter", "to": "level_meter"})
    assert edges(b) == [("gain", "filter")]
    b.select("filter")
    send(b, type="remove", id="filter")
    assert [n.id for n in b.manifest.nodes] == ["gain", "level_meter"]
    assert edges(b) == []  # its connections went with it
    assert b.selected is None
    assert [c.kind for c in changes[-2:]] == ["disconnect", "remove"]
    assert b.error == ""


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "connect", "from": "level_meter", "to": "gain"}, "would make a cycle"),
        ({"type": "connect", "from": "gain", "to": "filter"}, "already connected"),
        ({"type": "connect", "from": "gain", "to": "nope"}, "no node with id 'nope'"),
        ({"type": "add", "node_type": "Gian"}, "did you mean 'Gain'"),
        ({"type": "remove", "id": "nope"}, "no node with id 'nope'"),
        ({"type": "disconnect", "from": "gain", "to": "level_meter"}, "no connection"),
        ({"type": "set_param", "id": "gain", "name": "gain_db", "value": 99}, "<= 24.0"),
        ({"type": "set_param", "id": "gain", "name": "gian_db", "value": 1}, "unknown parameter"),
        ({"type": "rename", "id": "gain", "new_id": "filter"}, "'filter' is taken"),
        ({"type": "rename", "id": "gain", "new_id": " "}, "non-empty"),
    ],
)
def test_an_invalid_edit_from_the_page_is_refused_visibly_and_changes_nothing(
    message: dict[str, Any], reason: str
) -> None:
    b, changes = three_nodes()
    before, rev, seen = b.manifest.to_dict(), b.canvas.graph["rev"], len(changes)
    send(b, **message)
    assert b.manifest.to_dict() == before
    assert b.error.startswith("Cannot ") and reason in b.error
    assert b.canvas.graph["rev"] > rev  # re-synced: the page drops its own version
    assert len(changes) == seen
    send(b, type="move", id="gain", x=0, y=0)  # the next good edit clears the message
    assert b.error == ""


def test_a_connection_its_target_cannot_take_is_refused() -> None:
    b, _ = three_nodes()
    send(b, type="add", node_type="Gain", x=0, y=200)
    send(b, type="connect", **{"from": "level_meter", "to": "gain_2"})
    assert (
        b.error
        == "Cannot connect level_meter -> gain_2: 'level_meter' emits Json; 'gain_2' accepts Audio"
    )
    assert ("level_meter", "gain_2") not in edges(b)
    # and one that would break an edge downstream: PassThrough passes on what it gets
    b.add_node("PassThrough", "pass", position=(0, 300))
    b.connect("pass", "gain_2")
    with pytest.raises(ManifestError, match="emits Json"):
        b.connect("level_meter", "pass")
    assert ("level_meter", "pass") not in edges(b)


@pytest.mark.parametrize(
    "content",
    [
        {"type": "launch"},
        {"node_type": "Gain"},
        {"type": "add", "node_type": 3},
        {"type": "move", "id": "gain", "x": "left", "y": 0},
        {"type": "move", "id": "gain"},
        {"type": "connect", "from": "gain"},
        "add Gain",
    ],
)
def test_a_malformed_message_is_shown_and_ignored(content: Any) -> None:
    b, _ = three_nodes()
    before = b.manifest.to_dict()
    b.canvas._handle_custom_msg(content, [])
    assert b.manifest.to_dict() == before
    assert b.error.startswith("Ignored a malformed message from the page")


def test_an_error_in_a_handler_is_shown_and_not_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b, _ = three_nodes()

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(b, "move", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        b._on_message(b.canvas, {"type": "move", "id": "gain", "x": 1, "y": 2}, [])
    assert "RuntimeError: a bug" in b.error
    assert "test_builder.py" in b.error  # where it happened


def test_a_failing_on_change_callback_is_shown_and_the_edit_stands() -> None:
    b, _ = three_nodes()

    def broken(change: Change) -> None:
        raise ValueError("callback bug")

    b.on_change.append(broken)
    b.move("gain", 5, 5)
    assert b.manifest.node("gain").position == {"x": 5, "y": 5}
    assert "ValueError: callback bug" in b.error


def test_the_page_sends_only_messages_python_handles() -> None:
    sent = set(re.findall(r'type: "(\w+)"', (WIDGETS / "graph.js").read_text()))
    assert sent <= REQUESTS
    assert {"add", "move", "connect", "disconnect", "remove", "refresh"} <= sent


# -- the parameter form ---------------------------------------------------------------------


def test_the_form_is_made_from_the_selected_nodes_params() -> None:
    b, _ = three_nodes()
    b.select("gain")
    gain = b._form.fields["gain_db"].widget
    assert isinstance(gain, widgets.FloatSlider)
    assert (gain.min, gain.max, gain.value) == (-60.0, 24.0, 0.0)
    assert "gain in decibels" in gain.tooltip
    assert "rm-param-gain_db" in gain._dom_classes
    b.select("filter")
    fields = {name: f.widget for name, f in b._form.fields.items()}
    assert isinstance(fields["kind"], widgets.Dropdown)
    assert [v for _, v in fields["kind"].options] == ["lowpass", "highpass", "bandpass", "notch"]
    assert isinstance(fields["cutoff_hz"], widgets.FloatLogSlider)  # 1 Hz to 384 kHz
    assert fields["cutoff_hz"].value == pytest.approx(1000.0)
    assert isinstance(fields["order"], widgets.IntSlider)
    assert (fields["order"].min, fields["order"].max) == (1, 12)
    b.select(None)
    assert b._form.fields == {}


def test_form_kinds_for_bools_text_json_and_unbounded_numbers() -> None:
    b = Builder()
    b.add_node("EnergyVAD")
    b.select("energy_vad")
    assert isinstance(b._form.fields["passthrough"].widget, widgets.Checkbox)
    b.add_node("BuilderTestNeeds", "needs", label="x")
    b.select("needs")
    kinds = {name: type(f.widget) for name, f in b._form.fields.items()}
    assert kinds == {
        "label": widgets.Text,
        "anything": widgets.Text,
        "scale": widgets.Text,  # a typed number reaches Python as typed: "abc" is answered
        "count": widgets.Text,
    }
    b._form.fields["anything"].widget.value = '{"a": [1, 2]}'  # JSON
    b._form.fields["label"].widget.value = "hello"
    b._form.fields["count"].widget.value = "7"
    assert b.manifest.node("needs").params == {
        "label": "hello",
        "anything": {"a": [1, 2]},
        "count": 7,
    }
    b._form.fields["anything"].widget.value = "plain words"  # not JSON: a string
    assert b.manifest.node("needs").params["anything"] == "plain words"


def test_form_edits_apply_live_and_reach_on_change() -> None:
    b, changes = three_nodes()
    b.select("gain")
    slider = b._form.fields["gain_db"].widget
    slider.value = -6.000000000000007  # what the page sends after snapping -6 to the step
    assert b.manifest.node("gain").params == {"gain_db": -6.0}
    assert changes[-1] == Change("set_param", "gain", param="gain_db", value=-6.0)
    assert not changes[-1].structural
    n = len(changes)
    slider.value = -6.0000000001  # the page's echo of the value it was given: no edit
    assert len(changes) == n


def test_a_refused_form_edit_puts_the_widget_back() -> None:
    b, _ = three_nodes()
    b.add_node("BuilderTestNeeds", "needs", label="x")
    b.select("needs")
    box = b._form.fields["label"].widget
    box.value = ""
    assert box.value == ""  # an empty string is a string: accepted
    b.select("filter")
    kind = b._form.fields["kind"].widget
    kind.value = "notch"
    assert b.manifest.node("filter").params == {"kind": "notch"}
    b.select("needs")
    count = b._form.fields["count"].widget
    b.set_param("needs", "count", 5)  # from Python: the open form follows
    assert count.value == "5"
    with pytest.raises(ManifestError):
        b.set_param("needs", "count", "many")
    assert count.value == "5"
    assert "expected an integer" in b.error


def test_rename_from_the_form_keeps_connections_and_the_form() -> None:
    b, changes = three_nodes()
    b.select("filter")
    form_widgets = b._form.children
    box = b._form._id_box
    assert "rm-node-id" in box._dom_classes
    box.value = "lowpass"
    assert [n.id for n in b.manifest.nodes] == ["gain", "lowpass", "level_meter"]
    assert edges(b) == [("gain", "lowpass"), ("lowpass", "level_meter")]
    assert b.selected == "lowpass"
    assert b._form.children == form_widgets  # not rebuilt
    assert changes[-1] == Change("rename", "filter", value="lowpass")
    b._form.fields["order"].widget.value = 2  # the form now edits the renamed node
    assert b.manifest.node("lowpass").params == {"order": 2}
    box.value = "gain"  # taken: refused, the box shows the real id again
    assert box.value == "lowpass"
    assert "'gain' is taken" in b.error


def test_an_alias_spelling_in_a_loaded_manifest_is_kept() -> None:
    doc = {
        "version": "v1",
        "nodes": [{"id": "rs", "node_type": "FastResampleNode", "params": {"sourceRate": 44100}}],
        "connections": [],
    }
    b = Builder(doc)
    b.select("rs")
    assert b._form.fields["source_rate"].widget.value == 44100
    b._form.fields["source_rate"].widget.value = 32000
    assert b.manifest.node("rs").params == {"sourceRate": 32000}
    b.set_param("rs", "targetRate", 8000)
    assert b.manifest.node("rs").params == {"sourceRate": 32000, "target_rate": 8000}
    assert b.problems() == []


# -- problems, Python-side edits, import and export -----------------------------------------------


def test_problems_are_placed_on_their_node_and_edge() -> None:
    m = Manifest(name="bad").add("gain", "Gain").add("meter", "LevelMeter").connect("gain", "meter")
    m.nodes.append(NodeSpec("loud", "Gain", {"gain_db": 40}))
    m.connections.append(Connection("meter", "loud"))
    b = Builder(m)
    assert b.manifest is m  # edited in place
    graph = b.canvas.graph
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["loud"]["problems"] == ["nodes[2].params.gain_db: must be <= 24.0, got 40"]
    assert nodes["gain"]["problems"] == []
    assert graph["edges"][1]["problems"] == [
        "connections[1]: 'meter' emits Json; 'loud' accepts Audio"
    ]
    assert [(p["node"], p["edges"]) for p in graph["problems"]] == [("loud", []), (None, [1])]
    assert not nodes["loud"]["placed"]  # drawn in a free slot, not written into the manifest
    assert m.node("loud").position is None
    # a problem it already had does not block other edits; a new one does
    b.move("loud", 10, 200)
    b.set_param("gain", "gain_db", -3)
    with pytest.raises(ManifestError):
        b.set_param("gain", "gain_db", -99)


def test_a_cycle_in_a_manifest_built_in_python_marks_its_edges() -> None:
    m = Manifest().add("a", "PassThrough").add("b", "PassThrough").add("c", "PassThrough")
    m.connect("a", "b")
    m.connections += [Connection("b", "c"), Connection("c", "b")]
    graph = graph_state(m, rev=1)
    assert [bool(e["problems"]) for e in graph["edges"]] == [False, True, True]
    assert graph["problems"][0]["path"] == "connections"


def test_a_new_node_may_lack_its_required_params_which_show_as_a_problem() -> None:
    b = Builder()
    send(b, type="add", node_type="BuilderTestNeeds")
    assert b.error == ""
    node = b.canvas.graph["nodes"][0]
    assert node["problems"] == ["nodes[0].params.label: required parameter is missing"]
    b.select("builder_test_needs")
    b._form.fields["label"].widget.value = "here"
    assert b.canvas.graph["nodes"][0]["problems"] == []


def test_python_side_edits_re_render_the_canvas() -> None:
    b = Builder()
    rev = b.canvas.graph["rev"]
    gain = b.add_node("Gain", gain_db=-3)
    meter = b.add_node("LevelMeter", position=(400, 20))
    b.connect(gain, meter)
    graph = b.canvas.graph
    assert graph["rev"] == rev + 3
    assert [n["id"] for n in graph["nodes"]] == ["gain", "level_meter"]
    assert graph["nodes"][0]["params"] == {"gain_db": -3}
    assert graph["nodes"][0]["label"] == "gain_db=-3"
    assert graph["edges"] == [{"from": "gain", "to": "level_meter", "problems": []}]
    # direct edits of the manifest, then refresh()
    changes: list[Change] = []
    b.on_change.append(changes.append)
    b.manifest.add("pass", "PassThrough")
    b.refresh()
    assert [n["id"] for n in b.canvas.graph["nodes"]][-1] == "pass"
    assert changes == [Change("refresh")] and changes[0].structural


def test_a_node_class_defined_later_joins_the_palette_on_refresh() -> None:
    b = Builder()
    names = [i["type"] for g in b.canvas.palette for i in g["items"]]
    assert "BuilderTestLate" not in names

    class BuilderTestLate(Node):
        """Defined after the Builder was shown."""

        def process(self, frame: Any) -> Any:
            return frame

    send(b, type="refresh")
    names = [i["type"] for g in b.canvas.palette for i in g["items"]]
    assert "BuilderTestLate" in names


def test_load_replaces_the_graph_in_place_and_refuses_invalid_json() -> None:
    b, changes = three_nodes()
    m = b.manifest
    b.select("gain")
    other = Manifest(name="other").add("pass", "PassThrough")
    b._import.value = other.dumps()
    b._load.click()
    assert b.manifest is m and m == other
    assert b.selected is None
    assert changes[-1] == Change("load")
    before = m.to_dict()
    b._import.value = (
        '{"version": "v1", "nodes": [{"id": "g", "node_type": "Gain", "params": {"gain_db": 99}}]}'
    )
    b._load.click()
    assert m.to_dict() == before
    assert b.error.startswith("Cannot load the manifest: must be <= 24.0")
    b._import.value = "{not json"
    b._load.click()
    assert "not valid JSON" in b.error
    assert "Not loaded: not valid JSON" in b._import_status.value  # under the box too
    b._import.value = ""
    b._load.click()
    assert "Paste" in b._import_status.value


def test_export_json_and_code_round_trip(tmp_path: Path) -> None:
    b, _ = three_nodes()
    b.set_param("gain", "gain_db", -6)
    text = b._json.value
    assert "rm-export-json" in b._json._dom_classes
    shown = json.loads(text.removeprefix("<pre>").removesuffix("</pre>").replace("&quot;", '"'))
    assert shown == b.manifest.to_dict()
    assert Manifest.load(b.manifest.dumps()) == b.manifest
    namespace: dict[str, Any] = {}
    code = b._code.value.removeprefix("<pre>").removesuffix("</pre>")
    exec(code.replace("&#x27;", "'").replace("&quot;", '"'), namespace)
    assert namespace["manifest"] == b.manifest
    path = tmp_path / "m.json"
    b.manifest.save(path)
    assert Builder(path).manifest == b.manifest  # a path, a dict, JSON text
    assert Builder(b.manifest.to_dict()).manifest == b.manifest
    assert Builder(b.manifest.dumps()).manifest == b.manifest


# -- the palette -----------------------------------------------------------------------------------


def test_the_palette_groups_nodes_by_module_notebook_first() -> None:
    b = Builder()
    groups = b.palette()
    assert list(groups)[:6] == ["notebook", "core", "audio", "analysis", "vad", "compat"]
    assert BuilderTestNeeds in groups["notebook"]
    assert [c.node_type for c in groups["core"]][:1] == ["PassThrough"]
    assert {"Gain", "Filter", "Chunker"} <= {c.node_type for c in groups["audio"]}
    assert "LevelMeter" in {c.node_type for c in groups["analysis"]}
    assert "EnergyVAD" in {c.node_type for c in groups["vad"]}
    assert "AudioChunkerNode" in {c.node_type for c in groups["compat"]}
    assert group_of(type("Plugin", (), {"__module__": "acme.nodes"})) == "acme"  # type: ignore[arg-type]
    payload = palette_payload(b.palette("gain"))
    gain = next(i for g in payload for i in g["items"] if i["type"] == "Gain")
    assert gain["summary"] == "Scale audio by a fixed gain in decibels."
    assert gain["doc"].startswith(gain["summary"]) and "\n" in gain["doc"]


def test_palette_search_filters_on_every_word() -> None:
    b = Builder()
    found = {c.node_type for cs in b.palette("meter rms_db").values() for c in cs}
    assert "LevelMeter" in found and "Gain" not in found
    assert {c.node_type for cs in b.palette("GAIN").values() for c in cs} >= {"Gain"}
    assert {c.node_type for cs in b.palette("cutoff_hz").values() for c in cs} == {"Filter"}
    assert b.palette("no such node anywhere") == {}
    b.canvas.palette_query = "vad"  # typed into the search box in the page
    shown = {i["type"] for g in b.canvas.palette for i in g["items"]}
    assert {"EnergyVAD", "SileroVADNode"} <= shown and "Gain" not in shown
    b.canvas.palette_query = ""
    assert len(b.canvas.palette) >= 5


# -- threads ----------------------------------------------------------------------------------


def test_concurrent_edits_from_two_threads_stay_consistent() -> None:
    b = Builder()
    errors: list[BaseException] = []

    def add_many() -> None:
        try:
            for _ in range(40):
                send(b, type="add", node_type="PassThrough")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add_many) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and b.error == ""
    ids = [n.id for n in b.manifest.nodes]
    assert len(ids) == len(set(ids)) == 80
    assert len(b.canvas.graph["nodes"]) == 80
    assert json.dumps(b.canvas.graph)  # what is synced is JSON


# -- Save and Open: files next to the notebook (the kernel's working directory) ------------


def _class_pipeline() -> Manifest:
    return (
        Manifest(name="filter class")
        .add("filter", "Filter", cutoff_hz=500.0)
        .add("out", "PassThrough")
        .connect("filter", "out")
    )


def test_save_writes_the_manifest_next_to_the_notebook_and_open_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the notebook's folder
    b = Builder(_class_pipeline())
    assert b._file_name.value == "filter-class.json"  # from the manifest's name
    b._save.click()
    saved = tmp_path / "filter-class.json"
    assert json.loads(saved.read_text()) == json.loads(b.manifest.dumps())
    assert "Saved filter-class.json" in b._file_status.value
    assert b._files.options == ("filter-class.json",) and b._files.value == "filter-class.json"

    student = Builder()  # a student opens the handout
    assert student._files.options == ("filter-class.json",)
    student._open.click()
    assert student.manifest.node("filter").params["cutoff_hz"] == 500.0
    assert [c.target for c in student.manifest.connections] == ["out"]
    assert student._file_name.value == "filter-class.json"
    assert "Opened filter-class.json" in student._file_status.value


def test_save_asks_before_replacing_a_file_and_refuses_a_broken_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    handout = tmp_path / "handout.json"
    handout.write_text(_class_pipeline().dumps())
    b = Builder(Manifest(name="mine").add("gain", "Gain"))
    b._file_name.value = "handout"  # ".json" is added
    b._save.click()
    assert "handout.json exists: press Save again" in b._file_status.value
    assert json.loads(handout.read_text())["nodes"][0]["id"] == "filter"  # untouched
    b._save.click()  # the second press replaces it
    assert json.loads(handout.read_text())["nodes"][0]["id"] == "gain"

    b._file_name.value = "../elsewhere.json"
    b._save.click()
    assert "not a plain file name" in b._file_status.value
    assert not (tmp_path.parent / "elsewhere.json").exists()

    b.manifest.nodes.append(NodeSpec("orphan", "NoSuchNode", {}))  # Open would refuse it
    b.refresh()
    b._file_name.value = "broken.json"
    b._save.click()
    assert "Not saved: the pipeline has problems" in b._file_status.value
    assert not (tmp_path / "broken.json").exists()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "holds a list, not a manifest"),
        (json.dumps({"nodes": [{"id": "x", "node_type": "NoSuchNode"}]}), "NoSuchNode"),
    ],
)
def test_open_explains_a_refused_file_next_to_the_box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, why: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(content)
    b = Builder(_class_pipeline())
    before = b.manifest.dumps()
    b._files.value = "bad.json"
    b._open.click()
    status = b._file_status.value
    assert "Not opened: bad.json" in status and why in status, status
    assert "rm-file-refused" in status
    assert b.manifest.dumps() == before  # the graph stays as it was
