"""How a worker process starts: forked by the fork server, or spawned.

``start_worker(argv, pass_fds, env)`` gives the supervisor a process handle (a
``subprocess.Popen``, or a ``Forked`` with the same few methods) and a pidfd that
becomes readable when the worker exits. By default the worker is forked by this
process's fork server (``_forkserver``): one pre-imported process, started on the
first request (or by ``warm_up()``) and shared by every shm session of the process,
so a worker is ready in milliseconds instead of paying its imports. With
``RMLAB_SHM_SPAWN=1`` in the environment, or when the fork server cannot start,
each worker is spawned as ``python -m rmlab.runtime.shm.worker`` as before.

The fork server is started on its own daemon thread, which then reads its messages
for as long as it lives: ``PR_SET_PDEATHSIG`` kills the server when the thread that
started it ends, so that thread must live exactly as long as the server (it ends
when the process does). Every worker the server forked dies with it: each session
reports ``NodeCrashed`` and applies its restart policy, and the next request starts
a new server. One that never becomes ready is not tried again in this process (a
``RuntimeWarning`` says why). The server keeps the rmlab code it imported: after
editing rmlab itself in a running kernel, restart the kernel or spawn.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections import deque
from typing import IO, Any

from rmlab.runtime.shm._forkserver import TITLE_SPACE, receive, send

__all__ = ["SPAWN_ENV", "ForkServer", "Forked", "start_worker", "warm_up"]

SPAWN_ENV = "RMLAB_SHM_SPAWN"
"""Set to 1 to spawn every worker as a fresh interpreter (no fork server)."""
START_TIMEOUT = 30.0
"""How long a request waits for a new fork server's imports (a loaded machine is slow)."""
REPLY_TIMEOUT = 10.0
SERVER_COMMAND = [sys.executable, "-m", "rmlab.runtime.shm._forkserver"]
"""How the fork server is run (``--owner=PID`` and the title padding follow)."""
_GONE = object()  # exit_code(): the server died, so it cannot say


class Unavailable(Exception):
    """The fork server cannot fork this worker (the caller spawns it instead)."""


class ForkServer:
    """This process's handle on one fork server process."""

    def __init__(self, argv: list[str] | None = None):
        self.argv = argv or SERVER_COMMAND
        self.pid: int | None = None
        self.ready = False
        self.gone: str | None = None  # why the server is not usable any more
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one request at a time: replies come in order
        self._cond = threading.Condition()
        self._replies: deque[tuple[dict[str, Any], list[int]]] = deque()
        self._exits: dict[int, int] = {}
        self._stderr: deque[bytes] = deque(maxlen=16)
        self._thread = threading.Thread(
            target=self._run, args=(theirs,), name="rmlab-forkserver", daemon=True
        )
        self._thread.start()

    # -- requests (any thread) ---------------------------------------------------------

    def start(
        self, argv: list[str], pass_fds: list[int], env: dict[str, str]
    ) -> tuple[Forked, int]:
        """Fork one worker with fresh stdin/stdout/stderr pipes; (handle, pidfd)."""
        r0, w0 = os.pipe2(os.O_CLOEXEC)
        r1, w1 = os.pipe2(os.O_CLOEXEC)
        r2, w2 = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                cwd: str | None = os.getcwd()
            except OSError:
                cwd = None
            req = {"argv": argv, "cwd": cwd, "env": env, "targets": [0, 1, 2, *pass_fds]}
            pid, pidfd = self._fork(req, [r0, w1, w2, *pass_fds])
        except BaseException:
            for fd in (w0, r1, r2):
                os.close(fd)
            raise
        finally:
            for fd in (r0, w1, w2):
                os.close(fd)
        pipes = (os.fdopen(w0, "wb"), os.fdopen(r1, "rb"), os.fdopen(r2, "rb"))
        return Forked(self, pid, pidfd, argv, *pipes), pidfd

    def _fork(self, req: dict[str, Any], fds: list[int]) -> tuple[int, int]:
        with self._lock:
            with self._cond:
                if not self._cond.wait_for(lambda: self.ready or self.gone, START_TIMEOUT):
                    self._abandon(f"it did not start within {START_TIMEOUT:g} s")
                if self.gone is not None:
                    raise Unavailable(self.gone)
            try:
                send(self._sock, req, fds)
            except OSError as exc:
                raise Unavailable(f"it cannot be reached ({exc})") from exc
            with self._cond:
                if not self._cond.wait_for(lambda: self._replies or self.gone, REPLY_TIMEOUT):
                    self._abandon(f"it did not answer within {REPLY_TIMEOUT:g} s")
                if not self._replies:
                    raise Unavailable(self.gone)
                msg, got = self._replies.popleft()
        if "error" in msg:
            raise Unavailable(msg["error"])
        return msg["pid"], got[0]

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the server's imports; True once it is ready."""
        with self._cond:
            self._cond.wait_for(lambda: self.ready or self.gone is not None, timeout)
            return self.ready and self.gone is None

    def exit_code(self, pid: int, timeout: float | None) -> Any:
        """``pid``'s returncode once the server reports it; None on timeout; ``_GONE``
        when the server died (its children die with it)."""
        with self._cond:
            self._cond.wait_for(lambda: pid in self._exits or self.gone is not None, timeout)
            if pid in self._exits:
                return self._exits.pop(pid)
            return _GONE if self.gone is not None else None

    def _abandon(self, why: str) -> None:
        """Called with ``_cond`` held: stop using a server that does not respond."""
        self.gone = self.gone or why
        if self._proc is not None:
            self._proc.kill()  # its reader thread sees the EOF and cleans up
        raise Unavailable(why)

    # -- the server's thread -------------------------------------------------------------

    def _run(self, theirs: socket.socket) -> None:
        try:
            self._proc = subprocess.Popen(
                [*self.argv, f"--owner={os.getpid()}", " " * TITLE_SPACE],
                stdin=theirs,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        except OSError as exc:
            self._end(f"it cannot be started ({exc})")
            return
        finally:
            theirs.close()
        why = "it exited"
        try:
            self._read(self._proc)
        except BaseException as exc:  # never leave a server nobody reads
            why = f"its messages could not be read ({type(exc).__name__}: {exc})"
        finally:
            self._proc.kill()
            code = self._proc.wait()
            self._drain_stderr(self._proc)
            tail = b"".join(self._stderr).decode(errors="replace").strip()
            self._end(f"{why} (code {code})" + (f"; its stderr:\n{tail}" if tail else ""))

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        err = proc.stderr.fileno()
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        poller.register(err, select.POLLIN)
        while True:
            for fd, _ in poller.poll():
                if fd == err:
                    chunk = os.read(err, 65536)
                    if not chunk:
                        poller.unregister(err)
                    self._stderr.append(chunk)
                    continue
                msg, fds = receive(self._sock)
                if msg is None:
                    return
                with self._cond:
                    if "ready" in msg:
                        self.pid, self.ready = msg["ready"], True
                    elif "exit" in msg:
                        self._exits[msg["exit"]] = msg["code"]
                    else:
                        self._replies.append((msg, fds))
                    self._cond.notify_all()

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        with contextlib.suppress(OSError):
            os.set_blocking(proc.stderr.fileno(), False)
            while chunk := os.read(proc.stderr.fileno(), 65536):
                self._stderr.append(chunk)
        proc.stderr.close()

    def _end(self, why: str) -> None:
        with self._cond:
            self.gone = self.gone or why
            for _, fds in self._replies:
                for fd in fds:
                    os.close(fd)
            self._replies.clear()
            self._cond.notify_all()
        with self._lock:  # no request is sending on the socket now, or will
            self._sock.close()


class Forked:
    """A worker forked by the fork server: the part of ``Popen`` the supervisor uses."""

    def __init__(
        self,
        server: ForkServer,
        pid: int,
        pidfd: int,
        args: list[str],
        stdin: IO[bytes],
        stdout: IO[bytes],
        stderr: IO[bytes],
    ):
        self.server, self.pid, self.args = server, pid, args
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self._pidfd = pidfd

    def wait(self, timeout: float | None = None) -> int:
        """The returncode (negative: killed by that signal), as ``Popen.wait``."""
        if self.returncode is None:
            code = self.server.exit_code(self.pid, timeout)
            if code is _GONE:  # the server died and PR_SET_PDEATHSIG killed the worker
                if not select.select([self._pidfd], [], [], timeout)[0]:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
                code = -signal.SIGKILL
            if code is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self.returncode = code
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(OSError):  # already gone
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)


_server: ForkServer | None = None
_broken: str | None = None  # why this process spawns its workers instead
_server_lock = threading.Lock()


def _fork_server() -> ForkServer | None:
    """This process's fork server (started if there is none or it died), or None."""
    global _server
    with _server_lock:
        if _broken is not None:
            return None
        if _server is None or _server.gone is not None:
            _server = ForkServer()
        return _server


def _give_up(server: ForkServer, why: str) -> None:
    global _broken
    if server.ready:
        return  # it worked and then died: the next request starts a new one
    with _server_lock:
        if _broken is not None:
            return
        _broken = why
    warnings.warn(
        f"the shm executor's fork server is not available: {why}. Workers are spawned "
        f"instead, which makes every session start slower; set {SPAWN_ENV}=1 to spawn "
        "them on purpose (and silence this)",
        RuntimeWarning,
        stacklevel=2,
    )


def _forget_in_child() -> None:
    """A fork of this process must not talk to its parent's server (its thread is not
    in the child): it starts its own when it needs one."""
    global _server, _server_lock
    _server, _server_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def warm_up(wait: float = 0.0) -> bool:
    """Start the fork server now, so the first session does not wait for its imports.

    Returns at once unless ``wait`` (seconds) says how long to wait for it to be
    ready; True if it is.
    """
    server = None if _spawn_forced() else _fork_server()
    return server is not None and server.wait_ready(wait)


def _spawn_forced() -> bool:
    return os.environ.get(SPAWN_ENV, "").strip().lower() not in ("", "0", "false", "no")


def start_worker(argv: list[str], pass_fds: list[int], env: dict[str, str]) -> tuple[Any, int]:
    """Start one worker: forked by the fork server, else spawned; (handle, pidfd)."""
    server = None if _spawn_forced() else _fork_server()
    if server is not None:
        try:
            return server.start(argv, pass_fds, env)
        except Unavailable as exc:
            _give_up(server, str(exc))
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
        start_new_session=True,  # Ctrl-C in a terminal reaches the session, not its workers
        env=env,
    )
    return proc, os.pidfd_open(proc.pid)
