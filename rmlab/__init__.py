"""rmlab: turn a Jupyter notebook into a live audio lab.

Build a pipeline manifest (nodes and connections), stream frames into it and read
the results back, with every node in its own process over iceoryx2 shared memory.

The public surface is exactly ``__all__`` (a test keeps it honest). Public
submodules: ``rmlab.wire`` (the frame codec), ``rmlab.nodes`` (the node SDK and
library), ``rmlab.audio`` (sources and sinks), ``rmlab.lab`` (notebook widgets),
``rmlab.events`` (watchers and the events sessions report) and ``rmlab.testing``
(``run_node``); everything else is internal. ``Stats``,
``LatencyStats``, ``Trace`` and ``Hop`` are exported because public calls return
them (``Session.stats()``, ``Output.trace``).

``import rmlab`` is cheap: each name is imported when it is first used (PEP 562
``__getattr__``), so a script or a worker process that needs the errors or the wire
format does not pay for numpy, the manifest and the runtime, and nothing here
imports the node library (scipy, soxr, onnxruntime) before a node needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rmlab.errors import (
    DeviceError,
    ExecutorError,
    ManifestError,
    NodeCrashed,
    NodeError,
    RmlabError,
    SessionClosed,
    SessionError,
    Timeout,
    WireError,
)

if TYPE_CHECKING:
    from rmlab.data import (
        Audio,
        Binary,
        Control,
        EndOfInput,
        File,
        Json,
        Numpy,
        RuntimeData,
        Text,
        Video,
        as_data,
    )
    from rmlab.manifest import Connection, Manifest, NodeSpec
    from rmlab.nodes import Node, Param, node
    from rmlab.runtime import (
        Output,
        Session,
        execute,
        execute_pipeline,
        execute_pipeline_with_input,
        open_session,
        warm_up,
    )
    from rmlab.runtime.trace import Hop, LatencyStats, Stats, Trace

_LAZY = {
    **dict.fromkeys(
        ("Audio", "Binary", "Control", "EndOfInput", "File", "Json", "Numpy", "RuntimeData",
         "Text", "Video", "as_data"),
        "rmlab.data",
    ),
    **dict.fromkeys(("Connection", "Manifest", "NodeSpec"), "rmlab.manifest"),
    **dict.fromkeys(("Node", "Param", "node"), "rmlab.nodes"),
    **dict.fromkeys(
        ("Output", "Session", "execute", "execute_pipeline", "execute_pipeline_with_input",
         "open_session", "warm_up"),
        "rmlab.runtime",
    ),
    **dict.fromkeys(("Hop", "LatencyStats", "Stats", "Trace"), "rmlab.runtime.trace"),
}  # fmt: skip
"""Where each lazily imported public name lives."""
_SUBMODULES = frozenset({"audio", "events", "lab", "nodes", "testing", "wire"})
"""Public submodules, reachable as attributes after a plain ``import rmlab``."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # the next access is a plain attribute
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"rmlab.{name}")
    raise AttributeError(f"module 'rmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


__version__ = "0.1.0"

__all__ = [
    "Audio",
    "Binary",
    "Connection",
    "Control",
    "DeviceError",
    "EndOfInput",
    "ExecutorError",
    "File",
    "Hop",
    "Json",
    "LatencyStats",
    "Manifest",
    "ManifestError",
    "Node",
    "NodeCrashed",
    "NodeError",
    "NodeSpec",
    "Numpy",
    "Output",
    "Param",
    "RmlabError",
    "RuntimeData",
    "Session",
    "SessionClosed",
    "SessionError",
    "Stats",
    "Text",
    "Timeout",
    "Trace",
    "Video",
    "WireError",
    "__version__",
    "as_data",
    "execute",
    "execute_pipeline",
    "execute_pipeline_with_input",
    "node",
    "open_session",
    "warm_up",
]
