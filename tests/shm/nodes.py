"""Nodes for the process-model tests (imported by worker processes by reference)."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from rmlab import Json, Node, Numpy, Param, RuntimeData


class SCrashOn(Node):
    """Kill this worker process (``how``: "exit" or "segv") on the Json value ``at``."""

    at: int = Param(3)
    how: str = Param("exit", choices=("exit", "segv"))

    def process(self, frame: RuntimeData) -> RuntimeData:
        if isinstance(frame, Json) and frame.value == self.at:
            print(f"about to die on {self.at}", file=sys.stderr, flush=True)
            if self.how == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(7)
        return frame


class SViewCheck(Node):
    """Report how the input array arrived: read-only? a view on shared memory?"""

    def process(self, frame: Numpy) -> Json:
        a = frame.array
        return Json({"writeable": bool(a.flags.writeable), "owndata": bool(a.flags.owndata),
                     "sum": float(a.sum()), "pid": os.getpid()})  # fmt: skip


class SBig(Node):
    """Emit a Numpy frame of ``nbytes`` bytes for every input."""

    nbytes: int = Param(1024, min=1)

    def process(self, frame: RuntimeData) -> Numpy:
        return Numpy(np.zeros(self.nbytes, np.uint8))


class SPid(Node):
    """Emit this worker's pid."""

    def process(self, frame: RuntimeData) -> Json:
        return Json(os.getpid())


class SSlowSetup(Node):
    """Take ``seconds`` to set up, like a node loading a model."""

    seconds: float = Param(5.0, min=0.0)

    def setup(self) -> None:
        import time

        print("loading a big model...", file=sys.stderr, flush=True)
        time.sleep(self.seconds)

    def process(self, frame: RuntimeData) -> RuntimeData:
        return frame


class STitle(Node):
    """Emit how this worker process is named: its command line and its ``comm``."""

    def process(self, frame: RuntimeData) -> Json:
        with open("/proc/self/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open("/proc/self/comm") as f:
            comm = f.read().strip()
        return Json({"argv": [a.decode() for a in argv if a], "comm": comm})


class SBadInit(Node):
    """Fail while the node is created (its params are fine; its constructor is not)."""

    def __init__(self, **params):
        super().__init__(**params)
        raise OSError("no licence server")

    def process(self, frame: RuntimeData) -> RuntimeData:
        return frame


class SEnv(Node):
    """Emit what this worker inherited: its cwd, ``RMLAB_TEST_VAR``, a draw from numpy's
    global random state, its parent and what its file descriptors point at."""

    def process(self, frame: RuntimeData) -> Json:
        fds = {}
        for fd in os.listdir("/proc/self/fd"):
            try:
                fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                pass
        return Json({"cwd": os.getcwd(), "var": os.environ.get("RMLAB_TEST_VAR"),
                     "random": int(np.random.randint(2**62)), "ppid": os.getppid(),
                     "pid": os.getpid(), "fds": fds})  # fmt: skip


class SAddPid(Node):
    """Append this process's pid to a Json list (starts one from any other value)."""

    def process(self, frame: RuntimeData) -> Json:
        v = frame.value if isinstance(frame, Json) else None
        return Json([*(v if isinstance(v, list) else []), os.getpid()])


class SOutBase(Node):
    """Emit what backs the ``out`` this node is given (a ctypes array: shared memory)."""

    def process(self, frame: RuntimeData, out: RuntimeData | None = None) -> Json:
        base = out.array.base if out is not None else None  # type: ignore[attr-defined]
        return Json(type(base).__name__)
