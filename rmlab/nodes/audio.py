"""Built-in audio processors: Audio in, Audio out.

Every node here keeps the ``timestamp_us`` and ``session_id`` of its input; nodes
that re-cut audio (Chunker, Resample) derive timestamps from the input frames
plus sample offsets (see ``rmlab.nodes._dsp``). Multichannel audio is processed per
channel on the ``(frames, channels)`` view.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from rmlab.data import Audio
from rmlab.nodes._dsp import (
    DelayLine,
    Origin,
    Rechunker,
    StreamHelperNode,
    StreamingNode,
    StreamResampler,
    audio_like,
    offset_us,
    origin,
)
from rmlab.nodes.base import Node, Param

__all__ = ["Chunker", "Delay", "Echo", "Filter", "Gain", "Mix", "Resample"]

AUDIO = frozenset({Audio})


class Gain(Node):
    """Scale audio by a fixed gain in decibels.

    The simplest useful processor: a level trim before a meter or a speaker, and the
    node the tutorials start with. Every channel gets the same gain.
    """

    accepts = AUDIO
    produces = AUDIO
    stateless = True
    gain_db: float = Param(0.0, min=-60.0, max=24.0, doc="gain in decibels")

    def process(self, frame: Audio, out: Audio | None = None) -> Audio:
        factor = np.float32(10.0 ** (self.gain_db / 20.0))
        if out is None:  # called by hand
            return audio_like(frame, frame.samples * factor)
        np.multiply(frame.samples, factor, out=out.samples)  # on shm: into the output
        return out


class Mix(StreamingNode):
    """Mix audio arriving from several inputs (fan-in) into one stream.

    Mix lines its inputs up by where each frame came from (its ``source``, the
    predecessor node that emitted it), not by time: each source has a queue, kept
    in arrival order, and a group is the oldest frame of each of ``inputs``
    different sources. A group is mixed as soon as it is complete, so the k-th
    frames of the branches of a fan-out are mixed together even when their
    timestamps differ (a branch that re-cuts or delays audio). ``max_pending``
    bounds how many frames one source may have queued while another input is
    behind or has gone quiet (a VAD gate that emits nothing): one more, and the
    oldest frames of every source that has one are mixed at once, the missing
    inputs counting as silence, so a quiet input adds at most ``max_pending``
    frames of latency and no memory growth. Offline, where one branch may run far
    ahead, keep it large; live, keep it small. The end of input mixes whatever is
    pending, oldest first. Frames pushed into the session directly all count as
    one source.

    Frames in a group are summed sample by sample (shorter ones padded with zeros
    at the end); ``mode="mean"`` divides by ``inputs``, so a missing input counts as
    silence and the level does not jump. A mixed frame takes the timestamp,
    session and metadata of the group's earliest frame. All inputs must share
    sample rate and channel count. A param change (``set_params``) starts the
    queues afresh, dropping what is pending.
    """

    accepts = AUDIO
    produces = AUDIO
    inputs: int = Param(2, min=1, max=64, doc="number of inputs to wait for in each group")
    mode: str = Param("sum", choices=("sum", "mean"), doc="sum the inputs or average them")
    max_pending: int = Param(
        50, min=1, max=10000,
        doc="groups held back for a late input (latency an input that went quiet can add)",
    )  # fmt: skip

    def reset(self) -> None:
        # One FIFO per source with frames waiting, in the order those queues began;
        # a source whose queue empties is dropped, so len() counts waiting sources.
        self._queues: dict[str | None, deque[Audio]] = {}
        self._format: tuple[int, int] | None = None

    def process(self, frame: Audio, source: str | None = None) -> list[Audio]:
        fmt = (frame.sample_rate, frame.channels)
        if self._format is None:
            self._format = fmt
        elif fmt != self._format:
            raise ValueError(
                f"Mix inputs must share sample rate and channels: got {fmt[0]} Hz x{fmt[1]} "
                f"after {self._format[0]} Hz x{self._format[1]}; put a Resample node before Mix"
            )
        queue = self._queues.setdefault(source, deque())
        queue.append(audio_like(frame, frame.as_2d().copy()))  # the input is only lent to us
        out = []
        # Fewer than `inputs` sources were waiting before this frame, so one append
        # completes at most one group, and only this source's queue can overflow.
        if len(self._queues) >= self.inputs:
            out.append(self._mix_heads())
        if len(queue) > self.max_pending:
            out.append(self._mix_heads())
        return out

    def flush(self) -> list[Audio]:
        out = []
        while self._queues:
            out.append(self._mix_heads())
        return out

    def _mix_heads(self) -> Audio:
        """Take the oldest frame of every waiting source and mix them (missing: silence)."""
        group = []
        for source in list(self._queues):
            queue = self._queues[source]
            group.append(queue.popleft())
            if not queue:
                del self._queues[source]
        length = max(f.frames for f in group)
        acc = np.zeros((length, group[0].channels), np.float32)
        for f in group:
            acc[: f.frames] += f.as_2d()
        if self.mode == "mean":
            acc /= self.inputs
        return audio_like(min(group, key=lambda f: f.timestamp_us), acc)


class Resample(StreamHelperNode):
    """Convert audio to ``target_rate`` with soxr's streaming resampler.

    The resampler's state is carried across frames, so a stream resampled frame by
    frame equals the whole signal resampled at once (same length, same samples);
    the end of input drains the resampler's tail. soxr works in blocks of its own,
    so output frames vary in length: a 20 ms input may give nothing (then nothing is
    emitted) and the next one 40 ms. A change of the
    input rate or channel count mid-stream ends the old stream (tail included) and
    starts a new one.
    """

    accepts = AUDIO
    produces = AUDIO
    target_rate: int = Param(16000, min=1000, max=768000, doc="output sample rate (Hz)")
    quality: str = Param(
        "HQ", choices=("QQ", "LQ", "MQ", "HQ", "VHQ"),
        doc="soxr quality: quick, low, medium, high, very high",
    )  # fmt: skip

    def make_helper(self) -> StreamResampler:
        return StreamResampler(self.target_rate, self.quality)


class Chunker(StreamHelperNode):
    """Re-cut audio into frames of exactly ``size`` samples per channel.

    Models and FFTs want fixed block sizes while sources deliver whatever they
    have. Samples wait between inputs until a chunk is full; one input may give
    zero, one or several chunks. A chunk's timestamp is that of its first sample
    (its input frame's timestamp plus the sample's offset in that frame). At the
    end of input the remainder is emitted short (``remainder="partial"``, the
    default: no sample is invented or lost), zero-padded to ``size`` (``"pad"``) or
    dropped (``"drop"``). A change of sample rate or channels ends the old stream
    the same way.
    """

    accepts = AUDIO
    produces = AUDIO
    size: int = Param(960, min=1, max=1 << 20, doc="samples per channel in each chunk")
    remainder: str = Param(
        "partial",
        choices=Rechunker.REMAINDERS,
        doc="what the end of input does with a short last chunk",
    )

    def make_helper(self) -> Rechunker:
        return Rechunker(self.size, self.remainder)


class Filter(StreamingNode):
    """IIR filter: Butterworth lowpass/highpass/bandpass, or a notch, with carried state.

    Designed as second-order sections (numerically safe at high orders) when the
    first frame shows the sample rate, and redesigned if the rate changes. The
    filter state (``zi``) is carried across frames, so frame-by-frame output equals
    filtering the whole signal at once. ``cutoff_hz`` is the corner frequency
    (lowpass/highpass), the lower edge (bandpass) or the centre (notch);
    ``cutoff2_hz`` is the bandpass's upper edge; ``q`` is the notch's quality factor
    (centre / bandwidth). A cutoff at or above the Nyquist frequency of the audio is
    an error when the audio arrives.
    """

    accepts = AUDIO
    produces = AUDIO
    kind: str = Param(
        "lowpass", choices=("lowpass", "highpass", "bandpass", "notch"), doc="filter type"
    )
    cutoff_hz: float = Param(1000.0, min=1.0, max=384000.0, doc="corner, lower edge or centre (Hz)")
    cutoff2_hz: float = Param(4000.0, min=1.0, max=384000.0, doc="upper edge of a bandpass (Hz)")
    q: float = Param(30.0, min=0.1, max=1000.0, doc="quality factor of the notch")
    order: int = Param(4, min=1, max=12, doc="Butterworth order (bandpass: per edge)")

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        if values["kind"] == "bandpass" and values["cutoff2_hz"] <= values["cutoff_hz"]:
            return [
                ("cutoff2_hz", f"a bandpass needs cutoff2_hz > cutoff_hz ({values['cutoff_hz']})")
            ]
        return []

    def reset(self) -> None:
        self._rate = 0
        self._sos = np.zeros((0, 6))
        self._zi: np.ndarray | None = None

    def setup(self) -> None:
        # Pay scipy's import (~0.4-1 s) before the worker reports ready, not on the first
        # live frame, where it would stall the stream and drop frames upstream.
        import scipy.signal  # noqa: F401

        super().setup()

    def design(self, sample_rate: int) -> np.ndarray:
        """The filter as second-order sections for ``sample_rate``."""
        from scipy import signal  # imported when needed: it takes ~0.4 s, every worker pays it

        nyquist = sample_rate / 2
        edges = [self.cutoff_hz, self.cutoff2_hz] if self.kind == "bandpass" else [self.cutoff_hz]
        for name, hz in zip(("cutoff_hz", "cutoff2_hz"), edges, strict=False):
            if hz >= nyquist:
                raise ValueError(
                    f"Filter {name}={hz:g} Hz must be below the Nyquist frequency "
                    f"({nyquist:g} Hz for {sample_rate} Hz audio)"
                )
        if self.kind == "notch":
            b, a = signal.iirnotch(self.cutoff_hz, self.q, fs=sample_rate)
            return signal.tf2sos(b, a)
        wn = edges if self.kind == "bandpass" else edges[0]
        return signal.butter(self.order, wn, btype=self.kind, fs=sample_rate, output="sos")

    def process(self, frame: Audio) -> Audio:
        from scipy.signal import sosfilt

        if frame.sample_rate != self._rate:
            self._sos = self.design(frame.sample_rate)
            self._rate, self._zi = frame.sample_rate, None
        if self._zi is None or self._zi.shape[2] != frame.channels:
            self._zi = np.zeros((self._sos.shape[0], 2, frame.channels))
        y, self._zi = sosfilt(self._sos, frame.as_2d(), axis=0, zi=self._zi)
        return audio_like(frame, y)


class _DelayBase(StreamingNode, abstract=True):
    """Shared by Delay and Echo: one DelayLine per stream format, built lazily."""

    accepts = AUDIO
    produces = AUDIO
    feedback: ClassVar[float] = 0.0

    def reset(self) -> None:
        self._line: DelayLine | None = None
        self._format: tuple[int, int] = (0, 0)
        self._origin: Origin | None = None
        self._frames = 0  # length of the last input, to place the flushed tail after it

    def _delayed(self, frame: Audio) -> np.ndarray:
        """The delay line's output for this frame (float64, ``(frames, channels)``)."""
        fmt = (frame.sample_rate, frame.channels)
        if self._line is None or fmt != self._format:
            delay = round(self.delay_ms * frame.sample_rate / 1000)
            if self.feedback:  # a feedback loop needs at least one sample of delay
                delay = max(1, delay)
            self._line, self._format = DelayLine(delay, frame.channels, self.feedback), fmt
        self._origin, self._frames = origin(frame), frame.frames
        return self._line.process(frame.as_2d())


class Delay(_DelayBase):
    """Delay audio by ``delay_ms`` (rounded to whole samples).

    Output frames keep the input's lengths and timestamps (a frame carries what the
    line releases during that frame's time slot), and the line is carried across
    frames. At the end of input the last ``delay`` samples still in the line are
    emitted as one more frame, so nothing is lost. Use it to line up branches of a
    graph or to hear latency.
    """

    delay_ms: float = Param(100.0, min=0.0, max=10000.0, doc="delay (ms)")

    def process(self, frame: Audio) -> Audio:
        return audio_like(frame, self._delayed(frame))

    def flush(self) -> Audio | None:
        if self._line is None or self._origin is None:
            return None
        last = self._origin
        ts = last.timestamp_us + offset_us(self._frames, last.sample_rate)
        return audio_like(last, self._line.tail(), timestamp_us=ts)


class Echo(_DelayBase):
    """Add echoes: a feedback delay line mixed with the dry signal.

    ``y[n] = (1 - mix) x[n] + mix e[n]`` with ``e[n] = x[n - D] + feedback e[n - D]``,
    ``D`` = ``delay_ms`` in samples: an impulse comes back after ``D`` samples with
    amplitude ``mix``, then every ``D`` samples scaled by ``feedback`` again. State
    is carried across frames; the decaying tail after the end of input is not
    emitted (with feedback it never quite ends).
    """

    delay_ms: float = Param(250.0, min=1.0, max=10000.0, doc="delay (ms)")
    feedback: float = Param(0.4, min=0.0, max=0.99, doc="share of each echo fed back")
    mix: float = Param(0.5, min=0.0, max=1.0, doc="wet share of the output (0: dry only)")

    def process(self, frame: Audio) -> Audio:
        wet = self._delayed(frame)
        return audio_like(frame, (1.0 - self.mix) * frame.as_2d() + self.mix * wet)
