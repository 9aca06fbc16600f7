"""Runs the Ray tests for real, inside a private network namespace, from a plain ``pytest``.

Ray binds to the machine's interface address, and on these machines its traffic must
stay on loopback: inside ``unshare -n`` (a network namespace with only ``lo``) Ray
picks 127.0.0.1 by itself (see ../shared/notes/ray.md). A test process must be in the
same namespace as the cluster to reach it, so this test runs a second pytest there:
``tests/ray/inside`` (a real two-node cluster: placement, 1,000 frames, crashes,
restarts, leaks) and the whole conformance suite on the ``ray`` executor (every node
an actor) and ``shm+ray`` (shm nodes around remote ones), sharing one cluster
(``tests/ray/cluster.py``). Its output is printed; its exit code is the verdict.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 900
INNER = ["tests/ray/inside", "tests/conformance"]
"""What runs inside (``RMLAB_RAY_INNER`` narrows it, e.g. to one file while working)."""


def why_no_namespace() -> str | None:
    """Why Ray cannot get a private network namespace here (None: it can)."""
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install 'rmlab[ray]')"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare(1) and ip(8) to give Ray a private network namespace"
    if os.geteuid() != 0:
        return "needs root to create a private network namespace (unshare -n)"
    return None


def test_ray_suites_in_a_private_network_namespace() -> None:
    why = why_no_namespace()
    if why:
        pytest.skip(why)
    inner = os.environ.get("RMLAB_RAY_INNER", " ".join(INNER)).split()
    pytest_cmd = '"$0" -m pytest -p no:cacheprovider -p tests.ray.cluster "$@"'
    script = f"ip link set lo up && exec {pytest_cmd}"
    cmd = ["unshare", "-n", "bash", "-c", script, sys.executable, "-q", "-ra", *inner]
    env = {
        **os.environ,
        "RMLAB_RAY_NAMESPACE": "1",
        "RMLAB_CONFORMANCE_EXECUTORS": "ray,shm+ray",
        "RAY_ADDRESS": "",
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    took = time.monotonic() - t0
    out = proc.stdout + ("\n--- stderr ---\n" + proc.stderr if proc.stderr.strip() else "")
    print(f"inner run ({took:.0f} s): {' '.join(cmd)}\n{out[-40000:]}")
    assert proc.returncode == 0, f"the Ray tests failed inside the namespace:\n{out[-20000:]}"
