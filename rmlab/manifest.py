"""The pipeline manifest: load, build, validate, dump.

A manifest is the RemoteMedia SDK's JSON pipeline description::

    {"version": "v1", "metadata": {"name": "demo"},
     "nodes": [{"id": "gain", "node_type": "Gain", "params": {"gain_db": -6}}],
     "connections": [{"from": "gain", "to": "meter"}]}

Upstream keys rmlab does not use (``is_streaming``, ``python_env``, ...) and unknown
keys are kept and written back unchanged. rmlab adds two optional node keys:
``restart`` (``{"policy": "never"|"on-failure", "max_restarts": N}``) and
``position`` (``{"x": .., "y": ..}``, the builder layout). Upstream's placement keys
(``execution``, ``capabilities``, ``host``) place a node on a Ray cluster
(``rmlab.runtime.ray.placement``) and are validated like the rest.

Unlike upstream, validation is strict and complete: every problem is collected with
its JSON path (``nodes[2].params.gain_db``) and raised together as one
``ManifestError``.
"""

from __future__ import annotations

import copy
import difflib
import json
import keyword
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmlab._graph import find_cycle, reaches, topo_order
from rmlab.data import RuntimeData
from rmlab.errors import ManifestError
from rmlab.nodes import ALL_VARIANTS, Node, lookup
from rmlab.nodes import available as available_nodes
from rmlab.nodes.base import plain

__all__ = ["Connection", "Manifest", "NodeSpec"]

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
_VERSIONS = ("v1", "1.0")  # upstream example files say "1.0"; written back as "v1"
_RESTART_POLICIES = ("never", "on-failure")
PLACEMENTS = ("local", "remote", "prefer_local", "prefer_remote", "auto")
"""Upstream's ``execution.placement``; "remote" runs the node on Ray (rmlab.runtime.ray)."""
GPU_TYPES = ("cuda", "rocm", "metal")
RESERVED_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")
"""Ray's own resource names: asked for through cpu, gpu and memory_gb instead."""
_EXECUTION_KEYS = ("placement", "reason", "fallback", "max_in_flight", "replicas", "process")
_PROCESS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CAPABILITY_KEYS = ("gpu", "cpu", "memory_gb", "resources")


@dataclass
class NodeSpec:
    """One node of a manifest: id, type, params and the keys rmlab does not interpret."""

    id: str
    node_type: str
    params: dict[str, Any] = field(default_factory=dict)
    restart: dict[str, Any] | None = None
    position: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Upstream and unknown keys (``is_streaming``, ``host``, ...), written back as they came."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "node_type": self.node_type, "params": self.params}
        if self.restart is not None:
            d["restart"] = self.restart
        if self.position is not None:
            d["position"] = self.position
        d.update(self.extra)
        return d


@dataclass
class Connection:
    """A directed edge ``source -> target`` (the manifest's ``{"from", "to"}``)."""

    source: str
    target: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, **self.extra}


class Manifest:
    """A pipeline: nodes, connections and metadata.

    Build one in Python (each call validates what it adds)::

        m = Manifest(name="demo").add("gain", "Gain", gain_db=-6).connect("gain", "meter")

    or load one with ``Manifest.load(path_or_json_or_dict)``. ``validate()`` raises a
    ``ManifestError`` listing every problem; ``problems()`` returns them instead.
    """

    def __init__(self, name: str = "", *, description: str | None = None):
        self.version = "v1"
        self.metadata: dict[str, Any] = {"name": name}
        if description is not None:
            self.metadata["description"] = description
        self.nodes: list[NodeSpec] = []
        self.connections: list[Connection] = []
        self.extra: dict[str, Any] = {}

    # -- loading and dumping ------------------------------------------------------

    @classmethod
    def load(cls, source: str | os.PathLike[str] | Mapping[str, Any]) -> Manifest:
        """Load and validate a manifest from JSON text, a file path or a dict.

        Raises ``ManifestError`` with every problem found (structure and semantics).
        """
        doc = _read(source)
        m, problems = _parse(doc)
        if not problems:
            problems = m.problems()
        else:  # report semantic problems of what did parse, too
            problems += [p for p in m.problems() if p not in problems]
        if problems:
            raise ManifestError(problems)
        return m

    def to_dict(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict (unknown keys included)."""
        d: dict[str, Any] = {
            "version": self.version,
            "metadata": self.metadata,
            "nodes": [n.to_dict() for n in self.nodes],
            "connections": [c.to_dict() for c in self.connections],
        }
        d.update(self.extra)
        return copy.deepcopy(d)

    def dumps(self, indent: int | None = 2) -> str:
        """The manifest as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the manifest as JSON to ``path``."""
        Path(path).write_text(self.dumps() + "\n", encoding="utf-8")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        name = self.metadata.get("name") or "unnamed"
        edges = ", ".join(f"{c.source}->{c.target}" for c in self.connections)
        return f"<Manifest {name!r}: {len(self.nodes)} nodes [{edges}]>"

    # -- building -----------------------------------------------------------------

    def add(self, node_id: str, node_type: str | type[Node], /, **params: Any) -> Manifest:
        """Add a node (type by name or class) with its params; returns ``self``.

        Raises ``ManifestError`` if the id is taken, the type is unknown or a param
        is invalid, so a mistake shows where it was made.
        """
        if isinstance(node_type, type) and issubclass(node_type, Node):
            node_type = node_type.node_type
        i = len(self.nodes)
        params = {k: plain(v) for k, v in params.items()}
        problems = _node_problems(i, node_id, node_type, params, self._ids())
        if problems:
            raise ManifestError(problems)
        self.nodes.append(NodeSpec(node_id, node_type, dict(params)))
        return self

    def connect(self, source: str, target: str) -> Manifest:
        """Connect ``source``'s output to ``target``'s input; returns ``self``."""
        ids = self._ids()
        path = f"connections[{len(self.connections)}]"
        problems = [
            (f"{path}.{key}", f"no node with id {nid!r}{_known(ids)}")
            for key, nid in (("from", source), ("to", target))
            if nid not in ids
        ]
        if any((c.source, c.target) == (source, target) for c in self.connections):
            problems.append((path, f"{source!r} is already connected to {target!r}"))
        if not problems and reaches(self._successors(), target, source):
            problems.append((path, f"connecting {source!r} -> {target!r} would make a cycle"))
        if problems:
            raise ManifestError(problems)
        self.connections.append(Connection(source, target))
        return self

    def colocate(self, process: str, *node_ids: str) -> Manifest:
        """Run ``node_ids`` in one worker process named ``process``; returns ``self``.

        On the shm executor a frame between co-located nodes is a function call: no
        shared-memory channel, no copy, no process wake-up, for cheap DSP chains that
        need no isolation from each other. Crashes, restarts, errors and stats stay per
        node (a crash restarts the whole process). It sets each node's
        ``"execution": {"process": process}``; other executors run every node in one
        process anyway and ignore it.
        """
        ids = self._ids()
        problems = [(f"colocate({process!r})", f"no node with id {nid!r}{_known(ids)}")
                    for nid in node_ids if nid not in ids]  # fmt: skip
        if not node_ids:
            problems.append((f"colocate({process!r})", "name the nodes to run in it"))
        for nid in node_ids:
            if nid in ids:
                ex = self.node(nid).extra.get("execution")
                where = ex.get("placement", "local") if isinstance(ex, dict) else "local"
                problems += _process_problems(f"colocate({process!r})", process, where)
        if problems:
            raise ManifestError(list(dict.fromkeys(problems)))
        for nid in node_ids:
            ex = self.node(nid).extra.setdefault("execution", {})
            ex["process"] = process
        return self

    def disconnect(self, source: str, target: str) -> Manifest:
        """Remove the connection ``source -> target``; returns ``self``."""
        before = len(self.connections)
        self.connections = [c for c in self.connections if (c.source, c.target) != (source, target)]
        if len(self.connections) == before:
            raise ManifestError([("connections", f"no connection {source!r} -> {target!r}")])
        return self

    def remove(self, node_id: str) -> Manifest:
        """Remove a node and every connection touching it; returns ``self``."""
        self.node(node_id)
        self.nodes = [n for n in self.nodes if n.id != node_id]
        self.connections = [c for c in self.connections if node_id not in (c.source, c.target)]
        return self

    def node(self, node_id: str) -> NodeSpec:
        """The node with this id (``ManifestError`` if there is none)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise ManifestError([("nodes", f"no node with id {node_id!r}{_known(self._ids())}")])

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def to_code(self) -> str:
        """Python source that rebuilds this manifest with the builder API."""
        name = self.metadata.get("name", "")
        meta = {k: v for k, v in self.metadata.items() if k != "name"}
        head = f"Manifest(name={name!r}"
        if set(meta) == {"description"} and isinstance(meta["description"], str):
            head += f", description={meta.pop('description')!r}"
        lines = ["from rmlab import Manifest", "", "manifest = (", f"    {head})"]
        for n in self.nodes:
            lines.append(f"    .add({n.id!r}, {n.node_type!r}{_kwargs(n.params)})")
        for c in self.connections:
            lines.append(f"    .connect({c.source!r}, {c.target!r})")
        lines.append(")")
        if meta:
            lines.append(f"manifest.metadata.update({meta!r})")
        for n in self.nodes:
            for attr in ("restart", "position"):
                if getattr(n, attr) is not None:
                    lines.append(f"manifest.node({n.id!r}).{attr} = {getattr(n, attr)!r}")
            if n.extra:
                lines.append(f"manifest.node({n.id!r}).extra.update({n.extra!r})")
        for i, c in enumerate(self.connections):
            if c.extra:
                lines.append(f"manifest.connections[{i}].extra.update({c.extra!r})")
        if self.extra:
            lines.append(f"manifest.extra.update({self.extra!r})")
        return "\n".join(lines) + "\n"

    # -- validation -----------------------------------------------------------------

    def problems(self) -> list[tuple[str, str]]:
        """Every problem with this manifest as ``(json_path, message)``; empty when valid."""
        problems: list[tuple[str, str]] = []
        if self.version not in _VERSIONS:
            problems.append(("version", f'must be "v1", got {self.version!r}'))
        if not isinstance(self.metadata, dict):
            problems.append(("metadata", "must be an object"))
        elif not isinstance(self.metadata.get("name", ""), str):
            problems.append(("metadata.name", "must be a string"))
        seen: set[str] = set()
        for i, n in enumerate(self.nodes):
            problems += _node_problems(i, n.id, n.node_type, n.params, seen)
            problems += _option_problems(i, n)
            seen.add(n.id)
        problems += self._connection_problems(seen)
        return problems

    def validate(self) -> Manifest:
        """Raise ``ManifestError`` listing every problem; returns ``self`` when valid."""
        problems = self.problems()
        if problems:
            raise ManifestError(problems)
        return self

    def _connection_problems(self, ids: set[str]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        pairs: set[tuple[str, str]] = set()
        for i, c in enumerate(self.connections):
            for key, nid in (("from", c.source), ("to", c.target)):
                if nid not in ids:
                    problems.append((f"connections[{i}].{key}", f"no node with id {nid!r}"))
            if (c.source, c.target) in pairs:
                problems.append((f"connections[{i}]", f"duplicate of {c.source!r} -> {c.target!r}"))
            pairs.add((c.source, c.target))
        cycle = find_cycle(self._successors())
        if cycle:
            problems.append(("connections", "cycle " + " -> ".join(cycle)))
        elif not problems:
            problems += self._type_problems()
        return problems

    def _type_problems(self) -> list[tuple[str, str]]:
        """Check each edge carries a variant its target accepts (``produces``/``accepts``)."""
        classes = {n.id: _class_or_none(n.node_type) for n in self.nodes}
        preds: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for c in self.connections:
            preds[c.target].append(c.source)
        out: dict[str, frozenset[type[RuntimeData]]] = {}
        for nid in topo_order(self._successors()):
            cls = classes.get(nid)
            incoming = (
                frozenset().union(*(out[p] for p in preds[nid])) if preds[nid] else ALL_VARIANTS
            )
            if cls is None:
                out[nid] = ALL_VARIANTS
                continue
            passed = incoming & cls.accepts
            out[nid] = cls.produces if cls.produces is not None else passed
        problems = []
        for i, c in enumerate(self.connections):
            cls = classes.get(c.target)
            if cls is not None and out[c.source] and not out[c.source] & cls.accepts:
                sent = ", ".join(sorted(t.__name__ for t in out[c.source]))
                took = ", ".join(sorted(t.__name__ for t in cls.accepts))
                problems.append(
                    (f"connections[{i}]", f"{c.source!r} emits {sent}; {c.target!r} accepts {took}")
                )
        return problems

    def _ids(self) -> set[str]:
        return {n.id for n in self.nodes}

    def _successors(self) -> dict[str, list[str]]:
        succ: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for c in self.connections:
            if c.source in succ and c.target in succ:
                succ[c.source].append(c.target)
        return succ

    # -- schema -------------------------------------------------------------------

    @staticmethod
    def schema() -> dict[str, Any]:
        """The JSON Schema of a manifest, with each built-in node's params schema.

        A copy is committed as ``rmlab/manifest.schema.json`` (a test keeps it
        current; regenerate with ``rmlab schema > rmlab/manifest.schema.json``).
        """
        builtin = {
            k: c for k, c in available_nodes().items() if c.__module__.startswith("rmlab.nodes.")
        }
        node_rules = [
            {
                "if": {"properties": {"node_type": {"const": name}}},
                "then": {"properties": {"params": cls.schema()}},
            }
            for name, cls in builtin.items()
        ]
        restart = {
            "type": "object",
            "properties": {
                "policy": {"enum": list(_RESTART_POLICIES)},
                "max_restarts": {"type": "integer", "minimum": 0},
            },
            "additionalProperties": False,
        }
        position = {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x", "y"],
        }
        count = {"type": "integer", "minimum": 1, "maximum": 1024}
        execution = {
            "type": "object",
            "properties": {
                "placement": {"enum": list(PLACEMENTS)},
                "reason": {"type": "string"},
                "fallback": {"type": "string"},
                "max_in_flight": count,
                "replicas": count,
                "process": {"type": "string", "pattern": _PROCESS_NAME.pattern},
            },
        }
        positive = {"type": "number", "exclusiveMinimum": 0}
        capabilities = {
            "type": "object",
            "properties": {
                "gpu": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": list(GPU_TYPES)},
                        "min_memory_gb": {"type": "number", "minimum": 0},
                        "required": {"type": "boolean"},
                        "count": positive,
                    },
                },
                "cpu": {
                    "type": "object",
                    "properties": {
                        "cores": {"type": "integer", "minimum": 1},
                        "arch": {"type": "string"},
                    },
                },
                "memory_gb": positive,
                "resources": {"type": "object", "additionalProperties": positive},
            },
        }
        node = {
            "type": "object",
            "required": ["id", "node_type"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "node_type": {"type": "string", "minLength": 1},
                "params": {"type": "object"},
                "restart": restart,
                "position": position,
                "execution": execution,
                "capabilities": capabilities,
                "host": {"type": "string", "minLength": 1},
            },
            "allOf": node_rules,
        }
        connection = {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        }
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://rmlab.dev/manifest.schema.json",
            "title": "rmlab / RemoteMedia pipeline manifest",
            "type": "object",
            "required": ["version", "nodes"],
            "properties": {
                "version": {"enum": list(_VERSIONS)},
                "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
                "nodes": {"type": "array", "items": node},
                "connections": {"type": "array", "items": connection},
            },
        }


# -- helpers ----------------------------------------------------------------------------


def _read(source: Any) -> Any:
    if isinstance(source, Manifest):
        return source.to_dict()
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "["))
    ):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"cannot read manifest file {str(path)!r}: {exc.strerror}") from exc
    elif isinstance(source, str):
        text = source
    else:
        raise ManifestError(
            f"cannot load a manifest from {type(source).__name__}; "
            "pass JSON text, a file path or a dict"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def _parse(doc: Any) -> tuple[Manifest, list[tuple[str, str]]]:
    """Build a Manifest from a JSON document, collecting structural problems."""
    m = Manifest()
    problems: list[tuple[str, str]] = []
    if not isinstance(doc, dict):
        return m, [("", f"a manifest is a JSON object, got {type(doc).__name__}")]
    doc = dict(doc)
    if "version" not in doc:
        problems.append(("version", 'required: add "version": "v1"'))
    version = doc.pop("version", "v1")
    m.version = "v1" if version == "1.0" else version
    m.metadata = doc.pop("metadata", {})
    nodes = doc.pop("nodes", None)
    conns = doc.pop("connections", [])
    m.extra = doc
    if not isinstance(nodes, list):
        problems.append(("nodes", "required: a list of nodes (may be empty)"))
        nodes = []
    for i, raw in enumerate(nodes):
        spec = _parse_node(raw, f"nodes[{i}]", problems)
        if spec is not None:
            m.nodes.append(spec)
    if not isinstance(conns, list):
        problems.append(("connections", "must be a list of {from, to} objects"))
        conns = []
    for i, raw in enumerate(conns):
        path = f"connections[{i}]"
        if not isinstance(raw, dict):
            problems.append((path, 'must be an object {"from": ..., "to": ...}'))
            continue
        raw = dict(raw)
        ends = [raw.pop(key, None) for key in ("from", "to")]
        bad = [
            (f"{path}.{key}", "required: a node id (string)")
            for key, end in zip(("from", "to"), ends, strict=True)
            if not isinstance(end, str)
        ]
        problems += bad
        if not bad:
            m.connections.append(Connection(ends[0], ends[1], raw))
    return m, problems


def _parse_node(raw: Any, path: str, problems: list[tuple[str, str]]) -> NodeSpec | None:
    if not isinstance(raw, dict):
        problems.append((path, 'must be an object {"id", "node_type", "params"}'))
        return None
    raw = dict(raw)
    nid, ntype = raw.pop("id", None), raw.pop("node_type", None)
    params = raw.pop("params", {})
    ok = True
    if not isinstance(nid, str):
        problems.append((f"{path}.id", "required: a string"))
        ok = False
    if not isinstance(ntype, str):
        problems.append((f"{path}.node_type", "required: a string naming a node type"))
        ok = False
    if params is None:  # upstream writes "params": null for parameterless nodes
        params = {}
    if not isinstance(params, dict):
        problems.append((f"{path}.params", "must be an object"))
        ok = False
    if not ok:
        return None
    return NodeSpec(nid, ntype, params, raw.pop("restart", None), raw.pop("position", None), raw)


def _node_problems(
    i: int, nid: Any, node_type: str, params: Mapping[str, Any], seen: set[str]
) -> list[tuple[str, str]]:
    path = f"nodes[{i}]"
    problems: list[tuple[str, str]] = []
    if not isinstance(nid, str) or not nid.strip():
        problems.append((f"{path}.id", "must be a non-empty string"))
    elif nid in seen:
        problems.append((f"{path}.id", f"duplicate id {nid!r}; ids must be unique"))
    try:
        cls = lookup(node_type, f"{path}.node_type")
    except ManifestError as exc:
        return problems + exc.problems
    return problems + cls.param_problems(params, f"{path}.params")


def _option_problems(i: int, n: NodeSpec) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if n.restart is not None:
        path = f"nodes[{i}].restart"
        r = n.restart
        if not isinstance(r, dict):
            return [(path, 'must be {"policy": "never"|"on-failure", "max_restarts": N}')]
        for key in set(r) - {"policy", "max_restarts"}:
            problems.append((f"{path}.{key}", "unknown key (use policy, max_restarts)"))
        if r.get("policy", "never") not in _RESTART_POLICIES:
            problems.append(
                (f"{path}.policy", f'must be "never" or "on-failure", got {r["policy"]!r}')
            )
        mr = r.get("max_restarts", 3)
        if isinstance(mr, bool) or not isinstance(mr, int) or mr < 0:
            problems.append((f"{path}.max_restarts", f"must be an integer >= 0, got {mr!r}"))
    if n.position is not None:
        path = f"nodes[{i}].position"
        pos = n.position
        if not isinstance(pos, dict):
            return [*problems, (path, 'must be {"x": number, "y": number}')]
        for key in ("x", "y"):
            v = pos.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                problems.append((f"{path}.{key}", f"must be a number, got {v!r}"))
    return problems + _placement_problems(f"nodes[{i}]", n)


def _placement_problems(path: str, n: NodeSpec) -> list[tuple[str, str]]:
    """The upstream keys that place a node on Ray: execution, capabilities, host.

    Upstream ignores keys it does not know inside these objects, and real manifests
    carry some (``"capabilities": {"audio": ...}``), so unknown keys are kept; a key
    that is one letter away from a known one is reported, since it would silently do
    nothing. Whether Ray is installed and reachable is checked when a session starts.
    """
    problems: list[tuple[str, str]] = []
    ex = n.extra.get("execution")
    if ex is not None:
        p = f"{path}.execution"
        if not isinstance(ex, dict):
            return [(p, 'must be an object, e.g. {"placement": "remote"}')]
        problems += _typos(p, ex, _EXECUTION_KEYS)
        where = ex.get("placement", "local")
        if where not in PLACEMENTS:
            opts = ", ".join(f'"{x}"' for x in PLACEMENTS)
            problems.append((f"{p}.placement", f"must be one of {opts}; got {where!r}"))
        for key in ("reason", "fallback"):
            if key in ex and not isinstance(ex[key], str):
                problems.append((f"{p}.{key}", f"must be a string, got {ex[key]!r}"))
        if "process" in ex:
            problems += _process_problems(f"{p}.process", ex["process"], where)
        for key in ("max_in_flight", "replicas"):
            v = ex.get(key, 1)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024:
                problems.append((f"{p}.{key}", f"must be an integer from 1 to 1024, got {v!r}"))
        reps = ex.get("replicas", 1)
        cls = _class_or_none(n.node_type)
        if isinstance(reps, int) and reps > 1 and cls is not None and not cls.stateless:
            msg = (
                f"{n.node_type} may keep state between frames, so its frames cannot be spread "
                "over replicas; if its output depends only on each frame and its params, "
                "declare `stateless = True` in its class"
            )
            problems.append((f"{p}.replicas", msg))
    caps = n.extra.get("capabilities")
    if caps is not None:
        problems += _capability_problems(f"{path}.capabilities", caps)
    host = n.extra.get("host")
    if host is not None and (not isinstance(host, str) or not host.strip()):
        msg = f"must be a cluster node's id, IP address or host name, got {host!r}"
        problems.append((f"{path}.host", msg))
    return problems


def _process_problems(p: str, name: Any, where: Any) -> list[tuple[str, str]]:
    """rmlab's ``execution.process``: nodes naming the same process share one worker."""
    if not isinstance(name, str) or not _PROCESS_NAME.fullmatch(name):
        return [(p, "must be a name of 1-64 letters, digits, '-' or '_' (nodes that give the "
                    f"same name share one worker process), got {name!r}")]  # fmt: skip
    if where == "remote":
        return [(p, 'a node placed on Ray runs on its actors, not in a shared worker process; '
                    'remove "process" or the "remote" placement')]  # fmt: skip
    return []


def _capability_problems(p: str, caps: Any) -> list[tuple[str, str]]:
    if not isinstance(caps, dict):
        return [(p, 'must be an object, e.g. {"cpu": {"cores": 2}, "memory_gb": 4}')]
    problems = _typos(p, caps, _CAPABILITY_KEYS)
    gpu = caps.get("gpu")
    if gpu is not None:
        if not isinstance(gpu, dict):
            problems.append((f"{p}.gpu", 'must be an object, e.g. {"type": "cuda"}'))
        else:
            problems += _typos(f"{p}.gpu", gpu, ("type", "min_memory_gb", "required", "count"))
            if "type" in gpu and gpu["type"] not in GPU_TYPES:
                kinds = ", ".join(f'"{t}"' for t in GPU_TYPES)
                problems.append((f"{p}.gpu.type", f"must be one of {kinds}; got {gpu['type']!r}"))
            if "required" in gpu and not isinstance(gpu["required"], bool):
                problems.append(
                    (f"{p}.gpu.required", f"must be true or false, got {gpu['required']!r}")
                )
            problems += _number(f"{p}.gpu.min_memory_gb", gpu, "min_memory_gb", zero=True)
            problems += _number(f"{p}.gpu.count", gpu, "count")
    cpu = caps.get("cpu")
    if cpu is not None:
        if not isinstance(cpu, dict):
            problems.append((f"{p}.cpu", 'must be an object, e.g. {"cores": 2}'))
        else:
            problems += _typos(f"{p}.cpu", cpu, ("cores", "arch"))
            cores = cpu.get("cores", 1)
            if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
                problems.append((f"{p}.cpu.cores", f"must be an integer >= 1, got {cores!r}"))
            if "arch" in cpu and not isinstance(cpu["arch"], str):
                problems.append((f"{p}.cpu.arch", f"must be a string, got {cpu['arch']!r}"))
    problems += _number(f"{p}.memory_gb", caps, "memory_gb")
    res = caps.get("resources")
    if res is not None:
        if not isinstance(res, dict):
            problems.append((f"{p}.resources", 'must be an object of amounts, e.g. {"accel": 1}'))
            return problems
        for name in res:
            q = f"{p}.resources.{name}"
            if name in RESERVED_RESOURCES:
                use = {"CPU": "cpu.cores", "GPU": "gpu.count", "memory": "memory_gb"}
                alt = use.get(name, "the object store's own settings")
                problems.append((q, f"{name!r} is one of Ray's own resources: use {alt}"))
            elif not name or name.startswith("node:"):
                problems.append((q, "must be a custom resource name (pin a node with host)"))
            else:
                problems += _number(q, res, name)
    return problems


def _number(path: str, obj: dict[str, Any], key: str, zero: bool = False) -> list[tuple[str, str]]:
    if key not in obj:
        return []
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return [(path, f"must be a number, got {v!r}")]
    if v < 0 or (v == 0 and not zero):
        return [(path, f"must be {'>= 0' if zero else '> 0'}, got {v!r}")]
    return []


def _typos(path: str, obj: dict[str, Any], known: tuple[str, ...]) -> list[tuple[str, str]]:
    """Unknown keys that look like a misspelt known one (other unknown keys are kept)."""
    problems = []
    for key in obj:
        if key in known or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        if close:
            problems.append((f"{path}.{key}", f"unknown key; did you mean {close[0]!r}?"))
    return problems


def _class_or_none(node_type: str) -> type[Node] | None:
    try:
        return lookup(node_type)
    except ManifestError:
        return None


def _known(ids: set[str]) -> str:
    return f" (nodes: {', '.join(sorted(ids))})" if ids else " (the manifest has no nodes)"


def _kwargs(params: Mapping[str, Any]) -> str:
    simple = {k: v for k, v in params.items() if k.isidentifier() and not keyword.iskeyword(k)}
    other = {k: v for k, v in params.items() if k not in simple}
    parts = [f"{k}={v!r}" for k, v in simple.items()]
    if other:
        parts.append(f"**{other!r}")
    return "".join(", " + p for p in parts)
