"""Streaming building blocks shared by the built-in nodes (private).

Each helper owns one piece of carried state so that a native node and its
RemoteMedia-compatible twin (``Chunker``/``AudioChunkerNode``,
``Resample``/``FastResampleNode``, ``LevelMeter``/``AudioLevelNode``, ...) run the
same code and differ only in their parameters and event shapes.

Input arrays may be read-only views into shared memory that the executor takes
back after ``process`` returns, so nothing here keeps a reference to an input
frame or its samples: carried samples are copies, and what an output needs from
its input (rate, channels, metadata, session) is kept as an ``Origin``.

Timestamps: ``timestamp_us`` of a frame is the capture time of its first sample.
When a helper re-cuts audio, an output's timestamp is derived from the input frame
its first sample came from plus that sample's offset in it, so gaps in the input
clock (dropped frames) stay visible downstream instead of being smoothed away.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import numpy as np
import soxr

from rmlab.data import Audio, Json
from rmlab.nodes.base import Node

DB_FLOOR = -120.0
"""Level reported for digital silence: JSON has no -inf (upstream uses -120 too)."""


class StreamingNode(Node, abstract=True):
    """A node with carried state: ``reset()`` builds it, at creation and in ``setup()``.

    Creating state in ``__init__`` too means ``process`` works on a node that was
    never set up (handy in a notebook and in tests that call ``process`` by
    hand); resetting in ``setup`` gives a restarted node a clean stream. After a
    param change ``Node.update`` calls ``reset`` itself.
    """

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.reset()

    def setup(self) -> None:
        self.reset()


class StreamHelperNode(StreamingNode, abstract=True):
    """A node whose whole state is one helper with ``push(frame)`` and ``drain()``.

    ``Chunker``/``AudioChunkerNode`` and ``Resample``/``FastResampleNode`` are this
    with a ``Rechunker`` or a ``StreamResampler``: the twins differ only in params.
    """

    def make_helper(self) -> Any:
        """A fresh helper built from this node's params."""
        raise NotImplementedError

    def reset(self) -> None:
        self._helper = self.make_helper()

    def process(self, frame: Audio) -> list[Audio]:
        return self._helper.push(frame)

    def flush(self) -> list[Audio]:
        return self._helper.drain()


class Origin(NamedTuple):
    """What an output takes from the input it came from, without the input's samples."""

    sample_rate: int
    channels: int
    metadata: dict[str, Any] | None
    session_id: str
    timestamp_us: int


def origin(frame: Audio) -> Origin:
    return Origin(
        frame.sample_rate, frame.channels, frame.metadata, frame.session_id, frame.timestamp_us
    )


def audio_like(
    frame: Audio | Origin,
    samples: np.ndarray,
    *,
    sample_rate: int | None = None,
    timestamp_us: int | None = None,
) -> Audio:
    """An Audio frame with new samples (``(frames, channels)`` or 1-D) and ``frame``'s identity."""
    channels = samples.shape[1] if samples.ndim == 2 else frame.channels
    return Audio(
        samples.astype(np.float32, copy=False),
        sample_rate or frame.sample_rate,
        channels,
        frame.metadata,
        timestamp_us=frame.timestamp_us if timestamp_us is None else timestamp_us,
        session_id=frame.session_id,
    )


def json_like(frame: Any, value: Any) -> Json:
    """A Json event stamped with the timestamp and session of the frame it describes."""
    return Json(value, timestamp_us=frame.timestamp_us, session_id=frame.session_id)


def to_db(amplitude: float) -> float:
    """20 log10 of a linear amplitude, floored at ``DB_FLOOR``."""
    return 20.0 * math.log10(amplitude) if amplitude > 10 ** (DB_FLOOR / 20) else DB_FLOOR


def mono(frame: Audio) -> np.ndarray:
    """The frame as one float32 channel (the mean of its channels)."""
    if frame.channels == 1:
        return frame.samples
    return frame.as_2d().mean(axis=1, dtype=np.float32)


def levels(frame: Audio) -> tuple[float, float]:
    """``(rms, peak)`` of every sample of the frame, all channels together."""
    x = frame.samples
    if x.size == 0:
        return 0.0, 0.0
    x64 = x.astype(np.float64)
    return float(np.sqrt(np.dot(x64, x64) / x.size)), float(np.abs(x).max())


def offset_us(samples: int, sample_rate: int) -> int:
    """Duration of ``samples`` samples in whole microseconds."""
    return round(samples * 1_000_000 / sample_rate)


class SampleBuffer:
    """Samples carried between frames, with the timestamp of every one of them.

    Each appended frame leaves an anchor ``(position, timestamp_us)``; the time of
    sample ``p`` is its anchor's timestamp plus ``p``'s offset from it.
    """

    def __init__(self, sample_rate: int, channels: int):
        self.sample_rate = sample_rate
        self.channels = channels
        self.data = np.zeros((0, channels), np.float32)
        self._anchors: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return self.data.shape[0]

    def fits(self, frame: Audio) -> bool:
        """True when ``frame`` continues this buffer's stream (same rate and channels)."""
        return (frame.sample_rate, frame.channels) == (self.sample_rate, self.channels)

    def append(self, frame: Audio) -> None:
        self._anchors.append((len(self), frame.timestamp_us))
        new = frame.as_2d()
        self.data = np.concatenate([self.data, new]) if len(self) else new.copy()

    def ts_at(self, position: int) -> int:
        """Timestamp (us) of the sample at ``position``."""
        pos, ts = 0, 0
        for p, t in self._anchors:
            if p > position:
                break
            pos, ts = p, t
        return ts + offset_us(position - pos, self.sample_rate)

    def consume(self, n: int) -> None:
        """Drop the first ``n`` samples."""
        start = self.ts_at(n)
        self.data = self.data[n:]
        kept = [(p - n, t) for p, t in self._anchors if p > n]
        self._anchors = [(0, start), *kept]


class Rechunker:
    """Cut a stream into chunks of exactly ``size`` samples per channel.

    Samples left over after a frame wait for the next one. A change of sample rate
    or channel count ends the old stream first (its remainder is handled as at the
    end of input). ``remainder`` says what the end of input does with a last chunk
    shorter than ``size``: ``"partial"`` emits it as it is, ``"pad"`` zero-pads it
    to ``size``, ``"drop"`` discards it.
    """

    REMAINDERS: ClassVar[tuple[str, ...]] = ("partial", "pad", "drop")

    def __init__(self, size: int, remainder: str = "partial"):
        self.size = size
        self.remainder = remainder
        self.buffer: SampleBuffer | None = None
        self._origin: Origin | None = None

    def push(self, frame: Audio) -> list[Audio]:
        out: list[Audio] = []
        if self.buffer is not None and not self.buffer.fits(frame):
            out += self.drain()
        if self.buffer is None:
            self.buffer = SampleBuffer(frame.sample_rate, frame.channels)
        self._origin = origin(frame)
        buf = self.buffer
        buf.append(frame)
        n = len(buf) // self.size * self.size
        for start in range(0, n, self.size):
            out.append(self._chunk(buf.data[start : start + self.size], buf.ts_at(start)))
        if n:
            buf.consume(n)
        return out

    def drain(self) -> list[Audio]:
        """The end of the stream: the remainder (as ``remainder`` says), then a fresh start."""
        buf, self.buffer = self.buffer, None
        if buf is None or not len(buf) or self.remainder == "drop":
            return []
        rest = buf.data
        if self.remainder == "pad":
            rest = np.concatenate(
                [rest, np.zeros((self.size - len(rest), buf.channels), np.float32)]
            )
        return [self._chunk(rest, buf.ts_at(0))]

    def _chunk(self, samples: np.ndarray, ts: int) -> Audio:
        assert self._origin is not None
        return audio_like(self._origin, samples.copy(), timestamp_us=ts)


class StreamResampler:
    """soxr's streaming resampler, with format changes and timestamps handled.

    One ``soxr.ResampleStream`` per continuous stream keeps the filter state
    across frames, so frame-by-frame output equals resampling the whole signal at
    once. A change of input rate or channel count drains the old stream first.

    The timestamp of an output frame is where its first sample sits on the input
    clock: the end of the input so far, minus the audio soxr still holds back,
    minus the output frame's own length.
    """

    def __init__(self, target_rate: int, quality: str = "HQ"):
        self.target_rate = target_rate
        self.quality = quality
        self._stream: soxr.ResampleStream | None = None
        self._format: tuple[int, int] = (0, 0)
        self._in = 0
        self._out = 0
        self._end_us = 0
        self._origin: Origin | None = None

    def push(self, frame: Audio) -> list[Audio]:
        out: list[Audio] = []
        fmt = (frame.sample_rate, frame.channels)
        if self._stream is not None and fmt != self._format:
            out += self.drain()
        if self._stream is None:
            self._stream = soxr.ResampleStream(
                frame.sample_rate, self.target_rate, frame.channels, dtype="float32",
                quality=self.quality,
            )  # fmt: skip
            self._format, self._in, self._out = fmt, 0, 0
        self._origin = origin(frame)
        self._in += frame.frames
        self._end_us = frame.timestamp_us + offset_us(frame.frames, frame.sample_rate)
        x = frame.samples if frame.channels == 1 else frame.as_2d()
        out += self._emit(self._stream.resample_chunk(x))
        return out

    def drain(self) -> list[Audio]:
        """Flush the resampler's tail and forget the stream."""
        if self._stream is None:
            return []
        shape = (0,) if self._format[1] == 1 else (0, self._format[1])
        out = self._emit(self._stream.resample_chunk(np.zeros(shape, np.float32), last=True))
        self._stream = None
        return out

    def _emit(self, y: np.ndarray) -> list[Audio]:
        n = y.shape[0]
        if not n or self._origin is None:
            return []
        self._out += n
        in_rate = self._format[0]
        held_us = round((self._in / in_rate - self._out / self.target_rate) * 1_000_000)
        ts = self._end_us - held_us - offset_us(n, self.target_rate)
        return [audio_like(self._origin, y, sample_rate=self.target_rate, timestamp_us=ts)]


class DelayLine:
    """A feedback delay line: ``e[n] = x[n - D] + feedback * e[n - D]``.

    ``process`` returns the delayed signal ``e`` for a block of any length; the last
    ``D`` samples of ``x`` and ``e`` are carried to the next block. With
    ``feedback=0`` it is a pure delay by ``D`` samples.
    """

    def __init__(self, delay: int, channels: int, feedback: float = 0.0):
        self.delay = delay
        self.feedback = feedback
        self._x = np.zeros((delay, channels), np.float64)
        self._e = np.zeros((delay, channels), np.float64)

    def process(self, x: np.ndarray) -> np.ndarray:
        d, n = self.delay, x.shape[0]
        if d == 0:
            return x.astype(np.float64)
        xs = np.concatenate([self._x, x])
        if self.feedback == 0.0:
            e = xs[:n]
        else:
            es = np.concatenate([self._e, np.zeros_like(x, dtype=np.float64)])
            # Blocks of at most D samples only read history that is already final,
            # so each block is one vectorised step of the recursion.
            for start in range(d, d + n, d):
                stop = min(start + d, d + n)
                es[start:stop] = xs[start - d : stop - d] + self.feedback * es[start - d : stop - d]
            e = es[d:]
            self._e = es[-d:]
        self._x = xs[-d:]
        return e

    def tail(self) -> np.ndarray:
        """What is still in the line: the next ``D`` output samples with silent input."""
        return self.process(np.zeros((self.delay, self._x.shape[1]), np.float64))
