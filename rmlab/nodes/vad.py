"""Voice activity detection: EnergyVAD (no dependencies) and SileroVADNode (ONNX model).

Both emit, for every audio input, one Json event and then the audio itself, so
either can sit in front of a node that collects speech (as upstream's
SileroVADNode does). The event::

    {"has_speech": bool,            # this frame's probability >= threshold
     "speech_probability": float,   # 0..1
     "is_speech_start": bool,       # a speech segment started in this frame
     "is_speech_end": bool,         # a speech segment ended in this frame
     "timestamp_ms": int,           # stream time at the end of this frame
     "in_speech": bool,             # inside a segment (after min durations, hangover)
     "speech_start_ms": int,        # only with is_speech_start: segment start - pad
     "speech_end_ms": int}          # only with is_speech_end: segment end + pad

The first five keys are upstream's; the others are rmlab's. ``has_speech`` is the
raw per-frame decision; ``in_speech`` is the smoothed one a gate should use.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from rmlab.data import Audio, Json
from rmlab.errors import RmlabError
from rmlab.nodes._dsp import StreamingNode, StreamResampler, json_like, levels, mono, to_db
from rmlab.nodes.base import Param

__all__ = ["EnergyVAD", "SileroVADNode"]

AUDIO = frozenset({Audio})
EVENTS = frozenset({Json, Audio})


class SpeechTracker:
    """Turn per-window speech probabilities into speech segments, causally.

    Silero's hysteresis: a window is speech at ``p >= threshold`` and silence at
    ``p < threshold - 0.15``; in between it keeps the current state. A segment
    starts after ``min_speech_s`` of speech and ends after ``min_silence_s`` of
    silence (the hangover), so short blips and short pauses do not toggle it.
    ``pad_s`` widens the reported segment bounds on both sides.
    """

    def __init__(self, threshold: float, min_speech_s: float, min_silence_s: float, pad_s: float):
        self.threshold = threshold
        self.low = max(threshold - 0.15, 0.01)
        self.min_speech_s = min_speech_s
        self.min_silence_s = min_silence_s
        self.pad_s = pad_s
        self.in_speech = False
        self.now_s = 0.0
        self._speech_s = 0.0
        self._silence_s = 0.0
        self._silence_began = 0.0

    def update(self, p: float, duration_s: float) -> dict[str, Any]:
        """Advance by one window of ``duration_s`` with probability ``p``.

        Returns the event keys of a segment start or end in this window, else ``{}``.
        """
        marks: dict[str, Any] = {}
        start = self.now_s
        self.now_s += duration_s
        if not self.in_speech:
            if p >= self.threshold:
                self._speech_s += duration_s
                if self._speech_s >= self.min_speech_s - 1e-9:  # sums of window lengths
                    self.in_speech, self._silence_s = True, 0.0
                    begin = self.now_s - self._speech_s - self.pad_s
                    marks["is_speech_start"] = True
                    marks["speech_start_ms"] = round(max(begin, 0.0) * 1000)
            elif p < self.low:
                self._speech_s = 0.0
        elif p >= self.threshold:
            self._silence_s = 0.0
        elif p < self.low or self._silence_s > 0.0:
            if self._silence_s == 0.0:
                self._silence_began = start
            self._silence_s += duration_s
            if self._silence_s >= self.min_silence_s - 1e-9:
                self.in_speech, self._speech_s, self._silence_s = False, 0.0, 0.0
                marks["is_speech_end"] = True
                marks["speech_end_ms"] = round((self._silence_began + self.pad_s) * 1000)
        return marks


class _VAD(StreamingNode, abstract=True):
    """Shared by the VADs: per-frame event bookkeeping and the audio pass-through."""

    accepts = AUDIO
    produces = EVENTS
    passthrough: bool = True

    def reset(self) -> None:
        self._tracker = self._new_tracker()
        self._position_s = 0.0  # input stream time, for timestamp_ms
        self._p = 0.0

    def _new_tracker(self) -> SpeechTracker:
        raise NotImplementedError

    def _outputs(self, frame: Audio, p: float, marks: dict[str, Any]) -> list[Json | Audio]:
        """The event for ``frame`` (probability ``p``, segment ``marks``), then the audio."""
        self._position_s += frame.duration_s
        event = {
            "has_speech": p >= self._tracker.threshold,
            "speech_probability": p,
            "is_speech_start": False,
            "is_speech_end": False,
            "timestamp_ms": math.floor(self._position_s * 1000 + 1e-6),
            "in_speech": self._tracker.in_speech,
            **marks,
        }
        out: list[Json | Audio] = [json_like(frame, event)]
        if self.passthrough:
            out.append(frame)
        return out


class EnergyVAD(_VAD):
    """Voice activity from frame energy over an adaptive noise floor; no model needed.

    The noise floor follows the quietest recent level: it drops at once to a
    quieter frame and rises at most ``adapt_db_per_s``, so it tracks steady noise
    but not speech. A frame ``margin_db`` above the floor has speech probability
    0.5 (a logistic curve, 3 dB per e-fold); frames below ``min_level_db`` have 0.
    Segments start after ``min_speech_ms`` and end after ``hangover_ms`` of
    silence. Good in quiet rooms; steady noise as loud as the speech defeats it
    (use SileroVADNode there). Emits the event, then the audio unless
    ``passthrough`` is false.
    """

    threshold: float = Param(0.5, min=0.0, max=1.0, doc="speech probability threshold")
    margin_db: float = Param(6.0, min=0.0, max=60.0, doc="level above the noise floor at p=0.5")
    min_level_db: float = Param(-55.0, min=-120.0, max=0.0, doc="frames below are never speech")
    adapt_db_per_s: float = Param(3.0, min=0.0, max=120.0, doc="fastest rise of the noise floor")
    min_speech_ms: float = Param(60.0, min=0.0, max=5000.0, doc="speech needed to start a segment")
    hangover_ms: float = Param(250.0, min=0.0, max=5000.0, doc="silence needed to end a segment")
    passthrough: bool = Param(True, doc="emit the audio after each event")

    def _new_tracker(self) -> SpeechTracker:
        self._floor_db: float | None = None
        return SpeechTracker(
            self.threshold, self.min_speech_ms / 1000, self.hangover_ms / 1000, 0.0
        )

    def process(self, frame: Audio) -> list[Json | Audio]:
        level = to_db(levels(Audio(mono(frame), frame.sample_rate))[0])
        floor = (
            level
            if self._floor_db is None
            else self._floor_db + self.adapt_db_per_s * frame.duration_s
        )
        self._floor_db = min(level, floor)
        if level < self.min_level_db:
            p = 0.0
        else:
            p = 1.0 / (1.0 + math.exp(-(level - self._floor_db - self.margin_db) / 3.0))
        return self._outputs(frame, p, self._tracker.update(p, frame.duration_s))


def silero_model_path() -> Path:
    """The ONNX model bundled in the ``silero-vad`` package, found without importing it.

    Importing ``silero_vad`` imports torch, which rmlab does not need: the model
    file is all that is used.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RmlabError(
            "SileroVADNode needs the silero-vad package for its bundled ONNX model: "
            "pip install --no-deps silero-vad (--no-deps skips torch, which rmlab does not use)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "silero_vad.onnx"
        if path.is_file():
            return path
    raise RmlabError(f"silero-vad is installed but has no data/silero_vad.onnx in {spec.origin}")


class SileroVADNode(_VAD):
    """Voice activity with the Silero VAD neural model (ONNX), robust to noise.

    Audio is averaged to mono, resampled to ``sampling_rate`` when needed (soxr,
    streaming) and cut into the model's windows (512 samples at 16 kHz, 256 at
    8 kHz), each fed with the 64 (32) samples before it as context and the model's
    recurrent state, exactly as silero-vad's own ``OnnxWrapper`` does. An event's
    ``speech_probability`` is the highest of the windows completed during that
    frame (the previous value if none completed). Segments follow silero's
    ``VADIterator`` rules plus ``min_speech_duration_ms`` before a start.

    Needs the ``vad`` extra: ``pip install 'rmlab[vad]'`` (onnxruntime) and
    ``pip install --no-deps silero-vad`` (the model file; ``--no-deps`` keeps torch
    out). Nothing is downloaded at run time. Parameters and event keys follow
    upstream's SileroVADNode.
    """

    threshold: float = Param(0.5, min=0.0, max=1.0, doc="speech probability threshold")
    sampling_rate: int = Param(
        16000, choices=(8000, 16000), aliases=("samplingRate",), doc="rate the model runs at"
    )
    min_speech_duration_ms: int = Param(
        250, min=0, max=5000, aliases=("minSpeechDurationMs",), doc="speech needed to start"
    )
    min_silence_duration_ms: int = Param(
        100, min=0, max=5000, aliases=("minSilenceDurationMs",), doc="silence needed to end"
    )
    speech_pad_ms: int = Param(
        30, min=0, max=500, aliases=("speechPadMs",), doc="padding of reported segment bounds"
    )

    _session: Any = None

    def setup(self) -> None:
        super().setup()
        self._load()

    def _load(self) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise RmlabError(
                "SileroVADNode needs onnxruntime: pip install 'rmlab[vad]' "
                "(and pip install --no-deps silero-vad for the model)"
            ) from exc
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1  # one small model per frame: threads only add overhead
        opts.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def _new_tracker(self) -> SpeechTracker:
        sr = self.sampling_rate
        self._window = 512 if sr == 16000 else 256
        self._context = np.zeros(64 if sr == 16000 else 32, np.float32)
        self._state = np.zeros((2, 1, 128), np.float32)
        self._pending = np.zeros(0, np.float32)
        self._resampler = StreamResampler(sr, "MQ")
        return SpeechTracker(
            self.threshold,
            self.min_speech_duration_ms / 1000,
            self.min_silence_duration_ms / 1000,
            self.speech_pad_ms / 1000,
        )

    def probability(self, window: np.ndarray) -> float:
        """Run the model on one window (with the carried context and state)."""
        x = np.concatenate([self._context, window])[None, :]
        sr = np.array(self.sampling_rate, np.int64)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": sr})
        self._context = x[0, -len(self._context) :]
        return float(out[0, 0])

    def process(self, frame: Audio) -> list[Json | Audio]:
        if self._session is None:
            self._load()
        x = Audio(mono(frame), frame.sample_rate, timestamp_us=frame.timestamp_us)
        if x.sample_rate != self.sampling_rate:
            parts = [y.samples for y in self._resampler.push(x)]
            x = Audio(np.concatenate([np.zeros(0, np.float32), *parts]), self.sampling_rate)
        self._pending = np.concatenate([self._pending, x.samples])
        w, windows = self._window, len(self._pending) // self._window
        marks: dict[str, Any] = {}
        probs = []
        for i in range(windows):
            probs.append(self.probability(self._pending[i * w : (i + 1) * w]))
            marks.update(self._tracker.update(probs[-1], w / self.sampling_rate))
        self._pending = self._pending[windows * w :]
        if probs:
            self._p = max(probs)
        return self._outputs(frame, self._p, marks)
