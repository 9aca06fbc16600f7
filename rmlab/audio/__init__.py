"""Audio in and out: sources push ``Audio`` frames into a session, sinks consume its outputs.

::

    with rmlab.open_session(manifest) as s, Microphone().start(s), Speaker().start(s):
        time.sleep(10)          # hear the pipeline

Sources: ``Microphone`` (a sounddevice input), ``FileSource``, ``ToneSource``,
``NoiseSource``, ``ChirpSource``. Sinks: ``Speaker`` (a sounddevice output),
``FileSink``. In a notebook, ``BrowserMic`` and ``BrowserSpeaker`` use the browser's
microphone and speakers (no sound card needed in the kernel: Binder, remote servers).
All share one protocol (``start(session)``, ``stop()``, ``wait()``,
``stats()``, context manager): see ``rmlab.audio._base``, which also explains how a
started sink watches its session beside any other consumer. ``devices()`` lists what
PortAudio sees; device problems raise ``DeviceError`` saying what to install or which
devices exist.
"""

from rmlab.audio._base import Clock, MonotonicClock, Sink, Source
from rmlab.audio._portaudio import DeviceInfo, devices
from rmlab.audio.files import FileSink, FileSource, read_wav, write_wav
from rmlab.audio.mic import Microphone
from rmlab.audio.speaker import Speaker
from rmlab.audio.synth import ChirpSource, NoiseSource, ToneSource

__all__ = [
    "BrowserMic",
    "BrowserSpeaker",
    "ChirpSource",
    "Clock",
    "DeviceInfo",
    "FileSink",
    "FileSource",
    "Microphone",
    "MonotonicClock",
    "NoiseSource",
    "Sink",
    "Source",
    "Speaker",
    "ToneSource",
    "devices",
    "read_wav",
    "write_wav",
]


def __getattr__(name: str) -> object:
    # The browser widgets import ipywidgets and anywidget (~0.4 s): load them on first use,
    # so scripts, workers and the CLI stay light.
    if name in ("BrowserMic", "BrowserSpeaker"):
        from rmlab.audio import browser

        return getattr(browser, name)
    raise AttributeError(f"module 'rmlab.audio' has no attribute {name!r}")
