"""A real two-node Ray cluster on this machine, for the run inside the network namespace.

Loaded as a pytest plugin (``-p tests.ray.cluster``) by ``test_namespace.py``, it
starts ``ray.cluster_utils.Cluster`` once per test session: a head and a second node
offering the custom resource ``accel``. Both run inside the private network namespace
(loopback only) where the whole inner pytest runs, so Ray's traffic stays on
127.0.0.1 (see ../shared/notes/ray.md); this process connects to it with
``ray.init``, so sessions find it without ``ray=``.

It also registers ``shm+ray``, the conformance suite's mixed executor: the shm
executor with every other node (in topological order; the only node of a one-node
pipeline) placed on Ray, so the suite's pipelines run as local shm nodes around
remote ones.

Actors are kept warm between the suite's sessions (``keep_warm``): starting a Ray
actor starts a Python process (seconds here), and the suite opens hundreds of
sessions. Tests that check what ``close()`` leaves behind turn it off for themselves.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import time

import pytest

from rmlab.runtime.executor import register_executor
from rmlab.runtime.shm.executor import ShmExecutor

ACCEL = "accel"
WARM_S = 600.0
ATTEMPTS = 3


class MixedShm(ShmExecutor):
    """The shm executor with every other node (topological order) placed on Ray."""

    def __init__(self, graph, context):
        for i, nid in enumerate(graph.order):
            if i % 2 == 1 or len(graph.order) == 1:
                graph.manifest.node(nid).extra["execution"] = {"placement": "remote"}
        super().__init__(graph, context)


register_executor("shm+ray", MixedShm)


@pytest.fixture(scope="session", autouse=True)
def ray_cluster():
    """The cluster: ``(cluster, head_node_id, accel_node_id)``; torn down at the end."""
    import ray
    from ray.cluster_utils import Cluster

    from rmlab.runtime.ray.hosts import HOSTS

    os.environ.setdefault("RAY_SCHEDULER_EVENTS", "0")  # no autoscaler tips in test output
    t0 = time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        cluster = Cluster()
        try:
            # no dashboard: its start costs a loaded machine seconds, and the GCS itself
            # lists named actors and placement groups
            cluster.add_node(num_cpus=4, object_store_memory=300 * 2**20, include_dashboard=False)
            accel = cluster.add_node(
                num_cpus=1, resources={ACCEL: 1}, object_store_memory=300 * 2**20
            )
            cluster.wait_for_nodes()
            break
        except Exception as exc:
            # A node gives its Ray daemons 30 s to register (hard-coded in Ray); each of
            # them imports Ray, seconds of CPU on this VM, so a loaded machine can miss it
            print(f"\nRay cluster start {attempt} of {ATTEMPTS} failed: {exc}")
            cluster.shutdown()
            _kill_children()  # what the half-started node left running
            if attempt == ATTEMPTS:
                raise
    ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
    took = time.monotonic() - t0
    print(f"\nRay cluster of 2 nodes up in {took:.1f} s (attempt {attempt}), {cluster.address}")
    HOSTS.keep_warm(WARM_S)
    try:
        yield cluster, cluster.head_node.node_id, accel.node_id
    finally:
        HOSTS.keep_warm(0)
        ray.shutdown()
        cluster.shutdown()


def _kill_children() -> None:
    """SIGKILL every process descending from this one (read from /proc)."""
    parent: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError), open(stat) as f:
            parent[int(stat.split("/")[2])] = int(f.read().rsplit(")", 1)[1].split()[1])
    mine, grew = {os.getpid()}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in mine} - mine
        grew = bool(more)
        mine |= more
    for pid in mine - {os.getpid()}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)


def rmlab_actors() -> set[str]:
    """The names of rmlab's live actors on the cluster (every host is a named actor, so
    Ray's GCS lists them without the dashboard's state API)."""
    import ray

    return {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("rmlab-host-")
    }


def busy_hosts() -> list[str]:
    """Live rmlab actors beyond those parked warm: actors some session did not release."""
    from rmlab.runtime.ray.hosts import HOSTS

    return sorted(rmlab_actors() - HOSTS.parked_names())
