"""The console's source picker: what each choice starts, and whether it can (private).

Choices: ``tone`` (440 Hz), ``noise``, ``chirp`` (100 Hz to 8 kHz every 5 s), ``file``
(a WAV, looped), ``mic`` (a local input device) and ``browser`` (the page's
microphone, ``BrowserMic``). Every synthetic and file source is paced in real time
(50 frames of 20 ms per second), like a microphone.

The local microphone is looked for lazily: listing devices loads PortAudio and
re-scans the host's devices, which costs time and can fail on a server with no sound
card, so it happens when ``mic`` is first picked (or started), never at import or
construction. ``mic_problem()`` then says why not, in words the console shows.
"""

from __future__ import annotations

import os
from typing import Any

from rmlab import DeviceError

__all__ = ["KINDS", "SOURCES", "kind_of", "make_source", "mic_problem"]

SOURCES: tuple[tuple[str, str], ...] = (
    ("tone 440 Hz", "tone"),
    ("white noise", "noise"),
    ("chirp 100 Hz - 8 kHz", "chirp"),
    ("WAV file", "file"),
    ("microphone (this machine)", "mic"),
    ("browser microphone", "browser"),
)
KINDS = tuple(k for _, k in SOURCES)

_mic: list[str | None] = []  # cached answer of mic_problem(): [] until asked


def mic_problem(refresh: bool = False) -> str | None:
    """Why the local microphone cannot be used, or None if an input device exists."""
    if refresh or not _mic:
        from rmlab.audio import devices

        try:
            found = devices("input")
            _mic[:] = [None if found else "no input device found"]
        except DeviceError as exc:
            _mic[:] = [str(exc)]
    return _mic[0]


def kind_of(source: Any) -> tuple[str, str]:
    """``(kind, wav path)`` for the ``source=`` argument of ``Console``."""
    if isinstance(source, str) and source in KINDS:
        return source, ""
    if isinstance(source, str | os.PathLike):
        return "file", os.fspath(source)
    raise ValueError(
        f"source must be one of {', '.join(KINDS)}, a WAV file's path or a Source object, "
        f"got {source!r}"
    )


def make_source(kind: str, path: str = "") -> Any:
    """A new, unstarted source of ``kind`` (``DeviceError`` if it cannot run here)."""
    from rmlab.audio import ChirpSource, FileSource, Microphone, NoiseSource, ToneSource

    if kind == "tone":
        return ToneSource(440.0, 0.5)
    if kind == "noise":
        return NoiseSource(0.1)
    if kind == "chirp":
        return ChirpSource(100.0, 8000.0, 5.0, loop=True)
    if kind == "file":
        if not path:
            raise DeviceError("type the path of a WAV file first")
        return FileSource(path, loop=True)
    if kind == "mic":
        problem = mic_problem(refresh=True)
        if problem:
            raise DeviceError(f"no local microphone: {problem}")
        return Microphone()
    raise ValueError(f"unknown source {kind!r}")
