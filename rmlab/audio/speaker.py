"""``Speaker``: play a session's Audio outputs on an output device.

Frames arrive when the pipeline produces them, the device asks for samples on its
own clock; a small jitter buffer in between absorbs the difference. Playback starts
once ``prefill_ms`` of audio is buffered, so a late frame does not cut the sound;
when the buffer runs dry the device gets silence for the missing part (an underrun,
counted) and the buffer prefills again. Samples that wait longer than a prefill's
worth of silence play anyway: the end of a stream is never stuck in the buffer. A
pipeline running faster than the device cannot grow the delay forever: past
``max_ms`` the oldest samples are dropped (counted as ``overflow_frames``).

Frames at another rate than the device's are resampled with soxr's streaming
resampler (state kept across frames, so block edges make no clicks); channel counts
are matched by duplicating mono or averaging down to mono.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from rmlab.audio._base import Sink
from rmlab.audio._portaudio import close_stream, open_stream
from rmlab.data import Audio

__all__ = ["JitterBuffer", "Speaker"]


class JitterBuffer:
    """A ring of ``(frames, channels)`` float32 samples between a writer and a device callback."""

    def __init__(self, channels: int, prefill: int, capacity: int):
        self._ring = np.zeros((max(capacity, prefill + 1), channels), np.float32)
        self._prefill = prefill
        self._start = 0  # index of the oldest buffered sample
        self._level = 0  # samples buffered
        self._playing = False
        self._waited = 0  # silence played while holding less than a prefill
        self._lock = threading.Lock()
        self.underruns = 0
        self.overflow_frames = 0

    @property
    def level(self) -> int:
        """Samples (per channel) waiting to be played."""
        return self._level

    def write(self, x: np.ndarray) -> None:
        """Append ``x`` (``(n, channels)``); drop the oldest samples if it would overflow."""
        size = self._ring.shape[0]
        with self._lock:
            if x.shape[0] > size:  # longer than the whole buffer: only its end can be kept
                self.overflow_frames += x.shape[0] - size
                x = x[-size:]
            excess = self._level + x.shape[0] - size
            if excess > 0:
                self.overflow_frames += excess
                self._start = (self._start + excess) % size
                self._level -= excess
            end = (self._start + self._level) % size
            first = min(x.shape[0], size - end)
            self._ring[end : end + first] = x[:first]
            self._ring[: x.shape[0] - first] = x[first:]
            self._level += x.shape[0]

    def read(self, out: np.ndarray) -> None:
        """Fill ``out`` (``(n, channels)``) with the next samples, silence where there are none."""
        n, size = out.shape[0], self._ring.shape[0]
        with self._lock:
            if not self._playing:
                if self._level >= self._prefill or self._waited >= self._prefill > 0:
                    self._playing, self._waited = True, 0
                elif self._level:
                    self._waited += n
            take = min(n, self._level) if self._playing else 0
            if self._playing and take < n:
                self.underruns += 1
                self._playing = False  # wait for a full prefill again, not sample by sample
            first = min(take, size - self._start)
            out[:first] = self._ring[self._start : self._start + first]
            out[first:take] = self._ring[: take - first]
            out[take:] = 0.0
            self._start = (self._start + take) % size
            self._level -= take


def match_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """``(n, c)`` samples as ``(n, channels)``: mono is duplicated, anything else mixed to mono."""
    if x.shape[1] == channels:
        return x
    mono = x if x.shape[1] == 1 else x.mean(axis=1, keepdims=True, dtype=np.float32)
    return np.repeat(mono, channels, axis=1) if channels > 1 else mono


class Speaker(Sink):
    """Play Audio frames on an output device through a jitter buffer.

    ``device``: name, index or None (the default output). ``sample_rate`` and
    ``channels`` are the device's; frames at another rate are resampled.
    ``prefill_ms`` is buffered before playback starts (and after each underrun);
    at most ``max_ms`` is kept. ``block`` samples per device callback: 10 ms at
    48 kHz is short enough for low latency and long enough that a Python callback,
    which may wait for the GIL, does not starve the device (PortAudio's tiny default
    blocks glitched under load). ``node``/``on_output``: see ``Sink``. A started
    speaker watches the session: its resampling and buffering run on the speaker's
    own thread, the device callback only reads the buffer, and every other consumer
    of the session still sees every output.

    >>> with rmlab.open_session(manifest) as s, Microphone().start(s), Speaker().start(s):
    ...     time.sleep(10)
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int = 48000,
        channels: int = 1,
        *,
        prefill_ms: float = 40.0,
        max_ms: float = 200.0,
        latency: str | float = "low",
        block: int = 480,
        node: str | None = None,
        on_output: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__(node=node, on_output=on_output)
        self.device, self.sample_rate, self.channels = device, int(sample_rate), int(channels)
        self.prefill_ms, self.max_ms, self.latency, self.block = prefill_ms, max_ms, latency, block
        self.buffer = self._new_buffer()
        self._stream: Any = None
        self._resampler: Any = None
        self._resampling: tuple[int, int] | None = None  # (rate, channels) it was made for
        self._device_underflows = 0

    def stats(self) -> dict[str, Any]:
        """``frames`` written, ``underruns`` (jitter buffer ran dry), ``overflow_frames``
        (dropped to bound the delay), ``device_underflows`` (PortAudio's own),
        ``buffered_ms``, ``ignored`` outputs, ``errors``."""
        return {
            **super().stats(),
            "underruns": self.buffer.underruns,
            "overflow_frames": self.buffer.overflow_frames,
            "device_underflows": self._device_underflows,
            "buffered_ms": round(self.buffer.level * 1000 / self.sample_rate, 2),
        }

    def _new_buffer(self) -> JitterBuffer:
        rate = self.sample_rate
        prefill = round(self.prefill_ms * rate / 1000)
        return JitterBuffer(self.channels, prefill, round(self.max_ms * rate / 1000))

    def _open(self) -> None:
        self.buffer = self._new_buffer()
        self._stream = open_stream(
            "output", self.device, samplerate=self.sample_rate, channels=self.channels,
            dtype="float32", latency=self.latency, blocksize=self.block, callback=self._callback,
        )  # fmt: skip

    def _close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            close_stream(stream)

    def _callback(self, outdata: np.ndarray, frames: int, times: Any, status: Any) -> None:
        if status.output_underflow:
            self._device_underflows += 1
        self.buffer.read(outdata)

    def _write(self, frame: Audio) -> None:
        x = frame.as_2d()
        if frame.sample_rate != self.sample_rate:
            x = self._resample(x, frame.sample_rate)
        self.buffer.write(match_channels(x, self.channels))

    def _resample(self, x: np.ndarray, rate: int) -> np.ndarray:
        import soxr

        if self._resampling != (rate, x.shape[1]):  # new stream format: start afresh
            self._resampler = soxr.ResampleStream(rate, self.sample_rate, x.shape[1], "float32")
            self._resampling = (rate, x.shape[1])
        return self._resampler.resample_chunk(x).reshape(-1, x.shape[1])
