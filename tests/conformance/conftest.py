"""The conformance suite runs unchanged against every executor listed here.

Every test also runs under a leak check: when it ends, no rmlab thread, no file
descriptor, no worker process and nothing of its shm sessions in /dev/shm may be
left behind.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

EXECUTORS = ["local", "shm"]
"""Executors that run pipelines with nodes."""
ALL_EXECUTORS = [*EXECUTORS, "loopback"]
"""Every executor; the loopback runs only empty manifests, so tests of pipelines with
nodes take ``executor`` and those that hold for any pipeline take ``any_executor``."""


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=ALL_EXECUTORS)
def any_executor(request: pytest.FixtureRequest) -> str:
    return request.param


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _rmlab_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("rmlab-")}


@pytest.fixture(autouse=True)
def leak_check(monkeypatch: pytest.MonkeyPatch):
    """Fail if the test leaves threads, fds, worker processes or shared memory behind."""
    from tests.shm.conftest import record_shm_sessions, session_leftovers, worker_children

    opened = record_shm_sessions(monkeypatch)
    threads, fds = _rmlab_threads(), _fds()
    yield
    deadline = time.monotonic() + 3.0  # daemon threads of a closed session finish quickly
    while time.monotonic() < deadline and (
        _rmlab_threads() - threads or _fds() - fds or worker_children()
    ):
        time.sleep(0.02)
    left_threads = sorted(t.name for t in _rmlab_threads() - threads)
    assert not left_threads, f"threads left running: {left_threads}"
    left_fds = {fd: _target(fd) for fd in _fds() - fds}
    assert not left_fds, f"file descriptors left open: {left_fds}"
    assert not worker_children(), f"worker processes left: {worker_children()}"
    left = [x for sid in opened for x in session_leftovers(sid)]
    assert not left, f"shared memory left behind: {left}"


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"
