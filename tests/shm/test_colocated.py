"""Co-located nodes: several nodes in one worker process, real workers."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

from rmlab import Audio, Manifest, ManifestError, NodeCrashed, NodeError, Timeout, open_session
from rmlab.runtime.graph import Graph
from rmlab.runtime.shm.plan import Plan
from tests.conformance import nodes as _conformance_nodes  # noqa: F401  # CFail

from . import nodes  # noqa: F401  # registers the S* test nodes

pytestmark = [pytest.mark.shm, pytest.mark.usefixtures("no_leaks")]


def chain(*types: str) -> Manifest:
    m = Manifest()
    for i, t in enumerate(types):
        m.add(f"n{i}", t)
        if i:
            m.connect(f"n{i - 1}", f"n{i}")
    return m


def test_co_located_nodes_share_a_process_and_compute_the_same() -> None:
    m = chain("Gain", "PassThrough", "Gain")
    m.node("n0").params["gain_db"] = -6.0
    m.node("n2").params["gain_db"] = 6.0
    m.colocate("dsp", "n0", "n1", "n2")
    x = Audio(np.linspace(-1, 1, 960, dtype=np.float32), 48000)
    with open_session(m, "shm", backpressure="block") as s:
        pids = s.pids
        assert len(set(pids.values())) == 1, pids  # one worker process for the three
        for _ in range(20):
            s.push(x)
        outs = [s.pull(timeout=10) for _ in range(20)]
        st = s.stats()
    with open_session(chain("Gain", "PassThrough", "Gain"), "local") as ref:
        ref.set_params("n0", gain_db=-6.0)
        ref.set_params("n2", gain_db=6.0)
        ref.push(x)
        want = ref.pull(timeout=10).data.samples
    for o in outs:
        np.testing.assert_allclose(o.data.samples, want, rtol=1e-6)
        assert [h.node_id for h in o.trace.hops] == ["n0", "n1", "n2"]
        assert not o.data.samples.flags.writeable  # outputs are read-only as everywhere
    assert [o.trace.seq for o in outs] == list(range(20))
    assert {nid: st.nodes[nid].count for nid in ("n0", "n1", "n2")} == dict.fromkeys(
        ("n0", "n1", "n2"), 20
    )


def test_a_chain_may_leave_its_process_and_come_back() -> None:
    # n0, n1 and n3 share a process; n2 runs alone between them
    m = chain("SAddPid", "SAddPid", "SAddPid", "SAddPid").colocate("g", "n0", "n1", "n3")
    with open_session(m, "shm", backpressure="block") as s:
        pids = s.pids
        for i in range(5):
            s.push(i)
        outs = [s.pull(timeout=10).data.value for _ in range(5)]
    assert pids["n0"] == pids["n1"] == pids["n3"] != pids["n2"]
    assert outs == [[pids["n0"], pids["n1"], pids["n2"], pids["n3"]]] * 5


def test_an_inner_co_located_node_can_be_tapped() -> None:
    m = chain("PassThrough", "Gain", "PassThrough").colocate("g", "n0", "n1", "n2")
    m.node("n1").params["gain_db"] = -6.0
    with open_session(m, "shm", backpressure="block") as s:
        s.tap("n0")
        s.push(Audio(np.ones(8, np.float32), 48000))
        got = {}
        while len(got) < 2:
            o = s.pull(timeout=10)
            got[o.node_id] = o.data.samples.copy()
    np.testing.assert_array_equal(got["n0"], np.ones(8, np.float32))
    np.testing.assert_allclose(got["n2"], np.full(8, 10 ** (-6 / 20), np.float32), rtol=1e-6)


def test_errors_and_params_stay_per_node() -> None:
    m = chain("CFail", "Gain").colocate("g", "n0", "n1")
    m.node("n0").params["bad"] = 2
    with open_session(m, "shm", backpressure="block") as s:
        s.push(Audio(np.ones(4, np.float32), 48000))
        np.testing.assert_allclose(s.pull(timeout=10).data.samples, np.ones(4))
        s.push(2)
        with pytest.raises(NodeError, match="refusing 2") as err:
            s.pull(timeout=10)
        assert err.value.node_id == "n0"
        s.set_params("n1", gain_db=-20.0)
        s.push(Audio(np.ones(4, np.float32), 48000))
        np.testing.assert_allclose(s.pull(timeout=10).data.samples, np.full(4, 0.1), rtol=1e-5)
        s.end()
        assert list(s) == []  # the end reached the session through both nodes
        assert s.stats().errors == {"n0": 1}


def test_a_crash_names_the_node_that_was_running_and_restarts_the_process() -> None:
    m = chain("PassThrough", "SCrashOn", "PassThrough").colocate("g", "n0", "n1", "n2")
    for nid in ("n0", "n1", "n2"):
        m.node(nid).restart = {"policy": "on-failure", "max_restarts": 1}
    m.node("n1").params["at"] = 3
    with open_session(m, "shm", backpressure="block") as s:
        s.push(1)
        assert s.pull(timeout=10).data.value == 1
        s.push(3)
        with pytest.raises(NodeCrashed) as err:
            s.pull(timeout=10)
        assert err.value.node_id == "n1" and err.value.exit_code == 7
        assert "about to die on 3" in err.value.stderr_tail
        deadline, got = time.monotonic() + 10, None
        while got is None and time.monotonic() < deadline:
            s.push(4)  # frames pushed while the process restarts may be lost; keep trying
            with contextlib.suppress(Timeout):
                got = s.pull(timeout=0.5).data.value
        assert got == 4
        assert s.stats().restarts == {"n0": 1, "n1": 1, "n2": 1}


def test_the_plan_wires_co_located_nodes_by_call() -> None:
    m = chain("PassThrough", "PassThrough", "PassThrough").colocate("g", "n0", "n1")
    p = Plan.of(Graph.compile(m), "sid", 4)
    assert p.processes == ((0, 1), (2,))
    a, b, c = p.workers
    assert (a.local_successors, a.external_successors, a.successor_bells) == ((1,), (), ())
    assert (b.inputs, b.doorbell, b.external_successors, b.successor_bells) == ((), 0, (2,), (2,))
    assert c.inputs == (1,) and c.input_credit_bells == (0,)  # n1 waits on its process's bell


def test_bad_co_location_is_refused_clearly() -> None:
    m = chain("PassThrough", "PassThrough")
    with pytest.raises(ManifestError, match="letters, digits"):
        m.colocate("no spaces", "n0")
    with pytest.raises(ManifestError, match="no node with id 'zz'"):
        m.colocate("g", "zz")
    m.node("n0").extra["execution"] = {"placement": "remote", "process": "g"}
    assert any("placed on Ray" in msg for _, msg in m.problems())
    m.node("n0").extra["execution"] = {"process": "g"}
    m.colocate("g", "n1")
    m.node("n1").restart = {"policy": "on-failure", "max_restarts": 2}
    with pytest.raises(ManifestError, match="different restart policies"):
        Plan.of(Graph.compile(m), "sid", 4)
