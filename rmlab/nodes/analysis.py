"""Built-in analysers: Audio in, measurements out (Json events or Numpy arrays).

Each output carries the timestamp of the audio it describes, so plots and logs
line measurements up with the sound. Levels are in dBFS (0 dB = full scale) and
floored at -120 dB, because JSON cannot carry -inf.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from rmlab.data import Audio, Json, Numpy
from rmlab.nodes._dsp import (
    SampleBuffer,
    StreamingNode,
    json_like,
    levels,
    mono,
    to_db,
)
from rmlab.nodes.base import Node, Param

__all__ = ["LevelMeter", "Pitch", "SilenceDetector", "Spectrogram", "Spectrum"]

AUDIO = frozenset({Audio})
WINDOWS = ("hann", "hamming", "blackman", "rectangular")


class LevelMeter(Node):
    """Measure each frame's level: Json ``{rms, peak, rms_db, peak_db}``.

    ``rms`` and ``peak`` are linear (over all channels of the frame), the ``_db``
    twins are in dBFS. One event per input frame, stamped with its timestamp.
    """

    accepts = AUDIO
    produces = frozenset({Json})
    stateless = True

    def process(self, frame: Audio) -> Json:
        rms, peak = levels(frame)
        value = {"rms": rms, "peak": peak, "rms_db": to_db(rms), "peak_db": to_db(peak)}
        return json_like(frame, value)


class SilenceRun:
    """How long the level has stayed at or below a threshold, frame after frame."""

    def __init__(self, threshold_db: float):
        self.threshold_db = threshold_db
        self.silent_s = 0.0

    def update(self, frame: Audio) -> tuple[bool, float]:
        """``(below, rms_db)`` for this frame; ``silent_s`` grows while below."""
        rms_db = to_db(levels(frame)[0])
        below = rms_db <= self.threshold_db
        self.silent_s = self.silent_s + frame.duration_s if below else 0.0
        return below, rms_db


class SilenceDetector(StreamingNode):
    """Tell silence from sound: Json ``{is_silent, rms_db, silent_ms}`` per frame.

    A frame is quiet when its RMS level is at or below ``threshold_db``;
    ``is_silent`` becomes true once quiet frames have lasted ``min_duration_ms``
    (so a short pause between words can be ignored). ``silent_ms`` is how long it
    has been quiet, this frame included.
    """

    accepts = AUDIO
    produces = frozenset({Json})
    threshold_db: float = Param(
        -50.0, min=-120.0, max=0.0, doc="level at or below which a frame is quiet (dBFS)"
    )
    min_duration_ms: float = Param(
        0.0, min=0.0, max=600000.0, doc="quiet time before is_silent turns true"
    )

    def reset(self) -> None:
        self._run = SilenceRun(self.threshold_db)

    def process(self, frame: Audio) -> Json:
        below, rms_db = self._run.update(frame)
        silent_ms = self._run.silent_s * 1000.0
        is_silent = below and silent_ms >= self.min_duration_ms
        return json_like(frame, {"is_silent": is_silent, "rms_db": rms_db, "silent_ms": silent_ms})


@lru_cache(maxsize=32)
def window(name: str, n: int) -> np.ndarray:
    """A periodic (DFT-even) analysis window, as for spectra; "rectangular" is all ones."""
    if name == "rectangular":
        return np.ones(n)
    symmetric = {"hann": np.hanning, "hamming": np.hamming, "blackman": np.blackman}[name]
    return symmetric(n + 1)[:-1]


def magnitude_db(frames: np.ndarray, win: np.ndarray, n_fft: int) -> np.ndarray:
    """Windowed FFT magnitude in dB along the last axis, scaled so a full-scale sine reads 0 dB."""
    spec = np.abs(np.fft.rfft(frames * win, n=n_fft, axis=-1))
    spec *= 2.0 / win.sum()  # amplitude of a sine that falls exactly on a bin
    return (20.0 * np.log10(np.maximum(spec, 1e-6))).astype(np.float32)


class Spectrum(Node):
    """Magnitude spectrum of each frame in dB, as Numpy ``float32[n_fft // 2 + 1]``.

    The frame's channels are averaged, windowed (``window``) and transformed with
    an FFT of ``n_fft`` points (0: the frame's length; shorter frames are
    zero-padded, longer ones cut). Bin ``k`` is ``k * sample_rate / n_fft`` Hz; a
    full-scale sine on a bin reads 0 dB; the floor is -120 dB.
    """

    accepts = AUDIO
    produces = frozenset({Numpy})
    window: str = Param("hann", choices=WINDOWS, doc="analysis window")
    n_fft: int = Param(0, min=0, max=1 << 20, doc="FFT size; 0 = the frame's length")

    def process(self, frame: Audio) -> Numpy:
        x = mono(frame).astype(np.float64)
        n_fft = self.n_fft or len(x)
        x = x[:n_fft]
        if not len(x):
            raise ValueError("Spectrum got an empty frame; set n_fft or send samples")
        out = magnitude_db(x, window(self.window, len(x)), n_fft)
        return Numpy(out, timestamp_us=frame.timestamp_us, session_id=frame.session_id)


class Spectrogram(StreamingNode):
    """Short-time spectra (STFT) in dB as Numpy ``float32[frames, n_fft // 2 + 1]``.

    Channels are averaged. Analysis frames of ``n_fft`` samples start every ``hop``
    samples from the first sample of the stream; samples not yet covered are
    carried to the next input, so the rows emitted over a stream equal the STFT of
    the whole signal. Each input emits the rows it completed (none: no output); the
    array's timestamp is that of the first sample of its first row. At the end of
    input, samples no row has covered yet get one last zero-padded row.
    """

    accepts = AUDIO
    produces = frozenset({Numpy})
    n_fft: int = Param(512, min=16, max=1 << 16, doc="samples per analysis frame")
    hop: int = Param(256, min=1, max=1 << 16, doc="samples between analysis frames")
    window: str = Param("hann", choices=WINDOWS, doc="analysis window")

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        if values["hop"] > values["n_fft"]:
            return [("hop", f"must be <= n_fft ({values['n_fft']}), or samples are skipped")]
        return []

    def reset(self) -> None:
        self._buf: SampleBuffer | None = None
        self._rows = 0
        self._session = ""

    def process(self, frame: Audio) -> Numpy | None:
        if self._buf is None or self._buf.sample_rate != frame.sample_rate:
            self._buf = SampleBuffer(frame.sample_rate, 1)
        self._session = frame.session_id
        self._buf.append(Audio(mono(frame), frame.sample_rate, timestamp_us=frame.timestamp_us))
        n = len(self._buf)
        if n < self.n_fft:
            return None
        count = 1 + (n - self.n_fft) // self.hop
        x = self._buf.data[:, 0].astype(np.float64)
        rows = np.lib.stride_tricks.sliding_window_view(x, self.n_fft)[:: self.hop][:count]
        return self._emit(rows, count * self.hop)

    def flush(self) -> Numpy | None:
        buf = self._buf
        covered = self.n_fft - self.hop if self._rows else 0
        if buf is None or len(buf) <= covered:
            return None
        row = np.zeros(self.n_fft)
        row[: len(buf)] = buf.data[: self.n_fft, 0]
        return self._emit(row[None, :], len(buf))

    def _emit(self, rows: np.ndarray, consumed: int) -> Numpy:
        assert self._buf is not None
        ts = self._buf.ts_at(0)
        out = magnitude_db(rows, window(self.window, self.n_fft), self.n_fft)
        self._buf.consume(consumed)
        self._rows += len(rows)
        return Numpy(out, timestamp_us=ts, session_id=self._session)


class Pitch(StreamingNode):
    """Estimate the fundamental frequency with YIN: Json ``{f0_hz, confidence, voiced}``.

    YIN (de Cheveigné and Kawahara, 2002) finds the lag where the signal best
    matches a shifted copy of itself, using the cumulative-mean-normalised
    difference function (computed with FFTs, so it is vectorised) and a parabola
    through its minimum for sub-sample precision. It needs two periods of the
    lowest pitch, so the node keeps that much history across frames and emits one
    event per input frame about the most recent audio. ``voiced`` is false (and
    ``f0_hz`` 0) while the history is filling, when the frame is quieter than
    ``silence_db`` or when no lag beats ``threshold``; ``confidence`` is 1 minus the
    normalised difference at the chosen lag.
    """

    accepts = AUDIO
    produces = frozenset({Json})
    fmin_hz: float = Param(65.0, min=20.0, max=2000.0, doc="lowest pitch searched (Hz)")
    fmax_hz: float = Param(1000.0, min=40.0, max=8000.0, doc="highest pitch searched (Hz)")
    threshold: float = Param(0.15, min=0.01, max=1.0, doc="YIN threshold: lower is stricter")
    silence_db: float = Param(
        -60.0, min=-120.0, max=0.0, doc="frames below this level are unvoiced"
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        if values["fmax_hz"] <= values["fmin_hz"]:
            return [("fmax_hz", f"must be above fmin_hz ({values['fmin_hz']})")]
        return []

    def reset(self) -> None:
        self._history = np.zeros(0)
        self._rate = 0

    def process(self, frame: Audio) -> Json:
        sr = frame.sample_rate
        tau_max = int(np.ceil(sr / self.fmin_hz))
        need = 2 * tau_max
        if sr != self._rate:
            self._history, self._rate = np.zeros(0), sr
        self._history = np.concatenate([self._history, mono(frame).astype(np.float64)])[-need:]
        f0, confidence = 0.0, 0.0
        if len(self._history) == need and to_db(levels(frame)[0]) > self.silence_db:
            f0, confidence = self._yin(self._history, sr, tau_max)
        voiced = f0 > 0.0
        return json_like(frame, {"f0_hz": f0, "confidence": confidence, "voiced": voiced})

    def _yin(self, x: np.ndarray, sr: int, tau_max: int) -> tuple[float, float]:
        w = tau_max  # integration window
        tau_min = max(2, int(sr / self.fmax_hz))
        n = 1 << int(np.ceil(np.log2(len(x) + w)))
        # d(tau) = sum_j (x[j] - x[j + tau])^2 = E(0) + E(tau) - 2 r(tau), j < w
        corr = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(x[:w], n)), n)[: tau_max + 1]
        c = np.concatenate([[0.0], np.cumsum(x * x)])
        energy = c[w : w + tau_max + 1] - c[: tau_max + 1]
        d = np.maximum(energy[0] + energy - 2.0 * corr, 0.0)
        cmnd = np.ones_like(d)
        tau = np.arange(1, tau_max + 1)
        cmnd[1:] = d[1:] * tau / np.maximum(np.cumsum(d[1:]), 1e-12)
        search = cmnd[tau_min:tau_max]
        below = np.flatnonzero(search < self.threshold)
        if not len(below):
            return 0.0, 0.0
        t = tau_min + below[0]
        while t + 1 < tau_max and cmnd[t + 1] < cmnd[t]:  # walk down to the local minimum
            t += 1
        a, b, c3 = cmnd[t - 1], cmnd[t], cmnd[t + 1]
        if a < b or c3 < b:  # the dip continues past the searched range: not a pitch in it
            return 0.0, 0.0
        denom = a - 2 * b + c3
        shift = 0.5 * (a - c3) / denom if denom > 0 else 0.0
        return float(sr / (t + shift)), float(np.clip(1.0 - b, 0.0, 1.0))
