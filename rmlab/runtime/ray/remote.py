"""One node of a session running on Ray: ``RemoteNode``, used by every executor.

The ``"ray"`` executor drives one per node; the ``"shm"`` executor's bridge thread
and the ``"local"`` executor's runner drive one per node placed ``"remote"``. It
owns the node's actors (``replicas`` of them), the calls in flight and the restart
policy, and gives back what happened as ``Result``s, strictly in submission order:

- ``submit(frames, source, tag)`` sends frames to the least busy replica and never
  waits; ``frames`` is a list, or the ``ObjectRef`` of an earlier call's outputs (the
  frames then move from cluster node to cluster node through Ray's object store,
  never through this process). ``full`` says when every replica has
  ``max_in_flight`` frames in flight: the caller then stops sending, which is how
  backpressure reaches the session.
- ``update`` and ``flush`` go to every replica, in order with the frames (a Ray actor
  runs the calls of one caller in the order they were made).
- ``results()`` returns the finished calls at the head of the queue, never waiting;
  ``notify`` (given to the constructor) is called from Ray's thread when a call
  finishes, to wake whoever drives the node. Outputs of replicas therefore leave in
  input order, and a later frame that finished first waits for the earlier one.

Clocks. The receive and done times of a call are taken on the actor's host with
``time.monotonic_ns`` and converted to this process's clock by subtracting the
host's offset, so hops and ``HopDone`` events read like any other executor's. On
the same machine (same ``boot_id``) the monotonic clock is shared and the offset is
exactly 0. Across machines it is measured once per actor start, NTP-style: of five
``clock()`` calls, the one with the shortest round trip gives ``offset = t_actor -
(t_sent + t_back) / 2``, within half that round trip. A duration (``done - recv``,
which is what ``stats()`` reports) is read on one clock and is exact either way.

Crashes. A Ray actor error on a call means the actor (or its cluster node) died:
the node's calls in flight on it are lost (``Result("lost")``), one
``Result("crashed")`` carries ``NodeCrashed`` naming the node and the cluster node,
and the manifest's restart policy decides: a new actor is started (its setup
finishes as ``Result("restarted")``) or the node is dead (``fatal``).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rmlab.errors import ExecutorError, NodeCrashed, NodeError
from rmlab.runtime.graph import Graph
from rmlab.runtime.ray._errors import CRASHES, ray_class, ray_error
from rmlab.runtime.ray.actor import boot_id
from rmlab.runtime.ray.hosts import HOSTS, Host, actor_options, kill
from rmlab.runtime.ray.placement import Placement

__all__ = [
    "HostInfo",
    "RemoteNode",
    "Result",
    "clock_offset",
    "make_remote",
    "start_all",
    "start_remote",
]

_FETCH_TIMEOUT_S = 120.0  # a frame of a finished call is ready: this only bounds a transfer
_UNLOAD_TIMEOUT_S = 5.0
_PINGS = 5
_BOOT_ID = boot_id()


@dataclass(frozen=True)
class HostInfo:
    """Where one replica of a remote node runs."""

    node_id: str
    """The Ray node id of the cluster node."""
    ip: str
    hostname: str
    pid: int
    actor_id: str
    offset_ns: int = 0
    """The host's monotonic clock minus this process's (0 on the same machine)."""

    def __str__(self) -> str:
        return f"{self.ip} ({self.hostname}, Ray node {self.node_id[:12]}, pid {self.pid})"


@dataclass
class Result:
    """One finished call, or an event of the node (see the module docstring)."""

    kind: str
    """"process", "flush", "update", "mark", "lost", "crashed" or "restarted"."""
    tag: Any = None
    calls: list[tuple[int, int, int, NodeError | None]] = field(default_factory=list)
    """Per input frame: receive and done times (this process's clock), outputs, error."""
    outs: list[Any] = field(default_factory=list)
    """ObjectRefs of the output lists (one per replica that answered)."""
    error: NodeError | None = None
    fatal: bool = False
    """For "crashed": the node cannot go on (no restart left)."""

    @property
    def n_out(self) -> int:
        return sum(c[2] for c in self.calls)


class _Replica:
    __slots__ = ("alive", "gen", "host", "inflight", "info")

    def __init__(self, host: Host):
        self.host = host
        self.info: HostInfo | None = None
        self.inflight = 0
        self.gen = 0
        self.alive = True


@dataclass(eq=False)
class _Call:
    kind: str
    tag: Any
    parts: list[tuple[_Replica, int, Any, Any]]
    """(replica, its generation, future of the first return, ref of the outputs)."""
    frames: int = 0
    t0: int = 0


class RemoteNode:
    """A node's actors on Ray, its calls in flight and its restarts; see the module docstring."""

    def __init__(
        self,
        ray: Any,
        node_id: str,
        cls: type,
        params: dict[str, Any],
        placement: Placement,
        *,
        restart: dict[str, Any] | None,
        notify: Callable[[], None],
    ):
        import cloudpickle

        self.ray = ray
        self.node_id = node_id
        self.placement = placement
        self.accepts = tuple(cls.accepts)
        self.node_type = cls.node_type
        self.params = dict(params)
        self._blob = cloudpickle.dumps(cls)
        self._restart = dict(restart or {})
        self._notify = notify
        self.restarts = 0
        self.dead = False
        self._replicas: list[_Replica] = []
        self._order: deque[_Call] = deque()
        self._next = 0
        self._opts, self._key = actor_options(ray, placement)
        self._loads: list[tuple[_Replica, Any]] = []
        self._to_restart: list[_Replica] = []
        self._late: list[Result] = []

    # -- start and stop --------------------------------------------------------------

    def begin(self) -> None:
        """Create (or reuse) the actors and send them the node; does not wait."""
        for _ in range(self.placement.replicas):
            rep = _Replica(HOSTS.acquire(self.ray, self._opts, self._key))
            self._replicas.append(rep)
            self._loads.append((rep, self._load(rep)))

    def _fresh_host(self) -> Host:
        """A new actor (never a parked one: used after a host died)."""
        return HOSTS.acquire(self.ray, self._opts, self._key, fresh=True)

    def _load(self, rep: _Replica) -> Any:
        try:
            return rep.host.handle.load.remote(self.node_id, self._blob, self.params)
        except Exception as exc:
            raise ray_error(f"sending node {self.node_id!r} to its actor", exc) from exc

    def wait_started(self, deadline: float, timeout: float) -> None:
        """Wait until every replica has run ``setup()``; raise what went wrong."""
        ray = self.ray
        loads, self._loads = self._loads, []
        for rep, ref in loads:
            for attempt in (0, 1):
                try:
                    info = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
                except ray.exceptions.GetTimeoutError:
                    raise ExecutorError(self._slow(timeout)) from None
                except Exception as exc:
                    if attempt == 0 and rep.host.warm and ray_class(exc) in CRASHES:
                        # a parked host died while parked: start a fresh one
                        rep.host = self._fresh_host()
                        ref = self._load(rep)
                        continue
                    raise ray_error(f"starting node {self.node_id!r} on Ray", exc,
                                    node_id=self.node_id) from exc  # fmt: skip
                break
            if "error" in info:
                raise NodeError(self.node_id, info["error"], info["traceback"])
            rep.info = self._align(rep, info)

    def _slow(self, timeout: float) -> str:
        want = self.placement.request()
        asked = ", ".join(f"{k} {v:g}" for k, v in want.items()) or "no resources"
        return (
            f"node {self.node_id!r} ({self.placement.path}) did not start on Ray within "
            f"{timeout:g} s (it asks for {asked}; are the cluster nodes that offer it busy? "
            "`ray status` shows what is in use); raise open_session's start_timeout, free "
            "resources, or lower the request"
        )

    def _align(self, rep: _Replica, info: dict[str, Any]) -> HostInfo:
        """Where the replica runs, with its clock offset (see the module docstring)."""
        offset = 0
        if info.get("boot_id") != _BOOT_ID:
            pings = []
            for _ in range(_PINGS):
                t0 = time.monotonic_ns()
                ta = self.ray.get(rep.host.handle.clock.remote())
                pings.append((t0, ta, time.monotonic_ns()))
            offset = clock_offset(pings)
        return HostInfo(info["node_id"], info["ip"], info["hostname"], info["pid"],
                        info["actor_id"], offset)  # fmt: skip

    def close(self) -> list[NodeError]:
        """Tear the node down on every replica and release the actors; teardown errors.

        A replica that never started (its actor still waiting for resources) or died is
        killed; the others run ``teardown()`` first, then go back to the pool.
        """
        ray = self.ray
        reps, self._replicas = self._replicas, []
        self._order.clear()
        self._loads.clear()
        unloads = []
        doomed = []
        for r in reps:
            if r.alive and r.info is not None:
                try:
                    unloads.append((r, r.host.handle.unload.remote()))
                except Exception:
                    doomed.append(r.host.handle)
            else:
                doomed.append(r.host.handle)
        if unloads:
            with contextlib.suppress(Exception):
                ray.wait([x for _, x in unloads], num_returns=len(unloads),
                         timeout=_UNLOAD_TIMEOUT_S)  # fmt: skip
        errors: list[NodeError] = []
        keep = []
        for r, ref in unloads:
            try:
                failed = ray.get(ref, timeout=0)
            except Exception:  # dead, or stuck in teardown: never reuse it
                doomed.append(r.host.handle)
                continue
            if failed:
                errors.append(NodeError(self.node_id, failed[0], failed[1]))
            keep.append(r.host)
        HOSTS.release(ray, keep)
        if doomed:
            kill(ray, doomed)
        return errors

    @property
    def hosts(self) -> list[HostInfo]:
        """Where each replica runs (after ``wait_started``)."""
        return [r.info for r in self._replicas if r.info is not None]

    @property
    def handles(self) -> list[Any]:
        """The replicas' actor handles (for ``ray.kill`` in a test, or a profiler)."""
        return [r.host.handle for r in self._replicas]

    # -- the data path -----------------------------------------------------------------

    @property
    def full(self) -> bool:
        """Every live replica has ``max_in_flight`` frames in flight."""
        limit = self.placement.max_in_flight
        return all(r.inflight >= limit for r in self._replicas if r.alive)

    @property
    def in_flight(self) -> int:
        """Frames sent to the actors and not answered yet (at most ``max_in_flight`` per
        replica, plus what one call carries beyond it)."""
        return sum(r.inflight for r in self._replicas if r.alive)

    @property
    def busy(self) -> bool:
        """Some call has not been returned by ``results()`` yet."""
        return bool(self._order or self._late or self._to_restart)

    def submit(self, frames: Any, source: str | None, tag: Any, count: int = 1) -> None:
        """Send ``count`` frames (a list, or the ObjectRef of one) to a replica; no waiting."""
        self._restart_now()
        reps = [r for r in self._replicas if r.alive]
        if not reps:
            raise ExecutorError(f"node {self.node_id!r} has no live actor left")
        n = len(reps)
        order = [reps[(self._next + i) % n] for i in range(n)]
        rep = min(order, key=lambda r: r.inflight)  # least busy; ties go round the replicas
        self._next = (reps.index(rep) + 1) % n
        try:
            meta, outs = rep.host.handle.process.options(num_returns=2).remote(frames, source)
        except Exception as exc:
            raise ray_error(f"sending a frame to node {self.node_id!r}", exc) from exc
        rep.inflight += count
        self._order.append(_Call("process", tag, [(rep, rep.gen, self._watch(meta), outs)],
                                 count, time.monotonic_ns()))  # fmt: skip

    def update(self, params: dict[str, Any], tag: Any = None) -> None:
        """Apply params on every replica, between two frames; restarts keep them."""
        self._restart_now()
        self.params.update(params)
        parts = []
        for rep in self._replicas:
            if rep.alive:
                ref = rep.host.handle.update.remote(params)
                parts.append((rep, rep.gen, self._watch(ref), None))
        self._order.append(_Call("update", tag, parts))

    def flush(self, tag: Any = None) -> None:
        """Flush every replica (after the frames sent before); outputs in replica order."""
        self._restart_now()
        parts = []
        for rep in self._replicas:
            if rep.alive:
                meta, outs = rep.host.handle.flush.options(num_returns=2).remote()
                parts.append((rep, rep.gen, self._watch(meta), outs))
        self._order.append(_Call("flush", tag, parts, 0, time.monotonic_ns()))

    def mark(self, tag: Any) -> None:
        """Queue ``tag`` behind the calls sent so far: ``results()`` returns it as
        ``Result("mark", tag)`` once they have all finished (an error record travelling
        downstream in order with the frames)."""
        self._order.append(_Call("mark", tag, []))

    def set_notify(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` (from Ray's thread) whenever a call finishes from now on."""
        self._notify = notify

    def _watch(self, ref: Any) -> Any:
        fut = ref.future()
        fut.add_done_callback(self._on_done)
        return fut

    def _on_done(self, _fut: Any) -> None:
        self._notify()  # on Ray's thread: wake the driver, nothing more

    def results(self) -> list[Result]:
        """The calls finished at the head of the queue, in submission order (never waits)."""
        self._restart_now()
        out, self._late = self._late, []
        order = self._order
        while order and all(part[2].done() for part in order[0].parts):
            out += self._finish(order.popleft())
        return out

    def wait(self, timeout: float | None) -> bool:
        """Block until the oldest call has finished (True) or ``timeout`` passed."""
        if self._late or self._to_restart:
            return True  # results() has something at once
        if not self._order:
            return False
        for part in self._order[0].parts:
            with contextlib.suppress(Exception):
                part[2].exception(timeout)
        return all(part[2].done() for part in self._order[0].parts) if self._order else True

    def fetch(self, result: Result) -> list[Any]:
        """The output frames of a finished call, here (zero-copy views of the local
        object store for large arrays; read-only, like every input). ``NodeError`` if
        they were lost."""
        if not result.n_out:
            return []
        try:
            lists = self.ray.get(result.outs, timeout=_FETCH_TIMEOUT_S)
        except Exception as exc:
            err = ray_error(f"fetching the outputs of node {self.node_id!r}", exc,
                            node_id=self.node_id)  # fmt: skip
            if not isinstance(err, NodeError):  # the call's frames are lost, not the session
                err = NodeError(self.node_id, str(err))
            raise err from exc
        return [f for frames in lists for f in frames]

    # -- finishing calls ------------------------------------------------------------------

    def _finish(self, call: _Call) -> list[Result]:
        if call.kind == "mark":
            return [Result("mark", call.tag)]
        events: list[Result] = []
        calls: list[tuple[int, int, int, NodeError | None]] = []
        outs: list[Any] = []
        error: NodeError | None = None
        answered = 0
        for rep, gen, fut, ref in call.parts:
            if call.kind == "process" and gen == rep.gen:
                rep.inflight -= call.frames
            if gen != rep.gen or not rep.alive:
                continue  # sent to an actor that has died since: lost with it
            exc = fut.exception()
            if exc is not None:
                if ray_class(exc) in CRASHES:
                    events += self._crashed(rep, exc)
                    continue
                err = ray_error(f"{call.kind}()", exc, node_id=self.node_id)
                if not isinstance(err, NodeError):  # e.g. the object store is full
                    err = NodeError(self.node_id, str(err))
                if call.kind == "load":  # the restarted actor cannot take the node
                    events += self._loaded(rep, {"error": f"restart failed: {err.message}",
                                                 "traceback": err.traceback})  # fmt: skip
                    continue
                error = err
                answered += 1
                continue
            value = fut.result()
            answered += 1
            if call.kind == "load":
                events += self._loaded(rep, value)
                continue
            if call.kind == "update":
                if value:
                    error = NodeError(self.node_id, value[0], value[1])
                continue
            off = rep.info.offset_ns if rep.info is not None else 0
            for t0, t1, n, failed in value:
                err = NodeError(self.node_id, failed[0], failed[1]) if failed else None
                calls.append((t0 - off, t1 - off, n, err))
            outs.append(ref)
        if call.kind == "load":
            return events
        if not answered:
            return [*events, Result("lost", call.tag)]
        return [*events, Result(call.kind, call.tag, calls, outs, error)]

    def _crashed(self, rep: _Replica, exc: BaseException) -> list[Result]:
        host = str(rep.info) if rep.info is not None else None
        err = ray_error(f"calling node {self.node_id!r}", exc, node_id=self.node_id, host=host)
        assert isinstance(err, NodeCrashed)
        rep.gen += 1  # calls still in flight on the dead actor are lost with it
        rep.inflight = 0
        policy = self._restart
        if policy.get("policy") == "on-failure" and self.restarts < policy.get("max_restarts", 3):
            self.restarts += 1
            self._to_restart.append(rep)  # after the crash is reported: see _restart_now
            return [Result("crashed", error=err)]
        rep.alive = False
        self.dead = not any(r.alive for r in self._replicas)
        return [Result("crashed", error=err, fatal=self.dead)]

    def _restart_now(self) -> None:
        """Start new actors for the replicas that crashed (their crash was returned by the
        last ``results()``: creating an actor may wait on Ray, the report must not)."""
        while self._to_restart:
            rep = self._to_restart.pop(0)
            with contextlib.suppress(Exception):
                self.ray.kill(rep.host.handle, no_restart=True)
            try:
                rep.host = self._fresh_host()
                rep.info = None
                load = self._watch(self._load(rep))
            except Exception as exc:
                rep.alive = False
                self.dead = not any(r.alive for r in self._replicas)
                err = NodeError(self.node_id, f"restart failed: {exc}")
                self._late.append(Result("crashed", error=err, fatal=self.dead))
                continue
            self._order.append(_Call("load", None, [(rep, rep.gen, load, None)]))

    def _loaded(self, rep: _Replica, info: dict[str, Any]) -> list[Result]:
        if "error" in info:  # the restarted node failed in setup: it cannot go on
            rep.alive = False
            self.dead = not any(r.alive for r in self._replicas)
            msg = info["error"]
            msg = msg if msg.startswith("restart failed") else f"restart failed: {msg}"
            err = NodeError(self.node_id, msg, info["traceback"])
            return [Result("crashed", error=err, fatal=self.dead)]
        rep.info = self._align(rep, info)
        return [Result("restarted")]


def clock_offset(pings: list[tuple[int, int, int]]) -> int:
    """A remote clock's offset from ours, from ``(t_sent, t_remote, t_back)`` samples:
    the one with the shortest round trip, assuming its two legs took equally long
    (the error is at most half that round trip)."""
    t0, ta, t1 = min(pings, key=lambda p: p[2] - p[0])
    return ta - (t0 + t1) // 2


def start_all(nodes: list[RemoteNode], timeout: float) -> None:
    """Start remote nodes together (their actors start in parallel); on failure, release
    every one of them and raise the first error."""
    deadline = time.monotonic() + timeout
    try:
        for rn in nodes:
            rn.begin()
        for rn in nodes:
            rn.wait_started(deadline, timeout)
    except BaseException:
        for rn in nodes:
            with contextlib.suppress(Exception):
                rn.close()
        raise


def make_remote(
    graph: Graph,
    placements: dict[str, Placement],
    option: Any,
    notify: Callable[[str], Callable[[], None]],
    why: str | None = None,
    timeout: float = 10.0,
) -> dict[str, RemoteNode]:
    """Connect to the cluster ``option`` names and prepare the nodes of ``placements``
    (their placements are checked against the cluster; no actor is started yet).

    ``notify(node_id)`` gives each node the function its finished calls call; ``why``
    says what needs Ray, for the error if Ray is missing or unreachable (default: the
    first remote node and its placement's JSON path).
    """
    from rmlab.runtime.ray.cluster import connect

    if why is None:
        p = next(iter(placements.values()))
        where = (graph.manifest.node(p.node_id).extra.get("execution") or {}).get("placement")
        why = f"node {p.node_id!r} ({p.path}.execution.placement) is {where!r}"
    ray = connect(option, why, timeout)
    nodes: dict[str, RemoteNode] = {}
    for nid, p in placements.items():
        spec = graph.manifest.node(nid)
        nodes[nid] = RemoteNode(
            ray, nid, graph.node_class(nid), spec.params, p, restart=spec.restart,
            notify=notify(nid),
        )  # fmt: skip
    return nodes


def start_remote(
    graph: Graph,
    placements: dict[str, Placement],
    option: Any,
    timeout: float,
    notify: Callable[[str], Callable[[], None]],
    why: str | None = None,
) -> dict[str, RemoteNode]:
    """``make_remote``, then start every node (``start_all``)."""
    nodes = make_remote(graph, placements, option, notify, why, timeout)
    start_all(list(nodes.values()), timeout)
    return nodes
