"""Process supervision for the shm executor: start workers, watch them, restart them.

One supervisor thread per session starts every worker, then watches each worker's
stdout (its reports), stderr (kept for crash reports) and exit (a pidfd). A dead
worker becomes ``NodeCrashed`` within milliseconds; the node's restart policy from
the manifest decides whether it is started again (the same way as the first time).
What it learns goes to the executor through ``report``.

A worker is forked by the process's fork server (``_launch``, ``_forkserver``): a
separate, pre-imported, single-threaded process, so a worker is ready in
milliseconds and the caller, which may be a kernel with threads, is never forked.
The worker gets the same spec on stdin, the same pipes and doorbell descriptors, the
same title and command line as a spawned one. Without a fork server (it cannot
start, or ``RMLAB_SHM_SPAWN=1``) the worker is spawned: ``python -m
rmlab.runtime.shm.worker``.

Workers are started on this thread, not the caller's: ``PR_SET_PDEATHSIG`` fires
when the *thread* that forked a child exits, so workers started from a short-lived
thread (``asyncio.to_thread``, a widget handler) would die with it. This thread
lives exactly as long as the session (the fork server has a thread of its own).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rmlab.errors import ExecutorError, NodeCrashed, NodeError
from rmlab.runtime.executor import Ended, Event, NodeFailed, NodeRestarted
from rmlab.runtime.shm._launch import Forked, start_worker
from rmlab.runtime.shm.channels import drain, ring

__all__ = ["Supervisor", "WorkerProcess"]

_STDERR_LINES = 40


class WorkerProcess:
    """One worker process and what the session knows about it."""

    def __init__(self, node_id: str, spec: dict[str, Any], fds: list[int]):
        self.node_id = node_id
        self.spec = spec
        self.fds = fds
        self.proc: subprocess.Popen[bytes] | Forked | None = None
        self.pidfd = -1
        self.ready = threading.Event()
        self.failure: NodeError | None = None
        self.stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._partial = b""
        self.restarts = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.ready.clear()
        self.failure = None
        sid = self.spec["session"]["sid"]
        # the extra arguments are for people: `ps` and `top` show which node this is
        argv = [sys.executable, "-m", "rmlab.runtime.shm.worker",
                f"--session={sid}", f"--node={self.node_id}"]  # fmt: skip
        self.proc, self.pidfd = start_worker(argv, self.fds, env)
        assert self.proc.stdin is not None
        blob = pickle.dumps(self.spec, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(len(blob).to_bytes(8, "little") + blob)
        self.proc.stdin.flush()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def tail(self) -> str:
        return "".join(self.stderr)

    def on_stderr(self, chunk: bytes) -> None:
        text = (self._partial + chunk).decode("utf-8", "replace")
        lines = text.splitlines(keepends=True)
        self._partial = lines.pop().encode() if lines and not lines[-1].endswith("\n") else b""
        self.stderr.extend(lines)

    def control(self, msg: dict[str, Any]) -> None:
        """Send a control message (a JSON line on stdin); the worker applies it between frames."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):  # dead: the supervisor reports it
                self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
                self.proc.stdin.flush()

    def close_stdin(self) -> None:
        """Tell the worker to stop (EOF on its stdin); it tears its node down and exits."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def stop(self, timeout: float) -> None:
        proc = self.proc
        if proc is None:
            return
        self.close_stdin()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                f.close()  # type: ignore[union-attr]
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def drain_stderr(self) -> None:
        if self.proc is None or self.proc.stderr is None:
            return
        with contextlib.suppress(OSError, ValueError):
            os.set_blocking(self.proc.stderr.fileno(), False)
            while chunk := os.read(self.proc.stderr.fileno(), 65536):
                self.on_stderr(chunk)


class Supervisor:
    """Starts, watches and restarts a session's workers on one thread.

    ``report(event)`` receives ``NodeFailed`` (crashes), ``NodeRestarted`` and
    ``Ended`` (a crashed node without a restart policy: the pipeline cannot
    finish); ``before_restart()`` runs before a worker is started again (the
    executor removes the dead worker's iceoryx2 resources there).
    """

    def __init__(
        self,
        workers: list[WorkerProcess],
        *,
        report: Callable[[Event], None],
        before_restart: Callable[[], None],
        name: str,
    ):
        self.workers = workers
        self.report = report
        self.before_restart = before_restart
        self.crashed: NodeCrashed | None = None
        self._closing = False
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, timeout: float) -> None:
        """Start every worker in parallel and wait until each is ready (after ``setup()``)."""
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise ExecutorError(
                f"cannot start a worker process: {self._start_error}; check that "
                f"{sys.executable} runs and that the process limit is not reached"
            ) from self._start_error
        deadline = time.monotonic() + timeout
        for w in self.workers:
            w.ready.wait(max(0.0, deadline - time.monotonic()))
            if w.failure is not None:
                raise w.failure
        slow = [w for w in self.workers if not w.ready.is_set()]
        if slow:
            names = ", ".join(repr(w.node_id) for w in slow)
            tails = "\n".join(f"--- {w.node_id} ---\n{w.tail() or '(empty)'}" for w in slow)
            raise ExecutorError(
                f"node{'s' if len(slow) > 1 else ''} {names} did not start within {timeout:g} s "
                f"(a slow import or setup()? raise open_session's start_timeout); "
                f"stderr:\n{tails}"
            )

    def stop(self) -> None:
        """Stop every worker (EOF first, so they tear down in parallel) and the thread."""
        self._closing = True
        for w in self.workers:
            w.close_stdin()
        ring(self._wake_w)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        deadline = time.monotonic() + 3.0
        for w in self.workers:
            w.stop(max(0.1, deadline - time.monotonic()))
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- the thread -------------------------------------------------------------------

    def _watch(self, w: WorkerProcess) -> None:
        assert w.proc is not None and w.proc.stdout is not None and w.proc.stderr is not None
        self._sel.register(w.proc.stdout, selectors.EVENT_READ, ("stdout", w))
        self._sel.register(w.proc.stderr, selectors.EVENT_READ, ("stderr", w))
        self._sel.register(w.pidfd, selectors.EVENT_READ, ("exit", w))

    def _run(self) -> None:
        try:
            for w in self.workers:
                w.start()
                self._watch(w)
        except BaseException as exc:
            self._start_error = exc
        finally:
            self._started.set()
        while not self._closing:
            for key, _ in self._sel.select(timeout=0.5):
                kind, w = key.data
                if kind == "wake":
                    drain(self._wake_r)
                elif kind == "stdout":
                    line = key.fileobj.readline()  # type: ignore[union-attr]
                    if line:
                        self._on_report(w, json.loads(line))
                    else:
                        self._sel.unregister(key.fileobj)
                elif kind == "stderr":
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    if chunk:
                        w.on_stderr(chunk)
                    else:
                        self._sel.unregister(key.fileobj)
                elif kind == "exit":
                    self._sel.unregister(key.fileobj)
                    if not self._closing:
                        self._on_exit(w)

    def _on_report(self, w: WorkerProcess, msg: dict[str, Any]) -> None:
        if msg.get("event") == "ready":
            w.ready.set()
        elif msg.get("event") == "start-failed":
            w.failure = NodeError(w.node_id, msg["message"], msg.get("traceback", ""))
            w.ready.set()

    def _on_exit(self, w: WorkerProcess) -> None:
        assert w.proc is not None
        rc = w.proc.wait()
        time.sleep(0.02)  # let the stderr reader take the last lines
        w.drain_stderr()
        err = NodeCrashed(
            w.node_id,
            exit_code=rc if rc >= 0 else None,
            signal=-rc if rc < 0 else None,
            stderr_tail=w.tail(),
        )
        if w.failure is not None or not w.ready.is_set():  # died while starting
            w.failure = w.failure or err
            w.ready.set()
            return
        policy = w.spec["plan"].restart
        if policy.get("policy") == "on-failure" and w.restarts < policy.get("max_restarts", 3):
            self.report(NodeFailed(err))
            w.restarts += 1
            w.stop(1.0)
            try:
                self.before_restart()
                w.start()
            except Exception as exc:
                self.crashed = err
                self.report(NodeFailed(NodeError(w.node_id, f"restart failed: {exc}")))
                self.report(Ended(f"node {w.node_id!r} could not be restarted: {exc}"))
                return
            self._watch(w)
            self.report(NodeRestarted(w.node_id, w.restarts))
            return
        self.crashed = err
        self.report(NodeFailed(err))
        self.report(Ended(f"node {w.node_id!r} crashed"))  # the pipeline cannot finish
