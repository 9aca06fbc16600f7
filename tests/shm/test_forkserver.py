"""Workers forked by the fork server behave like spawned ones, and the spawn path stays."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from rmlab import Manifest, NodeCrashed, open_session
from rmlab.runtime.shm import _launch

from . import nodes  # noqa: F401  # registers the S* test nodes
from .conftest import alive as _alive
from .conftest import answer_after_restart, owner_process

pytestmark = [pytest.mark.shm, pytest.mark.usefixtures("no_leaks")]


def _server() -> _launch.ForkServer:
    assert _launch.warm_up(wait=60.0), "the fork server did not start"
    assert _launch._server is not None
    return _launch._server


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _values(s, n: int) -> list:
    return [s.pull(timeout=10).data.value for _ in range(n)]


def test_workers_are_forked_by_the_fork_server() -> None:
    server = _server()
    assert server.pid is not None and _ppid(server.pid) == os.getpid()
    with open(f"/proc/{server.pid}/comm") as f:
        assert f.read().strip() == "rmlab:forksrv"
    m = Manifest().add("a", "SEnv").add("b", "SEnv")
    with open_session(m, "shm") as s:
        s.push(0)
        got = _values(s, 2)
        assert {g["pid"] for g in got} == set(s.pids.values())
    assert all(g["ppid"] == server.pid for g in got)
    assert got[0]["random"] != got[1]["random"], "forked workers share numpy's random state"
    socket_of_server = os.readlink(f"/proc/{server.pid}/fd/0")
    for g in got:
        assert socket_of_server not in g["fds"].values(), "a worker holds the server's socket"


def test_a_worker_gets_the_sessions_cwd_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _server()  # started before the change: what it inherited must not matter
    monkeypatch.setenv("RMLAB_TEST_VAR", "set after the fork server started")
    monkeypatch.chdir(tmp_path)
    with open_session(Manifest().add("e", "SEnv"), "shm") as s:
        s.push(0)
        (got,) = _values(s, 1)
    assert got["var"] == "set after the fork server started"
    assert got["cwd"] == str(tmp_path)


def test_a_crash_is_reported_and_the_restart_is_forked_too() -> None:
    server = _server()
    m = Manifest().add("c", "SCrashOn", at=3).add("who", "SEnv").connect("c", "who")
    m.node("c").restart = {"policy": "on-failure", "max_restarts": 1}
    with open_session(m, "shm", backpressure="block") as s:
        first = s.pids["c"]
        s.push(3)
        with pytest.raises(NodeCrashed) as err:
            s.pull(timeout=10)
        assert err.value.node_id == "c" and err.value.exit_code == 7
        assert "about to die on 3" in err.value.stderr_tail
        got = answer_after_restart(s, 4)
        assert got is not None and got.value["ppid"] == server.pid
        restarted = s.pids["c"]
        assert restarted != first and _ppid(restarted) == server.pid
        assert s.stats().restarts == {"c": 1, "who": 0}


def test_workers_die_with_the_fork_server_and_a_new_one_takes_over() -> None:
    server = _server()
    m = Manifest().add("a", "SPid")
    with open_session(m, "shm") as s:
        s.push(0)
        victim = s.pull(timeout=10).data.value
        os.kill(server.pid, signal.SIGKILL)
        with pytest.raises(NodeCrashed) as err:
            s.pull(timeout=10)
        assert err.value.node_id == "a" and err.value.signal == signal.SIGKILL
    assert not _alive(victim)
    with open_session(m, "shm") as s:
        s.push(0)
        pid = s.pull(timeout=10).data.value
        new = _launch._server
        assert new is not None and new is not server and _ppid(pid) == new.pid


def test_spawn_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_launch.SPAWN_ENV, "1")
    with open_session(Manifest().add("e", "SEnv"), "shm") as s:
        s.push(0)
        (got,) = _values(s, 1)
        with open(f"/proc/{got['pid']}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    assert got["ppid"] == os.getpid()  # a child of this process, not of the fork server
    assert argv[1:3] == [b"-m", b"rmlab.runtime.shm.worker"]


def test_a_fork_server_that_cannot_start_falls_back_to_spawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = [sys.executable, "-c", "import sys; sys.exit('no fork server today')"]
    monkeypatch.setattr(_launch, "SERVER_COMMAND", broken)
    monkeypatch.setattr(_launch, "_server", None)
    monkeypatch.setattr(_launch, "_broken", None)
    m = Manifest().add("e", "SEnv")
    with pytest.warns(RuntimeWarning, match="no fork server today.*spawned instead"):
        s = open_session(m, "shm")
    with s:
        s.push(0)
        (got,) = _values(s, 1)
        assert got["ppid"] == os.getpid()  # spawned by this process, as before
    assert _launch._broken is not None  # not tried again in this process
    with open_session(m, "shm") as s:  # no second warning: warnings are errors here
        s.push(0)
        assert _values(s, 1)[0]["ppid"] == os.getpid()


def test_killing_the_session_process_leaves_no_rmlab_process(tmp_path: Path) -> None:
    owner = owner_process(
        tmp_path,
        """
        import json, time
        from rmlab import Manifest, open_session
        from rmlab.runtime.shm import _launch
        m = Manifest().add("a", "SPid").add("b", "SPid").add("c", "SPid")
        s = open_session(m, "shm")
        s.push(0)
        pids = sorted(s.pull(timeout=10).data.value for _ in range(3))
        print(json.dumps({"server": _launch._server.pid, "workers": pids}), flush=True)
        time.sleep(60)
        """,
    )
    got = json.loads(owner.stdout.readline())  # type: ignore[union-attr]
    ours = {got["server"], *got["workers"]}
    assert all(_ppid(w) == got["server"] for w in got["workers"])
    assert _ppid(got["server"]) == owner.pid
    owner.kill()  # like a kernel killed from outside: no cleanup code runs
    owner.wait()
    owner.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while _rmlab_processes(ours) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _rmlab_processes(ours), "processes outlived the session's process"


def _rmlab_processes(pids: set[int]) -> list[str]:
    """Which of ``pids`` still run as an rmlab process (named ``rmlab:...``)."""
    left = []
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            if comm.startswith("rmlab:") and _alive(pid):
                left.append(f"{pid} {comm}")
    return left


def test_warm_up_starts_the_fork_server_ahead_of_the_first_session() -> None:
    import rmlab
    from rmlab import ExecutorError

    rmlab.warm_up("shm")  # returns at once; the server imports in the background
    server = _launch._fork_server()
    assert server is not None and server.wait_ready(30)
    rmlab.warm_up("shm")
    assert _launch._fork_server() is server  # once is enough
    rmlab.warm_up("local")  # nothing to prepare
    with pytest.raises(ExecutorError, match="unknown executor 'nope'"):
        rmlab.warm_up("nope")
