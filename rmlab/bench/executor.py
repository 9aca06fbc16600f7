"""``rmlab bench executor``: the executors against process-chain baselines, in one run.

Pipelines: chains of 1 and 3 pass-through stages on

- ``local``: rmlab's in-process executor (every node on one thread);
- ``shm``: rmlab's shared-memory executor (one process per node, iceoryx2);
- ``Pipe``: a chain of spawned processes over ``multiprocessing.Pipe`` with
  ``send_bytes``/``recv_bytes_into`` (raw bytes, no pickle): the fast baseline;
- ``Queue``: the same chain over ``multiprocessing.Queue`` (pickled arrays).

- ``shm-co``: the shm executor with the 3 nodes co-located in one worker process
  (``Manifest.colocate``): hops between them are function calls.

Payloads: 960 float32 (20 ms of 48 kHz audio) and 1920x1080x3 uint8 (6.2 MB).
Ping-pong rounds are interleaved across pipelines (timings on a VM drift), then
each small-frame pipeline runs paced at 50 frames/s for ``--seconds`` (the live
audio case: every process sleeps 20 ms between frames), reporting latency
percentiles, drops, the CPU of every worker and of the caller's process per frame;
then cold start (open a 3-node pipeline, first round trip) and idle worker CPU.
Latency is push to pull, in microseconds; ratios are against the Pipe and Queue
chains of the same length, from the same run. The big-frame table ends with the
copy floor: what the copies a pipeline must make cost, measured with ``np.copyto``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rmlab.manifest import Manifest
from rmlab.runtime import open_session

__all__ = ["main"]

SMALL = np.linspace(-1, 1, 960, dtype=np.float32)
BIG = np.zeros((1080, 1920, 3), np.uint8)
_CTX = mp.get_context("spawn")  # never fork a process that may have threads


@dataclass
class Rig:
    """A running pipeline: one round trip per ``step()``."""

    name: str
    step: Callable[[], None]
    close: Callable[[], None]
    pids: list[int]
    drops: Callable[[], int] = lambda: 0
    times: list[float] = field(default_factory=list)


def _chain(n: int, colocated: bool = False) -> Manifest:
    m = Manifest(name=f"chain{n}")
    for i in range(n):
        m.add(f"p{i}", "PassThrough")
        if i:
            m.connect(f"p{i - 1}", f"p{i}")
    if colocated:
        m.colocate("chain", *(f"p{i}" for i in range(n)))
    return m


def _session_rig(executor: str, n: int, frame: np.ndarray, live: bool = False) -> Rig:
    co = executor == "shm-co"
    s = open_session(_chain(n, co), "shm" if co else executor,
                     backpressure="drop-oldest" if live else "block")  # fmt: skip

    def step() -> None:
        s.push(frame)
        s.pull(timeout=10)

    pids = sorted({p for p in s.pids.values() if p is not None})
    drops = lambda: sum(s.stats().drops.values())  # noqa: E731
    return Rig(f"{executor} x{n}", step, s.close, pids, drops)


def _pipe_stage(rx: mp.connection.Connection, tx: mp.connection.Connection, size: int) -> None:
    buf = bytearray(size)
    while (n := rx.recv_bytes_into(buf)) > 1:
        tx.send_bytes(memoryview(buf)[:n])
    tx.send_bytes(b"x")


def _queue_stage(rx: mp.Queue, tx: mp.Queue) -> None:
    while (item := rx.get()) is not None:
        tx.put(item)
    tx.put(None)


def _process_rig(kind: str, n: int, frame: np.ndarray) -> Rig:
    size = frame.nbytes + 64
    if kind == "Pipe":
        links = [_CTX.Pipe(duplex=False) for _ in range(n + 1)]  # (recv end, send end)
        procs = [_CTX.Process(target=_pipe_stage, args=(links[i][0], links[i + 1][1], size),
                              daemon=True) for i in range(n)]  # fmt: skip
        head, tail = links[0][1], links[n][0]
        data, buf = memoryview(frame.reshape(-1).view(np.uint8)), bytearray(size)

        def step() -> None:
            head.send_bytes(data)
            tail.recv_bytes_into(buf)

        def close() -> None:
            head.send_bytes(b"x")
            tail.recv_bytes()
    else:
        queues = [_CTX.Queue() for _ in range(n + 1)]
        procs = [_CTX.Process(target=_queue_stage, args=(queues[i], queues[i + 1]), daemon=True)
                 for i in range(n)]  # fmt: skip

        def step() -> None:
            queues[0].put(frame)
            queues[n].get()

        def close() -> None:
            queues[0].put(None)
            queues[n].get()

    for p in procs:
        p.start()

    def stop() -> None:
        close()
        for p in procs:
            p.join(5)

    return Rig(f"{kind} x{n}", step, stop, [p.pid for p in procs])  # type: ignore[misc]


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _paced(rig: Rig, seconds: float, rate: float = 50.0) -> tuple[np.ndarray, float, float]:
    """Round trips at ``rate`` per second; returns latencies (us), the CPU of all
    processes (% of a core) and the caller's CPU per frame (us)."""
    frames = int(seconds * rate)
    lat = np.empty(frames)
    c0, own0, t0 = _cpu(rig.pids), time.process_time(), time.monotonic()
    for i in range(frames):
        due = t0 + i / rate
        while (d := due - time.monotonic()) > 0:
            time.sleep(d)
        a = time.perf_counter_ns()
        rig.step()
        lat[i] = (time.perf_counter_ns() - a) / 1000
    own = time.process_time() - own0
    cpu = (_cpu(rig.pids) - c0 + own) / (time.monotonic() - t0) * 100
    return lat, cpu, own / frames * 1e6


def _cold_start(kind: str) -> float:
    t0 = time.perf_counter()
    rig = _session_rig("shm", 3, SMALL) if kind == "shm" else _process_rig(kind, 3, SMALL)
    rig.step()
    took = time.perf_counter() - t0
    rig.close()
    return took


def _row(name: str, v: np.ndarray, bases: tuple[np.ndarray | None, ...], extra: str = "") -> str:
    """One pipeline: median, p99, and median / p99 ratios against each baseline."""
    med, p99 = np.median(v), np.percentile(v, 99)
    ratios = "".join(
        f"{med / np.median(b):>7.2f}x /{p99 / np.percentile(b, 99):>5.2f}x" if b is not None
        else f"{'':>16}"
        for b in bases
    )  # fmt: skip
    return f"{name:<12} {med:>10.1f} {p99:>10.1f} {ratios}  {extra}"


def _copy_floor(times: dict[str, np.ndarray]) -> None:
    """The copies a pass-through chain must make, timed here, against what it took."""
    copy = np.empty_like(BIG)
    ct = []
    for _ in range(30):
        a = time.perf_counter_ns()
        np.copyto(copy, BIG)
        ct.append((time.perf_counter_ns() - a) / 1000)
    one = float(np.median(ct))
    print(f"{'np.copyto':<12} {one:>10.1f}  (one copy of the frame)")
    # shm: the push writes the frame into shared memory once, each process hop copies it
    # once (a pass-through forwards its wire bytes: one memmove), the pull is a view;
    # co-located hops are calls (no copy) until the last one publishes
    for name, copies in (("shm x1", 2), ("shm x3", 4), ("shm-co x3", 2)):
        if name in times:
            med = float(np.median(times[name]))
            print(f"{name:<12} {med:>10.1f}  = {med / (copies * one):.2f}x of its {copies} "
                  f"cop{'y' if copies == 1 else 'ies'}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Print the executor tables (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="rmlab bench executor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--rounds", type=int, default=10, help="interleaved ping-pong rounds")
    ap.add_argument("--frames", type=int, default=40, help="frames per pipeline per round")
    ap.add_argument("--seconds", type=float, default=10.0, help="paced run per pipeline")
    args = ap.parse_args(argv)
    t_all = time.monotonic()
    head = f"{'pipeline':<12} {'median us':>10} {'p99 us':>10} {'vs Pipe (med/p99)':>16}"
    head += f" {'vs Queue (med/p99)':>16}"

    for label, frame, rounds in (
        ("960 x float32", SMALL, args.rounds),
        ("1920x1080x3 uint8", BIG, 3),
    ):
        rigs = [_process_rig(k, n, frame) for k in ("Pipe", "Queue") for n in (1, 3)]
        rigs += [_session_rig(e, n, frame) for e in ("local", "shm") for n in (1, 3)]
        rigs.append(_session_rig("shm-co", 3, frame))
        for rig in rigs:
            for _ in range(5):
                rig.step()  # warm up
        for _ in range(rounds):
            for rig in rigs:
                for _ in range(args.frames if frame is SMALL else 10):
                    a = time.perf_counter_ns()
                    rig.step()
                    rig.times.append((time.perf_counter_ns() - a) / 1000)
        print(f"\nping-pong, {label} ({rounds} interleaved rounds)\n{head}")
        times = {r.name: np.array(r.times) for r in rigs}
        for rig in rigs:
            n = rig.name.split("x")[1]
            print(_row(rig.name, times[rig.name], (times[f"Pipe x{n}"], times[f"Queue x{n}"])))
            rig.close()
        if frame is BIG:
            _copy_floor(times)

    print(f"\npaced at 50 frames/s for {args.seconds:g} s, 960 x float32\n{head}")
    print(f"{'':<12} {'':>10} {'':>10} {'':>33}  CPU of all processes; caller per frame")
    results = {}
    makers = (lambda: _process_rig("Pipe", 1, SMALL), lambda: _process_rig("Pipe", 3, SMALL),
              lambda: _process_rig("Queue", 3, SMALL),
              lambda: _session_rig("local", 3, SMALL, live=True),
              lambda: _session_rig("shm", 3, SMALL, live=True),
              lambda: _session_rig("shm-co", 3, SMALL, live=True))  # fmt: skip
    for make in makers:
        rig = make()
        for _ in range(10):
            rig.step()
        lat, cpu, own = _paced(rig, args.seconds)
        results[rig.name] = (lat, cpu, own, rig.drops())
        rig.close()
    for name, (lat, cpu, own, drops) in results.items():
        bases = (results["Pipe x3"][0], results["Queue x3"][0])
        if name == "shm-co x3":  # one process: its peer is a 1-stage chain
            bases = (results["Pipe x1"][0], None)
        extra = f"{cpu:5.1f}% of a core; {own:6.1f} us; {drops} dropped"
        print(_row(name, lat, bases, extra))
    q = results["Queue x3"][1]
    print(
        f"CPU vs Queue x3: shm x3 {results['shm x3'][1] / q:.2f}x, "
        f"shm-co x3 {results['shm-co x3'][1] / q:.2f}x  (shm-co x3 ratios are vs Pipe x1)"
    )

    print("\ncold start: open a 3-stage pipeline, first round trip (median of 3)")
    for kind in ("Pipe", "Queue", "shm"):
        print(f"{kind:<12} {np.median([_cold_start(kind) for _ in range(3)]):>8.3f} s")

    rig = _session_rig("shm", 3, SMALL)
    rig.step()
    time.sleep(0.3)
    c0 = _cpu(rig.pids)
    time.sleep(2.0)
    idle = (_cpu(rig.pids) - c0) / 2.0 / len(rig.pids) * 100
    rig.close()
    print(f"\nidle shm worker: {idle:.2f}% of a core (3 workers over 2 s)")
    print(f"\n({time.monotonic() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
