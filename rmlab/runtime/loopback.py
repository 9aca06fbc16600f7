"""The loopback executor: an empty pipeline, whose inputs come back unchanged.

The RemoteMedia convention for a manifest without nodes (its numpy and WebRTC
loopback examples). ``open_session`` uses it for every empty manifest.
"""

from __future__ import annotations

import time
from typing import Any

from rmlab.data import RuntimeData
from rmlab.runtime.executor import Ended, Event, EventBuffer, ExecutorContext, Output
from rmlab.runtime.graph import Graph
from rmlab.runtime.trace import Trace

__all__ = ["LoopbackExecutor"]


class LoopbackExecutor:
    """Every input is an output of node ``""``; ``finish`` ends at once."""

    def __init__(self, graph: Graph, context: ExecutorContext):
        self._events = EventBuffer(
            context.queue_size if context.backpressure == "drop-oldest" else None
        )

    def submit(self, frame: RuntimeData, target: str | None, trace: Trace) -> None:
        arrived = Trace(trace.seq, trace.origin_ns, (), time.monotonic_ns())
        self._events.put(Output("", frame, arrived))

    def finish(self) -> None:
        self._events.put(Ended())

    def receive(self) -> list[Event]:
        return self._events.take()

    def fileno(self) -> int:
        return self._events.fileno()

    def set_params(self, node_id: str, params: dict[str, Any]) -> None:
        raise AssertionError("a loopback has no nodes")  # Session validates node ids first

    def tap(self, node_id: str) -> None:
        raise AssertionError("a loopback has no nodes")

    def close(self) -> None:
        self._events.close()
