"""The pieces between the audio thread and a session, without a device.

The Microphone's hand-off, the Speaker's jitter buffer and resampler, and the
measurements the device tests and ``rmlab bench audio`` rely on.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from rmlab.audio import Microphone, Speaker
from rmlab.audio._measure import loopback, peak_frequency, sine_residual
from rmlab.audio.speaker import JitterBuffer, match_channels
from rmlab.data import Audio

pytestmark = pytest.mark.audio

RATE = 48000


# -- Microphone: the audio thread never waits --------------------------------------------


class _NoDeviceMic(Microphone):
    def _open(self) -> None:  # the hand-off and pusher thread without a stream
        pass


class _StuckSession:
    """A session in "block" mode whose pipeline is stuck: push waits until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.frames: list[Audio] = []

    def push(self, frame: Audio) -> None:
        self.release.wait()
        self.frames.append(frame)


def test_microphone_callback_never_blocks_and_counts_drops() -> None:
    session = _StuckSession()
    mic = _NoDeviceMic(queue=4).start(session)
    status = SimpleNamespace(input_overflow=False)
    times = SimpleNamespace(currentTime=10.0, inputBufferAdcTime=9.98)
    block = np.zeros((960, 1), np.float32)
    worst = 0.0
    for i in range(20):
        block[:] = i
        t = time.perf_counter()
        mic._callback(block, 960, times, status)
        worst = max(worst, time.perf_counter() - t)
        time.sleep(0.001)  # let the pusher take the first one
    assert worst < 0.005  # microseconds in practice; never the stuck push
    session.release.set()
    deadline = time.monotonic() + 5
    while len(session.frames) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    mic.stop()
    stats = mic.stats()
    assert stats["captured"] == 20 and stats["drops"] == 15 and stats["frames"] == 5
    # the first frame was in flight; the newest four survived the drops
    assert [int(f.samples[0]) for f in session.frames] == [0, 16, 17, 18, 19]


@pytest.mark.parametrize(("mode", "adc", "age_us"), [("adc", 9.98, 20_000), ("adc", 0.0, 10_000),
                                                      ("callback", 9.98, 0)])  # fmt: skip
def test_microphone_timestamps(mode: str, adc: float, age_us: int) -> None:
    """ADC time: its age at the callback; no ADC time: a block (10 ms); or the callback's time."""
    mic = _NoDeviceMic(block=480, timestamps=mode)  # type: ignore[arg-type]
    times = SimpleNamespace(currentTime=10.0, inputBufferAdcTime=adc)
    before = time.time_ns() // 1000
    mic._callback(np.zeros((480, 1), np.float32), 480, times, SimpleNamespace(input_overflow=0))
    after = time.time_ns() // 1000
    _, ts = mic._handoff.get(0)
    assert before - age_us <= ts <= after - age_us


# -- Speaker: jitter buffer, channels, resampling ------------------------------------------


def test_jitter_buffer_prefills_plays_in_order_and_counts_underruns() -> None:
    jb = JitterBuffer(1, prefill=300, capacity=1000)
    out = np.empty((128, 1), np.float32)
    jb.write(np.arange(200, dtype=np.float32)[:, None])
    jb.read(out)
    assert not out.any() and jb.level == 200  # still prefilling: silence
    jb.write(np.arange(200, 400, dtype=np.float32)[:, None])
    played = []
    for _ in range(3):
        jb.read(out)
        played.append(out[:, 0].copy())
    x = np.concatenate(played)
    np.testing.assert_array_equal(x[:384], np.arange(384))
    assert jb.underruns == 0
    jb.read(out)  # 16 left: they play, the rest is silence, and that is an underrun
    np.testing.assert_array_equal(out[:16, 0], np.arange(384, 400))
    assert not out[16:].any() and jb.underruns == 1


def test_jitter_buffer_plays_a_short_tail_after_waiting_one_prefill() -> None:
    jb = JitterBuffer(1, prefill=300, capacity=1000)
    jb.write(np.ones((100, 1), np.float32))  # the end of a stream: less than a prefill
    out = np.empty((128, 1), np.float32)
    heard = []
    for _ in range(5):
        jb.read(out)
        heard.append(int(out.sum()))
    assert heard == [0, 0, 0, 100, 0] and jb.level == 0


def test_jitter_buffer_wraps_and_drops_the_oldest_when_full() -> None:
    jb = JitterBuffer(2, prefill=0, capacity=100)
    src = np.arange(2000, dtype=np.float32).reshape(-1, 2)  # 1000 stereo frames
    out = np.empty((30, 2), np.float32)
    got = []
    for k in range(0, 1000, 37):  # odd sizes: every wrap-around position is hit
        jb.write(src[k : k + 37])
        jb.read(out)
        got.append(out.copy())
    np.testing.assert_array_equal(np.concatenate(got)[:300], src[:300])
    jb.write(src[:150])  # more than it holds: only the newest 100 stay
    assert jb.level == 100 and jb.overflow_frames > 0
    big = np.empty((100, 2), np.float32)
    jb.read(big)
    np.testing.assert_array_equal(big, src[50:150])


def test_match_channels() -> None:
    mono = np.array([[1.0], [2.0]], np.float32)
    np.testing.assert_array_equal(match_channels(mono, 2), [[1, 1], [2, 2]])
    stereo = np.array([[1.0, 3.0]], np.float32)
    np.testing.assert_array_equal(match_channels(stereo, 1), [[2.0]])
    assert match_channels(stereo, 2) is stereo


def test_speaker_resamples_a_pipeline_at_another_rate() -> None:
    spk = Speaker(sample_rate=44100, max_ms=5000)  # not started: no device needed
    n = np.arange(RATE)
    x = (0.5 * np.sin(2 * np.pi * 1000 * n / RATE)).astype(np.float32)
    for k in range(0, RATE, 960):
        spk.write(Audio(x[k : k + 960], RATE))
    out = np.empty((spk.buffer.level, 1), np.float32)
    spk.buffer.read(out)
    y = out[2000:, 0]  # past the resampler's start-up
    assert abs(len(out) - 44100) < 1000  # soxr holds back a few hundred samples
    assert peak_frequency(y, 44100) == pytest.approx(1000, abs=0.1)
    assert np.abs(sine_residual(y, 1000, 44100)).max() < 1e-3  # no clicks at block edges


# -- measurements ----------------------------------------------------------------------------


def test_peak_frequency_and_sine_residual() -> None:
    n = np.arange(RATE)
    x = np.sin(2 * np.pi * 440.3 * n / RATE)
    assert peak_frequency(x, RATE) == pytest.approx(440.3, abs=0.02)
    assert np.abs(sine_residual(x, 440.3, RATE)).max() < 1e-9
    broken = np.delete(x, 10000)  # one lost sample
    assert np.abs(sine_residual(broken, 440.3, RATE)).max() > 1e-3


def test_loopback_finds_a_known_delay() -> None:
    rng = np.random.default_rng(0)
    sent_x = rng.standard_normal(RATE).astype(np.float32)
    delay = 1234
    rec_x = np.concatenate([np.zeros(delay, np.float32), sent_x])[:RATE]
    t0 = 1_700_000_000_000_000

    def frames(x: np.ndarray, start_us: int) -> list[Audio]:
        return [Audio(x[k : k + 960], RATE, timestamp_us=start_us + k * 1_000_000 // RATE)
                for k in range(0, len(x), 960)]  # fmt: skip

    found = loopback(frames(sent_x, t0), frames(rec_x, t0 + 5000), 4800)
    assert len(found) == 10
    assert found[-1].corr < 0.9  # cut off by the recording's end: found nowhere
    for a in found[:-1]:
        assert a.recorded_index == a.sent_index + delay and a.corr > 0.999999
        assert a.latency_s == pytest.approx(delay / RATE + 0.005, abs=1e-6)
