"""Manifest: loading upstream files, round trips, every validation rule, builder, code, schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from rmlab import Audio, Json, Manifest, ManifestError, Node, Param, Text
from rmlab.manifest import SCHEMA_PATH

pytestmark = pytest.mark.unit


class TChunker(Node):
    """Test stand-in with upstream-style snake_case params and camelCase aliases."""

    accepts = frozenset({Audio})
    chunk_size: int = Param(512, min=1, aliases=("chunkSize",))

    def process(self, frame):
        return frame


class TResampler(Node):
    accepts = frozenset({Audio})
    source_rate: int = Param(48000, min=1, aliases=("sourceRate",))
    target_rate: int = Param(16000, min=1, aliases=("targetRate",))
    quality: str = Param("High", choices=("Low", "Medium", "High"))
    channels: int = Param(1, min=1)

    def process(self, frame):
        return frame


class TMeter(Node):
    accepts = frozenset({Audio})
    produces = frozenset({Json})

    def process(self, frame):
        return Json({"rms": 0.0})


class TTextOnly(Node):
    accepts = frozenset({Text})

    def process(self, frame):
        return frame


UPSTREAM = {
    "version": "v1",
    "metadata": {"name": "vad", "description": "fan-out and fan-in", "created_at": "2025-01-01"},
    "nodes": [
        {"id": "chunk", "node_type": "TChunker", "params": {"chunkSize": 960}, "host": "local"},
        {
            "id": "rs",
            "node_type": "TResampler",
            "params": {"sourceRate": 48000, "targetRate": 16000, "quality": "Low", "channels": 1},
            "is_streaming": True,
            "capabilities": {"audio": {"sample_rate": 16000}},
            "x_custom": [1, 2, {"deep": None}],
        },
        {"id": "meter", "node_type": "TMeter", "params": None, "is_output_node": True},
        {"id": "mix", "node_type": "PassThrough", "params": {}, "runtime_hint": "python"},
    ],
    "connections": [
        {"from": "chunk", "to": "rs"},
        {"from": "chunk", "to": "meter"},
        {"from": "rs", "to": "mix", "note": "kept"},
        {"from": "meter", "to": "mix"},
    ],
    "python_env": {"python_version": "3.11"},
}


def test_upstream_manifest_loads_and_round_trips(tmp_path: Path) -> None:
    m = Manifest.load(UPSTREAM)
    assert [n.id for n in m.nodes] == ["chunk", "rs", "meter", "mix"]
    assert m.node("rs").extra["is_streaming"] is True
    assert m.connections[2].extra == {"note": "kept"}
    expected = json.loads(json.dumps(UPSTREAM))
    expected["nodes"][2]["params"] = {}  # upstream's null params are written as {}
    assert json.loads(m.dumps()) == expected
    # through text and through a file, the same manifest comes back
    assert Manifest.load(m.dumps()) == m
    path = tmp_path / "m.json"
    m.save(path)
    assert Manifest.load(path) == m
    assert Manifest.load(str(path)) == m


def test_version_1_0_is_accepted_and_written_as_v1() -> None:
    m = Manifest.load({**UPSTREAM, "version": "1.0"})
    assert m.to_dict()["version"] == "v1"


def test_empty_nodes_is_a_valid_loopback() -> None:
    m = Manifest.load('{"version": "v1", "metadata": {"name": "loop"}, "nodes": []}')
    assert len(m) == 0 and m.connections == []


def _problems(doc: object) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as err:
        Manifest.load(doc)  # type: ignore[arg-type]
    return err.value.problems


def _with(**changes: object) -> dict:
    doc = json.loads(json.dumps(UPSTREAM))
    doc.update(changes)
    return doc


def _node(i: int, **changes: object) -> dict:
    doc = json.loads(json.dumps(UPSTREAM))
    doc["nodes"][i].update(changes)
    return doc


# One failing example per rule of DESIGN section 4; each must name the exact path.
RULES = [
    ("version", _with(version="v2"), "version", 'must be "v1"'),
    ("missing version", {"nodes": []}, "version", "required"),
    ("nodes missing", {"version": "v1"}, "nodes", "required"),
    ("nodes not a list", _with(nodes={}), "nodes", "a list"),
    ("node not object", _with(nodes=[3]), "nodes[0]", "must be an object"),
    ("empty id", _node(1, id=""), "nodes[1].id", "non-empty"),
    ("id not string", _node(1, id=7), "nodes[1].id", "a string"),
    ("duplicate id", _node(3, id="rs"), "nodes[3].id", "duplicate id 'rs'"),
    (
        "unknown type",
        _node(0, node_type="TChunkr"),
        "nodes[0].node_type",
        "did you mean 'TChunker'",
    ),
    ("type missing", _node(0, node_type=None), "nodes[0].node_type", "required"),
    ("params not object", _node(0, params=[1]), "nodes[0].params", "must be an object"),
    ("param type", _node(0, params={"chunk_size": "960"}), "nodes[0].params.chunk_size", "integer"),
    ("param range", _node(0, params={"chunkSize": 0}), "nodes[0].params.chunkSize", ">= 1"),
    (
        "param choice",
        _node(1, params={"quality": "low"}),
        "nodes[1].params.quality",
        "one of 'Low', 'Medium', 'High'",
    ),
    ("unknown param", _node(0, params={"chunk": 9}), "nodes[0].params.chunk", "unknown parameter"),
    (
        "alias twice",
        _node(0, params={"chunk_size": 1, "chunkSize": 2}),
        "nodes[0].params.chunkSize",
        "give only one",
    ),
    ("restart policy", _node(0, restart={"policy": "always"}), "nodes[0].restart.policy", "never"),
    (
        "restart count",
        _node(0, restart={"policy": "on-failure", "max_restarts": -1}),
        "nodes[0].restart.max_restarts",
        ">= 0",
    ),
    ("position", _node(0, position={"x": "1", "y": 2}), "nodes[0].position.x", "number"),
    (
        "dangling from",
        _with(connections=[{"from": "nope", "to": "rs"}]),
        "connections[0].from",
        "no node with id 'nope'",
    ),
    (
        "dangling to",
        _with(connections=[{"from": "rs", "to": "nope"}]),
        "connections[0].to",
        "no node with id 'nope'",
    ),
    ("connection shape", _with(connections=[{"from": "rs"}]), "connections[0].to", "required"),
    (
        "duplicate edge",
        _with(connections=[{"from": "rs", "to": "mix"}, {"from": "rs", "to": "mix"}]),
        "connections[1]",
        "duplicate",
    ),
    (
        "cycle",
        _with(connections=[{"from": "chunk", "to": "rs"}, {"from": "rs", "to": "chunk"}]),
        "connections",
        "cycle chunk -> rs -> chunk",
    ),
    (
        "self loop",
        _with(connections=[{"from": "mix", "to": "mix"}]),
        "connections",
        "cycle mix -> mix",
    ),
    (
        "type mismatch",
        _with(
            nodes=[*UPSTREAM["nodes"], {"id": "t", "node_type": "TTextOnly"}],
            connections=[{"from": "meter", "to": "t"}],
        ),
        "connections[0]",
        "'meter' emits Json; 't' accepts Text",
    ),
    ("metadata", _with(metadata=[]), "metadata", "must be an object"),
    ("metadata name", _with(metadata={"name": 3}), "metadata.name", "must be a string"),
    ("not an object", "[1, 2]", "", "a JSON object"),
]


@pytest.mark.parametrize(("rule", "doc", "path", "text"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_names_its_path(rule: str, doc: object, path: str, text: str) -> None:
    problems = _problems(doc)
    matching = [msg for p, msg in problems if p == path]
    assert matching, f"no problem at {path!r}; got {problems}"
    assert any(text in msg for msg in matching), problems


def test_every_problem_is_collected() -> None:
    doc = _with(version="v9")
    doc["nodes"][0]["params"] = {"chunkSize": -5}
    doc["nodes"][1]["node_type"] = "Nope"
    doc["connections"].append({"from": "ghost", "to": "mix"})
    paths = [p for p, _ in _problems(doc)]
    assert paths == [
        "version",
        "nodes[0].params.chunkSize",
        "nodes[1].node_type",
        "connections[4].from",
    ]
    with pytest.raises(ManifestError) as err:
        Manifest.load(doc)
    assert "(4 problems)" in str(err.value)


def test_passthrough_propagates_types_for_edge_checks() -> None:
    # PassThrough "produces the same as its input", so Json flows through it to a Text node.
    doc = _with(
        nodes=[*UPSTREAM["nodes"], {"id": "t", "node_type": "TTextOnly"}],
        connections=[{"from": "meter", "to": "mix"}, {"from": "mix", "to": "t"}],
    )
    assert ("connections[1]", "'mix' emits Json; 't' accepts Text") in _problems(doc)


def test_bad_sources() -> None:
    with pytest.raises(ManifestError, match="not valid JSON: Expecting"):
        Manifest.load("{oops")
    with pytest.raises(ManifestError, match="cannot read manifest file"):
        Manifest.load("/no/such/file.json")
    with pytest.raises(ManifestError, match="cannot load a manifest from int"):
        Manifest.load(3)  # type: ignore[arg-type]


def test_builder() -> None:
    m = (
        Manifest(name="demo", description="d")
        .add("chunk", TChunker, chunkSize=960)
        .add("rs", "TResampler", target_rate=8000)
        .add("out", "PassThrough")
        .connect("chunk", "rs")
        .connect("rs", "out")
    )
    assert m.validate() is m
    assert m.node("rs").params == {"target_rate": 8000}
    assert repr(m) == "<Manifest 'demo': 3 nodes [chunk->rs, rs->out]>"
    with pytest.raises(ManifestError, match=r"nodes\[3\].id: duplicate id 'rs'"):
        m.add("rs", "PassThrough")
    with pytest.raises(ManifestError, match=r"nodes\[3\].params.target_rate: must be >= 1"):
        m.add("rs2", "TResampler", target_rate=0)
    with pytest.raises(ManifestError, match="would make a cycle"):
        m.connect("out", "chunk")
    with pytest.raises(ManifestError, match=r"connections\[2\].to: no node with id 'x'"):
        m.connect("out", "x")
    with pytest.raises(ManifestError, match="already connected"):
        m.connect("chunk", "rs")
    assert len(m) == 3  # failed calls changed nothing
    m.disconnect("rs", "out")
    assert [(c.source, c.target) for c in m.connections] == [("chunk", "rs")]
    with pytest.raises(ManifestError, match="no connection"):
        m.disconnect("rs", "out")
    m.remove("rs")
    assert [n.id for n in m] == ["chunk", "out"] and m.connections == []
    with pytest.raises(ManifestError, match="no node with id 'rs'"):
        m.remove("rs")


def test_to_code_rebuilds_the_same_manifest() -> None:
    m = Manifest.load(UPSTREAM)
    m.node("chunk").restart = {"policy": "on-failure", "max_restarts": 2}
    m.node("chunk").position = {"x": 10, "y": 20.5}
    code = m.to_code()
    assert code.startswith("from rmlab import Manifest\n")
    scope: dict = {}
    exec(code, scope)
    assert scope["manifest"] == m
    assert ".add('chunk', 'TChunker', chunkSize=960)" in code


def test_schema_is_current_and_validates_examples() -> None:
    committed = json.loads(SCHEMA_PATH.read_text())
    assert committed == json.loads(json.dumps(Manifest.schema())), (
        "rmlab/manifest.schema.json is stale: rmlab schema > rmlab/manifest.schema.json"
    )
    jsonschema.Draft202012Validator.check_schema(committed)
    validator = jsonschema.Draft202012Validator(committed)
    examples = sorted(Path(__file__).parents[2].glob("examples/*.json"))
    assert examples
    for path in examples:
        validator.validate(json.loads(path.read_text()))
    bad = {"version": "v1", "nodes": [{"id": "p", "node_type": "PassThrough", "params": {"x": 1}}]}
    assert not validator.is_valid(bad)


def test_numpy_scalars_become_plain_json_values() -> None:
    import numpy as np

    m = Manifest().add("c", TChunker, chunkSize=np.int64(3))
    assert m.node("c").params == {"chunkSize": 3}
    assert type(m.node("c").params["chunkSize"]) is int
    assert json.loads(m.dumps())["nodes"][0]["params"] == {"chunkSize": 3}
