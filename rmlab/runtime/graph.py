"""The compiled graph of a validated manifest: order, sources, sinks, fan-out, fan-in.

Executors never walk the manifest themselves; they ask a ``Graph``. Sources are
nodes without inbound edges (they receive every pushed input), sinks are nodes
without outbound edges (their outputs are what a session returns).
"""

from __future__ import annotations

from dataclasses import dataclass

from rmlab._graph import topo_order
from rmlab.manifest import Manifest
from rmlab.nodes import Node, lookup

__all__ = ["Graph"]


@dataclass(frozen=True)
class Graph:
    """A validated manifest as an executable graph."""

    manifest: Manifest
    order: tuple[str, ...]
    """Node ids in topological order (ties keep manifest order)."""
    successors: dict[str, tuple[str, ...]]
    predecessors: dict[str, tuple[str, ...]]
    sources: tuple[str, ...]
    sinks: tuple[str, ...]

    @classmethod
    def compile(cls, manifest: Manifest) -> Graph:
        """Validate ``manifest`` (``ManifestError`` on any problem) and compile it."""
        manifest.validate()
        ids = [n.id for n in manifest.nodes]
        succ: dict[str, list[str]] = {i: [] for i in ids}
        pred: dict[str, list[str]] = {i: [] for i in ids}
        for c in manifest.connections:
            succ[c.source].append(c.target)
            pred[c.target].append(c.source)
        return cls(
            manifest=manifest,
            order=tuple(topo_order(succ)),
            successors={k: tuple(v) for k, v in succ.items()},
            predecessors={k: tuple(v) for k, v in pred.items()},
            sources=tuple(i for i in ids if not pred[i]),
            sinks=tuple(i for i in ids if not succ[i]),
        )

    def node_class(self, node_id: str) -> type[Node]:
        """The registered class of a node."""
        return lookup(self.manifest.node(node_id).node_type)

    def instantiate(self, node_id: str) -> Node:
        """A fresh instance of a node with its manifest params."""
        spec = self.manifest.node(node_id)
        node = lookup(spec.node_type)(**spec.params)
        node.node_id = node_id
        return node

    @property
    def is_loopback(self) -> bool:
        """An empty pipeline: inputs come back unchanged (the RemoteMedia convention)."""
        return not self.order
