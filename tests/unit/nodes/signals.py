"""Test signals and helpers shared by the node tests: sines, framing, speech."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest
import soxr

from rmlab.data import Audio, RuntimeData

T0_US = 1_700_000_000_000_000  # a realistic capture clock: timestamps are epoch microseconds


def sine(freq: float, seconds: float, sr: int, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def frames_of(
    x: np.ndarray, sr: int, sizes: int | Iterable[int] = 960, *, t0_us: int = T0_US
) -> list[Audio]:
    """Cut ``x`` (1-D, or (n, channels)) into Audio frames timestamped on a sample clock."""
    x = x if x.ndim == 2 else x[:, None]
    if isinstance(sizes, int):
        sizes = [sizes] * (len(x) // sizes + 1)
    out, pos = [], 0
    for size in sizes:
        if pos >= len(x):
            break
        chunk = x[pos : pos + size]
        out.append(Audio(chunk, sr, x.shape[1], timestamp_us=t0_us + round(pos * 1e6 / sr)))
        pos += len(chunk)
    return out


def random_sizes(n: int, seed: int, low: int = 1, high: int = 2000) -> list[int]:
    """Random frame sizes covering at least ``n`` samples."""
    rng = np.random.default_rng(seed)
    return list(rng.integers(low, high, size=n // low + 1))


def cat(outputs: Sequence[RuntimeData]) -> np.ndarray:
    """The samples of Audio outputs joined as (n, channels)."""
    audio = [o for o in outputs if isinstance(o, Audio)]
    return np.concatenate([o.as_2d() for o in audio]) if audio else np.zeros((0, 1), np.float32)


def amplitude_at(y: np.ndarray, freq: float, sr: int) -> float:
    """Amplitude of the ``freq`` component of ``y`` (least-squares fit of a sine and cosine)."""
    t = np.arange(len(y)) / sr
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


def speak(text: str, path: Path, sr: int) -> np.ndarray:
    """``text`` spoken by Debian's espeak-ng, as float32 at ``sr``; skips without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng; .ci/run installs it)")
    subprocess.run([exe, "-v", "en", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    return soxr.resample(x, rate, sr).astype(np.float32) if rate != sr else x
