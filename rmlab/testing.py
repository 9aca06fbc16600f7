"""Test harness for nodes: run one node on a list of inputs, no executor, no processes.

``run_node(Gain(gain_db=-6), frames)`` calls ``setup``, ``process`` for every input,
``flush`` at the end and ``teardown``, exactly in the order an executor would and
through the same entry points (``rmlab.nodes.base.run_process`` and friends), so
the node sees what it sees on any executor: read-only input arrays (a private
copy when it says ``inplace = True``) and ``source=`` when it asks for it. It is
what rmlab's own node tests use; a bug report with a failing ``run_node`` call is
the best kind.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from typing import Any

from rmlab.data import RuntimeData, as_data
from rmlab.errors import NodeError, RmlabError
from rmlab.nodes.base import Node, run_flush, run_process

__all__ = ["run_node"]


def run_node(
    node: Node | type[Node],
    inputs: Iterable[Any],
    *,
    end: bool = True,
    sources: Iterable[str | None] | None = None,
) -> list[RuntimeData]:
    """Run ``node`` on ``inputs`` and return its outputs in order.

    ``inputs`` may hold frames or anything ``rmlab.as_data`` accepts (ndarrays,
    str, bytes, dicts). ``sources``, when given, holds one source id per input
    (parallel to ``inputs``): the predecessor that frame came from, which a node
    whose ``process`` has a ``source`` parameter is told (``None``: pushed into
    the session directly, which is also what every input is without
    ``sources``). With ``end=True`` (default) the node is flushed after the last
    input, as at the end of a stream. An exception in the node is raised as
    ``NodeError`` (with the traceback; the original is its ``__cause__``).
    """
    if isinstance(node, type):
        node = node()
    frames = list(inputs)
    ids: list[str | None] = [None] * len(frames) if sources is None else list(sources)
    if len(ids) != len(frames):
        raise RmlabError(
            f"run_node: {len(frames)} inputs but {len(ids)} sources; give sources one "
            "id per input (None for a frame pushed into the session), or leave it out"
        )
    node_id = node.node_id
    out: list[RuntimeData] = []
    stage = "setup"
    try:
        node.setup()
        stage = "process"
        for x, source in zip(frames, ids, strict=True):
            frame = as_data(x)
            if not isinstance(frame, tuple(node.accepts)):
                raise TypeError(f"{node.node_type} does not accept {type(frame).__name__} frames")
            out += run_process(node, frame, source)
        if end:
            stage = "flush"
            out += run_flush(node)
        stage = "teardown"
        node.teardown()
    except Exception as exc:
        tb = traceback.format_exc()
        raise NodeError(node_id, f"{type(exc).__name__} in {stage}(): {exc}", tb) from exc
    return out
