"""``rmlab bench audio``: microphone-to-result and speaker loopback latency on virtual devices.

Starts its own throwaway PulseAudio (``rmlab.audio._pulse``, the same one the audio
tests use), so it needs ``pulseaudio``, ``libportaudio2`` and ``libasound2-plugins``
but no sound card.

- **mic -> result**: a 440 Hz sine is written into the pipe source ``fifomic`` in real
  time; ``Microphone(device="pulse", timestamps="callback")`` pushes 20 ms frames
  through a PassThrough pipeline and the bench pulls them. Per frame: the time
  ``pull`` returned minus the frame's ``timestamp_us`` (when the audio callback ran),
  and the pipeline's own share (push to arrival at the session, from the trace). The
  baseline row is the same microphone into a session with no nodes (push hands the
  frame straight back), so the difference is what the pipeline costs.
- **speaker loopback**: seeded noise is pushed in real time through a PassThrough
  pipeline into ``Speaker(device="pulse")`` playing into the null sink ``vspk``;
  a second ``Microphone`` records ``vmic`` (its monitor). Every 100 ms window of what
  was sent is found in the recording by cross-correlation; its latency is the
  recorded timestamp minus the sent one. It includes the speaker's jitter-buffer
  prefill (40 ms by default), PulseAudio's buffers and the microphone's block.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from rmlab.audio import Microphone, NoiseSource, Speaker
from rmlab.audio._measure import loopback
from rmlab.audio._pulse import RATE, FifoFeeder, VirtualPulse
from rmlab.data import Audio
from rmlab.errors import RmlabError, Timeout
from rmlab.manifest import Manifest
from rmlab.runtime import open_session

__all__ = ["main"]

WARMUP_S = 1.0  # first frames pay for stream start-up: not what is measured
PASS = Manifest(name="bench-audio").add("pass", "PassThrough")
NO_NODES = Manifest(name="bench-audio-baseline")


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables (PortAudio reads PULSE_* when a stream opens), then restore."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ms(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    return f"{np.median(values):.2f}", f"{np.percentile(values, 99):.2f}"


def mic_row(pulse: VirtualPulse, manifest: Manifest, executor: str, seconds: float) -> tuple:
    """Microphone -> pipeline -> pull: capture-to-pull and push-to-arrival latencies (ms)."""
    sine = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)  # 1 s: loops seamlessly
    capture, pipeline = [], []
    with _env(PULSE_SOURCE="fifomic"), open_session(manifest, executor) as s:
        feeder = FifoFeeder(pulse.fifo, sine, loop=True).start()
        mic = Microphone(device="pulse", timestamps="callback").start(s)
        t0 = time.monotonic()
        try:
            while (now := time.monotonic()) < t0 + WARMUP_S + seconds:
                out = s.pull(timeout=1.0)
                if now > t0 + WARMUP_S:
                    capture.append((time.time_ns() // 1000 - out.data.timestamp_us) / 1000)
                    pipeline.append((out.trace.arrived_ns - out.trace.origin_ns) / 1e6)
        finally:
            mic.stop()
            feeder.stop()
    stats = mic.stats()
    return (len(capture), *_ms(capture), *_ms(pipeline), f"drops {stats['drops']}")


def speaker_row(executor: str, seconds: float) -> tuple:
    """Pipeline -> Speaker -> vspk -> vmic -> Microphone: latency per 100 ms window (ms)."""
    sent: list[Audio] = []
    recorded: list[Audio] = []
    with (
        _env(PULSE_SINK="vspk", PULSE_SOURCE="vmic"),
        open_session(PASS, executor) as s,
        open_session(NO_NODES) as rec,
    ):
        mic = Microphone(device="pulse").start(rec)
        speaker = Speaker(device="pulse", on_output=lambda o: sent.append(o.data)).start(s)
        NoiseSource(0.2, duration=seconds, seed=1).start(s)
        deadline = time.monotonic() + seconds + 0.5
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(Timeout):
                    recorded.append(rec.pull(timeout=0.5).data)
        finally:
            speaker.stop()
            mic.stop()
    found = [a for a in loopback(sent, recorded, 4800) if a.sent_index >= WARMUP_S * RATE]
    good = [a.latency_s * 1000 for a in found if a.corr > 0.9]
    corr = min((a.corr for a in found), default=float("nan"))
    extra = f"min corr {corr:.4f}, underruns {speaker.stats()['underruns']}"
    return (len(good), *_ms(good), "-", "-", extra)


def main(argv: list[str] | None = None) -> int:
    """Run the audio latency benchmark on a throwaway PulseAudio and print the table."""
    ap = argparse.ArgumentParser(
        prog="rmlab bench audio",
        description="Microphone-to-result and speaker loopback latency on virtual devices.",
    )
    ap.add_argument("--seconds", type=float, default=5.0, help="measured per row; default 5")
    ap.add_argument("--executors", default="local,shm", help="comma-separated; default local,shm")
    args = ap.parse_args(argv)
    executors = [e for e in args.executors.split(",") if e]

    t0 = time.perf_counter()
    rows: list[tuple] = []
    try:
        with VirtualPulse() as pulse, _env(**pulse.env):
            rows.append(("mic -> result", "none (baseline)",
                         *mic_row(pulse, NO_NODES, "local", args.seconds)))  # fmt: skip
            for ex in executors:
                rows.append(("mic -> result", ex, *mic_row(pulse, PASS, ex, args.seconds)))
            for ex in executors:
                rows.append(("speaker loopback", ex, *speaker_row(ex, args.seconds)))
    except RmlabError as exc:
        print(f"rmlab bench audio: {exc}", file=sys.stderr)
        return 1

    head = ("path", "executor", "n", "median ms", "p99 ms", "pipe med", "pipe p99", "notes")
    table = [head, *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    load = os.getloadavg()[0]
    print(f"rmlab bench audio: virtual PulseAudio, 48 kHz mono, 20 ms frames, "
          f"{args.seconds:g} s per row; load average {load:.1f} on {os.cpu_count()} CPUs "
          "(real-time numbers need an idle machine)")  # fmt: skip
    for i, r in enumerate(table):
        cells = zip(r, widths, strict=True)
        print("  ".join(c.ljust(w) if j in (0, 1, 7) else c.rjust(w)
                        for j, (c, w) in enumerate(cells)).rstrip())  # fmt: skip
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nmic -> result: audio callback to pull() returning; pipe: push() to arrival at "
          "the session (trace).\nspeaker loopback: one sample per 100 ms window, sent "
          f"timestamp to recorded timestamp.\n({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
