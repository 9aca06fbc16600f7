"""Synthetic and file sources, their pacing (on a fake clock), and the file sink.

No audio device is needed here: pacing is checked against an injected clock whose
``sleep_until`` only moves time forward, so 60 s of frames take milliseconds.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
import time
from typing import Any

import numpy as np
import pytest

import rmlab
from rmlab.audio import (
    ChirpSource,
    FileSink,
    FileSource,
    NoiseSource,
    ToneSource,
    read_wav,
    write_wav,
)
from rmlab.audio._measure import peak_frequency, sine_residual
from rmlab.data import Audio
from rmlab.errors import DeviceError, SessionClosed, SessionError
from tests.audio.conftest import passthrough

pytestmark = pytest.mark.audio

RATE, BLOCK = 48000, 960


class FakeClock:
    """Time moves only when a source sleeps (overshooting like a real scheduler) or pushes."""

    def __init__(self, oversleep_s: float = 0.0, seed: int = 0) -> None:
        self.t = 1000.0
        self.sleeps = 0
        self._oversleep = oversleep_s
        self._rng = random.Random(seed)

    def now(self) -> float:
        return self.t

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        self.sleeps += 1
        if deadline > self.t:  # a real sleep wakes up late, never early
            self.t = deadline + self._rng.uniform(0, self._oversleep)
        return not stop.is_set()


class Recorder:
    """A session stand-in: records (clock time, frame); each push costs ``cost(k)`` seconds."""

    def __init__(self, clock: FakeClock | None = None, cost: Any = None, limit: int = 10**9):
        self.clock, self.cost, self.limit = clock, cost, limit
        self.frames: list[Audio] = []
        self.times: list[float] = []

    def push(self, frame: Audio) -> None:
        if len(self.frames) >= self.limit:
            raise SessionClosed("enough")
        self.frames.append(frame)
        if self.clock is not None:
            self.times.append(self.clock.now())
            self.clock.t += self.cost(len(self.frames)) if self.cost else 0.0

    def samples(self) -> np.ndarray:
        return np.concatenate([f.as_2d() for f in self.frames])


def run(source: Any, session: Any) -> Any:
    assert source.start(session).wait(timeout=30)
    source.stop()
    return session


# -- pacing ----------------------------------------------------------------------------


def test_realtime_pacing_does_not_drift_over_60_s() -> None:
    clock = FakeClock(oversleep_s=0.0005)  # every wake-up up to 0.5 ms late
    rng = random.Random(1)
    rec = Recorder(clock, cost=lambda k: rng.uniform(0, 0.0003))  # and every push slow
    run(ToneSource(duration=60.0, clock=clock), rec)
    assert len(rec.frames) == 60 * RATE // BLOCK
    t0 = rec.times[0]
    late = np.array(rec.times) - (t0 + np.arange(len(rec.times)) * BLOCK / RATE)
    # errors do not add up: 3000 late wake-ups would be ~1 s late if they did
    assert late.min() >= 0 and late.max() < 0.001, late.max()
    assert late[-1] < 0.001
    stamps = np.array([f.timestamp_us for f in rec.frames])
    assert (np.diff(stamps) == 20_000).all()  # exact in integers, no float drift


def test_realtime_pacing_catches_up_after_a_stall() -> None:
    clock = FakeClock()
    rec = Recorder(clock, cost=lambda k: 0.25 if k == 100 else 0.0)  # one 250 ms stall
    run(ToneSource(duration=4.0, clock=clock), rec)
    late = np.array(rec.times) - (rec.times[0] + np.arange(len(rec.times)) * BLOCK / RATE)
    assert late[100] == pytest.approx(0.25 - 0.02)  # the next frames go out at once ...
    assert np.abs(late[115:]).max() < 1e-9  # ... until the schedule is met again


def test_as_fast_as_possible_never_sleeps() -> None:
    clock = FakeClock()
    rec = run(ToneSource(duration=5.0, realtime=False, clock=clock), Recorder(clock))
    assert clock.sleeps == 0 and len(rec.frames) == 5 * RATE // BLOCK


def test_stop_interrupts_a_real_time_wait() -> None:
    src = ToneSource(block=RATE * 10).start(Recorder())  # a 10 s frame: a long wait
    time.sleep(0.05)
    t = time.monotonic()
    src.stop()
    assert time.monotonic() - t < 0.5 and not src.running


def test_a_source_needs_a_session() -> None:
    with pytest.raises(SessionError, match=r"ToneSource.start\(\) needs a session"):
        ToneSource().start(None)


def test_public_names_exist_and_are_documented() -> None:
    import rmlab.audio

    assert {"Microphone", "Speaker", "FileSource", "FileSink", "ToneSource", "NoiseSource",
            "ChirpSource", "Source", "Sink", "devices", "read_wav", "write_wav"} <= set(
        rmlab.audio.__all__)  # fmt: skip
    for name in rmlab.audio.__all__:
        assert (getattr(rmlab.audio, name).__doc__ or "").strip(), name


def test_a_closed_session_ends_the_source() -> None:
    rec = run(ToneSource(realtime=False), Recorder(limit=7))  # endless tone
    assert len(rec.frames) == 7


# -- synthetic signals -------------------------------------------------------------------


def test_tone_is_an_exact_sine_across_frames() -> None:
    rec = run(ToneSource(440.0, 0.5, duration=2.0, realtime=False), Recorder())
    x = rec.samples()[:, 0]
    n = np.arange(2 * RATE)
    np.testing.assert_allclose(x, 0.5 * np.sin(2 * np.pi * 440 * n / RATE), atol=1e-7)
    assert peak_frequency(x, RATE) == pytest.approx(440.0, abs=0.01)
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(0.5 / np.sqrt(2), 1e-4)
    assert np.abs(sine_residual(x, 440.0, RATE)).max() < 1e-6


def test_tone_stereo_and_partial_last_frame() -> None:
    rec = run(ToneSource(1000, 0.25, 44100, 1000, 0.5, channels=2, realtime=False), Recorder())
    assert [f.frames for f in rec.frames][-2:] == [1000, 50]  # 22050 samples
    assert all(f.channels == 2 and f.sample_rate == 44100 for f in rec.frames)
    x = rec.samples()
    np.testing.assert_array_equal(x[:, 0], x[:, 1])


@pytest.mark.parametrize("method", ["linear", "log"])
def test_chirp_sweeps_from_f0_to_f1(method: str) -> None:
    src = ChirpSource(200.0, 8000.0, 2.0, 0.5, method=method, realtime=False)
    x = run(src, Recorder()).samples()[:, 0]
    assert len(x) == 2 * RATE
    win = 2048
    for t in (0.25, 0.5, 1.0, 1.5, 1.75):
        i = int(t * RATE)
        f = peak_frequency(x[i - win // 2 : i + win // 2], RATE)
        assert f == pytest.approx(src.instantaneous_freq(np.array(t)), rel=0.02), t
    assert np.abs(x).max() == pytest.approx(0.5, abs=1e-3)


def test_chirp_loops() -> None:
    src = ChirpSource(100, 1000, 0.1, loop=True, realtime=False)
    x = run(src, Recorder(limit=20)).samples()[:, 0]  # 4 sweeps of 4800 samples
    np.testing.assert_array_equal(x[:4800], x[4800:9600])


def test_noise_rms_and_seed() -> None:
    a = run(NoiseSource(0.1, duration=2.0, seed=3, realtime=False), Recorder()).samples()
    b = run(NoiseSource(0.1, duration=2.0, seed=3, realtime=False), Recorder()).samples()
    np.testing.assert_array_equal(a, b)
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=0.02)
    assert abs(a.mean()) < 0.005


# -- files -------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("subtype", ["float", "int16"])
def test_file_round_trip_through_a_pipeline(tmp_path, channels: int, subtype: str) -> None:
    rng = np.random.default_rng(channels)
    x = (0.3 * rng.standard_normal((RATE + 123, channels))).clip(-1, 1).astype(np.float32)
    write_wav(tmp_path / "in.wav", x, RATE, subtype)
    expected, _ = read_wav(tmp_path / "in.wav")  # int16: already quantised once
    with rmlab.open_session(passthrough(), backpressure="block") as s:
        sink = FileSink(tmp_path / "out.wav", subtype).start(s)
        FileSource(tmp_path / "in.wav", realtime=False).start(s).wait(timeout=30)
        s.end()
        assert sink.wait(timeout=30)
        sink.stop()
    y, rate = read_wav(tmp_path / "out.wav")
    assert rate == RATE and y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)  # lossless, in order, nothing dropped
    assert sink.stats()["frames"] == -(-len(x) // BLOCK)
    if shutil.which("soxi"):  # another reader agrees on the header we streamed
        info = subprocess.run(["soxi", str(tmp_path / "out.wav")], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        assert f"Channels       : {channels}" in info and f"{len(x)} samples" in info


def test_file_source_loops_and_keeps_the_files_format(tmp_path) -> None:
    write_wav(tmp_path / "a.wav", np.arange(1000, dtype=np.float32)[:, None] / 1000, 16000)
    rec = run(FileSource(tmp_path / "a.wav", block=300, loop=True, realtime=False),
              Recorder(limit=8))  # fmt: skip
    assert [f.frames for f in rec.frames] == [300, 300, 300, 100] * 2
    assert rec.frames[0].sample_rate == 16000


def test_file_errors(tmp_path) -> None:
    with pytest.raises(DeviceError, match="no such WAV file"):
        FileSource(tmp_path / "missing.wav")
    with pytest.raises(DeviceError, match="subtype"):
        FileSink(tmp_path / "x.wav", "int24")
    sink = FileSink(tmp_path / "x.wav").start()
    sink.write(Audio(np.zeros(10, np.float32), RATE))
    with pytest.raises(DeviceError, match="one WAV holds one format"):
        sink.write(Audio(np.zeros(10, np.float32), 16000))
    sink.stop()
    assert read_wav(tmp_path / "x.wav")[0].shape == (10, 1)


def test_sink_keeps_one_node_and_shows_every_output(tmp_path) -> None:
    m = rmlab.Manifest(name="two").add("a", "PassThrough").add("b", "Gain", gain_db=-6.0)
    seen: list[str] = []
    with rmlab.open_session(m, backpressure="block") as s:
        sink = FileSink(tmp_path / "b.wav", node="b", on_output=lambda o: seen.append(o.node_id))
        sink.start(s)
        ToneSource(duration=0.2, realtime=False).start(s).wait(timeout=10)
        s.end()
        assert sink.wait(timeout=10)
        sink.stop()
    assert sorted(seen) == ["a"] * 10 + ["b"] * 10
    assert sink.stats()["frames"] == 10 and sink.stats()["ignored"] == 10
    y, _ = read_wav(tmp_path / "b.wav")
    assert np.abs(y).max() == pytest.approx(0.5 * 10 ** (-6 / 20), rel=1e-3)
