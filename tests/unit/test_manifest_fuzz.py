"""Fuzz: any JSON document given to Manifest.load yields a Manifest or a ManifestError."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmlab import Manifest, ManifestError

pytestmark = pytest.mark.unit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

VALID = {
    "version": "v1",
    "metadata": {"name": "x"},
    "nodes": [
        {"id": "a", "node_type": "PassThrough", "params": {}},
        {"id": "b", "node_type": "PassThrough", "params": {}, "restart": {"policy": "never"}},
    ],
    "connections": [{"from": "a", "to": "b"}],
}
KEYS = ["version", "metadata", "nodes", "connections", "id", "node_type", "params", "from", "to",
        "restart", "position", "policy", "max_restarts", "x", "y", "name"]  # fmt: skip


def _load(doc: object) -> None:
    try:
        m = Manifest.load(json.dumps(doc))
    except ManifestError as exc:
        assert exc.problems and all(isinstance(p, str) for p, _ in exc.problems)
    else:  # anything accepted must survive its own round trip
        assert Manifest.load(m.dumps()) == m


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_documents(doc: object) -> None:
    _load(doc)


def _mutate(node: object, rng: random.Random, values: list) -> object:
    if isinstance(node, dict):
        node = dict(node)
        if node and rng.random() < 0.3:
            node[rng.choice(list(node))] = rng.choice(values)
        if rng.random() < 0.2:
            node[rng.choice(KEYS)] = rng.choice(values)
        if node and rng.random() < 0.15:
            del node[rng.choice(list(node))]
        return {k: _mutate(v, rng, values) for k, v in node.items()}
    if isinstance(node, list):
        node = [_mutate(v, rng, values) for v in node]
        if node and rng.random() < 0.2:
            node.append(rng.choice(node))
        return node
    return node


def test_mutated_valid_manifests() -> None:
    rng = random.Random(1234)
    values = [None, True, 0, -1, 2**70, 1.5, "", "a", "b", "PassThrough", "v1", "1.0", [], {},
              [{"from": "a", "to": "a"}], {"x": 1, "y": "2"}, {"policy": "on-failure"}]  # fmt: skip
    accepted = 0
    for _ in range(3000):
        doc = _mutate(VALID, rng, values)
        try:
            Manifest.load(json.dumps(doc))
            accepted += 1
        except ManifestError:
            pass
    assert 0 < accepted < 3000  # the fuzz reaches both outcomes
