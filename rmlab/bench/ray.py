"""``rmlab bench ray``: a node on Ray against a plain Ray actor call, in one run.

What it measures, with the baselines from the same run:

1. Ping-pong (push, then pull the output) of 960 float32 (20 ms of 48 kHz audio)
   and of a 1920x1080x3 uint8 frame (6.2 MB), interleaved rounds, through
   (a) one shm node (local shared memory), (b) one node on Ray (``executor="ray"``,
   and the only node of an shm pipeline placed ``"remote"`` once the shm executor
   places nodes on Ray), and (c) the baseline: a plain Ray actor whose method
   returns its argument, called with ``ray.get(actor.echo.remote(x))``. Target: the
   remote hop costs at most 1.2x the plain actor call (rmlab adds almost nothing on
   top of Ray). (c2), for reference, is Ray's own cost of the call shape rmlab's
   hosts use: two returns (a small record and the outputs), each fetched.
2. A paced run at 50 frames/s through shm -> remote -> shm (``executor="ray"`` with 3
   nodes while the shm executor cannot place a node on Ray; the output says which):
   latency percentiles, drops and the CPU of every process (this one, the shm
   workers, the Ray actor workers, Ray's own services), next to a plain Ray actor
   call at the same pace.
3. Idle: the CPU of a session with a remote node that has nothing to do, over a few
   seconds, next to this process and a plain Ray actor with no session. Target: under
   2% of a core (no busy polling). CPU is read from ``/proc`` in clock ticks (10 ms),
   so over 4 s one tick is 0.25% of a core.
4. Replicas: a stateless node that sleeps 30 ms per frame, with
   ``"execution": {"placement": "remote", "replicas": 2}``, fed 50 frames/s. Target:
   it keeps up, 0 drops, outputs in input order.

Ray. On these machines Ray's traffic must stay on loopback, so without
``--address`` or ``RAY_ADDRESS`` the bench re-runs itself inside a private network
namespace that has only ``lo`` (``unshare -n``, as root on Linux) and starts a local
Ray instance there; it prints which it did. With an address it connects to that
cluster instead (remote actors then run wherever Ray puts them, and only the CPU of
processes on this machine is measured).

Latency is push to pull, in microseconds. The default run takes about 1-2 minutes
(Ray's start-up and each session's actor start-up are seconds each); ``--rounds``,
``--seconds`` and ``--replica-seconds`` make it longer.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rmlab.data import Numpy
from rmlab.nodes.base import Node, Param

__all__ = ["RaySleep", "main"]

SMALL = np.linspace(-1, 1, 960, dtype=np.float32)
BIG = np.zeros((1080, 1920, 3), np.uint8)
RATE = 50.0
TARGET_RATIO = 1.2
TARGET_IDLE_PCT = 2.0
_SERVICES = ("raylet", "gcs_server", "dashboard", "log_monitor", "monitor.py", "runtime_env")
"""Words in the command lines of Ray's own service processes."""
_NETNS_ENV = "RMLAB_BENCH_RAY_NETNS"
"""Set in the re-run inside ``unshare -n``, so it never re-runs itself again."""


class RaySleep(Node):
    """Sleeps ``ms`` per frame and returns it: a stand-in for a slow stateless model.

    Stateless (its output depends only on the frame), so it may run as several
    replicas on Ray. Defined at module level so Ray workers import it by reference.
    """

    ms: float = Param(30.0, min=0.0, max=10_000.0, doc="time spent per frame (ms)")
    stateless = True

    def process(self, frame: Any) -> Any:
        time.sleep(self.ms / 1000)
        return frame


# -- where Ray runs -------------------------------------------------------------------


def _loopback_only() -> bool:
    """Whether this process's network namespace has no interface but ``lo``."""
    try:
        with open("/proc/net/dev") as f:
            names = [line.split(":", 1)[0].strip() for line in f.readlines()[2:]]
    except OSError:
        return False
    return names == ["lo"]


def _can_unshare() -> str | None:
    """Why this process cannot give Ray a private network namespace (None: it can)."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare(1) or ip(8) is missing"
    if os.geteuid() != 0:
        return "not root"
    return None


def _rerun_in_namespace(argv: list[str]) -> int:
    """Run this bench again inside ``unshare -n`` with ``lo`` up; its exit status."""
    script = 'ip link set lo up && exec "$0" -m rmlab.cli bench ray "$@"'
    cmd = ["unshare", "-n", "bash", "-c", script, sys.executable, *argv]
    env = {**os.environ, _NETNS_ENV: "1", "RAY_ADDRESS": ""}
    print(
        "Ray: re-running inside a private network namespace (unshare -n, loopback only)", flush=True
    )
    return subprocess.call(cmd, env=env)


def _start_ray(address: str | None) -> Any:
    """Connect to ``address`` or start a local Ray instance; returns the ``ray`` module."""
    os.environ.setdefault("RAY_SCHEDULER_EVENTS", "0")
    import ray

    t0 = time.monotonic()
    if address:
        ray.init(address=address, configure_logging=False, log_to_driver=False)
        where = f"the cluster at {address}"
    else:
        # "local": always a new instance (plain ray.init() joins a cluster that a
        # `ray start` on this machine announced in /tmp/ray, maybe in another namespace)
        ray.init(
            address="local", include_dashboard=False, configure_logging=False, log_to_driver=False
        )
        where = "a local instance" + (
            " in a private network namespace (loopback only)" if _loopback_only() else ""
        )
    n = len([x for x in ray.nodes() if x.get("Alive")])
    print(f"Ray {ray.__version__}: {where}, {n} node(s), up in {time.monotonic() - t0:.1f} s")
    return ray


# -- processes and their CPU -----------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid``; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ray_processes() -> dict[int, str]:
    """Ray's processes in this network namespace: pid -> what it is.

    Ray workers title themselves ``ray::<ActorClass>[.method]`` (``ray::NodeHost`` for
    rmlab's node hosts, ``ray::IDLE`` for spare workers); the rest are Ray's services
    (raylet, gcs_server, ...). Matching the network namespace keeps other Ray
    instances on the machine (in other namespaces) out.
    """
    mine = os.readlink("/proc/self/ns/net")
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") != mine:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmd.startswith("ray::"):
            found[int(entry)] = cmd.split()[0].split(".")[0]
        elif "ray" in cmd and any(s in cmd for s in _SERVICES):
            name = os.path.basename(cmd.split()[0])
            if name.startswith("python"):
                name = os.path.basename(cmd.split()[1]) if len(cmd.split()) > 1 else name
            found[int(entry)] = f"Ray service {name}"
    return found


def _node_hosts() -> list[int]:
    """Pids of rmlab's Ray actor workers (``NodeHost``) in this namespace."""
    return sorted(p for p, what in _ray_processes().items() if what == "ray::NodeHost")


@dataclass
class CpuMeter:
    """CPU of named groups of processes between ``start()`` and ``stop()``, % of a core."""

    groups: dict[str, list[int]]
    _c0: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0

    def _now(self) -> dict[str, float]:
        return {g: sum(_cpu_s(p) for p in pids) for g, pids in self.groups.items()}

    def start(self) -> None:
        self._c0, self._t0 = self._now(), time.monotonic()

    def stop(self) -> dict[str, float]:
        c1, dt = self._now(), time.monotonic() - self._t0
        return {g: (c1[g] - self._c0[g]) / dt * 100 for g in self.groups}


def _groups(session: Any, before: set[int]) -> dict[str, list[int]]:
    """The processes of a session: this one, its shm workers, its Ray actors, Ray's rest."""
    groups: dict[str, list[int]] = {f"this process (pid {os.getpid()})": [os.getpid()]}
    for nid, pid in session.pids.items():
        if pid is not None:
            groups[f"shm worker {nid} (pid {pid})"] = [pid]
    ray_procs = _ray_processes()
    hosts = [p for p, what in ray_procs.items() if what == "ray::NodeHost" and p not in before]
    for pid in sorted(hosts):
        groups[f"Ray actor NodeHost (pid {pid})"] = [pid]
    rest = [p for p in ray_procs if p not in hosts and p not in session.pids.values()]
    groups[f"Ray services and idle workers ({len(rest)} processes)"] = rest
    return groups


# -- pipelines -------------------------------------------------------------------------


def _manifest(
    n: int,
    remote: set[int],
    execution: dict[str, Any] | None = None,
    node_type: str = "PassThrough",
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A chain of ``n`` nodes as a manifest dict; nodes whose index is in ``remote`` are
    placed on Ray (``execution``, default ``{"placement": "remote"}``)."""
    nodes = []
    for i in range(n):
        spec: dict[str, Any] = {"id": f"p{i}", "node_type": node_type, "params": params or {}}
        if i in remote:
            spec["execution"] = execution or {"placement": "remote"}
        nodes.append(spec)
    conns = [{"from": f"p{i - 1}", "to": f"p{i}"} for i in range(1, n)]
    return {
        "version": "v1",
        "metadata": {"name": f"bench-ray-{n}"},
        "nodes": nodes,
        "connections": conns,
    }


@dataclass
class Rig:
    """One round trip per ``step()``; ``times`` collects microseconds."""

    name: str
    step: Callable[[], None]
    close: Callable[[], None]
    session: Any = None
    times: list[float] = field(default_factory=list)


def _open(manifest: dict[str, Any], executor: str, live: bool = False) -> Any:
    from rmlab.runtime import open_session

    return open_session(
        manifest, executor, backpressure="drop-oldest" if live else "block", start_timeout=120
    )


def _session_rig(name: str, manifest: dict[str, Any], executor: str, frame: np.ndarray) -> Rig:
    s = _open(manifest, executor)

    def step() -> None:
        s.push(frame)
        s.pull(timeout=30)

    return Rig(name, step, s.close, s)


def _mixed_session(manifest: dict[str, Any], live: bool = False) -> Any | None:
    """An shm session with the manifest's remote nodes on Ray, or None if the shm
    executor does not place nodes on Ray yet (it then runs them as local workers)."""
    before = set(_node_hosts())
    try:
        s = _open(manifest, "shm", live)
    except Exception as e:  # an shm executor that refuses the placement
        print(f"  (shm with a remote node: {type(e).__name__}: {str(e).splitlines()[0]})")
        return None
    if set(_node_hosts()) - before:
        return s
    s.close()
    return None


def _echo_actor(ray: Any) -> Any:
    """The baseline: a plain Ray actor whose method returns its argument (started)."""

    @ray.remote(num_cpus=0)
    class Echo:
        def echo(self, x: Any) -> Any:
            return x

        def echo2(self, x: Any) -> tuple[dict[str, int], list[Any]]:
            return {"outputs": 1}, [x]  # a record and the outputs, as rmlab's hosts return

        def pid(self) -> int:
            return os.getpid()

    actor = Echo.remote()  # type: ignore[attr-defined]
    ray.get(actor.echo.remote(0), timeout=120)
    return actor


def _actor_rig(ray: Any, frame: np.ndarray) -> Rig:
    actor = _echo_actor(ray)

    def step() -> None:
        ray.get(actor.echo.remote(frame), timeout=30)

    return Rig("(c) Ray actor call", step, lambda: ray.kill(actor))


def _actor2_rig(ray: Any, frame: np.ndarray) -> Rig:
    """Ray's own cost of the call shape rmlab uses: two returns, each fetched."""
    actor = _echo_actor(ray)
    echo2 = actor.echo2.options(num_returns=2)

    def step() -> None:
        record, outputs = echo2.remote(frame)
        ray.get(record, timeout=30)
        ray.get(outputs, timeout=30)

    return Rig("(c2) Ray call, 2 returns", step, lambda: ray.kill(actor))


def _pct(v: np.ndarray, q: float) -> float:
    return float(np.percentile(v, q)) if len(v) else float("nan")


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- the parts -------------------------------------------------------------------------


def _ping_pong(ray: Any, rounds: int, frames: int, mixed: bool) -> dict[str, bool]:
    """Part 1; returns target -> met."""
    verdicts: dict[str, bool] = {}
    head = f"{'pipeline':<26} {'median us':>10} {'p99 us':>10} {'vs (c)':>8}"
    for label, frame, nrounds, nframes in (
        ("960 x float32", SMALL, rounds, frames),
        ("1920x1080x3 uint8", BIG, 3, 10),
    ):
        rigs = [
            _session_rig("(a) shm, 1 node", _manifest(1, set()), "shm", frame),
            _session_rig("(b) ray, 1 node", _manifest(1, set()), "ray", frame),
        ]
        if mixed:
            s = _mixed_session(_manifest(1, {0}))
            if s is not None:

                def step(s: Any = s, frame: np.ndarray = frame) -> None:
                    s.push(frame)
                    s.pull(timeout=30)

                rigs.append(Rig("(b) shm, 1 remote node", step, s.close, s))
        rigs.append(_actor2_rig(ray, frame))
        rigs.append(_actor_rig(ray, frame))  # last: the baseline
        for rig in rigs:
            for _ in range(5):
                rig.step()  # warm up
        for _ in range(nrounds):
            for rig in rigs:
                for _ in range(nframes):
                    a = time.perf_counter_ns()
                    rig.step()
                    rig.times.append((time.perf_counter_ns() - a) / 1000)
        base = float(np.median(rigs[-1].times))
        print(f"\nping-pong, {label} ({nrounds} interleaved rounds of {nframes})\n{head}")
        for rig in rigs:
            v = np.array(rig.times)
            ratio = np.median(v) / base
            note = ""
            if rig.name.startswith("(b)"):
                ok = ratio <= TARGET_RATIO
                verdicts[f"{rig.name}, {label}: <= {TARGET_RATIO}x (c)"] = ok
                note = f"  target <= {TARGET_RATIO}x: {_mark(ok)}"
            print(f"{rig.name:<26} {np.median(v):>10.1f} {_pct(v, 99):>10.1f} {ratio:>7.2f}x{note}")
            rig.close()
    return verdicts


@contextlib.contextmanager
def _paced_session(mixed: bool, live: bool = True) -> Iterator[tuple[Any, str]]:
    """A 3-node pipeline whose middle node is on Ray: shm -> remote -> shm, or all on
    ``executor="ray"`` while the shm executor cannot place a node on Ray."""
    s = _mixed_session(_manifest(3, {1}), live) if mixed else None
    what = "shm -> remote -> shm"
    if s is None:
        s = _open(_manifest(3, set()), "ray", live)
        what = 'executor="ray", 3 nodes (stand-in: shm does not place nodes on Ray yet)'
    try:
        yield s, what
    finally:
        s.close()


def _paced_baseline(ray: Any, seconds: float) -> tuple[np.ndarray, dict[str, float]]:
    """The plain Ray actor call at the same pace: latencies (us) and CPU."""
    actor = _echo_actor(ray)
    meter = CpuMeter(
        {
            "this process": [os.getpid()],
            "the actor": [ray.get(actor.pid.remote(), timeout=30)],
        }
    )
    n = int(seconds * RATE)
    lat = np.empty(n)
    meter.start()
    t0 = time.monotonic()
    for i in range(n):
        while (d := t0 + i / RATE - time.monotonic()) > 0:
            time.sleep(d)
        a = time.perf_counter_ns()
        ray.get(actor.echo.remote(SMALL), timeout=30)
        lat[i] = (time.perf_counter_ns() - a) / 1000
    cpu = meter.stop()
    ray.kill(actor)
    return lat, cpu


def _paced(ray: Any, seconds: float, mixed: bool) -> None:
    """Part 2, with its baseline: a plain Ray actor call at the same pace."""
    base_lat, base_cpu = _paced_baseline(ray, seconds)
    before = set(_node_hosts())
    with _paced_session(mixed) as (s, what):
        for _ in range(10):
            s.push(SMALL)
            s.pull(timeout=30)
        meter = CpuMeter(_groups(s, before))
        n = int(seconds * RATE)
        lat = np.empty(n)
        meter.start()
        t0 = time.monotonic()
        for i in range(n):
            due = t0 + i / RATE
            while (d := due - time.monotonic()) > 0:
                time.sleep(d)
            a = time.perf_counter_ns()
            s.push(SMALL)
            s.pull(timeout=30)
            lat[i] = (time.perf_counter_ns() - a) / 1000
        cpu = meter.stop()
        st = s.stats()
        drops = sum(st.drops.values())
        hops = {nid: ls.median_ms * 1000 for nid, ls in st.nodes.items()}
    print(f"\npaced at {RATE:g} frames/s for {seconds:g} s, 960 x float32: {what}")
    print(
        f"latency us: median {np.median(lat):.0f}, p90 {_pct(lat, 90):.0f}, "
        f"p99 {_pct(lat, 99):.0f}, max {lat.max():.0f}; {drops} dropped"
    )
    print(
        "per-node process() median us (stats()): "
        + ", ".join(f"{k} {v:.0f}" for k, v in hops.items())
    )
    for g, pct in cpu.items():
        print(f"  {g:<48} {pct:6.1f}% of a core")
    print(
        f"baseline, a plain Ray actor call at the same pace: latency us: median "
        f"{np.median(base_lat):.0f}, p90 {_pct(base_lat, 90):.0f}, p99 {_pct(base_lat, 99):.0f}"
    )
    for g, pct in base_cpu.items():
        print(f"  {g:<48} {pct:6.1f}% of a core")


def _idle(ray: Any, seconds: float, mixed: bool) -> dict[str, bool]:
    """Part 3, with its baseline: this process and a plain Ray actor, idle, no session.

    Returns target -> met."""
    actor = _echo_actor(ray)
    base = CpuMeter(
        {
            "this process, no session open": [os.getpid()],
            "a plain Ray actor (baseline)": [ray.get(actor.pid.remote(), timeout=30)],
        }
    )
    time.sleep(0.5)
    base.start()
    time.sleep(seconds)
    base_cpu = base.stop()
    ray.kill(actor)
    before = set(_node_hosts())
    with _paced_session(mixed, live=True) as (s, what):
        for _ in range(5):
            s.push(SMALL)
            s.pull(timeout=30)
        time.sleep(0.5)
        meter = CpuMeter(_groups(s, before))
        meter.start()
        time.sleep(seconds)
        cpu = meter.stop()
    own = sum(v for g, v in cpu.items() if not g.startswith("Ray services"))
    ok = round(own, 2) < TARGET_IDLE_PCT  # the verdict of the number printed
    print(f"\nidle for {seconds:g} s: {what}")
    for g, pct in cpu.items():
        print(f"  {g:<48} {pct:6.2f}% of a core")
    print(
        f"  {'session total (without Ray services)':<48} {own:6.2f}% of a core  "
        f"target < {TARGET_IDLE_PCT:g}%: {_mark(ok)}"
    )
    print("baseline, idle, no session:")
    for g, pct in base_cpu.items():
        print(f"  {g:<48} {pct:6.2f}% of a core")
    base_total = sum(base_cpu.values())
    print(f"  {'baseline total':<48} {base_total:6.2f}% of a core")
    print(f"  {'the session over the baseline':<48} {own - base_total:+6.2f}% of a core")
    return {f"idle session < {TARGET_IDLE_PCT:g}% of a core": ok}


def _replicas(seconds: float, mixed: bool, replicas: int, ms: float) -> dict[str, bool]:
    """Part 4; returns target -> met."""
    execution = {"placement": "remote", "replicas": replicas}
    m = _manifest(1, {0}, execution, "RaySleep", {"ms": ms})
    s = _mixed_session(m, live=True) if mixed else None
    what = f"shm session, the node on Ray with {replicas} replicas"
    if s is None:
        s = _open(m, "ray", live=True)
        what = f'executor="ray", {replicas} replicas (shm does not place nodes on Ray yet)'
    got: list[tuple[int, float]] = []

    def drain() -> None:
        for out in s:
            got.append((int(out.data.array[0]), out.trace.latency_ns / 1e6))

    try:
        for i in range(3):  # warm up: every replica has started
            s.push(Numpy(np.full(960, -1 - i, np.float32)))
        for _ in range(3):
            s.pull(timeout=60)
        reader = threading.Thread(target=drain, name="bench-ray-drain", daemon=True)
        reader.start()
        n = int(seconds * RATE)
        t0 = time.monotonic()
        for i in range(n):
            due = t0 + i / RATE
            while (d := due - time.monotonic()) > 0:
                time.sleep(d)
            s.push(Numpy(np.full(960, i, np.float32)))
        took = time.monotonic() - t0
        s.end()
        reader.join(60)
        drops = sum(s.stats().drops.values())
    finally:
        s.close()
    seqs = [q for q, _ in got]
    lat = np.array([x for _, x in got])
    in_order = seqs == sorted(seqs)
    lost = n - len(seqs)
    ok = lost == 0 and drops == 0 and in_order
    print(
        f"\nreplicas: RaySleep({ms:g} ms per frame) at {RATE:g} frames/s for {seconds:g} s: {what}"
    )
    print(
        f"  pushed {n} in {took:.1f} s, out {len(seqs)}, dropped {drops}, missing {lost}, "
        f"in order: {in_order}"
    )
    if len(lat):
        print(
            f"  latency ms: median {np.median(lat):.1f}, p90 {_pct(lat, 90):.1f}, "
            f"p99 {_pct(lat, 99):.1f}, max {lat.max():.1f}"
        )
    print(f"  target: keeps up with 0 drops, in order: {_mark(ok)}")
    return {f"{replicas} replicas of a {ms:g} ms node keep up with {RATE:g} frames/s": ok}


def main(argv: list[str] | None = None) -> int:
    """Print the Ray tables (see the module docstring)."""
    ap = argparse.ArgumentParser(
        prog="rmlab bench ray",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--address",
        default=None,
        help="a Ray cluster (default: RAY_ADDRESS, else a local instance)",
    )
    ap.add_argument("--rounds", type=int, default=5, help="interleaved ping-pong rounds")
    ap.add_argument("--frames", type=int, default=30, help="small frames per rig per round")
    ap.add_argument("--seconds", type=float, default=8.0, help="paced run (s)")
    ap.add_argument("--idle-seconds", type=float, default=4.0, help="idle measurement (s)")
    ap.add_argument("--replica-seconds", type=float, default=8.0, help="replicas run (s)")
    ap.add_argument("--replicas", type=int, default=2, help="replicas of the slow node")
    ap.add_argument("--node-ms", type=float, default=30.0, help="the slow node's time per frame")
    ap.add_argument(
        "--no-namespace", action="store_true", help="start Ray here, never inside unshare -n"
    )
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)

    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if address:
        print(f"Ray: connecting to {address} (--address / RAY_ADDRESS)")
    elif os.environ.get(_NETNS_ENV) != "1" and not _loopback_only() and not args.no_namespace:
        why = _can_unshare()
        if why is None:
            return _rerun_in_namespace(argv)
        print(f"Ray: starting a local instance in this network namespace ({why}: no unshare -n)")
    t_all = time.monotonic()
    ray = _start_ray(address)
    try:
        mixed = True  # probed below: the shm executor may not place nodes on Ray yet
        probe = _mixed_session(_manifest(1, {0}))
        if probe is None:
            mixed = False
            print(
                "shm with a remote node: not available yet (the shm executor runs it as a "
                'local worker); executor="ray" stands in where a mixed pipeline is asked'
            )
        else:
            probe.close()
        verdicts = _ping_pong(ray, args.rounds, args.frames, mixed)
        _paced(ray, args.seconds, mixed)
        verdicts |= _idle(ray, args.idle_seconds, mixed)
        verdicts |= _replicas(args.replica_seconds, mixed, args.replicas, args.node_ms)
    finally:
        ray.shutdown()
    print("\ntargets:")
    for what, ok in verdicts.items():
        print(f"  {_mark(ok):<7} {what}")
    print(f"\n({time.monotonic() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
