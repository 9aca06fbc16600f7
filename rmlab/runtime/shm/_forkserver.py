"""The fork server: one pre-imported process that forks the shm executor's workers.

A fresh ``python -m rmlab.runtime.shm.worker`` spends most of its start importing
numpy, iceoryx2 and rmlab. This process (``python -m rmlab.runtime.shm._forkserver
--owner=PID``, started by ``_launch.ForkServer``) pays those imports once, then forks
a worker per request, which starts in milliseconds. It is single-threaded at the
Python level and creates no iceoryx2 object, so forking it is safe; the session's
process itself, which has threads, is never forked.

Protocol, over the SOCK_SEQPACKET socket on its stdin (one pickle per message):

- to the session: ``{"ready": pid}`` once the imports are done; ``{"pid": pid}``
  with the child's pidfd attached (SCM_RIGHTS) for each request; ``{"error": text}``
  when a fork failed; ``{"exit": pid, "code": returncode}`` when a child exits
  (only a parent can wait for a process, so exit statuses come from here, in the
  form ``Popen.returncode`` has: negative for a signal).
- from the session: ``{"argv", "cwd", "env", "targets"}`` with file descriptors
  attached: the child's stdin, stdout, stderr, then the worker's own (doorbells),
  which the child places at ``targets`` (0, 1, 2, then the numbers the worker's spec
  names), like ``subprocess``'s ``pass_fds``.

The child becomes what a spawned worker would be: a new session (``setsid``), the
request's cwd, environment and command line (``/proc/<pid>/cmdline`` shows
``--session=... --node=...``: the server's argv ends in blank padding the child
overwrites), fresh random seeds, then ``worker.main``. Environment variables read
at import time (``OMP_NUM_THREADS``...) keep the server's values.

Lifetime: the server gets SIGKILL when the session thread that started it ends
(``PR_SET_PDEATHSIG``), and exits at EOF on its socket; its children get SIGKILL
when it dies, so killing the session's process takes all of them down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

TITLE_SPACE = 512
"""Bytes of blank padding at the end of the server's argv, for its children's titles."""
MAX_MESSAGE = 1 << 18
MAX_FDS = 250  # SCM_RIGHTS carries at most 253 descriptors per message

# What workers import: paid here once, shared by every child (copy-on-write).
PRELOAD = (
    "numpy",
    "iceoryx2",
    "cloudpickle",
    "rmlab.runtime.shm.worker",
    "rmlab.runtime.shm.plan",
    "rmlab.runtime.shm.channels",
    "rmlab.nodes.audio",
    "rmlab.nodes.analysis",
    "rmlab.nodes.vad",
    "rmlab.nodes.compat",
)


def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    """One message (and its descriptors) on a SOCK_SEQPACKET socket."""
    socket.send_fds(sock, [pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)], fds or [])


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and its descriptors; ``(None, [])`` at EOF."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    return (pickle.loads(data) if data else None), fds


def serve(sock: socket.socket) -> None:
    """Fork a child per request and report every child's exit, until EOF."""
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                req, fds = receive(sock)
                if req is None:
                    return  # the session's process closed its end or died
                child = _fork(req, fds, sock, sel)
                if child is not None:
                    sel.register(child[1], selectors.EVENT_READ, child[0])
            else:
                pid, pidfd = key.data, key.fd
                sel.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _fork(
    req: dict[str, Any], fds: list[int], sock: socket.socket, sel: selectors.BaseSelector
) -> tuple[int, int] | None:
    """Fork one worker; returns its (pid, pidfd) for the server to watch."""
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        send(sock, {"error": f"fork() failed: {exc}"})
        return None
    if pid == 0:
        _child(req, fds, [sock.fileno(), sel.fileno(), *(k.fd for k in sel.get_map().values())])
    for fd in fds:  # the child has them now; copies here would hide the worker's EOF
        os.close(fd)
    pidfd = os.pidfd_open(pid)  # before any waitpid: the pid cannot be reused yet
    send(sock, {"pid": pid}, [pidfd])
    return pid, pidfd


def _child(req: dict[str, Any], fds: list[int], server_fds: list[int]) -> None:
    """Become the worker the request describes; never returns."""
    code = 1
    try:
        server = os.getppid()
        os.setsid()  # like start_new_session: Ctrl-C in a terminal is not for workers
        for fd in set(server_fds):
            with contextlib.suppress(OSError):
                os.close(fd)
        _place(fds, req["targets"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if req["cwd"] is not None:
            with contextlib.suppress(OSError):
                os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        _set_cmdline(req["argv"])
        _reseed()
        from rmlab.runtime.shm import worker

        sys.argv = [worker.__file__, *req["argv"][3:]]
        code = worker.main(parent_pid=server)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        for f in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                f.flush()
        os._exit(code)


def _place(fds: list[int], targets: list[int]) -> None:
    """Put each received descriptor at its target number (``pass_fds`` for a fork)."""
    above = max([*fds, *targets]) + 1
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in fds]
    for fd in fds:
        os.close(fd)
    for src, dst in zip(moved, targets, strict=True):
        os.dup2(src, dst)  # inheritable, as pass_fds makes them
    for fd in moved:
        os.close(fd)


def _set_cmdline(argv: list[str]) -> None:
    """Rewrite this process's command line in place (what ``ps`` and /proc show)."""
    import ctypes

    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (stat 48, 49)
    except (OSError, IndexError, ValueError):
        return  # not Linux: the process title (comm) still names the node
    size = end - start
    blob = "\0".join(argv).encode(errors="surrogateescape")[: size - 1]
    ctypes.memmove(start, blob + b"\0" * (size - len(blob)), size)


def _reseed() -> None:
    """Children must not share the server's random state (``random`` reseeds itself;
    numpy's global state exists only once something imported ``numpy.random``)."""
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()


def main() -> int:
    from rmlab.runtime.shm.worker import _die_with_parent, _set_title

    owner = next(int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--owner="))
    _die_with_parent(owner)
    _set_title("rmlab:forksrv")  # comm holds 15 characters
    sock = socket.socket(fileno=0)  # stdin is the socket (sys.stdin never reads it)
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    send(sock, {"ready": os.getpid()})
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the session's process is gone: exiting takes the children with us
    return 0


if __name__ == "__main__":
    sys.exit(main())
