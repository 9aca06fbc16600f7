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

import os
import time

import pytest

from rmlab.runtime.executor import register_executor
from rmlab.runtime.shm.executor import ShmExecutor

ACCEL = "accel"
WARM_S = 600.0


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
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 4, "object_store_memory": 300 * 2**20},
    )
    accel = cluster.add_node(num_cpus=1, resources={ACCEL: 1}, object_store_memory=300 * 2**20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
    print(f"\nRay cluster of 2 nodes up in {time.monotonic() - t0:.1f} s at {cluster.address}")
    HOSTS.keep_warm(WARM_S)
    try:
        yield cluster, cluster.head_node.node_id, accel.node_id
    finally:
        HOSTS.keep_warm(0)
        ray.shutdown()
        cluster.shutdown()


def rmlab_actors(state: str = "ALIVE") -> list:
    """rmlab's actors on the cluster in ``state`` (Ray's state API)."""
    from ray.util.state import list_actors

    return [
        a
        for a in list_actors(filters=[("state", "=", state)], limit=10_000)
        if (a.name or "").startswith("rmlab-host-")
    ]


def busy_hosts() -> list[str]:
    """Alive rmlab actors beyond those parked warm: actors some session did not release."""
    from rmlab.runtime.ray.hosts import HOSTS

    alive = rmlab_actors()
    parked = HOSTS.parked_names()
    return sorted(a.name for a in alive if a.name not in parked)
