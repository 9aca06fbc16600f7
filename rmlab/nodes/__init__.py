"""Nodes: the SDK (``Node``, ``Param``, ``@node``), the registry and the built-in library.

Importing this package registers every built-in node, so a manifest can name them.
"""

from rmlab.nodes.base import (
    ALL_VARIANTS,
    Node,
    Param,
    PassThrough,
    available,
    lookup,
    node,
    register,
)

__all__ = [
    "ALL_VARIANTS",
    "Node",
    "Param",
    "PassThrough",
    "available",
    "lookup",
    "node",
    "register",
]
