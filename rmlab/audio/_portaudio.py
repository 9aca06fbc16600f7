"""sounddevice, imported lazily, with every one of its errors mapped to ``DeviceError``.

``import sounddevice`` loads PortAudio and scans the devices, so nothing in rmlab
imports it until a device is actually used; without PortAudio it raises
``OSError: PortAudio library not found``. Inside ``device_errors()`` (httpx style: one
context manager) each exception sounddevice can raise becomes a ``DeviceError`` that
says what to install or which devices exist; ``MAPPED`` lists them and a test reads
sounddevice's source to prove the list is complete.

PortAudio lists devices once, when it initialises. A device that appeared later (a
PulseAudio server started after the import, a USB microphone plugged in) is found by
re-initialising it, which would also close every open stream: ``refresh()`` only does
so while rmlab has no stream open.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from rmlab.errors import DeviceError

__all__ = [
    "CONTROL_FLOW",
    "MAPPED",
    "DeviceInfo",
    "close_stream",
    "device_errors",
    "devices",
    "open_stream",
    "refresh",
    "sounddevice",
]

Kind = Literal["input", "output"]

INSTALL_PORTAUDIO = (
    "install PortAudio: `apt-get install libportaudio2` (Debian/Ubuntu), "
    "`brew install portaudio` (macOS); on a machine without a sound card use the "
    "browser microphone (BrowserMic) instead"
)
VIRTUAL_DEVICE = (
    "on a headless machine, run a virtual device: `apt-get install pulseaudio "
    'libasound2-plugins`, start `pulseaudio`, then open device="pulse"'
)

# Every exception class sounddevice raises (its source, checked by a test); the
# sounddevice-specific ones are looked up on the module, the rest are builtins.
MAPPED = ("PortAudioError", "ValueError", "TypeError", "RuntimeError", "AttributeError",
          "OSError", "ImportError")  # fmt: skip
_INSTALL_KINDS = (OSError, ImportError)  # the library or a dependency is missing
# Raised by a stream callback to end its own stream; sounddevice never lets them out.
CONTROL_FLOW = ("CallbackStop", "CallbackAbort")

_lock = threading.RLock()  # open_stream holds it while it may call refresh()
_open_streams = 0


@dataclass(frozen=True)
class DeviceInfo:
    """One audio device as PortAudio sees it."""

    index: int
    name: str
    host_api: str
    input_channels: int
    output_channels: int
    default_rate: float
    default_input: bool = False
    default_output: bool = False


def sounddevice() -> ModuleType:
    """Import sounddevice (once); a missing PortAudio becomes ``DeviceError``."""
    try:
        import sounddevice as sd
    except OSError as exc:  # "PortAudio library not found", raised at import
        raise DeviceError(f"{exc}: sounddevice needs it; {INSTALL_PORTAUDIO}") from exc
    return sd


@contextlib.contextmanager
def device_errors(what: str, kind: Kind | None = None) -> Iterator[ModuleType]:
    """Run sounddevice calls, re-raising each of its errors as a ``DeviceError``.

    ``what`` says what was being done ("opening input device 'pulse'"); the message
    adds the devices that exist (of ``kind``) or what to install.
    """
    sd = sounddevice()
    try:
        yield sd
    except tuple(getattr(sd, n, None) or getattr(builtins, n) for n in MAPPED) as exc:
        if isinstance(exc, _INSTALL_KINDS):
            raise DeviceError(f"{what}: {exc}; {INSTALL_PORTAUDIO}") from exc
        raise DeviceError(f"{what}: {exc}\n{_available(sd, kind)}") from exc


def refresh() -> bool:
    """Re-scan devices if no rmlab stream is open (it would close them); True if it did."""
    sd = sounddevice()
    with _lock:
        if _open_streams:
            return False
        with device_errors("re-scanning audio devices"):
            sd._terminate()  # private, but the documented way to re-scan devices
            sd._initialize()
    return True


def devices(kind: Kind | None = None) -> list[DeviceInfo]:
    """The audio devices (only inputs or outputs with ``kind``), re-scanned first.

    Raises ``DeviceError`` saying what to install when there are none.
    """
    refresh()
    found = _list(sounddevice(), kind)
    if not found:
        what = f"{kind} " if kind else ""
        raise DeviceError(f"no audio {what}devices found; {VIRTUAL_DEVICE}")
    return found


def open_stream(kind: Kind, device: int | str | None, **kwargs: Any) -> Any:
    """Open and start an InputStream or OutputStream on ``device``; pair with ``close_stream``.

    A device that is not found, or fails to open, triggers one re-scan and retry
    (it may have appeared since PortAudio started).
    """
    global _open_streams
    with _lock:  # a re-scan between opening a stream and counting it would close it
        for attempt in (1, 2):
            try:
                with device_errors(f"opening {kind} device {_label(device)}", kind) as sd:
                    cls = sd.InputStream if kind == "input" else sd.OutputStream
                    stream = cls(device=device, **kwargs)
                    try:
                        stream.start()
                    except BaseException:
                        stream.close(ignore_errors=True)
                        raise
            except DeviceError:
                if attempt == 2 or not refresh():
                    raise
                continue
            _open_streams += 1
            return stream
    raise AssertionError("unreachable")


def close_stream(stream: Any) -> None:
    """Stop and close a stream from ``open_stream`` (errors on the way out are mapped)."""
    global _open_streams
    try:
        with device_errors("closing an audio stream"):
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
    finally:
        with _lock:
            _open_streams -= 1


def _label(device: int | str | None) -> str:
    return "(the default)" if device is None else repr(device)


def _list(sd: ModuleType, kind: Kind | None) -> list[DeviceInfo]:
    with device_errors("listing audio devices"):
        hostapis = [h["name"] for h in sd.query_hostapis()]
        default_in, default_out = sd.default.device
        result = []
        for d in sd.query_devices():
            info = DeviceInfo(
                index=d["index"],
                name=d["name"],
                host_api=hostapis[d["hostapi"]],
                input_channels=d["max_input_channels"],
                output_channels=d["max_output_channels"],
                default_rate=d["default_samplerate"],
                default_input=d["index"] == default_in,
                default_output=d["index"] == default_out,
            )
            if kind is None or getattr(info, f"{kind}_channels") > 0:
                result.append(info)
    return result


def _available(sd: ModuleType, kind: Kind | None) -> str:
    try:
        found = _list(sd, kind)
    except DeviceError:
        found = []
    what = f"{kind} devices" if kind else "devices"
    if not found:
        server = os.environ.get("PULSE_SERVER")
        where = f" (PULSE_SERVER={server} is not reachable?)" if server else ""
        return f"PortAudio sees no {what}{where}; {VIRTUAL_DEVICE}"
    return f"{what}: " + ", ".join(f"{d.index} {d.name!r}" for d in found)
