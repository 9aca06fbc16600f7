"""``rmlab bench executors``: what a hop costs on each executor, against a pipe baseline.

Measured in one run, interleaved where it matters (timings on a VM drift):

- *round trip*: push a frame, pull it back through one PassThrough node, one frame
  at a time, both paced like live audio (one frame every 20 ms, cold caches) and
  back to back (the next push right after the pull);
- *per hop*: the same through a chain of 5 PassThrough nodes; (chain of 5 - chain
  of 1) / 4 is the cost one more node adds;
- the baseline: a child process echoing the frame over ``multiprocessing.Pipe``
  (``send_bytes``/``recv_bytes``, raw array bytes, no pickle), which is what the
  shared-memory executor must beat or justify;
- a 1920x1080x3 uint8 frame, where copies dominate (shm vs Pipe);
- idle CPU: what the workers of an idle shm session use (no busy polling).

Latency is from ``push`` to ``pull`` returning; medians and p99 in microseconds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from rmlab.manifest import Manifest
from rmlab.runtime import open_session

__all__ = ["main"]

SMALL = np.linspace(-1, 1, 960, dtype=np.float32)
BIG = np.zeros((1080, 1920, 3), np.uint8)


def _chain(n: int) -> Manifest:
    m = Manifest(name=f"chain{n}")
    for i in range(n):
        m.add(f"p{i}", "PassThrough")
        if i:
            m.connect(f"p{i - 1}", f"p{i}")
    return m


def _measure(step: Callable[[], None], frames: int, pace_s: float) -> np.ndarray:
    for _ in range(20):  # warm up
        step()
    out = np.empty(frames)
    next_t = time.perf_counter()
    for i in range(frames):
        if pace_s:
            next_t += pace_s
            while (d := next_t - time.perf_counter()) > 0:
                time.sleep(d)
        t0 = time.perf_counter_ns()
        step()
        out[i] = (time.perf_counter_ns() - t0) / 1000
    return out


def _session_step(executor: str, n: int, frame: np.ndarray):
    s = open_session(_chain(n), executor, backpressure="block")

    def step() -> None:
        s.push(frame)
        s.pull(timeout=10)

    return s, step


def _echo_child(conn: mp.connection.Connection) -> None:
    buf = bytearray(BIG.nbytes + 1024)
    while True:
        n = conn.recv_bytes_into(buf)
        if n == 1:
            return
        conn.send_bytes(memoryview(buf)[:n])


def _pipe_step(frame: np.ndarray):
    parent, child = mp.Pipe()
    ctx = mp.get_context("spawn")  # like the executor: never fork a threaded process
    proc = ctx.Process(target=_echo_child, args=(child,), daemon=True)
    proc.start()
    buf = bytearray(frame.nbytes)
    data = memoryview(frame.reshape(-1).view(np.uint8))

    def step() -> None:
        parent.send_bytes(data)
        parent.recv_bytes_into(buf)

    def stop() -> None:
        parent.send_bytes(b"x")
        proc.join(5)

    return stop, step


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main(argv: list[str] | None = None) -> int:
    """Print the executor table; ``--frames`` per row (default 300), ``--pace-ms``."""
    ap = argparse.ArgumentParser(prog="rmlab bench executors", description=__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--pace-ms", type=float, default=20.0)
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    rows: list[tuple[str, str, np.ndarray]] = []
    pace = args.pace_ms / 1000

    stop, step = _pipe_step(SMALL)
    rows.append(("Pipe echo (baseline)", "paced", _measure(step, args.frames, pace)))
    rows.append(("Pipe echo (baseline)", "back to back", _measure(step, args.frames, 0)))
    stop()
    for executor in ("local", "shm"):
        for n in (1, 5):
            s, step = _session_step(executor, n, SMALL)
            with s:
                label = f"{executor}, {n} PassThrough"
                rows.append((label, "paced", _measure(step, args.frames, pace)))
                rows.append((label, "back to back", _measure(step, args.frames, 0)))

    big_rows: list[tuple[str, str, np.ndarray]] = []
    stop, step = _pipe_step(BIG)
    big_rows.append(("Pipe echo (baseline)", "back to back", _measure(step, 50, 0)))
    stop()
    s, step = _session_step("shm", 1, BIG)
    with s:
        big_rows.append(("shm, 1 PassThrough", "back to back", _measure(step, 50, 0)))

    with open_session(_chain(3), "shm") as s:
        from rmlab.nodes.base import Node  # noqa: F401  # (keeps the import cost out of timing)

        time.sleep(0.5)
        pids = [w.proc.pid for w in s._workers.values()]  # type: ignore[attr-defined]
        c0 = _cpu_of(pids)
        time.sleep(2.0)
        idle = (_cpu_of(pids) - c0) / 2.0 / len(pids) * 100

    def table(title: str, rs: list[tuple[str, str, np.ndarray]]) -> None:
        print(f"\n{title}")
        print(f"{'pipeline':<24} {'pacing':<13} {'median us':>10} {'p99 us':>10} {'vs Pipe':>8}")
        base = {mode: np.median(v) for lab, mode, v in rs if lab.startswith("Pipe")}
        for lab, mode, v in rs:
            med, p99 = np.median(v), np.percentile(v, 99)
            ratio = f"{med / base[mode]:.2f}x" if mode in base else ""
            print(f"{lab:<24} {mode:<13} {med:>10.1f} {p99:>10.1f} {ratio:>8}")

    table(f"960 x float32 frames ({args.frames} per row; round trip push -> pull)", rows)
    print(f"\n{'per added hop':<24} {'pacing':<13} {'median us':>10}")
    for executor in ("local", "shm"):
        for mode in ("paced", "back to back"):
            one = next(v for lab, m, v in rows if lab == f"{executor}, 1 PassThrough" and m == mode)
            five = next(v for lab, m, v in rows if lab == f"{executor}, 5 PassThrough" and m == mode)
            print(f"{executor:<24} {mode:<13} {(np.median(five) - np.median(one)) / 4:>10.1f}")
    table("1920x1080x3 uint8 frames (6.2 MB; 50 per row)", big_rows)
    print(f"\nidle shm worker CPU: {idle:.2f}% of a core (3 workers, 2 s)")
    print(f"\n({time.monotonic() - t_start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
