"""Synthetic sources: a tone, white noise and a frequency sweep, no device needed.

Samples are computed from the absolute sample index, never by accumulating a phase,
so a tone is exactly the sine it claims to be after hours, and a frame boundary is
invisible in the signal. Pacing (real time or as fast as possible) comes from
``PacedSource``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from rmlab.audio._base import Clock, PacedSource
from rmlab.errors import DeviceError

__all__ = ["ChirpSource", "NoiseSource", "ToneSource"]


class _Synth(PacedSource):
    """Blocks of ``_signal(n)`` for sample indices ``n``, for ``duration`` s (None: forever)."""

    def __init__(
        self,
        amplitude: float,
        sample_rate: int,
        block: int,
        duration: float | None,
        channels: int,
        realtime: bool,
        clock: Clock | None,
    ) -> None:
        super().__init__(sample_rate, block, channels, realtime, clock)
        self.amplitude = float(amplitude)
        self.duration = duration

    def _signal(self, n: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _blocks(self) -> Iterator[np.ndarray]:
        total = None if self.duration is None else round(self.duration * self.sample_rate)
        start = 0
        while total is None or start < total:
            stop = start + self.block if total is None else min(start + self.block, total)
            x = self._signal(np.arange(start, stop, dtype=np.float64)).astype(np.float32)
            yield np.repeat(x[:, None], self.channels, axis=1)  # same signal on every channel
            start = stop


class ToneSource(_Synth):
    """A sine: ``amplitude * sin(2 pi freq n / sample_rate)``, ``duration`` s or forever."""

    def __init__(
        self,
        freq: float = 440.0,
        amplitude: float = 0.5,
        sample_rate: int = 48000,
        block: int = 960,
        duration: float | None = None,
        *,
        channels: int = 1,
        realtime: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(amplitude, sample_rate, block, duration, channels, realtime, clock)
        self.freq = float(freq)

    def _signal(self, n: np.ndarray) -> np.ndarray:
        # (freq * n) mod rate keeps the argument small, so precision does not decay over hours
        return self.amplitude * np.sin(2 * np.pi * np.mod(self.freq * n, self.sample_rate)
                                       / self.sample_rate)  # fmt: skip


class NoiseSource(_Synth):
    """Gaussian white noise of RMS ``rms`` (clipped to [-1, 1]); ``seed`` makes it repeatable."""

    def __init__(
        self,
        rms: float = 0.1,
        sample_rate: int = 48000,
        block: int = 960,
        duration: float | None = None,
        *,
        seed: int | None = None,
        channels: int = 1,
        realtime: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(rms, sample_rate, block, duration, channels, realtime, clock)
        self.rms, self.seed = float(rms), seed
        self._rng = np.random.default_rng(seed)

    def _blocks(self) -> Iterator[np.ndarray]:
        self._rng = np.random.default_rng(self.seed)  # each start() replays the same noise
        return super()._blocks()

    def _signal(self, n: np.ndarray) -> np.ndarray:
        return np.clip(self.amplitude * self._rng.standard_normal(n.shape[0]), -1.0, 1.0)


class ChirpSource(_Synth):
    """A sweep from ``f0`` to ``f1`` Hz over ``duration`` s, ``"linear"`` or ``"log"``.

    ``loop=True`` repeats the sweep forever (each repetition starts at phase 0).
    """

    def __init__(
        self,
        f0: float = 100.0,
        f1: float = 8000.0,
        duration: float = 5.0,
        amplitude: float = 0.5,
        sample_rate: int = 48000,
        block: int = 960,
        *,
        method: str = "linear",
        loop: bool = False,
        channels: int = 1,
        realtime: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if method not in ("linear", "log"):
            raise DeviceError(f"method must be 'linear' or 'log', got {method!r}")
        if duration <= 0 or f0 <= 0 or f1 <= 0:
            raise DeviceError("f0, f1 and duration must be positive")
        super().__init__(amplitude, sample_rate, block, None if loop else duration, channels,
                         realtime, clock)  # fmt: skip
        self.f0, self.f1, self.sweep_s, self.method = float(f0), float(f1), float(duration), method

    def instantaneous_freq(self, t: np.ndarray) -> np.ndarray:
        """The sweep's frequency (Hz) at ``t`` seconds into a sweep."""
        f0, f1, T = self.f0, self.f1, self.sweep_s
        if self.method == "linear":
            return f0 + (f1 - f0) * t / T
        return f0 * (f1 / f0) ** (t / T)

    def _signal(self, n: np.ndarray) -> np.ndarray:
        f0, f1, T = self.f0, self.f1, self.sweep_s
        t = np.mod(n, round(T * self.sample_rate)) / self.sample_rate
        if self.method == "linear":
            phase = f0 * t + (f1 - f0) * t * t / (2 * T)
        elif math.isclose(f0, f1):
            phase = f0 * t
        else:
            k = math.log(f1 / f0)
            phase = f0 * T / k * np.expm1(t * k / T)
        return self.amplitude * np.sin(2 * np.pi * phase)
