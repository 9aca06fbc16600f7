"""Audio in and out: sources push ``Audio`` frames into a session, sinks consume its outputs.

::

    with rmlab.open_session(manifest) as s, Microphone().start(s), Speaker().start(s):
        time.sleep(10)          # hear the pipeline

Sources: ``Microphone`` (a sounddevice input), ``FileSource``, ``ToneSource``,
``NoiseSource``, ``ChirpSource``. Sinks: ``Speaker`` (a sounddevice output),
``FileSink``. All share one protocol (``start(session)``, ``stop()``, ``wait()``,
``stats()``, context manager): see ``rmlab.audio._base``, which also explains why a
started sink is its session's only consumer. ``devices()`` lists what PortAudio sees;
device problems raise ``DeviceError`` saying what to install or which devices exist.
"""

from rmlab.audio._base import Clock, MonotonicClock, Sink, Source
from rmlab.audio._portaudio import DeviceInfo, devices
from rmlab.audio.files import FileSink, FileSource, read_wav, write_wav
from rmlab.audio.mic import Microphone
from rmlab.audio.speaker import Speaker
from rmlab.audio.synth import ChirpSource, NoiseSource, ToneSource

__all__ = [
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
