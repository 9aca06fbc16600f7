"""Placement from the manifest, and the errors before any node runs: no cluster started.

What a manifest's ``execution``/``capabilities``/``host`` become, what is refused
with its JSON path, and what a session says when Ray is not installed, not
configured or not reachable. Nothing here starts Ray, so these run outside the
network namespace; the cluster tests are in ``inside/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rmlab import ExecutorError, Manifest, ManifestError, open_session
from rmlab.runtime.graph import Graph
from rmlab.runtime.ray.placement import remote_placements

from . import nodes  # noqa: F401  # registers the test nodes

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]


def remote(m: Manifest, nid: str, **keys: object) -> Manifest:
    spec = m.node(nid)
    spec.extra.setdefault("execution", {})["placement"] = "remote"
    spec.extra.update(keys)
    return m


def test_manifest_keys_become_the_actor_s_resource_request() -> None:
    m = Manifest().add("a", "PassThrough").add("b", "Gain").add("c", "PassThrough")
    m.connect("a", "b").connect("b", "c")
    remote(m, "b", capabilities={"cpu": {"cores": 2}, "gpu": {"type": "cuda", "count": 0.5},
                                 "memory_gb": 1.5, "resources": {"accel": 1}, "audio": {}},
           host="10.0.0.7")  # fmt: skip
    m.node("b").extra["execution"].update(max_in_flight=4, replicas=2)
    m.validate()
    placed = remote_placements(Graph.compile(m), every_node=False)
    assert list(placed) == ["b"]  # the others run on the session's executor
    p = placed["b"]
    assert (p.path, p.host, p.max_in_flight, p.replicas) == ("nodes[1]", "10.0.0.7", 4, 2)
    assert p.request() == {"CPU": 2.0, "GPU": 0.5, "memory": 1.5 * 2**30, "accel": 1.0}
    # executor="ray" places every node; one that asks for nothing reserves nothing
    every = remote_placements(Graph.compile(m), every_node=True)
    assert list(every) == ["a", "b", "c"] and every["a"].request() == {}
    assert every["a"].max_in_flight == 2 and every["a"].replicas == 1


def test_an_optional_gpu_is_asked_for_only_where_the_cluster_has_one() -> None:
    m = remote(Manifest().add("a", "PassThrough"), "a",
               capabilities={"gpu": {"type": "cuda", "required": False}})  # fmt: skip
    p = remote_placements(Graph.compile(m), every_node=False)["a"]
    assert p.request(cluster_has_gpus=True) == {"GPU": 1.0}
    assert p.request(cluster_has_gpus=False) == {}


def test_prefer_remote_runs_locally_without_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    m = Manifest().add("a", "CTagR", tag="x")
    m.node("a").extra["execution"] = {"placement": "prefer_remote"}
    assert remote_placements(Graph.compile(m), every_node=False, configured=False) == {}
    assert list(remote_placements(Graph.compile(m), every_node=False, configured=True)) == ["a"]
    with open_session(m, "local") as s:  # no cluster configured: the node runs here
        s.push(1)
        assert s.pull(timeout=10).data.value == {"tag": "x", "v": 1}


def test_placement_keys_are_validated_with_their_json_paths() -> None:
    doc = {
        "version": "v1",
        "nodes": [
            {"id": "f", "node_type": "Filter", "params": {},
             "execution": {"placement": "cloud", "replicas": 2, "max_in_fligth": 3},
             "capabilities": {"cpu": {"cores": 0}, "resources": {"CPU": 2, "accel": -1}},
             "host": ""},
            {"id": "p", "node_type": "PassThrough", "params": {},
             "execution": {"placement": "remote", "replicas": 3, "max_in_flight": 0}},
        ],
    }  # fmt: skip
    with pytest.raises(ManifestError) as err:
        Manifest.load(doc)
    got = dict(err.value.problems)
    assert "did you mean 'max_in_flight'" in got["nodes[0].execution.max_in_fligth"]
    assert '"remote"' in got["nodes[0].execution.placement"]
    assert "stateless = True" in got["nodes[0].execution.replicas"]  # Filter keeps state
    assert ">= 1" in got["nodes[0].capabilities.cpu.cores"]
    assert "cpu.cores" in got["nodes[0].capabilities.resources.CPU"]
    assert "> 0" in got["nodes[0].capabilities.resources.accel"]
    assert "host name" in got["nodes[0].host"]
    assert "from 1 to 1024" in got["nodes[1].execution.max_in_flight"]
    assert "nodes[1].execution.replicas" not in got  # PassThrough is stateless


def test_a_remote_node_without_a_configured_cluster_says_how_to_name_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    m = remote(Manifest().add("a", "PassThrough").add("b", "PassThrough").connect("a", "b"), "b")
    for executor in ("local", "shm"):
        with pytest.raises(ExecutorError) as err:
            open_session(m, executor)
        text = str(err.value)
        assert "node 'b' (nodes[1].execution.placement) is 'remote'" in text
        assert "ray='local'" in text and "RAY_ADDRESS" in text


def test_an_address_nobody_answers_on_fails_fast() -> None:
    m = remote(Manifest().add("a", "PassThrough"), "a")
    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match=r"cannot connect to the Ray cluster at '127.0.0.1:1'"):
        open_session(m, "shm", ray="127.0.0.1:1")
    assert time.monotonic() - t0 < 15  # ray.init alone retries for minutes


def test_executors_take_only_the_ray_option() -> None:
    m = Manifest().add("a", "PassThrough")
    for executor in ("local", "shm", "ray"):
        with pytest.raises(ExecutorError, match=r"takes only the option ray=.*; got rayy"):
            open_session(m, executor, rayy="local")


# Runs in the child: Ray refused, as on a machine without the extra.
_NO_RAY = """
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "ray":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
import numpy as np
from rmlab import Audio, Manifest, open_session, execute

report = {}
m = Manifest().add("a", "Gain", gain_db=0.0).add("b", "PassThrough").connect("a", "b")
tone = Audio(np.full(480, 0.5, np.float32), 48000)
for ex in ("local", "shm"):
    report[ex] = len(execute(m, [tone] * 3, executor=ex))
m.node("b").extra["execution"] = {"placement": "remote"}
for ex in ("local", "shm", "ray"):
    try:
        open_session(m, ex, ray="local")
    except Exception as exc:
        report["remote-" + ex] = f"{type(exc).__name__}: {exc}"
report["ray imported"] = "ray" in sys.modules
print(json.dumps(report))
"""


def test_without_ray_everything_else_works_and_remote_says_how_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_RAY], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["local"] == report["shm"] == 3 and report["ray imported"] is False
    for ex in ("local", "shm", "ray"):
        text = report["remote-" + ex]
        assert text.startswith("ExecutorError") and "pip install 'rmlab[ray]'" in text, text
    assert "node 'b' (nodes[1].execution.placement) is 'remote'" in report["remote-shm"]
    assert "executor='ray' places every node on Ray" in report["remote-ray"]


def test_a_remote_clock_is_aligned_by_the_fastest_round_trip() -> None:
    from rmlab.runtime.ray.remote import clock_offset

    # the remote clock runs 5 s ahead; legs of 1+1 ms, 3+9 ms and 0.5+0.5 ms
    pings = [(100, 5_000_000_000 + 100 + 1_000_000, 100 + 2_000_000),
             (900, 5_000_000_000 + 900 + 3_000_000, 900 + 12_000_000),
             (700, 5_000_000_000 + 700 + 500_000, 700 + 1_000_000)]  # fmt: skip
    assert clock_offset(pings) == 5_000_000_000  # exact when the two legs are equal
    skewed = [(0, 5_000_000_000 + 900_000, 1_000_000)]  # legs of 0.9 + 0.1 ms
    assert abs(clock_offset(skewed) - 5_000_000_000) <= 500_000  # within half the trip
