"""The Ray actor that runs a node: ``NodeHost``, one per node (per replica) of a session.

A host runs exactly one node at a time, through ``run_process``, ``run_flush`` and
``run_update`` like every executor, so a node keeps its state between frames and
emits 0..N outputs per input. The node class travels as a cloudpickle blob (by
value when it was defined in a notebook cell or ``__main__``, by reference when it
is importable), exactly as the shm executor sends it to its workers.

Nothing raised by the node escapes as a Ray error: ``load``, ``process``,
``flush``, ``update`` and ``unload`` return the failure as data (message and the
formatted remote traceback), so a failing frame is a ``NodeError`` and the session
goes on, while a Ray error on a call always means the actor itself is in trouble.

``process`` and ``flush`` are called with ``num_returns=2``: the first object is
small (per input frame: receive and done times on this host's ``time.monotonic_ns``,
how many outputs, the error if any) and returns inline to the caller; the second is
the list of output frames, which stays in the cluster node's object store until a
successor or the session asks for it, so a frame travels from host to host without
passing through the session.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

from rmlab.nodes.base import Node, run_flush, run_process, run_update

__all__ = ["NodeHost", "boot_id", "host_class"]

Call = tuple[int, int, int, "tuple[str, str] | None"]
"""One process call: (recv_ns, done_ns, outputs, (message, traceback) or None)."""


def boot_id() -> str:
    """This machine's boot id: two processes with the same one share ``CLOCK_MONOTONIC``."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:  # not Linux: never equal, so clocks are always aligned by pings
        return f"unknown:{socket.gethostname()}:{os.getpid()}"


class NodeHost:
    """Runs one node on a Ray worker process; see the module docstring."""

    def __init__(self) -> None:
        self.node: Node | None = None
        self.accepts: tuple[type, ...] = ()

    def load(self, node_id: str, cls_blob: bytes, params: dict[str, Any]) -> dict[str, Any]:
        """Create the node and run its ``setup()``; returns where it runs, or the failure."""
        import cloudpickle

        self.unload()
        stage = "import (unpickling the node class)"
        try:
            cls = cloudpickle.loads(cls_blob)
            stage = "node creation"
            node = cls(**params)
            node.node_id = node_id
            stage = "setup()"
            node.setup()
        except Exception as exc:
            return {"error": f"{type(exc).__name__} in {stage}: {exc}",
                    "traceback": traceback.format_exc()}  # fmt: skip
        self.node, self.accepts = node, tuple(cls.accepts)
        return self.where()

    def where(self) -> dict[str, Any]:
        """The cluster node, process and clock of this host."""
        import ray

        ctx = ray.get_runtime_context()
        return {
            "node_id": ctx.get_node_id(),
            "actor_id": ctx.get_actor_id(),
            "ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "boot_id": boot_id(),
            "now_ns": time.monotonic_ns(),
        }

    def clock(self) -> int:
        """This host's ``time.monotonic_ns()`` (for aligning clocks across machines)."""
        return time.monotonic_ns()

    def process(self, frames: list[Any], source: str | None) -> tuple[list[Call], list[Any]]:
        """Run ``process`` on each frame in order; (per-frame calls, all outputs in order)."""
        node = self.node
        assert node is not None, "process() before load()"
        calls: list[Call] = []
        outs: list[Any] = []
        for frame in frames:
            if not isinstance(frame, self.accepts):
                took = ", ".join(sorted(t.__name__ for t in self.accepts))
                msg = f"{node.node_type} does not accept {type(frame).__name__} (accepts {took})"
                calls.append((0, 0, 0, (msg, "")))
                continue
            t0 = time.monotonic_ns()
            try:
                got = run_process(node, frame, source)
            except Exception as exc:
                calls.append((t0, t0, 0, (f"{type(exc).__name__} in process(): {exc}",
                                          traceback.format_exc())))  # fmt: skip
                continue
            calls.append((t0, time.monotonic_ns(), len(got), None))
            outs += got
        return calls, outs

    def flush(self) -> tuple[list[Call], list[Any]]:
        """Run ``flush`` once; the same shape as ``process``, for one call."""
        assert self.node is not None, "flush() before load()"
        t0 = time.monotonic_ns()
        try:
            outs = run_flush(self.node)
        except Exception as exc:
            return [(t0, t0, 0, (f"{type(exc).__name__} in flush(): {exc}",
                                 traceback.format_exc()))], []  # fmt: skip
        return [(t0, time.monotonic_ns(), len(outs), None)], outs

    def update(self, params: dict[str, Any]) -> tuple[str, str] | None:
        """Apply new params between two frames (``run_update``); the failure, if any."""
        assert self.node is not None, "update() before load()"
        try:
            run_update(self.node, params)
        except Exception as exc:
            return f"{type(exc).__name__} in update(): {exc}", traceback.format_exc()
        return None

    def unload(self) -> tuple[str, str] | None:
        """Run the node's ``teardown()`` and forget it (the host may then load another)."""
        node, self.node = self.node, None
        if node is None:
            return None
        try:
            node.teardown()
        except Exception as exc:
            return f"{type(exc).__name__} in teardown(): {exc}", traceback.format_exc()
        return None


_REMOTE: Any = None


def host_class() -> Any:
    """``NodeHost`` as a Ray actor class (made once; Ray is imported only here)."""
    global _REMOTE
    if _REMOTE is None:
        import ray

        _REMOTE = ray.remote(NodeHost)
    return _REMOTE
