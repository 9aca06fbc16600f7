"""WAV files in and out, as float32 ``(frames, channels)`` arrays.

scipy's reader handles every common PCM layout (8/16/24/32-bit int and float);
integer samples are scaled to [-1, 1) so every node sees the same range.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from rmlab.errors import DeviceError

__all__ = ["read_wav", "write_wav"]

_SUBTYPES = ("float", "int16")


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a WAV file as ``(float32 samples of shape (frames, channels), sample_rate)``."""
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            # scipy warns about chunks it skips (LIST, cue): harmless metadata
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(os.fspath(path))
    except FileNotFoundError as exc:
        raise DeviceError(f"no such WAV file: {os.fspath(path)!r}") from exc
    except (ValueError, OSError) as exc:
        raise DeviceError(f"cannot read {os.fspath(path)!r} as WAV: {exc}") from exc
    if data.ndim == 1:
        data = data[:, None]
    if data.dtype.kind == "f":
        samples = data.astype(np.float32, copy=False)
    elif data.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        samples = (data.astype(np.float32) - 128.0) / 128.0
    else:
        samples = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    return np.ascontiguousarray(samples), int(rate)


def write_wav(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sample_rate: int,
    subtype: str = "float",
) -> None:
    """Write ``samples`` (``(frames,)`` or ``(frames, channels)``) as 32-bit float or 16-bit PCM."""
    from scipy.io import wavfile

    if subtype not in _SUBTYPES:
        raise DeviceError(f"subtype must be one of {', '.join(_SUBTYPES)}, got {subtype!r}")
    x = np.asarray(samples, dtype=np.float32)
    if subtype == "int16":
        x = (np.clip(x, -1.0, 1.0 - 1.0 / 32768) * 32768.0).round().astype(np.int16)
    try:
        wavfile.write(os.fspath(path), int(sample_rate), x)
    except OSError as exc:
        raise DeviceError(f"cannot write {os.fspath(path)!r}: {exc}") from exc
