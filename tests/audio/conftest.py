"""Fixtures for the audio tests: a throwaway PulseAudio daemon with virtual devices.

The daemon (``rmlab.audio._pulse.VirtualPulse``, shared with ``rmlab bench audio``)
runs once per test session with its own XDG_RUNTIME_DIR; ``PULSE_SERVER`` points this
process at it. sounddevice opens it as ``device="pulse"``, and the ALSA pulse plugin
reads ``PULSE_SOURCE``/``PULSE_SINK`` when a stream opens, so each test picks its
devices with monkeypatch before opening any stream.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rmlab.audio._pulse import VirtualPulse
from rmlab.manifest import Manifest

EXECUTORS = ["local", "shm"]


@pytest.fixture(scope="session")
def pulse() -> Iterator[VirtualPulse]:
    """A running PulseAudio with ``vspk``, ``vmic`` (its monitor) and ``fifomic``."""
    if not VirtualPulse.available():
        pytest.skip(
            "pulseaudio is not installed: apt-get install pulseaudio pulseaudio-utils "
            "libportaudio2 libasound2-plugins"
        )
    with VirtualPulse() as pa, pytest.MonkeyPatch.context() as mp:
        for key, value in pa.env.items():
            mp.setenv(key, value)
        yield pa


@pytest.fixture
def fifo_mic(pulse: VirtualPulse, monkeypatch: pytest.MonkeyPatch) -> VirtualPulse:
    """``device="pulse"`` records from ``fifomic``: what ``FifoFeeder`` writes."""
    monkeypatch.setenv("PULSE_SOURCE", "fifomic")
    return pulse


@pytest.fixture
def speaker_loop(pulse: VirtualPulse, monkeypatch: pytest.MonkeyPatch) -> VirtualPulse:
    """``device="pulse"`` plays into ``vspk`` and records from ``vmic``, its monitor."""
    monkeypatch.setenv("PULSE_SINK", "vspk")
    monkeypatch.setenv("PULSE_SOURCE", "vmic")
    return pulse


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return request.param


def passthrough() -> Manifest:
    return Manifest(name="audio-test").add("pass", "PassThrough")
