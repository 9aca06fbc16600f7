"""Nodes on a real two-node Ray cluster, from the manifest and the Session API.

Runs inside the private network namespace (``tests/ray/test_namespace.py``), on the
cluster of ``tests/ray/cluster.py``: a head, and a second node offering the custom
resource ``accel``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from rmlab import (
    Audio,
    Binary,
    Control,
    ExecutorError,
    File,
    Json,
    Manifest,
    NodeCrashed,
    Numpy,
    SessionClosed,
    SessionError,
    Text,
    Video,
    open_session,
    wire,
)
from rmlab.runtime.ray import remote_nodes
from rmlab.runtime.ray.hosts import HOSTS
from tests.ray.cluster import WARM_S, rmlab_actors

from .. import nodes  # noqa: F401  # registers the test nodes

pytestmark = pytest.mark.ray


@pytest.fixture
def cold():
    """No warm actors: a closed session must leave nothing behind, on its own."""
    HOSTS.keep_warm(0)
    try:
        yield
    finally:
        HOSTS.keep_warm(WARM_S)


def on_ray(m: Manifest, nid: str, **keys: object) -> Manifest:
    spec = m.node(nid)
    spec.extra.setdefault("execution", {})["placement"] = "remote"
    for k, v in keys.items():
        if k == "execution":
            spec.extra["execution"].update(v)
        else:
            spec.extra[k] = v
    return m


def alive_names() -> set[str]:
    return rmlab_actors()


# -- placement ---------------------------------------------------------------------------


def test_a_node_asking_for_a_resource_runs_on_the_node_that_offers_it(ray_cluster) -> None:
    _, head, accel = ray_cluster
    m = Manifest().add("light", "CWhere").add("heavy", "CWhere").add("free", "CWhere")
    m.connect("light", "heavy").connect("heavy", "free")
    on_ray(m, "heavy", capabilities={"resources": {"accel": 1}})
    on_ray(m, "light", host=head)  # pinned to the head by its Ray node id
    with open_session(m, "ray", backpressure="block") as s:
        s.tap("light").tap("heavy")
        s.push(Json(1))
        s.end()
        ran = {o.node_id: o.data.value["node"] for o in s}
        where = {nid: [h.node_id for h in rn.hosts] for nid, rn in remote_nodes(s).items()}
    assert where["heavy"] == [accel] and ran["heavy"] == accel  # the actor says so too
    assert where["light"] == [head] and ran["light"] == head
    assert ran["free"] == where["free"][0]


def _frames(n: int, seed: int = 7) -> list:
    """Every variant, most of them small, one in 25 between 1 and 8 MB."""
    rng = np.random.default_rng(seed)
    dtypes = [np.float64, np.int16, np.uint8, np.complex64, np.bool_, np.float32]
    out = []
    for i in range(n):
        size = int(rng.integers(1 << 20, 8 << 20)) if i % 25 == 7 else int(rng.integers(1, 2048))
        kind = i % 8
        if kind == 0:
            ch = 1 + i % 2
            f = Audio(rng.standard_normal(max(ch, size // 4 // ch * ch)).astype(np.float32),
                      48000, ch, metadata={"i": i})  # fmt: skip
        elif kind == 1:
            dt = np.dtype(dtypes[i % len(dtypes)])
            cols = 1 + i % 7
            a = rng.integers(0, 100, (max(1, size // dt.itemsize // cols), cols)).astype(dt)
            f = Numpy(np.asfortranarray(a) if i % 3 == 0 else a)
        elif kind == 2:
            w = 1 + int(size**0.5) // 2
            f = Video(rng.integers(0, 255, w * w * 3, dtype=np.uint8), width=w, height=w,
                      frame_number=i)  # fmt: skip
        elif kind == 3:
            f = Text("é" * (size // 2 + 1), channel="chat")
        elif kind == 4:
            f = Json({"i": i, "x": [1.5, None, "s" * (size % 100)]})
        elif kind == 5:
            f = Binary(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        elif kind == 6:
            f = Control({"type": "flush", "i": i})
        else:
            f = File(f"/tmp/{i}.wav", filename=f"{i}.wav", size=size)
        out.append(f.replace(timestamp_us=1_000_000 + i, session_id="big"))
    return out


def test_a_thousand_mixed_frames_cross_shm_remote_shm_bit_identical_and_in_order(
    ray_cluster,
) -> None:
    m = Manifest().add("a", "PassThrough").add("r", "PassThrough").add("b", "PassThrough")
    m.connect("a", "r").connect("r", "b")
    on_ray(m, "r", capabilities={"resources": {"accel": 1}}, execution={"max_in_flight": 4})
    frames = _frames(1000)
    assert max(len(wire.encode(f)) for f in frames) > 7 << 20
    with open_session(m, "shm", backpressure="block", queue_size=8) as s:
        assert remote_nodes(s)["r"].hosts[0].node_id == ray_cluster[2]  # across cluster nodes
        problems: list[BaseException] = []

        def push() -> None:
            try:
                for f in frames:
                    s.push(f)
                s.end()
            except BaseException as exc:
                problems.append(exc)

        t = threading.Thread(target=push)
        t.start()
        got = 0
        for i, out in enumerate(s):
            assert out.node_id == "b"
            assert type(out.data) is type(frames[i]) and out.data == frames[i], f"frame {i}"
            assert wire.encode(out.data) == wire.encode(frames[i]), f"frame {i} differs"
            assert [h.node_id for h in out.trace.hops] == ["a", "r", "b"]
            got += 1
        t.join()
        st = s.stats()
    assert not problems and got == 1000
    assert st.nodes["r"].count == 1000 and st.errors == {} and st.drops == {}
    assert st.nodes["r"].median_ms >= 0 and st.end_to_end.count == 1000


# -- crashes and restarts -----------------------------------------------------------------


def _stream(s, stop: threading.Event) -> threading.Thread:
    def push() -> None:
        i = 0
        try:
            while not stop.is_set():
                s.push(Json(i))
                i += 1
                time.sleep(0.005)
        except (SessionClosed, SessionError):
            return

    t = threading.Thread(target=push, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("executor", ["shm", "ray", "local"])
def test_a_killed_actor_is_node_crashed_then_the_flow_resumes(executor: str) -> None:
    m = Manifest().add("src", "PassThrough").add("r", "CCount").add("out", "PassThrough")
    m.connect("src", "r").connect("r", "out")
    on_ray(m, "r")
    m.node("r").restart = {"policy": "on-failure", "max_restarts": 2}
    stop = threading.Event()
    with open_session(m, executor, backpressure="block") as s:
        pusher = _stream(s, stop)
        before = [s.pull(timeout=30).data.value for _ in range(20)]
        assert before == list(range(20))  # one actor keeps its state between frames
        host = remote_nodes(s)["r"].hosts[0]
        os.kill(host.pid, signal.SIGKILL)
        t_kill = time.monotonic()
        with pytest.raises(NodeCrashed) as err:
            while True:
                s.pull(timeout=5)
        took = time.monotonic() - t_kill
        after = [s.pull(timeout=60).data.value for _ in range(10)]  # a new actor, set up anew
        stop.set()
        st = s.stats()
    pusher.join(timeout=10)
    assert took < 2.0, f"NodeCrashed after {took:.2f} s"
    assert err.value.node_id == "r" and err.value.host == str(host)
    assert f"its Ray actor died on cluster node {host}" in str(err.value)
    assert after == list(range(after[0], after[0] + 10)) and after[0] < 5  # counts anew
    assert st.restarts["r"] == 1 and st.errors["r"] >= 1


def test_a_killed_actor_without_a_restart_policy_ends_the_session() -> None:
    m = on_ray(Manifest().add("src", "PassThrough").add("r", "CCount").connect("src", "r"), "r")
    stop = threading.Event()
    with open_session(m, "shm", backpressure="block") as s:
        pusher = _stream(s, stop)
        s.pull(timeout=30)
        os.kill(remote_nodes(s)["r"].hosts[0].pid, signal.SIGKILL)
        with pytest.raises(NodeCrashed):
            while True:
                s.pull(timeout=5)
        with pytest.raises(SessionClosed):  # the pipeline cannot finish: it ended
            while True:
                s.pull(timeout=5)
        with pytest.raises(SessionError):  # no more input: the session has ended
            s.push(Json(0))
        stop.set()
    pusher.join(timeout=10)


# -- what cannot be placed, and what close leaves --------------------------------------------


def test_a_placement_no_node_can_satisfy_fails_at_open_and_leaks_nothing(cold) -> None:
    from tests.shm.conftest import worker_children

    before = alive_names()
    m = Manifest().add("a", "PassThrough").add("heavy", "PassThrough").connect("a", "heavy")
    on_ray(m, "heavy", capabilities={"resources": {"accel": 2}, "cpu": {"cores": 1}})
    t0 = time.monotonic()
    with pytest.raises(ExecutorError) as err:
        open_session(m, "shm", start_timeout=10)
    assert time.monotonic() - t0 < 10
    text = str(err.value)
    assert "node 'heavy' (nodes[1].capabilities) asks Ray for CPU 1, accel 2" in text
    assert "offers enough 'accel' (accel: accel 1)" in text
    on_ray(m, "heavy", host="no-such-host")
    with pytest.raises(ExecutorError, match=r"pinned to host 'no-such-host', which is not a node"):
        open_session(m, "shm")
    assert alive_names() == before and not worker_children()


def test_a_placement_the_busy_cluster_cannot_start_in_time_leaks_nothing(cold) -> None:
    before = alive_names()
    m = Manifest().add("x", "PassThrough").add("y", "PassThrough").connect("x", "y")
    for nid in ("x", "y"):  # one accel in the cluster: the second actor waits for it
        on_ray(m, nid, capabilities={"resources": {"accel": 1}})
    waits = r"node '[xy]' \(nodes\[[01]\]\) did not start on Ray within 4 s"
    with pytest.raises(ExecutorError, match=waits):
        open_session(m, "ray", start_timeout=4)
    assert alive_names() == before


def test_close_leaves_no_actor_and_no_placement_group(cold, ray_cluster) -> None:
    import ray

    _, head, _ = ray_cluster
    before = alive_names()
    m = Manifest().add("a", "CWhere").add("b", "PassThrough").connect("a", "b")
    on_ray(m, "a", execution={"replicas": 2})
    on_ray(m, "b", host=head)
    for executor, actors in (("ray", 3), ("shm", 3)):  # local closes the same RemoteNodes
        with open_session(m, executor, backpressure="block") as s:
            s.push(Json(1))
            assert s.pull(timeout=30).data.value["v"] == 1
            mine = {r.host.name for rn in remote_nodes(s).values() for r in rn._replicas}
            assert len(mine) == actors and mine <= alive_names() - before
        assert alive_names() == before, executor
    groups = ray.util.placement_group_table()
    assert not [g for g in groups.values() if g["state"] != "REMOVED"]


# -- throughput: in flight and replicas ----------------------------------------------------


def test_a_remote_node_keeps_its_frames_in_flight_bounded_and_reports_its_own_time() -> None:
    import ray

    m = on_ray(Manifest().add("w", "CWhere", ms=30.0), "w", execution={"max_in_flight": 3})
    with open_session(m, "ray", backpressure="block", ray=ray) as s:  # the Ray of this process
        rn = remote_nodes(s)["w"]
        seen: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                seen.append(rn.in_flight)
                time.sleep(0.002)

        t = threading.Thread(target=sample)
        t.start()
        for i in range(30):
            s.push(Json(i))
        s.end()
        values = [o.data.value["v"] for o in s]
        done.set()
        t.join()
        st = s.stats()
    assert values == list(range(30))
    assert max(seen) == 3  # the window filled, and never beyond
    assert 25 <= st.nodes["w"].median_ms < 60  # the actor's 30 ms, not the round trip


def test_a_stateless_node_on_replicas_spreads_frames_and_keeps_input_order() -> None:
    m = Manifest().add("src", "PassThrough").add("w", "CWhere", ms=50.0).connect("src", "w")
    on_ray(m, "w", execution={"replicas": 3, "max_in_flight": 2})
    with open_session(m, "shm", backpressure="block") as s:
        t0 = time.monotonic()
        for i in range(60):
            s.push(Json(i))
        s.end()
        outs = [o.data.value for o in s]
        took = time.monotonic() - t0
        st = s.stats()
    assert [o["v"] for o in outs] == list(range(60))
    assert len({o["pid"] for o in outs}) == 3
    assert took < 0.8 * 60 * 0.05, f"{took:.2f} s: no faster than one replica"
    assert st.nodes["w"].count == 60


# -- a node written in a notebook cell -------------------------------------------------------

_NOTEBOOK = """
import sys
import numpy as np
from rmlab import Manifest, Node, Numpy, Param, open_session
from rmlab.runtime.ray import remote_nodes

class Scale(Node):  # defined in __main__, as in a notebook cell: travels by value
    factor: float = Param(1.0)

    def process(self, frame):
        return Numpy(frame.array * self.factor)

m = Manifest().add("scale", Scale, factor=3.0).add("out", "PassThrough").connect("scale", "out")
m.node("scale").extra["execution"] = {"placement": "remote"}
for ex in ("shm", "ray"):
    with open_session(m, ex, ray=sys.argv[1]) as s:
        s.push(np.arange(4.0))
        out = s.pull(timeout=60)
        print(ex, out.data.array.tolist(), remote_nodes(s)["scale"].hosts[0].pid != 0)
"""


def test_a_node_defined_in_main_runs_remotely(ray_cluster, tmp_path) -> None:
    cluster, _, _ = ray_cluster
    script = tmp_path / "cell.py"
    script.write_text(textwrap.dedent(_NOTEBOOK))
    done = subprocess.run(
        [sys.executable, str(script), cluster.address],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(("shm", "ray"))]
    assert lines == ["shm [0.0, 3.0, 6.0, 9.0] True", "ray [0.0, 3.0, 6.0, 9.0] True"]


def test_warm_hosts_never_keep_a_session_waiting_for_a_resource(ray_cluster) -> None:
    _, _, accel = ray_cluster
    first = on_ray(Manifest().add("a", "CWhere"), "a", capabilities={"resources": {"accel": 1}})
    with open_session(first, "ray") as s:
        s.push(Json(1))
        s.pull(timeout=60)
    assert HOSTS.parked >= 1  # the accel host is parked warm (this run keeps hosts warm)
    other = on_ray(Manifest().add("b", "CWhere"), "b", host=accel,
                   capabilities={"resources": {"accel": 1}})  # fmt: skip
    with open_session(other, "ray", start_timeout=30) as s:  # another shape: a new actor
        s.push(Json(2))
        assert s.pull(timeout=60).data.value["node"] == accel
