"""``Microphone``: a sounddevice input stream whose frames go into a session.

PortAudio calls ``_callback`` on its audio thread every ``block`` samples. The
callback only copies the samples and stamps them; a bounded drop-oldest hand-off
carries them to a pusher thread that calls ``session.push``. So nothing the
pipeline does can stall the audio thread: a session in "block" mode, a shared-memory
queue that is full, a garbage-collection pause all cost dropped frames (counted in
``stats()["drops"]``), never an input overflow in the device.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np

from rmlab.audio._base import _POLL_S, DropOldest, Source
from rmlab.audio._portaudio import close_stream, open_stream
from rmlab.data import Audio
from rmlab.errors import DeviceError

__all__ = ["Microphone"]


class Microphone(Source):
    """Capture from an input device and push ``Audio`` frames into a session.

    ``device`` is a name (or part of one, as ``rmlab devices`` lists them), an index,
    or None for the default input. Frames carry ``block`` samples per channel at
    ``sample_rate``. ``timestamp_us`` (microseconds since the UNIX epoch) is, with
    ``timestamps="adc"``, when the first sample reached the converter as PortAudio
    reports it (the input ADC time; a block's length before the callback where the
    host API gives none), or with ``"callback"`` when the callback ran: steadier where
    the ADC time is jittery (ALSA's pulse plugin), and what latency measurements use.
    ``queue`` frames may wait between the audio thread and the session before the
    oldest is dropped. Opening a device that does not exist, or without PortAudio,
    raises ``DeviceError`` from ``start()``.

    >>> with rmlab.open_session(manifest) as s, Microphone().start(s):
    ...     for out in s: print(out.data)
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int = 48000,
        block: int = 960,
        channels: int = 1,
        *,
        queue: int = 8,
        latency: str | float = "low",
        timestamps: Literal["adc", "callback"] = "adc",
    ) -> None:
        super().__init__()
        self.device, self.sample_rate, self.block, self.channels = (
            device, int(sample_rate), int(block), int(channels)
        )  # fmt: skip
        if timestamps not in ("adc", "callback"):
            raise DeviceError(f"timestamps must be 'adc' or 'callback', got {timestamps!r}")
        self.latency, self.timestamps = latency, timestamps
        self._queue_size = queue
        self._handoff = DropOldest(queue)
        self._stream: Any = None
        self._overflows = 0
        self._captured = 0
        self._latency = float("nan")  # PortAudio's estimate for the open stream, in seconds

    def stats(self) -> dict[str, Any]:
        """``frames`` pushed, ``captured`` by the device, ``drops`` (hand-off full),
        ``overflows`` (the device lost input), ``errors``, ``input_latency_ms``."""
        return {
            **super().stats(),
            "captured": self._captured,
            "drops": self._handoff.dropped,
            "overflows": self._overflows,
            "input_latency_ms": round(self._latency * 1000, 2),
        }

    def _open(self) -> None:
        self._handoff = DropOldest(self._queue_size)
        self._stream = open_stream(
            "input", self.device, samplerate=self.sample_rate, blocksize=self.block,
            channels=self.channels, dtype="float32", latency=self.latency,
            callback=self._callback,
        )  # fmt: skip
        self._latency = self._stream.latency

    def _close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            close_stream(stream)

    def _callback(self, indata: np.ndarray, frames: int, times: Any, status: Any) -> None:
        # The audio thread: copy (PortAudio reuses indata), stamp, hand off. Nothing else.
        now_us = time.time_ns() // 1000
        age = times.currentTime - times.inputBufferAdcTime
        if self.timestamps == "callback":
            age = 0.0
        elif times.inputBufferAdcTime <= 0 or not 0 <= age < 1:
            age = frames / self.sample_rate  # no ADC time: the block began a block ago
        if status.input_overflow:
            self._overflows += 1
        self._captured += 1
        self._handoff.put((indata.copy(), now_us - round(age * 1e6)))

    def _loop(self) -> None:
        rate, channels = self.sample_rate, self.channels
        while not self._stop.is_set():
            item = self._handoff.get(_POLL_S)
            if item is None:
                continue
            samples, ts = item
            if not self._push(Audio(samples, rate, channels, timestamp_us=ts)):
                return
