"""Every shm test must leave /dev/shm and the process table as it found them.

The checks are by ownership (this test's sessions and worker processes), not by a
global listing, so other rmlab users on the machine cannot make a test fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from rmlab import Timeout
from rmlab.runtime.shm import executor as shm_executor


def session_leftovers(session_id: str) -> list[str]:
    """What is left of a session: its board file and its iceoryx2 nodes (alive or dead)."""
    import iceoryx2 as iox

    from rmlab.runtime.shm.channels import config

    left = glob.glob(f"/dev/shm/rmlab-board-{session_id}")
    for state in iox.Node.list(iox.ServiceType.Ipc, config()):
        details = state[0].details
        name = str(details.name) if details is not None else ""
        if f'"rmlab-{session_id}-' in name:
            left.append(f"iceoryx2 node {name}")
    return left


@pytest.fixture
def no_leaks(monkeypatch: pytest.MonkeyPatch):
    """Fail if this test's sessions leave files, iceoryx2 nodes or workers behind."""
    opened = record_shm_sessions(monkeypatch)
    yield opened
    left = [x for sid in opened for x in session_leftovers(sid)]
    assert not left, f"left behind: {left}"
    workers = worker_children()
    assert not workers, f"worker processes left behind: {workers}"


def record_shm_sessions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the shm sessions opened from now on (the list fills as they open)."""
    opened: list[str] = []
    real_init = shm_executor.ShmExecutor.__init__

    def recording_init(self, graph, context):
        opened.append(context.session_id)
        real_init(self, graph, context)

    monkeypatch.setattr(shm_executor.ShmExecutor, "__init__", recording_init)
    return opened


def owner_process(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    """A Python process that runs ``body`` (with the test nodes registered), its stdout a
    pipe: a stand-in for a kernel that a test can kill from outside."""
    root = str(Path(__file__).parents[2])
    script = tmp_path / "owner.py"
    prelude = f"import sys\nsys.path.insert(0, {root!r})\nimport tests.shm.nodes\n"
    script.write_text(prelude + textwrap.dedent(body))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)


def answer_after_restart(session: Any, value: Any, timeout: float = 10.0) -> Any:
    """Push ``value`` until an output comes back: frames pushed while a worker restarts
    may be lost. The output's data, or None when nothing came within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.push(value)
        with contextlib.suppress(Timeout):
            return session.pull(timeout=0.5).data
    return None


def worker_children() -> list[int]:
    """Worker processes started by this process that still run (spawned by it, or forked
    by its fork server)."""
    me = os.getpid()
    return [p for p in _worker_pids() if me in (_parent(p), _parent(_parent(p))) and alive(p)]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _worker_pids() -> list[int]:
    pids = []
    for d in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(d, "rb") as f:
                if b"rmlab.runtime.shm.worker" in f.read():
                    pids.append(int(d.split("/")[2]))
        except OSError:
            pass
    return pids


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1
