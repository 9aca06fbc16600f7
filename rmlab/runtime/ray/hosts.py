"""Creating, reusing and killing the ``NodeHost`` actors of this process.

Every host is created here with the resource request and pinning of its node's
placement (``actor_options``, which first checks that some cluster node can satisfy
it, so an impossible placement fails at once with the node and the unmet resource
named, instead of waiting forever). ``release`` runs the node's ``teardown()`` and
then kills the actor and waits until Ray reports it dead: a closed session leaves no
actor behind (rmlab creates no placement groups: pinning is a node-affinity
strategy, replicas are spread with Ray's ``SPREAD`` strategy).

Starting an actor starts a Python process on the cluster node, which costs seconds
(importing Ray and the node's modules). For interactive work that opens sessions
again and again (a notebook re-run, the Lab's hot swap), ``keep_warm(seconds)``
keeps released hosts parked that long, with their node torn down, for the next
session that asks for the same placement; ``drain()`` kills the parked ones at once
(also done at exit). Off by default. A parked host that reserves resources is
killed as soon as another actor has to be created, so warm hosts never keep a
session waiting for a GPU.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from rmlab.errors import ExecutorError
from rmlab.runtime.ray._errors import ray_error
from rmlab.runtime.ray.actor import host_class
from rmlab.runtime.ray.placement import Placement

__all__ = ["HOSTS", "Host", "HostPool", "actor_options", "keep_warm", "kill"]

NAMESPACE = "rmlab"
"""The Ray namespace of rmlab's actors (``ray list actors`` shows them as rmlab-host-*)."""
_DEATH_WAIT_S = 5.0


@dataclass(eq=False)
class Host:
    """One ``NodeHost`` actor: its handle, its Ray name and the placement it was made for."""

    handle: Any
    name: str
    key: tuple[Any, ...]
    warm: bool = False
    """Taken from the pool (it had run a node of an earlier session)."""


@dataclass
class _Parked:
    host: Host
    until: float
    cluster: str


def actor_options(ray: Any, p: Placement) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """Ray actor options for one replica of ``p`` and the key hosts are reused by.

    Raises ``ExecutorError`` naming the node and what no cluster node offers.
    """
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    has_gpus = any(n.get("Resources", {}).get("GPU", 0) > 0 for n in nodes)
    want = p.request(cluster_has_gpus=has_gpus)
    pinned = None
    if p.host is not None:
        host = p.host
        if host in ("local", "localhost"):  # upstream's word for "this machine"
            host = ray.get_runtime_context().get_node_id()
        pinned = _match_host(nodes, host)
        if pinned is None:
            names = ", ".join(_describe(n) for n in nodes) or "none alive"
            raise ExecutorError(
                f"node {p.node_id!r} ({p.path}.host) is pinned to host {p.host!r}, which is not "
                f"a node of the Ray cluster (its nodes: {names}); give a node id, IP address or "
                "host name from `ray status`, or remove host"
            )
    candidates = [pinned] if pinned is not None else nodes
    fits = [n for n in candidates if not _unmet(n, want)]
    if not fits:
        raise ExecutorError(_unsatisfiable(p, want, candidates))
    opts: dict[str, Any] = {
        "num_cpus": p.num_cpus,
        "num_gpus": want.get("GPU", 0),
        "max_restarts": 0,  # a death is reported; the manifest's restart policy decides
        "max_task_retries": 0,
        "namespace": NAMESPACE,
    }
    if p.memory:
        opts["memory"] = p.memory
    if p.resources:
        opts["resources"] = dict(p.resources)
    where: Any = None
    if pinned is not None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        where = pinned["NodeID"]
        opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(where, soft=False)
    elif p.replicas > 1:
        where = opts["scheduling_strategy"] = "SPREAD"
    key = (p.num_cpus, opts["num_gpus"], p.memory, tuple(sorted(p.resources.items())), where)
    return opts, key


def _match_host(nodes: list[dict[str, Any]], host: str) -> dict[str, Any] | None:
    for n in nodes:
        if host in (n.get("NodeID"), n.get("NodeManagerAddress"), n.get("NodeManagerHostname"),
                    n.get("NodeName")):  # fmt: skip
            return n
    return None


def _unmet(node: dict[str, Any], want: dict[str, float]) -> list[str]:
    have = node.get("Resources", {})
    return [k for k, v in want.items() if have.get(k, 0) < v - 1e-9]


def _describe(node: dict[str, Any]) -> str:
    return f"{node.get('NodeManagerAddress')} ({node.get('NodeID', '')[:12]})"


def _show(name: str, amount: float) -> str:
    if name == "memory":
        return f"memory {amount / 2**30:g} GB"
    return f"{name} {amount:g}"


def _unsatisfiable(p: Placement, want: dict[str, float], nodes: list[dict[str, Any]]) -> str:
    asked = ", ".join(_show(k, v) for k, v in want.items())
    where = f"host {p.host!r}" if p.host is not None else "no node of the Ray cluster"
    missing = sorted({k for n in nodes for k in _unmet(n, want)})
    nowhere = [k for k in missing if all(k in _unmet(n, want) for n in nodes)]
    if nowhere:
        most = {k: max((n.get("Resources", {}).get(k, 0) for n in nodes), default=0)
                for k in nowhere}  # fmt: skip
        offers = ", ".join(
            f"{k}: {_show(k, most[k]) if most[k] else 'not offered'}" for k in nowhere
        )
        unmet = f"{where} offers enough {', '.join(repr(k) for k in nowhere)} ({offers})"
    else:
        unmet = f"{where} offers all of them together"
    return (
        f"node {p.node_id!r} ({p.path}.capabilities) asks Ray for {asked}, but {unmet}; "
        "lower the request, add a cluster node that offers it (`ray start --resources=...`), "
        "or remove the placement"
    )


class HostPool:
    """The hosts of this process: created on demand, released (killed or parked)."""

    def __init__(self) -> None:
        self._parked: list[_Parked] = []
        self._cond = threading.Condition()
        self._reaper: threading.Thread | None = None
        self._keep_warm = 0.0
        self._atexit = False

    def keep_warm(self, seconds: float) -> None:
        """Park released hosts this long for reuse (0: kill them at release, the default)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ExecutorError(f"keep_warm takes seconds >= 0, got {seconds!r}")
        self._keep_warm = float(seconds)
        if not seconds:
            self.drain()

    def acquire(
        self, ray: Any, opts: dict[str, Any], key: tuple[Any, ...], *, fresh: bool = False
    ) -> Host:
        """A host for ``opts``: a parked one made for the same ``key``, or a new one
        (always new with ``fresh``, after a host died)."""
        cluster = _cluster(ray)
        if not fresh:
            with self._cond:
                for i, p in enumerate(self._parked):
                    if p.host.key == key and p.cluster == cluster:
                        del self._parked[i]
                        p.host.warm = True
                        return p.host
        self._free_reserved(ray)
        name = f"rmlab-host-{uuid.uuid4().hex[:12]}"
        try:
            return Host(host_class().options(name=name, **opts).remote(), name, key)
        except Exception as exc:
            raise ray_error("creating a Ray actor for a node", exc) from exc

    def release(self, ray: Any, hosts: list[Host]) -> None:
        """Take hosts back (their node already unloaded): park them, or kill them."""
        if not hosts:
            return
        if self._keep_warm > 0:
            until = time.monotonic() + self._keep_warm
            cluster = _cluster(ray)
            with self._cond:
                self._parked += [_Parked(h, until, cluster) for h in hosts]
                self._cond.notify_all()
                self._start_reaper()
            return
        kill(ray, [h.handle for h in hosts])

    def _free_reserved(self, ray: Any) -> None:
        """A new actor is about to be placed: parked hosts that hold resources (CPUs,
        GPUs, memory, custom ones) go first, so a warm pool never starves a session.
        Parked hosts that reserve nothing stay."""
        with self._cond:
            holding = [p for p in self._parked if any(p.host.key[:3]) or p.host.key[3]]
            self._parked = [p for p in self._parked if p not in holding]
        if holding:
            kill(ray, [p.host.handle for p in holding])

    def drain(self) -> None:
        """Kill every parked host now."""
        with self._cond:
            parked, self._parked = self._parked, []
            self._cond.notify_all()
        if parked:
            import ray

            if ray.is_initialized():
                kill(ray, [p.host.handle for p in parked])

    @property
    def parked(self) -> int:
        """How many hosts are parked."""
        return len(self._parked)

    def parked_names(self) -> set[str]:
        """The Ray names of the parked hosts."""
        with self._cond:
            return {p.host.name for p in self._parked}

    def _start_reaper(self) -> None:
        if not self._atexit:
            atexit.register(self.drain)
            self._atexit = True
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(
                target=self._reap, name="rmlab-ray-keep-warm", daemon=True
            )
            self._reaper.start()

    def _reap(self) -> None:
        import ray

        while True:
            with self._cond:
                if not self._parked:
                    self._reaper = None
                    return
                now = time.monotonic()
                expired = [p for p in self._parked if p.until <= now]
                if not expired:
                    self._cond.wait(min(p.until for p in self._parked) - now)
                    continue
                self._parked = [p for p in self._parked if p.until > now]
            if ray.is_initialized():
                kill(ray, [p.host.handle for p in expired])


def kill(ray: Any, handles: list[Any]) -> None:
    """Kill actors and wait until Ray reports them dead (so nothing is left to list)."""
    for h in handles:
        with contextlib.suppress(Exception):  # already dead: nothing to kill
            ray.kill(h, no_restart=True)
    deadline = time.monotonic() + _DEATH_WAIT_S
    alive = list(handles)
    while alive and time.monotonic() < deadline:
        # a call fails once Ray knows the actor is dead; one that still runs raced the kill
        try:
            probes = [h.clock.remote() for h in alive]
            ray.wait(probes, num_returns=len(probes), timeout=deadline - time.monotonic())
        except Exception:
            return  # Ray itself is going away: its actors go with it
        still = []
        for h, probe in zip(alive, probes, strict=True):
            try:
                ray.get(probe, timeout=0)
            except Exception:
                continue  # dead (or unreachable for good)
            still.append(h)
        alive = still
        if alive:
            time.sleep(0.02)


def _cluster(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:
        return ""


HOSTS = HostPool()
"""The process-wide pool (Ray connects a process to one cluster)."""


def keep_warm(seconds: float) -> None:
    """Keep the Ray actors of closed sessions parked ``seconds`` for the next session.

    Starting an actor costs seconds (a new Python process on the cluster node); with
    this, a session opened again soon with the same placements starts at once. The
    node itself is always torn down at close and set up again. ``keep_warm(0)`` (the
    default) kills hosts at close and any parked ones now.
    """
    HOSTS.keep_warm(seconds)
