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
"""

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
from rmlab.manifest import Connection, Manifest, NodeSpec
from rmlab.nodes import Node, Param, node
from rmlab.runtime import (
    Output,
    Session,
    execute,
    execute_pipeline,
    execute_pipeline_with_input,
    open_session,
)
from rmlab.runtime.trace import Hop, LatencyStats, Stats, Trace

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
]
