"""Device discovery and every way opening a device can fail, each with its DeviceError text."""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib.abc
import os
import subprocess
import sys

import pytest

import rmlab
from rmlab.audio import Microphone, Speaker, devices
from rmlab.audio import _portaudio as pa
from rmlab.audio._cli import add_parsers
from rmlab.errors import DeviceError
from tests.audio.conftest import passthrough

pytestmark = pytest.mark.audio


class _NoPortAudio(importlib.abc.MetaPathFinder):
    """Make ``import sounddevice`` fail exactly as it does without libportaudio2."""

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)  # restored afterwards
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])


def _devices_cli(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="rmlab")
    add_parsers(parser.add_subparsers())
    args = parser.parse_args(["devices"])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_importing_rmlab_audio_does_not_load_portaudio() -> None:
    code = "import rmlab.audio, sys; assert 'sounddevice' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_portaudio(no_portaudio: None, capsys: pytest.CaptureFixture[str]) -> None:
    with (
        rmlab.open_session(passthrough()) as s,
        pytest.raises(DeviceError, match="apt-get install libportaudio2") as info,
    ):
        Microphone().start(s)
    assert "PortAudio library not found" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(DeviceError, match="libportaudio2"):
        Speaker().start()
    code, _, err = _devices_cli(capsys)
    assert code == 1 and "apt-get install libportaudio2" in err


def test_no_device(pulse, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    if os.path.exists("/dev/snd"):
        pytest.skip("this machine has a sound card: PortAudio always sees a device")
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/pulse/native")
    with pytest.raises(DeviceError, match="no audio devices found") as info:
        devices()
    assert "apt-get install pulseaudio libasound2-plugins" in str(info.value)
    with rmlab.open_session(passthrough()) as s, pytest.raises(DeviceError) as info:
        Microphone().start(s)
    text = str(info.value)
    assert "Error querying device -1" in text and "PortAudio sees no input devices" in text
    assert "PULSE_SERVER=unix:/nonexistent/pulse/native is not reachable" in text
    code, _, err = _devices_cli(capsys)
    assert code == 1 and "no audio devices found" in err


def test_wrong_device_name_lists_the_devices(pulse, fifo_mic) -> None:  # type: ignore[no-untyped-def]
    with rmlab.open_session(passthrough()) as s, pytest.raises(DeviceError) as info:
        Microphone(device="no-such-mic").start(s)
    assert "opening input device 'no-such-mic': No input device matching 'no-such-mic'" in str(
        info.value
    )
    assert "input devices: 0 'pulse'" in str(info.value)
    with pytest.raises(DeviceError, match=r"Error querying device 99\noutput devices: 0 'pulse'"):
        Speaker(device=99).start()


def test_devices_lists_the_virtual_device(pulse, capsys) -> None:  # type: ignore[no-untyped-def]
    found = {d.name: d for d in devices()}
    assert found["pulse"].input_channels > 0 and found["pulse"].output_channels > 0
    assert [d.name for d in devices("input")] == [d.name for d in devices("output")]
    code, out, _ = _devices_cli(capsys)
    assert code == 0 and "pulse" in out and "host API" in out.splitlines()[0]


def test_every_sounddevice_exception_is_mapped() -> None:
    """Read sounddevice's source: every exception class it raises is in MAPPED."""
    sd = pa.sounddevice()
    with open(sd.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    raised = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name):
                raised.add(exc.id)
    raised -= {"e"}  # `raise e`: re-raises a TypeError it caught (mapped)
    unmapped = raised - set(pa.MAPPED) - set(pa.CONTROL_FLOW)
    assert not unmapped, f"sounddevice raises {unmapped}: map them in _portaudio.MAPPED"
    assert raised >= {"PortAudioError", "ValueError", "OSError"}  # the parse found them


@pytest.mark.parametrize("name", pa.MAPPED)
def test_each_mapped_exception_becomes_a_device_error(name: str) -> None:
    sd = pa.sounddevice()
    cls = getattr(sd, name, None) or getattr(builtins, name)
    with pytest.raises(DeviceError, match=r"^doing it: boom") as info, pa.device_errors("doing it"):
        raise cls("boom")
    assert isinstance(info.value.__cause__, cls)
