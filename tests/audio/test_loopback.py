"""Real devices through real pipelines: the virtual microphone in, the virtual speaker out.

A 440 Hz sine written into ``fifomic`` in real time must come out of
``Microphone(device="pulse")`` through a PassThrough pipeline unchanged: the right
frequency and RMS, and not one lost or repeated sample. Noise played by ``Speaker``
into ``vspk`` and recorded back from ``vmic`` (its monitor) must match what was sent.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np
import pytest

import rmlab
from rmlab.audio import Microphone, NoiseSource, Speaker
from rmlab.audio._measure import loopback, peak_frequency, sine_residual
from rmlab.audio._pulse import FifoFeeder
from rmlab.data import Audio
from tests.audio.conftest import passthrough

pytestmark = pytest.mark.audio

RATE = 48000
# Generous device buffers: these tests prove the samples arrive intact, and a busy CI
# machine can stall a Python audio thread for tens of ms. Latency is the bench's job.
MIC = {"device": "pulse", "latency": 0.2, "queue": 50}
SPEAKER = {"device": "pulse", "latency": 0.1, "prefill_ms": 100.0}


def _collect(session: rmlab.Session, until: Any, quiet: float = 0.5) -> list[rmlab.Output]:
    """Outputs until ``until()`` is true and then ``quiet`` s more (at most 10 s in all).

    Waiting on the producer rather than the clock keeps a loaded machine, whose
    threads run late, from cutting the recording short.
    """
    outs: list[rmlab.Output] = []
    deadline, done_at = time.monotonic() + 10.0, None
    while (now := time.monotonic()) < deadline:
        if done_at is None and until():
            done_at = now
        if done_at is not None and now > done_at + quiet:
            break
        with contextlib.suppress(rmlab.Timeout):
            outs.append(session.pull(timeout=0.1))
    return outs


def test_microphone_through_a_pipeline(fifo_mic, executor: str) -> None:  # type: ignore[no-untyped-def]
    n = np.arange(int(1.5 * RATE))
    sine = 0.5 * np.sin(2 * np.pi * 440 * n / RATE + 0.3)  # no zero at either end
    padded = np.concatenate([sine, np.zeros(RATE // 2)])  # flushes the capture buffers
    with rmlab.open_session(passthrough(), executor=executor) as s:
        mic = Microphone(**MIC).start(s)
        feeder = FifoFeeder(fifo_mic.fifo, padded).start()
        outs = _collect(s, until=lambda: feeder.wait(0))
        mic.stop()
    frames = [o.data for o in outs]
    assert all(isinstance(f, Audio) and (f.sample_rate, f.channels, f.frames) == (RATE, 1, 960)
               for f in frames)  # fmt: skip
    x = np.concatenate([f.samples for f in frames])
    on = np.flatnonzero(np.abs(x) > 1e-4)
    x = x[on[0] : on[-1] + 1]  # the pipe source may add silence before the writer starts
    assert len(x) == len(sine)  # not one sample lost or added
    assert peak_frequency(x, RATE) == pytest.approx(440.0, abs=1.0)
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert np.abs(sine_residual(x, 440.0, RATE)).max() < 1e-5  # no lost or repeated sample
    stamps = np.diff([f.timestamp_us for f in frames])
    assert np.median(stamps) == pytest.approx(20_000, rel=0.1)
    latency = [(o.trace.arrived_ns - o.trace.origin_ns) / 1e6 for o in outs]
    print(f"\n{executor}: {len(frames)} frames, push-to-result median {np.median(latency):.2f} ms")
    stats = mic.stats()
    assert stats["drops"] == 0 and stats["overflows"] == 0 and stats["errors"] == 0


def test_speaker_loopback(speaker_loop, executor: str) -> None:  # type: ignore[no-untyped-def]
    sent: list[Audio] = []
    recorder = rmlab.Manifest(name="recorder")  # no nodes: frames come straight back
    with (
        # "block": the source waits rather than drops, so all 75 frames reach the speaker
        rmlab.open_session(passthrough(), executor=executor, backpressure="block") as s,
        rmlab.open_session(recorder) as rec,
    ):
        mic = Microphone(**MIC).start(rec)
        speaker = Speaker(**SPEAKER, on_output=lambda o: sent.append(o.data)).start(s)
        noise = NoiseSource(0.2, duration=1.5, seed=7).start(s)

        def played() -> bool:
            return noise.wait(0) and len(sent) == 75 and speaker.buffer.level == 0

        recorded = [o.data for o in _collect(rec, until=played)]
        speaker.stop()
        mic.stop()
    assert len(sent) == 75
    found = loopback(sent, recorded, window=4800)  # 100 ms windows
    corr = np.array([a.corr for a in found])
    latency_ms = np.array([a.latency_s for a in found]) * 1000
    lo, med, hi = np.percentile(latency_ms, [0, 50, 100])
    print(f"\n{executor}: speaker loopback latency median {med:.1f} ms, "
          f"range {lo:.1f}-{hi:.1f} ms, min corr {corr.min():.5f}")  # fmt: skip
    spk, rec_stats = speaker.stats(), mic.stats()
    # Every glitch must be one the counters report: on a quiet machine there are none and
    # every window correlates; on an overloaded one a starved audio thread shows up here.
    glitches = (spk["device_underflows"] + max(0, spk["underruns"] - 1)
                + rec_stats["drops"] + rec_stats["overflows"])  # fmt: skip
    bad = int((corr <= 0.99).sum())
    assert len(found) == 15
    assert bad <= 2 * glitches, f"{bad} windows do not match; speaker {spk}, mic {rec_stats}"
    assert bad <= len(found) // 2
    assert 0 < np.median(latency_ms) < 500


def test_readme_microphone_snippet_runs_on_the_virtual_devices(speaker_loop) -> None:  # type: ignore[no-untyped-def]
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code = re.search(r"## Live audio\n.*?```python\n(.*?)```", readme, re.S)
    assert code, "README lost its microphone snippet"
    source = code.group(1).replace("time.sleep(10)", "time.sleep(1.0)")
    scope: dict = {}
    exec(compile(source, "README", "exec"), scope)  # raises if any part fails
    assert scope["m"].node("gain").params == {"gain_db": -6}
