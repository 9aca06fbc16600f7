"""The conformance suite runs unchanged against every executor listed here.

Every test also runs under a leak check: when it ends, no rmlab thread, no file
descriptor, no worker process and nothing of its shm sessions in /dev/shm may be
left behind, and no Ray actor of rmlab may still run a node.

``RMLAB_CONFORMANCE_EXECUTORS`` (comma-separated) replaces the list: the Ray run
(``tests/ray/test_namespace.py``) runs this suite inside a private network namespace
with ``ray`` (every node an actor) and ``shm+ray`` (shm nodes around remote ones).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

_CHOSEN = os.environ.get("RMLAB_CONFORMANCE_EXECUTORS")
EXECUTORS = _CHOSEN.split(",") if _CHOSEN else ["local", "shm"]
"""Executors that run pipelines with nodes."""
ALL_EXECUTORS = EXECUTORS if _CHOSEN else [*EXECUTORS, "loopback"]
"""Every executor; the loopback runs only empty manifests, so tests of pipelines with
nodes take ``executor`` and those that hold for any pipeline take ``any_executor``."""


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=ALL_EXECUTORS)
def any_executor(request: pytest.FixtureRequest) -> str:
    return request.param


def _fds() -> set[str]:
    fds = set(os.listdir("/proc/self/fd"))
    if _ray_connected():  # Ray's own connections come and go with its actors: not ours
        fds = {fd for fd in fds if not _target(fd).startswith(("socket:", "anon_inode:"))}
    return fds


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def _rmlab_threads() -> set[threading.Thread]:
    # the keep-warm reaper is process-wide by design (it outlives sessions on purpose)
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith("rmlab-") and t.name != "rmlab-ray-keep-warm"
    }


@pytest.fixture(scope="session", autouse=True)
def fork_server() -> None:
    """The shm executor's fork server is process-wide by design: start it before the
    leak checks look, so its thread and descriptors are not counted as a test's."""
    if "shm" in EXECUTORS:
        from rmlab.runtime.shm._launch import warm_up

        warm_up(wait=60.0)


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
    if _ray_connected():
        from tests.ray.cluster import busy_hosts

        busy = busy_hosts()
        assert not busy, f"Ray actors still running a node: {busy}"


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"
