"""``rmlab bench nodes``: what each built-in node's ``process`` costs per frame.

Every built-in node (defaults, except where the table says otherwise) processes
a stream of 960-sample float32 frames of 48 kHz mono audio (20 ms: a 440 Hz tone
plus a little noise) after ``setup()`` and a warm-up; CalculatorNode, which takes
Json, gets an ``add`` request instead. Each call is timed on its own with
``time.perf_counter_ns`` with the garbage collector off, so the numbers are the
node's own work, without any executor. Median and p99 are per call; the mean
matters for nodes that do their work every few calls (Spectrogram, SileroVADNode's
32 ms model windows, Chunker), and "out/call" is how many frames a call emits.
SileroVADNode is skipped, with the reason, when the ``vad`` extra is missing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

import numpy as np

from rmlab.data import Audio, Json, RuntimeData
from rmlab.errors import RmlabError
from rmlab.nodes import available
from rmlab.nodes.base import Node, outputs

__all__ = ["main"]

RATE = 48000
FRAME = 960

# Params that make a node meaningful on one mono 48 kHz stream.
PARAMS: dict[str, dict[str, Any]] = {
    "Mix": {"inputs": 1},  # one input: every frame is mixed at once
    "Chunker": {"size": 512},
    "Resample": {"target_rate": 16000},
}


def _time(node: Node, frame: RuntimeData, reps: int, warmup: int) -> tuple[np.ndarray, float]:
    """Per-call times (ns) of ``node.process(frame)`` and the outputs per call."""
    for _ in range(warmup):
        outputs(node.process(frame))
    times = np.empty(reps, np.int64)
    emitted = 0
    ns = time.perf_counter_ns
    for i in range(reps):
        t0 = ns()
        result = node.process(frame)
        times[i] = ns() - t0
        emitted += len(outputs(result))
    return times, emitted / reps


def _frames(seed: int) -> tuple[Audio, Json]:
    rng = np.random.default_rng(seed)
    t = np.arange(FRAME) / RATE
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(FRAME)
    return Audio(x.astype(np.float32), RATE), Json({"operation": "add", "operands": [2, 3]})


def rows(reps: int, warmup: int, seed: int = 0) -> list[tuple[str, str, str, str, str, str]]:
    """One row per built-in node: name, input, median, p99, mean (us), outputs per call."""
    audio, request = _frames(seed)
    table = []
    builtins = {k: c for k, c in available().items() if c.__module__.startswith("rmlab.nodes.")}
    for name, cls in builtins.items():
        params = PARAMS.get(name, {})
        frame: RuntimeData = audio if Audio in cls.accepts else request
        label = "960 f32 48k" if frame is audio else "Json add"
        if params:
            label += " " + ",".join(f"{k}={v}" for k, v in params.items())
        node = cls(**params)
        try:
            node.setup()
        except RmlabError as exc:  # SileroVADNode without the vad extra
            table.append((name, "skipped: " + str(exc).split(":")[0], "", "", "", ""))
            continue
        times, per_call = _time(node, frame, reps, warmup)
        node.teardown()
        us = times / 1000.0
        table.append(
            (
                name,
                label,
                f"{np.median(us):.1f}",
                f"{np.percentile(us, 99):.1f}",
                f"{us.mean():.1f}",
                f"{per_call:.2f}",
            )
        )
    return table


def main(argv: list[str] | None = None) -> int:
    """Time every built-in node's ``process`` and print the table."""
    ap = argparse.ArgumentParser(
        prog="rmlab bench nodes",
        description="Per-frame process() cost of every built-in node (960 x float32, 48 kHz).",
    )
    ap.add_argument("--repeat", type=int, default=3000, help="timed calls per node; default 3000")
    ap.add_argument("--warmup", type=int, default=100, help="untimed calls first; default 100")
    ap.add_argument("--seed", type=int, default=0, help="seed for the frame's noise")
    args = ap.parse_args(argv)
    if args.repeat < 100:
        ap.error("--repeat must be at least 100 (for a p99)")

    t0 = time.perf_counter()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        table = rows(args.repeat, args.warmup, args.seed)
    finally:
        if gc_was:
            gc.enable()
    head = ("node", "input", "median us", "p99 us", "mean us", "out/call")
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(f"rmlab bench nodes: {args.repeat} calls per node, one 20 ms frame each")
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for r in table:
        print(line.format(*r))
    print(f"({time.perf_counter() - t0:.1f} s; a node slower than 20000 us cannot keep up)")
    _executor_overhead(args.repeat)
    return 0


def _executor_overhead(frames: int) -> None:
    """What one more PassThrough costs on the in-process executor, from the traces.

    A chain of 5 PassThrough nodes; for each frame, the runner thread's time from the
    first node receiving it to the last node finishing, divided by the 4 hand-overs
    between nodes, is the executor's per-hop cost (dispatch, trace, the node call).
    The thread hand-off of push/pull is outside it: that is not a hop.
    """
    from rmlab.bench.executor import SMALL, _chain
    from rmlab.runtime import open_session

    spans = []
    with open_session(_chain(5), "local", backpressure="block") as s:
        for i in range(frames + 100):
            s.push(SMALL)
            hops = s.pull(timeout=10).trace.hops
            if i >= 100:
                spans.append((hops[-1].done_ns - hops[0].recv_ns) / 4 / 1000)
    a = np.array(spans)
    med, p99 = float(np.median(a)), float(np.percentile(a, 99))
    verdict = "pass" if med <= 10 else "FAIL"
    print(
        f"\nin-process executor, 5 PassThrough in a chain: per hop {med:.1f} us median, "
        f"{p99:.1f} us p99 (target <= 10 us median: {verdict})"
    )


if __name__ == "__main__":
    sys.exit(main())
