"""Where a node runs on Ray, read from its manifest keys; plain data, no Ray import.

The keys are the RemoteMedia manifest's own (rmlab keeps and round-trips them;
``rmlab.manifest`` validates them with their JSON paths)::

    "execution": {"placement": "remote", "max_in_flight": 4, "replicas": 2}
    "capabilities": {"gpu": {"type": "cuda"}, "cpu": {"cores": 2}, "memory_gb": 4,
                     "resources": {"accel": 1}}
    "host": "10.0.0.7"

``placement`` is upstream's: ``"remote"`` runs the node on Ray; ``"prefer_remote"``
does when a cluster is configured (``open_session(..., ray=...)``, ``RAY_ADDRESS``
or a Ray already initialised in this process) and runs it locally otherwise;
``"local"``, ``"prefer_local"`` and ``"auto"`` run it on the session's executor.
``executor="ray"`` places every node on Ray whatever it says.

``capabilities`` becomes the actor's resource request: ``cpu.cores`` CPUs,
``gpu.count`` GPUs (1 when only ``gpu`` is given; with ``"required": false`` the
GPU is requested only if the cluster has one), ``memory_gb`` memory, and
``resources`` custom Ray resources. A node that asks for nothing reserves nothing
(``num_cpus=0``): it is scheduled like a thread, not like a CPU-bound task, so a
pipeline of small remote nodes fits a small cluster. ``gpu.type``, ``gpu.min_memory_gb``
and ``cpu.arch`` are upstream's descriptions; Ray cannot schedule by them, so they
are validated and kept, not enforced (use a custom resource for that).

``host`` pins the node to one cluster node: its Ray node id, IP address or host name
(``"local"`` or ``"localhost"``: the cluster node of this machine).

rmlab's own execution keys: ``max_in_flight`` (frames sent to the actor and not yet
answered, per replica, default 2: the next frame travels while the actor computes)
and ``replicas`` (copies of a node whose class says ``stateless = True``; frames go
to the least busy one, outputs leave in input order).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from rmlab.errors import ExecutorError
from rmlab.runtime.executor import ExecutorContext
from rmlab.runtime.graph import Graph

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "Placement",
    "cluster_configured",
    "ray_option",
    "remote_placements",
]

DEFAULT_MAX_IN_FLIGHT = 2


@dataclass(frozen=True)
class Placement:
    """How one node runs on Ray: its resource request, pinning and flow limits."""

    node_id: str
    path: str
    """The node's JSON path (``nodes[2]``), for messages."""
    num_cpus: float = 0.0
    num_gpus: float = 0.0
    gpu_optional: bool = False
    """``"gpu": {"required": false}``: ask for the GPU only if the cluster has one."""
    memory: int = 0
    """Bytes."""
    resources: dict[str, float] = field(default_factory=dict)
    host: str | None = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    replicas: int = 1

    def request(self, *, cluster_has_gpus: bool = True) -> dict[str, float]:
        """What one cluster node must offer for one replica, in Ray's resource names."""
        want: dict[str, float] = {}
        if self.num_cpus:
            want["CPU"] = self.num_cpus
        if self.num_gpus and (cluster_has_gpus or not self.gpu_optional):
            want["GPU"] = self.num_gpus
        if self.memory:
            want["memory"] = float(self.memory)
        want.update(self.resources)
        return want


def remote_placements(
    graph: Graph, *, every_node: bool, configured: bool | None = None
) -> dict[str, Placement]:
    """The placement of each node of ``graph`` that runs on Ray, by node id.

    ``every_node`` is ``executor="ray"``; ``configured`` says whether a cluster is
    configured (asked only when some node says ``"prefer_remote"``). Empty when
    nothing runs on Ray, which is how the other executors know they need no Ray.
    """
    out: dict[str, Placement] = {}
    for i, spec in enumerate(graph.manifest.nodes):
        where = (spec.extra.get("execution") or {}).get("placement", "local")
        if where == "prefer_remote" and not every_node:
            if configured is None:
                configured = cluster_configured(None)
            remote = configured
        else:
            remote = every_node or where == "remote"
        if remote:
            out[spec.id] = placement_of(spec.id, f"nodes[{i}]", spec.extra)
    return out


def placement_of(node_id: str, path: str, extra: dict[str, Any]) -> Placement:
    """A node's ``Placement`` from its (validated) manifest keys."""
    execution = extra.get("execution") or {}
    caps = extra.get("capabilities") or {}
    gpu = caps.get("gpu")
    num_gpus = 0.0
    optional = False
    if isinstance(gpu, dict):
        num_gpus = float(gpu.get("count", 1))
        optional = gpu.get("required", True) is False
    cpu = caps.get("cpu") or {}
    memory_gb = caps.get("memory_gb")
    return Placement(
        node_id=node_id,
        path=path,
        num_cpus=float(cpu.get("cores", 0)),
        num_gpus=num_gpus,
        gpu_optional=optional,
        memory=int(memory_gb * 2**30) if memory_gb else 0,
        resources={k: float(v) for k, v in (caps.get("resources") or {}).items()},
        host=extra.get("host"),
        max_in_flight=int(execution.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)),
        replicas=int(execution.get("replicas", 1)),
    )


def cluster_configured(option: Any) -> bool:
    """Whether a Ray cluster is configured for this session, without connecting to it."""
    if option is not None or os.environ.get("RAY_ADDRESS"):
        return True
    ray = sys.modules.get("ray")  # only a Ray this process already imported can be running
    return bool(ray is not None and getattr(ray, "is_initialized", lambda: False)())


def ray_option(executor: str, context: ExecutorContext) -> Any:
    """``open_session``'s ``ray=`` option (None if not given); any other option is refused.

    Every executor that can run a node on Ray takes ``ray=`` (and nothing else), so a
    session can name its cluster whatever its executor.
    """
    options = dict(context.options)
    ray = options.pop("ray", None)
    if options:
        raise ExecutorError(
            f"the {executor} executor takes only the option ray=... (the Ray cluster of "
            f"nodes placed on Ray); got {', '.join(sorted(options))}"
        )
    return ray
