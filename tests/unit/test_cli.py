"""The rmlab command, run in a real subprocess the way a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rmlab.manifest import SCHEMA_PATH

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]


def rmlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmlab.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_validate_ok() -> None:
    r = rmlab("validate", "examples/passthrough.json")
    assert r.returncode == 0, r.stderr
    assert "ok: passthrough is valid (2 nodes, 1 connections)" in r.stdout


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": "v1",
                "nodes": [
                    {"id": "a", "node_type": "PassThru"},
                    {"id": "a", "node_type": "PassThrough"},
                ],
                "connections": [{"from": "a", "to": "b"}],
            }
        )
    )
    r = rmlab("validate", str(bad))
    assert r.returncode == 1
    assert (
        "nodes[0].node_type: unknown node type 'PassThru'; did you mean 'PassThrough'?" in r.stderr
    )
    assert "nodes[1].id: duplicate id 'a'" in r.stderr
    assert "connections[0].to: no node with id 'b'" in r.stderr
    assert "Traceback" not in r.stderr


def test_nodes_lists_the_registry() -> None:
    r = rmlab("nodes", "PassThrough")
    assert r.returncode == 0
    assert "PassThrough" in r.stdout and "produces: same as input" in r.stdout
    r = rmlab("nodes", "Nope")
    assert r.returncode == 1 and "unknown node type 'Nope'" in r.stderr


def test_schema_command_prints_the_committed_schema() -> None:
    r = rmlab("schema")
    assert json.loads(r.stdout) == json.loads(SCHEMA_PATH.read_text())


def test_run_streams_a_wav_end_to_end(tmp_path: Path) -> None:
    import numpy as np

    from rmlab.audio import read_wav, write_wav

    t = np.arange(24000) / 48000
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)], 1)
    write_wav(tmp_path / "in.wav", stereo, 48000)
    r = rmlab(
        "run", "examples/passthrough.json", "-i", str(tmp_path / "in.wav"),
        "-o", str(tmp_path / "out.wav"), "--block", "1000",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "24/24 frames pushed" in r.stderr and "end to end" in r.stderr
    out, rate = read_wav(tmp_path / "out.wav")
    assert rate == 48000 and out.shape == (24000, 2)
    np.testing.assert_array_equal(out, stereo.astype(np.float32))


def test_run_reports_bad_input(tmp_path: Path) -> None:
    r = rmlab("run", "examples/passthrough.json", "-i", str(tmp_path / "missing.wav"))
    assert r.returncode == 1 and "no such WAV file" in r.stderr
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    r = rmlab("run", "examples/passthrough.json", "-i", str(tmp_path / "junk.wav"))
    assert r.returncode == 1 and "cannot read" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.shm
def test_demo_runs_and_prints_latency() -> None:
    r = rmlab("demo", "--seconds", "2")
    assert r.returncode == 0, r.stderr
    assert "on the 'shm' executor" in r.stdout
    final = r.stdout.rsplit("\n\n", 1)[-1]
    for row in ("gain", "lowpass", "meter", "end to end"):
        assert row in final
    assert " 0 dropped" in final


@pytest.mark.shm
def test_demo_stops_cleanly_on_ctrl_c() -> None:
    import signal
    import time

    p = subprocess.Popen(
        [sys.executable, "-m", "rmlab.cli", "demo", "--seconds", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert "Ctrl-C stops" in p.stdout.readline()  # type: ignore[union-attr]
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert "stopped" in out and "end to end" in out and "Traceback" not in err


def test_doctor_reports_each_check() -> None:
    r = rmlab("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("python", "iceoryx2", "/dev/shm", "portaudio", "jupyter"):
        assert f"  {name}" in r.stdout


def test_doctor_fails_on_a_tiny_dev_shm(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import shutil

    from rmlab._doctor import run_doctor

    real = shutil.disk_usage
    monkeypatch.setattr(
        shutil, "disk_usage",
        lambda p: type(real(p))(64 * 2**20, 63 * 2**20, 1 * 2**20),
    )  # fmt: skip
    out = io.StringIO()
    assert run_doctor(out) == 1
    text = out.getvalue()
    assert "FAIL  /dev/shm   1 MiB free of 64 MiB" in text and "--shm-size=1g" in text


def test_lab_needs_a_notebook_folder(tmp_path: Path) -> None:
    r = rmlab("lab", str(tmp_path / "nope"))
    assert r.returncode == 1 and "no folder" in r.stderr and "rmlab lab DIR" in r.stderr


def test_version() -> None:
    import rmlab as package

    r = rmlab("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"rmlab {package.__version__}"


def test_run_without_output_says_the_audio_was_not_saved(tmp_path: Path) -> None:
    import numpy as np

    from rmlab.audio import write_wav

    write_wav(tmp_path / "in.wav", np.zeros((4800, 1)), 48000)
    r = rmlab("run", "examples/passthrough.json", "-i", str(tmp_path / "in.wav"))
    assert r.returncode == 0, r.stderr
    assert "0.10 s of audio, not saved: pass -o out.wav" in r.stderr


def test_lab_passes_jupyterlab_options_and_runs_as_root(monkeypatch, tmp_path: Path) -> None:
    import os

    from rmlab import cli

    ran: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: ran.append(argv))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lab", "--no-browser", "--port=0"]) == 0
    assert cli.main(["lab", str(tmp_path), "--no-browser"]) == 0
    first, second = (argv[3:] for argv in ran)
    assert first[1:] == ["--no-browser", "--port=0", "--allow-root"]
    assert second == [f"--ServerApp.root_dir={tmp_path}", "--no-browser", "--allow-root"]
