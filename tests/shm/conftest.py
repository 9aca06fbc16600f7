from __future__ import annotations

import glob
import os

import pytest


def rmlab_shm_files() -> set[str]:
    # iceoryx2 keeps one 16-byte "...global_mgmt" file per domain by design
    return {p for p in glob.glob("/dev/shm/rmlab*") if not p.endswith("global_mgmt")}


@pytest.fixture
def no_leaks():
    """Fail if a test leaves rmlab files in /dev/shm or worker processes behind."""
    before = rmlab_shm_files()
    yield
    after = rmlab_shm_files()
    assert after <= before, f"left in /dev/shm: {sorted(after - before)}"
    workers = [p for p in _worker_pids() if _parent(p) == os.getpid()]
    assert not workers, f"worker processes left behind: {workers}"


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
