"""Analysers on real signals: levels, silence, spectra, pitch (sines and espeak-ng speech)."""

from __future__ import annotations

import numpy as np
import pytest

from rmlab import Audio, Json, Numpy
from rmlab.nodes.analysis import LevelMeter, Pitch, SilenceDetector, Spectrogram, Spectrum
from rmlab.testing import run_node
from tests.unit.nodes.conftest import SPEECH_RATE
from tests.unit.nodes.signals import frames_of, random_sizes, sine

pytestmark = pytest.mark.unit

SR = 48000


def test_level_meter_of_a_known_rms_sine() -> None:
    x = sine(1000, 0.02, SR, amp=0.5)  # 20 whole periods
    (event,) = run_node(LevelMeter(), [Audio(x, SR, timestamp_us=5)])
    assert isinstance(event, Json) and event.timestamp_us == 5
    v = event.value
    assert v["rms"] == pytest.approx(0.5 / np.sqrt(2), rel=1e-5)
    assert v["peak"] == pytest.approx(0.5, rel=1e-5)
    assert v["rms_db"] == pytest.approx(-9.0309, abs=1e-3)
    assert v["peak_db"] == pytest.approx(-6.0206, abs=1e-3)
    (quiet,) = run_node(LevelMeter(), [Audio(np.zeros(480), SR)])
    assert quiet.value == {"rms": 0.0, "peak": 0.0, "rms_db": -120.0, "peak_db": -120.0}


def test_silence_detector_on_silence_and_tone() -> None:
    tone = frames_of(sine(1000, 0.1, SR, amp=0.1), SR)  # 5 frames of 20 ms at -23 dB
    silence = frames_of(np.full(SR // 10, 1e-4, np.float32), SR)  # -80 dB
    out = run_node(SilenceDetector(threshold_db=-50), [*tone, *silence, *tone])
    assert [e.value["is_silent"] for e in out] == [False] * 5 + [True] * 5 + [False] * 5
    # min_duration_ms ignores short pauses: silent only from the 3rd quiet frame (60 ms)
    out = run_node(SilenceDetector(min_duration_ms=60), [*tone, *silence])
    assert [e.value["is_silent"] for e in out[5:]] == [False, False, True, True, True]
    assert out[-1].value["silent_ms"] == pytest.approx(100.0)
    assert out[0].value["rms_db"] == pytest.approx(-23.01, abs=0.01)


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "rectangular"])
def test_spectrum_peaks_at_the_sine(window: str) -> None:
    bin_hz = SR / 960
    x = sine(bin_hz * 37, 0.02, SR, amp=1.0)
    (out,) = run_node(Spectrum(window=window), [Audio(x, SR, timestamp_us=9)])
    assert isinstance(out, Numpy) and out.timestamp_us == 9
    assert out.array.shape == (481,) and out.array.dtype == np.float32
    assert int(np.argmax(out.array)) == 37
    assert out.array[37] == pytest.approx(0.0, abs=0.01)  # full scale reads 0 dB
    (padded,) = run_node(Spectrum(n_fft=4096), [Audio(sine(1234.0, 0.02, SR), SR)])
    assert abs(np.argmax(padded.array) * SR / 4096 - 1234.0) < SR / 4096


def test_spectrogram_shape_and_streaming_consistency() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(SR // 2).astype(np.float32)
    node = Spectrogram(n_fft=1024, hop=256)
    streamed = run_node(node, frames_of(x, SR, random_sizes(len(x), 9, high=1500)))
    (whole,) = run_node(Spectrogram(n_fft=1024, hop=256), [Audio(x, SR)], end=False)
    rows = np.concatenate([o.array for o in streamed])
    n_rows = 1 + (len(x) - 1024) // 256
    assert whole.array.shape == (n_rows, 513)
    assert rows.shape == (n_rows + 1, 513)  # + the zero-padded row for the uncovered tail
    np.testing.assert_allclose(rows[:n_rows], whole.array, atol=1e-3)
    # a sine shows up as a line in every row
    (line,) = run_node(
        Spectrogram(n_fft=1024, hop=512), [Audio(sine(SR / 1024 * 50, 0.1, SR), SR)], end=False
    )
    assert set(np.argmax(line.array, axis=1)) == {50}


def test_spectrogram_timestamps_point_at_their_first_row() -> None:
    frames = frames_of(np.zeros(3000, np.float32), SR, 1000)
    out = run_node(Spectrogram(n_fft=512, hop=256), frames, end=False)
    first_rows = [0, 512, 1536]  # the first row each input completes starts at these samples
    assert [o.timestamp_us for o in out] == [
        frames[0].timestamp_us + round(s * 1e6 / SR) for s in first_rows
    ]


def test_pitch_of_a_440_hz_sine() -> None:
    out = run_node(Pitch(), frames_of(sine(440, 0.5, SR, amp=0.3), SR))
    voiced = [e.value for e in out if e.value["voiced"]]
    assert len(voiced) >= len(out) - 2  # all but the frames that fill the history
    for v in voiced:
        assert v["f0_hz"] == pytest.approx(440.0, abs=2.0)
        assert v["confidence"] > 0.9
    silent = run_node(Pitch(), frames_of(np.zeros(SR // 10, np.float32), SR))
    assert not any(e.value["voiced"] for e in silent)


def test_pitch_of_espeak_speech_is_in_the_voice_range(speech: np.ndarray) -> None:
    frames = frames_of(speech, SPEECH_RATE, 320)
    out = run_node(Pitch(), frames)
    f0 = np.array([e.value["f0_hz"] for e in out if e.value["voiced"]])
    loud = sum(np.sqrt(np.mean(f.samples**2.0)) > 0.01 for f in frames)  # above -40 dBFS
    assert len(f0) > 0.25 * loud, f"only {len(f0)} of {loud} speech frames voiced"
    assert 70.0 <= np.median(f0) <= 400.0
    assert np.mean((f0 >= 70.0) & (f0 <= 400.0)) > 0.9, (
        f"f0 spread: {np.percentile(f0, [5, 50, 95])}"
    )
