"""The contract points every executor must agree on, beyond DESIGN section 6.

Each of these once differed between executors: input arrays (writable on local,
writable copies on shm under load), what ``stats().nodes[id].count`` counts,
which predecessor a frame came from, state after ``set_params``, what
``queue_size`` means, and whether a session sees later edits of the caller's
manifest.
"""

from __future__ import annotations

import numpy as np
import pytest

from rmlab import Json, Manifest, Numpy, open_session

from . import nodes  # noqa: F401  # registers the C* test nodes

pytestmark = pytest.mark.unit


def drain(s) -> list:
    s.end()
    return list(s)


def test_input_arrays_are_read_only_under_any_load(executor: str) -> None:
    # the node holds every input, more than any zero-copy borrow limit allows
    m = Manifest().add("hold", "CWritable")
    with open_session(m, executor, backpressure="block") as s:
        for i in range(40):
            s.push(np.full(8, i, np.float32))
        flags = [o.data.value for o in drain(s)]
    assert flags == [False] * 40


def test_a_node_cannot_write_into_its_input_but_the_callers_array_is_untouched(
    executor: str,
) -> None:
    mine = np.arange(4.0)
    m = Manifest().add("w", "CTryWrite")
    with open_session(m, executor) as s:
        s.push(mine)
        got = s.pull(timeout=10).data.value
    assert got.startswith("refused") and "read-only" in got
    assert mine.flags.writeable and list(mine) == [0.0, 1.0, 2.0, 3.0]


def test_an_inplace_node_writes_into_a_private_copy(executor: str) -> None:
    mine = np.zeros(3)
    m = Manifest().add("ip", "CInPlace")
    with open_session(m, executor) as s:
        s.push(Numpy(mine))
        out = s.pull(timeout=10).data.array
    assert list(out) == [1.0, 1.0, 1.0] and list(mine) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_count_is_process_calls_whatever_a_node_emits(executor: str, n: int) -> None:
    m = (
        Manifest()
        .add("src", "PassThrough")
        .add("rep", "CRepeat", n=n)
        .add("x", "PassThrough")
        .add("y", "PassThrough")
        .connect("src", "rep")
        .connect("rep", "x")
        .connect("rep", "y")
    )
    with open_session(m, executor, backpressure="block") as s:
        for i in range(7):
            s.push(i)
        outs = drain(s)
        st = s.stats()
    assert len(outs) == 2 * 7 * n
    assert st.nodes["src"].count == 7  # fans out to nothing but rep: still 7 calls
    assert st.nodes["rep"].count == 7  # 0, 7 or 21 outputs: always 7 calls
    assert st.nodes["x"].count == st.nodes["y"].count == 7 * n


def test_fan_out_counts_each_call_once(executor: str) -> None:
    m = Manifest().add("src", "PassThrough")
    for t in "abc":
        m.add(t, "PassThrough").connect("src", t)
    with open_session(m, executor, backpressure="block") as s:
        for i in range(5):
            s.push(i)
        drain(s)
        st = s.stats()
    assert [st.nodes[k].count for k in ("src", "a", "b", "c")] == [5, 5, 5, 5]
    assert st.outputs == 15 and st.end_to_end.count == 15


def test_a_node_learns_which_predecessor_a_frame_came_from(executor: str) -> None:
    m = (
        Manifest()
        .add("left", "PassThrough")
        .add("right", "PassThrough")
        .add("who", "CSource")
        .add("first", "CSource")
        .connect("left", "who")
        .connect("right", "who")
    )
    with open_session(m, executor, backpressure="block") as s:
        s.push(1, to="left")
        s.push(2, to="right")
        s.push(3, to="first")
        got = [(o.node_id, o.data.value) for o in drain(s)]
    assert sorted(got, key=str) == sorted(
        [("who", "left"), ("who", "right"), ("first", None)], key=str
    )


def test_set_params_rebuilds_carried_state_through_reset(executor: str) -> None:
    m = Manifest().add("c", "CCounter", start=0)
    with open_session(m, executor, backpressure="block") as s:
        for _ in range(3):
            s.push(0)
        assert [s.pull(timeout=10).data.value for _ in range(3)] == [0, 1, 2]
        s.set_params("c", start=100)
        s.push(0)
        s.push(0)
        assert [s.pull(timeout=10).data.value for _ in range(2)] == [100, 101]


@pytest.mark.parametrize("queue_size", [None, 200])
def test_push_then_pull_loses_nothing_within_queue_size(executor: str, queue_size) -> None:
    # notebook 01's first run: push a burst, then pull it; the default queue holds it all
    n = 50 if queue_size is None else queue_size
    kw = {} if queue_size is None else {"queue_size": queue_size}
    m = Manifest().add("a", "PassThrough").add("b", "PassThrough").connect("a", "b")
    with open_session(m, executor, **kw) as s:  # drop-oldest, the live default
        for i in range(n):
            s.push(Json(i))
        got = [s.pull(timeout=10).data.value for _ in range(n)]
        st = s.stats()
    assert got == list(range(n))
    assert st.drops == {} and st.outputs == n


def test_a_session_runs_on_its_own_snapshot_of_the_manifest(executor: str) -> None:
    m = Manifest(name="mine").add("t", "CTag", tag="before")
    with open_session(m, executor, backpressure="block") as s:
        m.node("t").params["tag"] = "edited"  # later edits of the caller's manifest...
        m.add("extra", "PassThrough")
        s.push(1)
        assert s.pull(timeout=10).data.value == {"via": ["before"], "v": 1}  # ...never leak in
        s.set_params("t", tag="after")
        s.push(2)
        assert s.pull(timeout=10).data.value == {"via": ["after"], "v": 2}
        assert s.manifest.node("t").params == {"tag": "after"}
        assert [n.id for n in s.manifest.nodes] == ["t"]
    assert m.node("t").params == {"tag": "edited"}  # set_params left the caller's alone


@pytest.mark.parametrize("mode", ["out", "new"])
def test_a_node_computes_into_out(executor: str, mode: str) -> None:
    m = Manifest().add("src", "PassThrough").add("o", "COut", mode=mode).connect("src", "o")
    with open_session(m, executor, backpressure="block") as s:
        for i in range(12):
            s.push(np.full((4, 3), i, np.float32))
        got = [s.pull(timeout=10).data.array.copy() for _ in range(12)]
        s.push(Json(1))  # a variant without an array: out is None
        assert s.pull(timeout=10).data.value is None
    for i, a in enumerate(got):
        assert a.shape == (4, 3) and a.dtype == np.float32 and np.all(a == 2 * i)
    m = Manifest().add("o", "COut", mode="report")
    with open_session(m, executor) as s:
        s.push(Numpy(np.zeros((2, 5), np.int16)))
        desc = s.pull(timeout=10).data.value
    assert desc == {"writeable": True, "like_input": True, "type": "Numpy"}
