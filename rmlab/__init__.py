"""rmlab: turn a Jupyter notebook into a live audio lab.

Build a pipeline manifest (nodes and connections), stream frames into it and read
the results back, with every node in its own process over iceoryx2 shared memory.

The public surface is exactly ``__all__`` (a test keeps it honest). Public
submodules: ``rmlab.wire`` (the frame codec) and ``rmlab.nodes`` (the node SDK and
library); everything else is internal.
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
    "Json",
    "Manifest",
    "ManifestError",
    "Node",
    "NodeCrashed",
    "NodeError",
    "NodeSpec",
    "Numpy",
    "Param",
    "RmlabError",
    "RuntimeData",
    "SessionClosed",
    "SessionError",
    "Text",
    "Timeout",
    "Video",
    "WireError",
    "__version__",
    "as_data",
    "node",
]
