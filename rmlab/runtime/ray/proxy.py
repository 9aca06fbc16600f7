"""A remote node inside the ``"local"`` executor: a stand-in ``Node`` that calls its actor.

The local executor is the reference semantics: one runner thread walks each input
through the whole graph before the next. A node placed on Ray keeps that: its
``RemoteProxy`` is a ``Node`` the runner drives like any other (through
``run_process``, ``run_flush`` and ``run_update``), and each call sends the frame to
the node's actor and waits for the answer, so on "local" a remote node has one frame
in flight (``max_in_flight`` is for the executors that overlap transfer and compute:
"shm" and "ray"). The node's own code runs only in the actor.

What the runner cannot see comes out through ``report``: ``NodeRestarted`` when the
restart policy started a new actor, and ``Ended`` when a node crashed for good.
An error of the remote node is raised as the ``NodeError`` it is, with the remote
traceback; ``last_call`` holds the actor-side receive and done times of the last
``process`` call (on this process's clock), which the runner reports as the hop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rmlab.data import RuntimeData
from rmlab.errors import NodeError
from rmlab.nodes.base import Node
from rmlab.runtime.executor import Ended, Event, ExecutorContext, NodeRestarted
from rmlab.runtime.graph import Graph
from rmlab.runtime.ray.placement import Placement
from rmlab.runtime.ray.remote import RemoteNode, Result, start_remote

__all__ = ["RemoteProxy", "start_proxies"]


class RemoteProxy(Node, abstract=True):
    """Stands in for a node placed on Ray; see the module docstring."""

    def __init__(self, remote: RemoteNode, report: Callable[[Event], None]):
        # not Node.__init__: the params are the real node's, validated and held by its actor
        self.remote = remote
        self.node_id = remote.node_id
        self.node_type = remote.node_type  # type: ignore[misc]  # the real node's, for messages
        self.accepts = frozenset(remote.accepts)  # type: ignore[misc]
        self._params: dict[str, Any] = dict(remote.params)
        self._report = report
        self.last_call = (0, 0)

    def process(self, frame: RuntimeData, source: str | None = None) -> list[RuntimeData]:
        self._check()
        self.remote.submit([frame], source, None)
        res = self._wait("process")
        t0, t1, _, err = res.calls[0]
        if err is not None:
            raise err
        self.last_call = (t0, t1)
        return self.remote.fetch(res)

    def flush(self) -> list[RuntimeData]:
        self._check()
        self.remote.flush()
        res = self._wait("flush")
        for call in res.calls:
            if call[3] is not None:
                raise call[3]
        return self.remote.fetch(res)

    def update(self, **params: Any) -> None:
        self._check()
        self.remote.update(params)
        self._wait("update")
        self._params.update(params)

    def teardown(self) -> None:
        errors = self.remote.close()
        if errors:
            raise errors[0]

    def _check(self) -> None:
        if self.remote.dead:
            raise NodeError(self.node_id, "its Ray actor died and was not restarted")

    def _wait(self, kind: str) -> Result:
        """The result of the call just made; node events that come first are reported."""
        rn = self.remote
        while True:
            for res in rn.results():
                if res.kind == "restarted":
                    self._report(NodeRestarted(rn.node_id, rn.restarts))
                elif res.kind == "crashed":
                    if res.fatal:
                        self._report(Ended(f"node {rn.node_id!r} crashed"))
                    raise res.error  # type: ignore[misc]  # the frame is lost with the actor
                elif res.kind == kind:
                    if res.error is not None:
                        raise res.error
                    return res
                elif res.kind == "lost":
                    raise NodeError(rn.node_id, f"a {kind}() call was lost with its actor")
            if rn.dead:
                raise NodeError(rn.node_id, "its Ray actor died and was not restarted")
            rn.wait(None)


def start_proxies(
    graph: Graph,
    placements: dict[str, Placement],
    option: Any,
    context: ExecutorContext,
    report: Callable[[Event], None],
) -> dict[str, RemoteProxy]:
    """Start the remote nodes of a local session (in parallel) and their stand-ins."""
    nodes = start_remote(graph, placements, option, context.start_timeout, lambda _: _nothing)
    return {nid: RemoteProxy(rn, report) for nid, rn in nodes.items()}


def _nothing() -> None:
    """The local runner waits on its call's future itself: no wake-up needed."""
