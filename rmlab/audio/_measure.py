"""Measurements on recorded audio, shared by the audio tests and ``rmlab bench audio``.

- ``peak_frequency``: the strongest frequency, to a small fraction of an FFT bin.
- ``sine_residual``: a pure sine obeys x[n] = 2 cos(w) x[n-1] - x[n-2]; the residual is
  ~1e-7 for a clean float32 sine and jumps at any lost, repeated or shifted sample.
- ``loopback``: where each window of what was sent turns up in what was recorded
  (cross-correlation), with the correlation and the delay between their timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rmlab.data import Audio

__all__ = ["Alignment", "loopback", "peak_frequency", "sine_residual"]


def peak_frequency(x: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the highest peak of ``x``'s Hann-windowed spectrum.

    The peak bin is refined by fitting a parabola to the log magnitudes of it and its
    neighbours (exact for a Gaussian peak, close for a Hann one).
    """
    x = np.asarray(x, np.float64)
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-30
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1 : k + 2])
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * rate / len(x)


def sine_residual(x: np.ndarray, freq: float, rate: int) -> np.ndarray:
    """x[n] - 2 cos(w) x[n-1] + x[n-2] for a sine of ``freq``: near zero if nothing broke."""
    x = np.asarray(x, np.float64)
    return x[2:] - 2 * np.cos(2 * np.pi * freq / rate) * x[1:-1] + x[:-2]


@dataclass(frozen=True)
class Alignment:
    """One sent window found in the recording."""

    sent_index: int
    """First sample of the window in the sent stream."""
    recorded_index: int
    """Where it starts in the recorded stream."""
    corr: float
    """Pearson correlation of the window with the recording there."""
    latency_s: float
    """Recorded timestamp minus sent timestamp of that first sample."""


def loopback(sent: Sequence[Audio], recorded: Sequence[Audio], window: int) -> list[Alignment]:
    """Find each ``window``-sample piece of ``sent`` (mono frames) in ``recorded``.

    Use a signal that never repeats (noise): a tone matches itself every period.
    """
    s, s_time = _stream(sent)
    r, r_time = _stream(recorded)
    result = []
    for a in range(0, len(s) - window + 1, window):
        w = s[a : a + window]
        if not w.any() or len(r) < window:
            continue
        # FFT cross-correlation of the whole recording against this window
        n = 1 << int(np.ceil(np.log2(len(r) + window)))
        xc = np.fft.irfft(np.fft.rfft(r, n) * np.conj(np.fft.rfft(w, n)), n)[: len(r) - window + 1]
        i = int(np.argmax(xc))
        corr = float(np.corrcoef(w, r[i : i + window])[0, 1])
        result.append(Alignment(a, i, corr, (r_time(i) - s_time(a)) / 1e6))
    return result


def _stream(frames: Sequence[Audio]) -> tuple[np.ndarray, Callable[[int], float]]:
    """Frames' samples joined, and a function from sample index to its timestamp (µs)."""
    x = np.concatenate([f.samples for f in frames]).astype(np.float64)
    starts = np.cumsum([0] + [f.frames for f in frames])

    def time_of(i: int) -> float:
        k = int(np.searchsorted(starts, i, side="right")) - 1
        f = frames[k]
        return f.timestamp_us + (i - starts[k]) * 1e6 / f.sample_rate

    return x, time_of
