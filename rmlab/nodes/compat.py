"""RemoteMedia-compatible nodes: upstream's node names, params and event shapes.

A manifest written for the RemoteMedia SDK runs on rmlab unchanged: these nodes
take upstream's parameter names (and their camelCase aliases) and emit the same
Json keys. They share their implementation with rmlab's own nodes (AudioChunkerNode
with Chunker, FastResampleNode with Resample, AudioLevelNode with LevelMeter,
SilenceDetectorNode with SilenceDetector). Where upstream is lax, rmlab is strict:
bad params fail validation instead of falling back to defaults, and a mismatch
between the declared and the actual audio format is an error, not noise.
"""

from __future__ import annotations

import numbers
from typing import Any

from rmlab.data import Audio, Json, RuntimeData, Text
from rmlab.nodes._dsp import (
    Rechunker,
    StreamHelperNode,
    StreamingNode,
    StreamResampler,
    json_like,
    levels,
    to_db,
)
from rmlab.nodes.analysis import SilenceRun
from rmlab.nodes.base import Node, Param

__all__ = [
    "AudioChunkerNode",
    "AudioLevelNode",
    "CalculatorNode",
    "EchoNode",
    "FastResampleNode",
    "SilenceDetectorNode",
]

AUDIO = frozenset({Audio})
JSON = frozenset({Json})
_OPERATIONS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
}


class CalculatorNode(Node):
    """Arithmetic on Json requests: upstream's demonstration of Json processing.

    Input ``{"operation": "add"|"subtract"|"multiply"|"divide", "operands": [a, b]}``,
    output ``{"result": float, "operation": str, "operands": [a, b]}`` (as floats).
    Division by zero, an unknown operation, operands that are not two numbers and
    input that is not Json are errors.
    """

    accepts = JSON
    produces = JSON
    stateless = True

    def process(self, frame: RuntimeData) -> Json:
        if not isinstance(frame, Json):
            raise TypeError(f"CalculatorNode expects Json input, got {type(frame).__name__}")
        request = frame.value
        if not isinstance(request, dict):
            raise ValueError(f"CalculatorNode expects a Json object, got {request!r:.60}")
        op = request.get("operation")
        if op not in _OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; supported: {', '.join(_OPERATIONS)}")
        operands = request.get("operands")
        if not (
            isinstance(operands, list)
            and len(operands) == 2
            and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in operands)
        ):
            raise ValueError(f"'operands' must be a list of two numbers, got {operands!r:.60}")
        a, b = float(operands[0]), float(operands[1])
        if op == "divide" and b == 0.0:
            raise ZeroDivisionError(f"division by zero: {a:g} / 0")
        result = _OPERATIONS[op](a, b)
        return json_like(frame, {"result": result, "operation": op, "operands": [a, b]})


class EchoNode(StreamingNode):
    """Echo text back numbered: ``"hi"`` -> ``"Echo #1: hi"``; everything else unchanged.

    The counter starts at 1 and counts Text frames only, per node instance (a
    restarted node starts again at 1). Audio and other frames pass through as
    they are, so the node can sit in any stream.
    """

    def reset(self) -> None:
        self._count = 0

    def process(self, frame: RuntimeData) -> RuntimeData:
        if not isinstance(frame, Text):
            return frame
        self._count += 1
        return frame.replace(text=f"Echo #{self._count}: {frame.text}")


class AudioChunkerNode(StreamHelperNode):
    """Re-chunk audio to ``chunk_size`` samples per channel (upstream's AudioChunkerNode).

    Chunker with upstream's parameter name, e.g. 512 samples for Silero VAD at
    16 kHz. Two differences from upstream, both to lose nothing: the size counts
    samples per channel (upstream counts interleaved samples, which splits stereo
    frames), and the end of input emits the last, shorter chunk (upstream drops it).
    """

    accepts = AUDIO
    produces = AUDIO
    chunk_size: int = Param(512, min=1, max=65536, aliases=("chunkSize",), doc="samples per chunk")

    def make_helper(self) -> Rechunker:
        return Rechunker(self.chunk_size, "partial")


_SOXR_QUALITY = {"Low": "LQ", "Medium": "MQ", "High": "HQ"}


class FastResampleNode(StreamHelperNode):
    """Resample from ``source_rate`` to ``target_rate`` (upstream's FastResampleNode).

    Resample (soxr, streaming) with upstream's parameters; ``quality`` Low, Medium
    and High map to soxr's LQ, MQ and HQ. Upstream trusts ``source_rate`` and
    ``channels`` over the audio; rmlab checks them, and audio at another rate or
    channel count is an error (it would come out at the wrong pitch otherwise).
    """

    accepts = AUDIO
    produces = AUDIO
    source_rate: int = Param(
        48000, min=1000, max=768000, aliases=("sourceRate",), doc="input sample rate (Hz)"
    )
    target_rate: int = Param(
        16000, min=1000, max=768000, aliases=("targetRate",), doc="output sample rate (Hz)"
    )
    quality: str = Param("High", choices=tuple(_SOXR_QUALITY), doc="Low, Medium or High")
    channels: int = Param(1, min=1, max=64, doc="channels of the audio")

    def make_helper(self) -> StreamResampler:
        return StreamResampler(self.target_rate, _SOXR_QUALITY[self.quality])

    def process(self, frame: Audio) -> list[Audio]:
        if (frame.sample_rate, frame.channels) != (self.source_rate, self.channels):
            raise ValueError(
                f"FastResampleNode expects {self.source_rate} Hz x{self.channels} audio "
                f"(source_rate, channels) but got {frame.sample_rate} Hz x{frame.channels}"
            )
        return super().process(frame)


def _health(level: float, bad: float, good: float) -> float:
    """1.0 at or above ``good``, 0.0 at or below ``bad``, linear between (upstream's health)."""
    if level <= bad:
        return 0.0
    return 1.0 if level >= good else (level - bad) / (good - bad)


class AudioLevelNode(Node):
    """Level and volume health of each frame, as upstream's ``audio_level_event``.

    Json ``{rms_db, peak_db, is_low_volume, is_silence, health, stream_id,
    timestamp_us, _schema}``: silence at or below ``silence_threshold_db``, low
    volume at or below ``low_volume_threshold_db``, ``health`` 0 (silent) to 1
    (loud enough), linear in dB between the thresholds.
    """

    accepts = AUDIO
    produces = JSON
    stateless = True
    low_volume_threshold_db: float = Param(-20.0, min=-120.0, max=0.0, doc="low volume at or below")
    silence_threshold_db: float = Param(-60.0, min=-120.0, max=0.0, doc="silence at or below")

    def process(self, frame: Audio) -> Json:
        rms, peak = levels(frame)
        rms_db = to_db(rms)
        silence = rms_db <= self.silence_threshold_db
        event = {
            "rms_db": rms_db,
            "peak_db": to_db(peak),
            "is_low_volume": not silence and rms_db <= self.low_volume_threshold_db,
            "is_silence": silence,
            "health": _health(rms_db, self.silence_threshold_db, self.low_volume_threshold_db),
            "stream_id": None,
            "timestamp_us": frame.timestamp_us,
            "_schema": "audio_level_event",
        }
        return json_like(frame, event)


class SilenceDetectorNode(StreamingNode):
    """Silence and dropout detection, as upstream's ``silence_event``.

    Json ``{is_silent, rms_db, silence_duration_ms, is_sustained_silence,
    dropout_count, has_intermittent_dropouts, health, stream_id, timestamp_us,
    _schema}``. A frame is silent at or below ``silence_threshold_db``; silence is
    sustained after ``sustained_silence_ms``; a dropout is a change from sound to
    silence, counted over the last ``dropout_window_ms`` of stream time (upstream
    uses the frames' timestamps, which are often all zero; rmlab counts the audio).
    """

    accepts = AUDIO
    produces = JSON
    silence_threshold_db: float = Param(-50.0, min=-120.0, max=0.0, doc="silent at or below")
    sustained_silence_ms: float = Param(500.0, min=0.0, max=600000.0, doc="sustained after")
    dropout_count_threshold: int = Param(3, min=1, max=10000, doc="dropouts that raise an alert")
    dropout_window_ms: float = Param(5000.0, min=1.0, max=3600000.0, doc="dropout counting window")

    def reset(self) -> None:
        self._run = SilenceRun(self.silence_threshold_db)
        self._now_ms = 0.0
        self._was_silent = False
        self._dropouts: list[float] = []  # stream times (ms) where silence began

    def process(self, frame: Audio) -> Json:
        silent, rms_db = self._run.update(frame)
        self._now_ms += frame.duration_s * 1000
        if silent and not self._was_silent:
            self._dropouts.append(self._now_ms)
        self._was_silent = silent
        self._dropouts = [t for t in self._dropouts if self._now_ms - t < self.dropout_window_ms]
        silence_ms = self._run.silent_s * 1000
        sustained = silence_ms >= self.sustained_silence_ms
        event: dict[str, Any] = {
            "is_silent": silent,
            "rms_db": rms_db,
            "silence_duration_ms": silence_ms,
            "is_sustained_silence": sustained,
            "dropout_count": len(self._dropouts),
            "has_intermittent_dropouts": len(self._dropouts) >= self.dropout_count_threshold,
            "health": 1.0 - _health(silence_ms, 0.0, self.sustained_silence_ms) if silent else 1.0,
            "stream_id": None,
            "timestamp_us": frame.timestamp_us,
            "_schema": "silence_event",
        }
        return json_like(frame, event)
