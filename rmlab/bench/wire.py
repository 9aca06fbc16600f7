"""``rmlab bench wire``: the frame codec against pickle, np.save and a bare copy.

Two frames: a 960-sample float32 Numpy frame (20 ms of 48 kHz audio, the hot
case) and a 1920x1080x3 uint8 Numpy frame (a video-sized array); a 960-sample Audio
frame is timed too, for reference. For each:
``encode_into`` a preallocated buffer, ``decode(copy=False)``, ``pickle`` protocol 5
dumps/loads and ``np.save``/``np.load`` through ``BytesIO``; for the big frame also a
bare ``np.copyto`` of the same bytes, the floor for any encoder that must copy once.

Every call is timed on its own with ``time.perf_counter_ns`` (so the numbers include
~0.05 us of timer overhead) after a warm-up, with the garbage collector off; the
table shows median and p99 in microseconds and a pass/fail column against the
codec's targets.
"""

from __future__ import annotations

import argparse
import gc
import io
import pickle
import sys
import time
from collections.abc import Callable

import numpy as np

from rmlab.data import Audio, Numpy
from rmlab.wire import decode, encode_into, encoded_size

_ns = time.perf_counter_ns

# Targets from the codec's design (DESIGN.md section 3 and its brief).
SMALL_ENCODE_US = 5.0
SMALL_DECODE_US = 5.0
BIG_DECODE_US = 10.0
BIG_ENCODE_VS_COPY = 1.2
HEADER_BYTES = 60


def _time(fn: Callable[[], object], reps: int, warmup: int) -> list[int]:
    for _ in range(warmup):
        fn()
    out = [0] * reps
    for i in range(reps):
        t0 = _ns()
        fn()
        out[i] = _ns() - t0
    return out


def _time_pair(
    a: Callable[[], object], b: Callable[[], object], reps: int, warmup: int
) -> tuple[list[int], list[int]]:
    # Interleaved so both see the same cache, frequency and neighbour noise.
    for _ in range(warmup):
        a()
        b()
    ta, tb = [0] * reps, [0] * reps
    for i in range(reps):
        t0 = _ns()
        a()
        t1 = _ns()
        b()
        t2 = _ns()
        ta[i] = t1 - t0
        tb[i] = t2 - t1
    return ta, tb


def _stats(samples: list[int]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2] / 1e3, s[min(len(s) - 1, int(len(s) * 0.99))] / 1e3


def _np_save(arr: np.ndarray) -> bytes:
    f = io.BytesIO()
    np.save(f, arr, allow_pickle=False)
    return f.getvalue()


def _rows_for(
    label: str, arr: np.ndarray, reps: int, warmup: int, big: bool
) -> tuple[list[tuple[str, ...]], bool]:
    data = Numpy(arr)
    size = encoded_size(data)
    buf = bytearray(size)
    n = encode_into(data, buf)
    frame = bytes(buf[:n])
    pickled = pickle.dumps(arr, protocol=5)
    saved = _np_save(arr)
    rows: list[tuple[str, ...]] = []
    ok = True

    def row(op: str, samples: list[int] | None, target: str, passed: bool | None) -> None:
        nonlocal ok
        if samples is None:
            med = p99 = "-"
        else:
            m, p = _stats(samples)
            med, p99 = f"{m:.2f}", f"{p:.2f}"
        verdict = "" if passed is None else ("pass" if passed else "FAIL")
        if passed is False:
            ok = False
        rows.append((label, op, med, p99, target, verdict))

    if big:
        dst = np.empty_like(arr)
        enc, cp = _time_pair(
            lambda: encode_into(data, buf), lambda: np.copyto(dst, arr), reps, warmup
        )
    else:
        enc, cp = _time(lambda: encode_into(data, buf), reps, warmup), None
    dec = _time(lambda: decode(frame), reps, warmup)
    enc_med = _stats(enc)[0]
    if big:
        ratio = enc_med / _stats(cp)[0]
        row("rmlab encode_into", enc, "", None)
        row("np.copyto (same bytes)", cp, "", None)
        row(
            f"encode/copyto = {ratio:.2f}x",
            None,
            f"<= {BIG_ENCODE_VS_COPY}x",
            ratio <= BIG_ENCODE_VS_COPY,
        )
        med = _stats(dec)[0]
        row("rmlab decode (copy=False)", dec, f"<= {BIG_DECODE_US:g} us", med <= BIG_DECODE_US)
    else:
        row("rmlab encode_into", enc, f"<= {SMALL_ENCODE_US:g} us", enc_med <= SMALL_ENCODE_US)
        med = _stats(dec)[0]
        row("rmlab decode (copy=False)", dec, f"<= {SMALL_DECODE_US:g} us", med <= SMALL_DECODE_US)
    base_reps = max(10, reps // 4) if big else reps
    row(
        "pickle.dumps (protocol 5)",
        _time(lambda: pickle.dumps(arr, protocol=5), base_reps, 3),
        "",
        None,
    )
    row("pickle.loads", _time(lambda: pickle.loads(pickled), base_reps, 3), "", None)
    row("np.save -> BytesIO", _time(lambda: _np_save(arr), base_reps, 3), "", None)
    row(
        "np.load <- BytesIO",
        _time(lambda: np.load(io.BytesIO(saved), allow_pickle=False), base_reps, 3),
        "",
        None,
    )
    overhead = n - arr.nbytes
    target = f"<= {HEADER_BYTES} B" if not big else ""
    passed = overhead <= HEADER_BYTES if not big else None
    row(f"header overhead: {overhead} B", None, target, passed)
    extra = f"  pickle +{len(pickled) - arr.nbytes} B, np.save +{len(saved) - arr.nbytes} B"
    rows.append((label, extra, "", "", "", ""))
    return rows, ok


def _table(rows: list[tuple[str, ...]]) -> str:
    head = ("frame", "operation", "median us", "p99 us", "target", "result")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {2, 3}

    def fmt(r: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *(fmt(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    """Run the wire benchmark and print its table; 0, or 1 with ``--check`` if a target fails."""
    ap = argparse.ArgumentParser(
        prog="rmlab bench wire",
        description="Time the rmlab frame codec against pickle, np.save and a bare copy.",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=50000,
        help="timed calls per small-frame operation (big frame: repeat/50); default 50000",
    )
    ap.add_argument("--warmup", type=int, default=200, help="untimed calls first; default 200")
    ap.add_argument("--seed", type=int, default=0, help="seed for the frame contents")
    ap.add_argument("--check", action="store_true", help="exit 1 if any target fails")
    args = ap.parse_args(argv)
    if args.repeat < 50:
        ap.error("--repeat must be at least 50")

    rng = np.random.default_rng(args.seed)
    small = rng.standard_normal(960).astype(np.float32)
    big_arr = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)

    t0 = time.perf_counter()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        rows_s, ok_s = _rows_for("960 x float32", small, args.repeat, args.warmup, big=False)
        rows_b, ok_b = _rows_for(
            "1080x1920x3 uint8",
            big_arr,
            max(20, args.repeat // 50),
            max(5, args.warmup // 20),
            big=True,
        )
        # The audio lab's most common frame, for reference (no target of its own).
        audio = Audio(small, 48000)
        abuf = bytearray(encoded_size(audio))
        aframe = bytes(abuf[: encode_into(audio, abuf)])
        rows_a = [
            ("Audio 960 x f32", op, *(f"{v:.2f}" for v in _stats(t)), "", "")
            for op, t in (
                (
                    "rmlab encode_into",
                    _time(lambda: encode_into(audio, abuf), args.repeat, args.warmup),
                ),
                (
                    "rmlab decode (copy=False)",
                    _time(lambda: decode(aframe), args.repeat, args.warmup),
                ),
            )
        ]
    finally:
        if gc_was:
            gc.enable()
    elapsed = time.perf_counter() - t0

    print(f"rmlab bench wire: numpy {np.__version__}, Python {sys.version.split()[0]}")
    print(_table(rows_s + rows_b + rows_a))
    ok = ok_s and ok_b
    print(f"\n{'all targets met' if ok else 'SOME TARGETS MISSED'} ({elapsed:.1f} s)")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
