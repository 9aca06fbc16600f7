"""Test harness for nodes: run one node on a list of inputs, no executor, no processes.

``run_node(Gain(gain_db=-6), frames)`` calls ``setup``, ``process`` for every input,
``flush`` at the end and ``teardown``, exactly in the order an executor would, and
returns every output. It is what rmlab's own node tests use; a bug report with a
failing ``run_node`` call is the best kind.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from typing import Any

from rmlab.data import RuntimeData, as_data
from rmlab.errors import NodeError
from rmlab.nodes.base import Node, outputs

__all__ = ["run_node"]


def run_node(
    node: Node | type[Node], inputs: Iterable[Any], *, end: bool = True
) -> list[RuntimeData]:
    """Run ``node`` on ``inputs`` and return its outputs in order.

    ``inputs`` may hold frames or anything ``rmlab.as_data`` accepts (ndarrays,
    str, bytes, dicts). With ``end=True`` (default) the node is flushed after the
    last input, as at the end of a stream. An exception in the node is raised as
    ``NodeError`` (with the traceback; the original is its ``__cause__``).
    """
    if isinstance(node, type):
        node = node()
    node_id = node.node_id
    out: list[RuntimeData] = []
    stage = "setup"
    try:
        node.setup()
        stage = "process"
        for x in inputs:
            frame = as_data(x)
            if not isinstance(frame, tuple(node.accepts)):
                raise TypeError(f"{node.node_type} does not accept {type(frame).__name__} frames")
            out += outputs(node.process(frame))
        if end:
            stage = "flush"
            out += outputs(node.flush())
        stage = "teardown"
        node.teardown()
    except Exception as exc:
        tb = traceback.format_exc()
        raise NodeError(node_id, f"{type(exc).__name__} in {stage}(): {exc}", tb) from exc
    return out
