"""The shm executor's wiring plan, checked as data: no process, no shared memory."""

from __future__ import annotations

import pytest

from rmlab import Manifest
from rmlab.runtime.graph import Graph
from rmlab.runtime.shm.plan import Plan

pytestmark = pytest.mark.unit


def plan_of(m: Manifest, queue_size: int = 64) -> Plan:
    return Plan.of(Graph.compile(m), "sid", queue_size)


def test_a_chain() -> None:
    m = Manifest().add("a", "PassThrough").add("b", "Gain").connect("a", "b")
    p = plan_of(m, queue_size=7)
    assert p.order == ("a", "b") and p.n == 2
    assert p.services == ("rmlab/sid/out/0", "rmlab/sid/out/1", "rmlab/sid/in")
    assert p.buffer == 7  # queue_size means the same on every executor
    assert p.sources == (0,) and p.sinks == (1,)
    a, b = p.workers
    assert (a.inputs, a.input_names, a.successors) == ((2,), (None,), (1,))
    assert (b.inputs, b.input_names, b.successors) == ((0,), ("a",), ())
    # a producer waits for credit on its own doorbell, the session on CREDIT
    assert a.input_credit_bells == (p.CREDIT,) and b.input_credit_bells == (0,)
    assert (a.doorbell, b.doorbell, a.successor_bells) == (0, 1, (1,))
    assert p.bells == 4 and p.SESSION == 2 and p.board_path == "/dev/shm/rmlab-board-sid"


def test_fan_out_and_fan_in_size_the_subscribers() -> None:
    m = Manifest().add("src", "PassThrough")
    for t in "xyz":
        m.add(t, "PassThrough").connect("src", t)
    m.add("mix", "Mix", inputs=3)
    for t in "xyz":
        m.connect(t, "mix")
    p = plan_of(m)
    src = p.workers[p.index("src")]
    mix = p.workers[p.index("mix")]
    assert len(src.successors) == 3
    assert p.max_subscribers == 4  # three successors and the session (a tap)
    assert mix.input_names == ("x", "y", "z") and len(mix.input_credit_bells) == 3


def test_several_sources_all_subscribe_to_the_input() -> None:
    m = Manifest().add("a", "PassThrough").add("b", "PassThrough").add("c", "PassThrough")
    p = plan_of(m)
    assert p.sources == (0, 1, 2) == p.sinks
    assert p.max_subscribers == 3
    assert all(w.inputs == (3,) for w in p.workers)


def test_restart_policy_travels_with_the_worker() -> None:
    m = Manifest.load({"version": "v1", "nodes": [{"id": "a", "node_type": "PassThrough",
                        "restart": {"policy": "on-failure", "max_restarts": 2}}]})  # fmt: skip
    (w,) = plan_of(m).workers
    assert w.restart == {"policy": "on-failure", "max_restarts": 2}


def test_shared_memory_estimate_grows_with_queue_size() -> None:
    m = Manifest().add("a", "PassThrough")
    assert plan_of(m, 128).shm_estimate() > plan_of(m, 8).shm_estimate() > 0
