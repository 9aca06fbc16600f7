"""WAV files in and out: whole arrays (``read_wav``/``write_wav``) and streams
(``FileSource``/``FileSink``).

Arrays are float32 ``(frames, channels)``. scipy's reader handles every common PCM
layout (8/16/24/32-bit int and float); integer samples are scaled to [-1, 1) so every
node sees the same range. ``FileSink`` streams to disk as frames come (an hour of
audio never sits in memory) and writes the final sizes into the header on ``stop()``.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from rmlab.audio._base import Clock, PacedSource, Sink
from rmlab.data import Audio
from rmlab.errors import DeviceError

__all__ = ["FileSink", "FileSource", "read_wav", "write_wav"]

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

    _check_subtype(subtype)
    x = _encode(np.asarray(samples, dtype=np.float32), subtype)
    try:
        wavfile.write(os.fspath(path), int(sample_rate), x)
    except OSError as exc:
        raise DeviceError(f"cannot write {os.fspath(path)!r}: {exc}") from exc


def _check_subtype(subtype: str) -> None:
    if subtype not in _SUBTYPES:
        raise DeviceError(f"subtype must be one of {', '.join(_SUBTYPES)}, got {subtype!r}")


def _encode(x: np.ndarray, subtype: str) -> np.ndarray:
    """float32 samples as the file stores them (16-bit PCM rounds, clipping at full scale)."""
    if subtype == "int16":
        return (np.clip(x, -1.0, 1.0 - 1.0 / 32768) * 32768.0).round().astype("<i2")
    return x.astype("<f4", copy=False)


class FileSource(PacedSource):
    """Stream a WAV file into a session, ``block`` samples per frame.

    The file's own rate and channels are kept. ``realtime=True`` paces frames like a
    live source; ``realtime=False`` pushes as fast as the session takes them (open it
    with ``backpressure="block"`` to lose nothing). ``loop=True`` starts over at the
    end, forever. A missing or unreadable file raises ``DeviceError`` here, at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        block: int = 960,
        *,
        realtime: bool = True,
        loop: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.samples, rate = read_wav(path)
        super().__init__(rate, block, self.samples.shape[1], realtime, clock)
        self.loop = loop

    def _blocks(self) -> Iterator[np.ndarray]:
        x, block = self.samples, self.block
        while True:
            for start in range(0, len(x), block):
                yield x[start : start + block]
            if not self.loop or len(x) == 0:
                return


class FileSink(Sink):
    """Write Audio frames to a WAV file (``"float"``: 32-bit float, ``"int16"``: 16-bit PCM).

    Rate and channels come from the first frame; a frame that differs ends the sink
    with a ``DeviceError`` (add a Resample node). The file is complete once the sink
    stopped. ``node``/``on_output``: see ``Sink`` (a started sink watches the session,
    beside any other consumer).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        subtype: str = "float",
        *,
        node: str | None = None,
        on_output: Callable[[Any], None] | None = None,
    ) -> None:
        _check_subtype(subtype)
        super().__init__(node=node, on_output=on_output)
        self.path, self.subtype = os.fspath(path), subtype
        self._file: BinaryIO | None = None
        self._format: tuple[int, int] | None = None  # (rate, channels) of the first frame
        self._bytes = 0

    def _write(self, frame: Audio) -> None:
        fmt = (frame.sample_rate, frame.channels)
        if self._file is None:
            self._start_file(*fmt)
        elif fmt != self._format:
            raise DeviceError(
                f"{self.path}: frame at {fmt[0]} Hz x {fmt[1]} ch after "
                f"{self._format[0]} Hz x {self._format[1]} ch; one WAV holds one format"
            )
        assert self._file is not None
        data = _encode(frame.samples, self.subtype).tobytes()
        self._file.write(data)
        self._bytes += len(data)

    def _start_file(self, rate: int, channels: int) -> None:
        try:
            self._file = open(self.path, "wb")  # noqa: SIM115  # closed in _close()
        except OSError as exc:
            raise DeviceError(f"cannot write {self.path!r}: {exc}") from exc
        self._format, self._bytes = (rate, channels), 0
        self._file.write(self._header())

    def _header(self) -> bytes:
        rate, channels = self._format or (0, 0)
        tag, width = (1, 2) if self.subtype == "int16" else (3, 4)  # PCM, IEEE float
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width,
                          channels * width, 8 * width)  # fmt: skip
        return (b"RIFF" + struct.pack("<I", 36 + self._bytes) + b"WAVE"
                + b"fmt " + struct.pack("<I", len(fmt)) + fmt
                + b"data" + struct.pack("<I", self._bytes))  # fmt: skip

    def _close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.seek(0)
            f.write(self._header())  # now with the final sizes
            f.close()
