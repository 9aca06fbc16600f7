"""The shared-memory executor's process model, with real worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rmlab import (
    ExecutorError,
    Manifest,
    NodeCrashed,
    NodeError,
    SessionError,
    Timeout,
    open_session,
)

from . import nodes  # noqa: F401  # registers the S* test nodes
from .conftest import alive as _alive
from .conftest import session_leftovers

pytestmark = [pytest.mark.shm, pytest.mark.usefixtures("no_leaks")]
ROOT = Path(__file__).parents[2]


def test_nodes_get_read_only_zero_copy_views() -> None:
    m = Manifest().add("src", "PassThrough").add("check", "SViewCheck").connect("src", "check")
    with open_session(m, "shm") as s:
        s.push(np.arange(960, dtype=np.float32))
        out = s.pull(timeout=10).data.value
    assert out["writeable"] is False and out["owndata"] is False
    assert out["sum"] == float(np.arange(960, dtype=np.float32).sum())
    assert out["pid"] != os.getpid()


def test_outputs_are_read_only_views_and_stay_correct_when_held() -> None:
    m = Manifest().add("p", "PassThrough")
    with open_session(m, "shm", backpressure="block") as s:
        for i in range(100):
            s.push(np.full(960, i, np.float32))
        s.end()
        held = list(s)  # far more than iceoryx2's borrow limit: the rest must be copies
    assert len(held) == 100
    assert not held[0].data.array.flags.writeable
    for i, out in enumerate(held):
        assert np.all(out.data.array == i), f"output {i} changed under us"


def test_crash_becomes_node_crashed_within_a_second() -> None:
    m = Manifest().add("c", "SCrashOn", at=3, how="exit")
    with open_session(m, "shm", backpressure="block") as s:
        for v in (1, 2):
            s.push(v)
            assert s.pull(timeout=10).data.value == v
        t0 = time.monotonic()
        s.push(3)
        with pytest.raises(NodeCrashed) as err:
            s.pull(timeout=10)
        took = time.monotonic() - t0
        assert took < 1.0, f"crash noticed after {took:.2f} s"
        assert err.value.node_id == "c" and err.value.exit_code == 7
        assert "about to die on 3" in err.value.stderr_tail
        with pytest.raises(SessionError, match="cannot continue"):
            s.push(4)


def test_signal_is_reported() -> None:
    m = Manifest().add("c", "SCrashOn", at=1, how="segv")
    with open_session(m, "shm") as s:
        s.push(1)
        with pytest.raises(NodeCrashed, match="killed by signal 11") as err:
            s.pull(timeout=10)
    assert err.value.signal == signal.SIGSEGV


def test_restart_policy_restores_the_flow() -> None:
    m = Manifest().add("c", "SCrashOn", at=3).add("out", "PassThrough").connect("c", "out")
    m.node("c").restart = {"policy": "on-failure", "max_restarts": 1}
    with open_session(m, "shm", backpressure="block") as s:
        s.push(3)
        with pytest.raises(NodeCrashed):
            s.pull(timeout=10)
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            s.push(4)  # frames pushed while the worker restarts may be lost; keep trying
            with contextlib.suppress(Timeout):
                got = s.pull(timeout=0.5).data.value
        assert got == 4
        assert s.stats().restarts == {"c": 1, "out": 0}


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r})
            import tests.shm.nodes
            from rmlab import Manifest, open_session
            m = Manifest().add("a", "SPid").add("b", "SPid")
            s = open_session(m, "shm")
            s.push(0)
            print(s.session_id, flush=True)
            print(sorted(s.pull(timeout=10).data.value for _ in range(2)), flush=True)
            time.sleep(60)
            """
        )
    )
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    sid = host.stdout.readline().strip()  # type: ignore[union-attr]
    pids = json.loads(host.stdout.readline())  # type: ignore[union-attr]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    host.kill()  # like a kernel killed from outside: no cleanup code runs
    host.wait()
    host.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), "orphaned workers"
    assert session_leftovers(sid), "the killed session should have left resources behind"
    # the next session start removes what the dead one left
    with open_session(Manifest().add("p", "PassThrough"), "shm") as s:
        s.push(1)
        s.pull(timeout=10)
    assert not session_leftovers(sid)


def test_nodes_defined_in_main_reach_workers_by_value(tmp_path: Path) -> None:
    script = tmp_path / "cell.py"
    script.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from rmlab import Manifest, Node, Numpy, Param, node, open_session

            class Offset(Node):
                by: float = Param(1.0)
                def process(self, frame):
                    return Numpy(frame.array + self.by)

            @node("Twice")
            def twice(x, *, k: int = 2):
                return x * k

            m = Manifest().add("o", Offset, by=10.0).add("t", "Twice", k=3).connect("o", "t")
            with open_session(m, "shm") as s:
                s.push(np.arange(3.0))
                print(s.pull(timeout=10).data.array.tolist())
            """
        )
    )
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[30.0, 33.0, 36.0]"


def test_frame_size_limit_is_clear() -> None:
    m = Manifest().add("p", "PassThrough")
    too_big = pytest.raises(ExecutorError, match="exceeds the session's max_frame_bytes=4,096")
    with open_session(m, "shm", max_frame_bytes=4096) as s, too_big:
        s.push(np.zeros(10_000, np.float32))
    m = Manifest().add("big", "SBig", nbytes=100_000)
    with open_session(m, "shm", max_frame_bytes=8192) as s:
        s.push(1)
        with pytest.raises(NodeError, match="max_frame_bytes") as err:
            s.pull(timeout=10)
        assert err.value.node_id == "big"


def test_dev_shm_space_is_checked_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real = shutil.disk_usage

    def tiny(path: str):
        u = real(path)
        return type(u)(u.total, u.total - 1_000_000, 1_000_000)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    with pytest.raises(ExecutorError, match=r"/dev/shm has only 1\.0 MiB free.*--shm-size"):
        open_session(Manifest().add("p", "PassThrough"), "shm")


def test_slow_start_names_the_node(tmp_path: Path) -> None:
    m = Manifest().add("fast", "PassThrough").add("slow", "SSlowSetup", seconds=5.0)
    with pytest.raises(ExecutorError, match=r"node 'slow' did not start within 1 s") as err:
        open_session(m, "shm", start_timeout=1.0)
    assert "loading a big model" in str(err.value)


def test_idle_workers_use_no_cpu() -> None:
    m = Manifest().add("a", "SPid").add("b", "PassThrough").connect("a", "b")
    with open_session(m, "shm") as s:
        s.push(0)
        pid = s.pull(timeout=10).data.value
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        used = _cpu_seconds(pid) - before
    assert used < 0.05, f"an idle worker used {used * 100:.0f}% of a core"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_session_opened_on_a_short_lived_thread_keeps_its_workers() -> None:
    import threading

    box = {}
    t = threading.Thread(
        target=lambda: box.update(s=open_session(Manifest().add("p", "SPid"), "shm"))
    )
    t.start()
    t.join()  # PR_SET_PDEATHSIG follows the forking thread: this must not kill the workers
    with box["s"] as s:
        time.sleep(0.2)
        s.push(0)
        assert s.pull(timeout=10).data.value > 0


def test_workers_are_named_in_ps_and_top() -> None:
    m = Manifest().add("my-gain", "STitle")
    with open_session(m, "shm", session_id="titled") as s:
        s.push(1)
        got = s.pull(timeout=10).data.value
        (pid,) = s.pids.values()
        with open(f"/proc/{pid}/comm") as f:
            assert f.read().strip() == "rmlab:my-gain"  # Session.pids says which is which
    assert "--session=titled" in got["argv"] and "--node=my-gain" in got["argv"]
    assert got["comm"] == "rmlab:my-gain"
