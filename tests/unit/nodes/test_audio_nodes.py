"""Audio processors on real signals: streaming equals one-shot, responses match the design."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from scipy import signal

from rmlab import Audio, NodeError
from rmlab.nodes.audio import Chunker, Delay, Echo, Filter, Gain, Mix, Resample
from rmlab.testing import run_node
from tests.unit.nodes.signals import (
    T0_US,
    amplitude_at,
    cat,
    frames_of,
    random_sizes,
    sine,
)

pytestmark = pytest.mark.unit

SR = 48000


def test_gain_scales_by_exact_decibels() -> None:
    x = sine(1000, 0.1, SR)
    for db in (-60.0, -6.0, 0.0, 12.5, 24.0):
        (out,) = run_node(Gain(gain_db=db), [Audio(x, SR, timestamp_us=7, session_id="s")])
        assert out.timestamp_us == 7 and out.session_id == "s" and out.samples.dtype == np.float32
        measured = 20 * np.log10(np.sqrt(np.mean(out.samples**2.0)) / np.sqrt(np.mean(x**2.0)))
        assert measured == pytest.approx(db, abs=1e-4)


def test_gain_keeps_channels() -> None:
    stereo = np.stack([sine(500, 0.01, SR), sine(700, 0.01, SR)], axis=1)
    (out,) = run_node(Gain(gain_db=-20), [Audio(stereo, SR)])
    assert out.channels == 2
    np.testing.assert_allclose(out.as_2d(), stereo * 0.1, rtol=1e-5)


def test_mix_sums_two_sines_aligned_by_source() -> None:
    a, b = sine(440, 0.2, SR, 0.3), sine(1000, 0.2, SR, 0.2)
    fa, fb = frames_of(a, SR), frames_of(b, SR)
    # Branch "b" runs 3 frames behind and its clock is off: groups follow the sources,
    # the k-th frame of each, whatever the timestamps say.
    fb = [f.replace(timestamp_us=f.timestamp_us + 777) for f in fb]
    frames = [*fa[:3], *(f for pair in zip(fa[3:], fb, strict=False) for f in pair), *fb[-3:]]
    sources = ["a"] * 3 + ["a", "b"] * (len(fa) - 3) + ["b"] * 3
    out = run_node(Mix(), frames, sources=sources, end=False)  # every group completes
    assert len(out) == len(fa)
    assert [o.timestamp_us for o in out] == [f.timestamp_us for f in fa]  # the earliest
    y = cat(out)[:, 0]
    np.testing.assert_allclose(y, a + b, atol=1e-6)
    assert amplitude_at(y, 440, SR) == pytest.approx(0.3, abs=1e-3)
    assert amplitude_at(y, 1000, SR) == pytest.approx(0.2, abs=1e-3)


def _levels(out: list) -> list[float]:
    return [float(o.samples[0]) for o in out]


def test_mix_groups_one_frame_per_source_in_order() -> None:
    one = np.ones(4, np.float32)
    f = [Audio(one * (k + 1), SR, timestamp_us=100 - k) for k in range(6)]
    # Two frames from "a" queue up; "b" completes the first group, then the second;
    # a third "b" waits; "c" (any source) completes the third group with it.
    out = run_node(Mix(mode="mean"), f, sources=["a", "a", "b", "b", "b", "c"], end=False)
    assert _levels(out) == [(1 + 3) / 2, (2 + 4) / 2, (5 + 6) / 2]
    assert [o.timestamp_us for o in out] == [98, 97, 95]  # each group's earliest frame
    # Equal timestamps from one source are two frames of that source, not two inputs.
    same = [Audio(one, SR, timestamp_us=5)] * 2
    assert run_node(Mix(), same, sources=["a", "a"], end=False) == []
    assert _levels(run_node(Mix(), same, sources=["a", "a"])) == [1.0, 1.0]  # flush: alone


def test_mix_quiet_input_cannot_stall_or_grow() -> None:
    one = np.ones(4, np.float32)
    lonely = [Audio(one * (k + 1), SR, timestamp_us=k) for k in range(5)]
    # "b" never speaks: once "a" has more than max_pending frames queued, its oldest
    # goes out alone (b as silence), so at most max_pending frames are held back.
    mix = Mix(max_pending=2, mode="mean")
    out = run_node(mix, lonely, sources=["a"] * 5, end=False)
    assert _levels(out) == [0.5, 1.0, 1.5]
    assert [len(q) for q in mix._queues.values()] == [2]
    assert _levels(run_node(Mix(max_pending=2), lonely, sources=["a"] * 5)) == [1, 2, 3, 4, 5]
    # A late input that catches up still meets the frames that waited for it.
    late = run_node(Mix(max_pending=2), [*lonely[:2], lonely[2]], sources=["a", "a", "b"])
    assert _levels(late) == [1 + 3, 2]


def test_mix_flush_mixes_what_is_pending_oldest_first() -> None:
    one = np.ones(2, np.float32)
    f = [Audio(one * v, SR, timestamp_us=t) for v, t in ((1, 0), (2, 10), (10, 0))]
    out = run_node(Mix(inputs=3), f, sources=["a", "a", "b"])
    assert _levels(out) == [11, 2]
    assert [o.timestamp_us for o in out] == [0, 10]


def test_mix_pushed_frames_are_one_source() -> None:
    one = np.ones(2, np.float32)
    frames = [Audio(one, SR), Audio(one, SR)]
    assert run_node(Mix(), frames, end=False) == []  # both from "the session": one input
    assert Mix().process(frames[0]) == []  # called by hand: source defaults to None


def test_mix_pads_shorter_frames_and_rejects_mismatched_formats() -> None:
    out = run_node(Mix(), [Audio(np.ones(3), SR), Audio(np.ones(5), SR)], sources=["a", "b"])
    np.testing.assert_array_equal(out[0].samples, [2, 2, 2, 1, 1])
    with pytest.raises(NodeError, match=r"share sample rate and channels.*Resample"):
        run_node(Mix(), [Audio(np.ones(3), SR), Audio(np.ones(3), 16000)], sources=["a", "b"])


def test_mix_set_params_starts_afresh() -> None:
    one = np.ones(2, np.float32)
    mix = Mix()
    run_node(mix, [Audio(one, SR)], sources=["a"], end=False)
    mix.update(mode="mean")
    out = run_node(mix, [Audio(one * 3, SR)], sources=["b"])  # the pending "a" is gone
    assert _levels(out) == [1.5]


def test_resample_long_stream_equals_one_shot() -> None:
    rng = np.random.default_rng(1)
    x = (0.3 * sine(440, 10.0, SR) + 0.05 * rng.standard_normal(10 * SR)).astype(np.float32)
    out = run_node(Resample(target_rate=16000), frames_of(x, SR, 960))
    y = cat(out)[:, 0]
    one_shot = soxr.resample(x, SR, 16000)
    assert len(y) == len(one_shot) == 160000  # exact length over 10 s
    np.testing.assert_allclose(y, one_shot, atol=1e-5)
    assert all(o.sample_rate == 16000 for o in out)
    # Output timestamps sit on the input clock: contiguous, without drift over 10 s.
    expected = T0_US + np.round(np.cumsum([0] + [o.frames for o in out[:-1]]) * 1e6 / 16000)
    assert np.abs(np.array([o.timestamp_us for o in out]) - expected).max() <= 1


@pytest.mark.parametrize(("rate", "target", "channels"), [(44100, 48000, 2), (16000, 8000, 1)])
def test_resample_random_frame_sizes(rate: int, target: int, channels: int) -> None:
    rng = np.random.default_rng(rate)
    x = rng.uniform(-0.5, 0.5, (rate, channels)).astype(np.float32)
    out = run_node(
        Resample(target_rate=target, quality="MQ"), frames_of(x, rate, random_sizes(rate, 3))
    )
    y = cat(out)
    one_shot = soxr.resample(x, rate, target, quality="MQ")
    assert y.shape == one_shot.shape
    np.testing.assert_allclose(y, one_shot, atol=1e-5)


def test_resample_restarts_on_a_rate_change() -> None:
    frames = [*frames_of(sine(440, 0.1, SR), SR), *frames_of(sine(440, 0.1, 32000), 32000)]
    y = cat(run_node(Resample(target_rate=16000), frames))
    assert len(y) == 2 * 1600


def test_chunker_streaming_equals_concatenation() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20000, 2)).astype(np.float32)
    frames = frames_of(x, SR, random_sizes(len(x), 4, high=3000))
    out = run_node(Chunker(size=512), frames)
    assert [o.frames for o in out] == [512] * (20000 // 512) + [20000 % 512]
    assert all(o.channels == 2 for o in out)
    np.testing.assert_array_equal(cat(out), x)
    # each chunk's timestamp is its first sample's time on the input clock
    starts = np.arange(len(out)) * 512
    np.testing.assert_allclose([o.timestamp_us for o in out], T0_US + starts * 1e6 / SR, atol=1)


def test_chunker_remainder_modes_and_gaps() -> None:
    frames = [Audio(np.ones(700), SR, timestamp_us=0), Audio(np.ones(700), SR, timestamp_us=10**6)]
    pad = run_node(Chunker(size=512, remainder="pad"), frames)
    assert [o.frames for o in pad] == [512, 512, 512]
    assert pad[-1].samples[1400 - 1024 :].max() == 0.0
    assert len(run_node(Chunker(size=512, remainder="drop"), frames)) == 2
    # a chunk's time is its first sample's: the third starts 324 samples into the
    # second frame, which came after a gap in the input clock
    ts = [o.timestamp_us for o in run_node(Chunker(size=512), frames)]
    assert ts == [0, round(512e6 / SR), 10**6 + round(324e6 / SR)]


FILTERS = [
    {"kind": "lowpass", "cutoff_hz": 1000.0, "order": 4},
    {"kind": "highpass", "cutoff_hz": 300.0, "order": 6},
    {"kind": "bandpass", "cutoff_hz": 500.0, "cutoff2_hz": 2000.0, "order": 3},
    {"kind": "notch", "cutoff_hz": 1000.0, "q": 5.0},
]


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: p["kind"])
def test_filter_streaming_equals_one_shot(params: dict) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((SR, 2)).astype(np.float32) * 0.3
    streamed = cat(run_node(Filter(**params), frames_of(x, SR, random_sizes(len(x), 6))))
    (whole,) = run_node(Filter(**params), [Audio(x, SR)])
    np.testing.assert_allclose(streamed, whole.as_2d(), atol=1e-6)
    reference = signal.sosfilt(Filter(**params).design(SR), x.astype(np.float64), axis=0)
    np.testing.assert_allclose(streamed, reference, atol=1e-6)


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: p["kind"])
def test_filter_magnitude_response_matches_design(params: dict) -> None:
    node = Filter(**params)
    sos = node.design(SR)
    for freq in (100.0, 400.0, 800.0, 1000.0, 1500.0, 3000.0, 8000.0):
        _, h = signal.sosfreqz(sos, worN=[freq], fs=SR)
        expected = 20 * np.log10(abs(h[0]) + 1e-300)
        if expected < -60:  # below what a float32 sine can measure
            continue
        x = sine(freq, 1.0, SR, amp=0.5)
        node.reset()
        y = cat(run_node(node, frames_of(x, SR)))[SR // 2 :, 0]  # after settling
        measured = 20 * np.log10(amplitude_at(y, freq, SR) / 0.5)
        assert measured == pytest.approx(expected, abs=0.5), f"{params['kind']} at {freq} Hz"


def test_filter_cutoff_above_nyquist_is_a_clear_error() -> None:
    with pytest.raises(NodeError, match=r"cutoff_hz=9000 Hz must be below the Nyquist.*8000 Hz"):
        run_node(Filter(cutoff_hz=9000), [Audio(np.zeros(160), 16000)])


def test_delay_shifts_by_exact_samples_and_flushes_the_tail() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5000, 2)).astype(np.float32)
    out = run_node(Delay(delay_ms=10.0), frames_of(x, SR, random_sizes(5000, 8, high=900)))
    y = cat(out)
    d = 480  # 10 ms at 48 kHz
    assert y.shape == (5000 + d, 2)
    np.testing.assert_array_equal(y[:d], 0.0)
    np.testing.assert_array_equal(y[d:], x)
    # the tail follows the last input (to the microsecond: both are rounded)
    assert abs(out[-1].timestamp_us - (T0_US + round(5000e6 / SR))) <= 1
    (same,) = run_node(Delay(delay_ms=0.0), [Audio(x, SR)], end=False)
    np.testing.assert_array_equal(same.as_2d(), x)


def test_echo_impulse_response() -> None:
    impulse = np.zeros(4000, np.float32)
    impulse[0] = 1.0
    out = run_node(Echo(delay_ms=10.0, feedback=0.5, mix=0.4), frames_of(impulse, SR, 333))
    y = cat(out)[:, 0]
    expected = np.zeros(4000)
    expected[0] = 0.6
    for k in range(1, 9):  # echoes at 480, 960, ... samples, each halved again
        expected[480 * k] = 0.4 * 0.5 ** (k - 1)
    np.testing.assert_allclose(y, expected, atol=1e-7)
