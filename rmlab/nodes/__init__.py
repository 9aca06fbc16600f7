"""Nodes: the SDK (``Node``, ``Param``, ``@node``), the registry and the built-in library.

Importing this package registers every built-in node, so a manifest can name them.
The library lives in ``audio`` (processors), ``analysis`` (meters and spectra),
``vad`` (voice activity) and ``compat`` (RemoteMedia's node names); this package
exports only the SDK (``plain`` too: it turns numpy scalars into the JSON values
params hold), and node classes are reached by name through the registry
(or imported from their module).
"""

# Imported for their side effect: each module's Node subclasses register themselves.
from rmlab.nodes import analysis, audio, compat, vad  # noqa: F401
from rmlab.nodes.base import (
    ALL_VARIANTS,
    Node,
    Param,
    PassThrough,
    available,
    lookup,
    node,
    plain,
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
    "plain",
    "register",
]
