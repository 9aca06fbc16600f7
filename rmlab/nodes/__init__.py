"""Nodes: the SDK (``Node``, ``Param``, ``@node``), the registry and the built-in library.

The library lives in ``audio`` (processors), ``analysis`` (meters and spectra),
``vad`` (voice activity) and ``compat`` (RemoteMedia's node names); this package
exports only the SDK (``plain`` too: it turns numpy scalars into the JSON values
params hold), and node classes are reached by name through the registry
(or imported from their module).

The library is imported when it is first needed, not with this package (its modules
pull in soxr and, for some nodes, scipy): ``lookup`` imports the one module that
defines the name asked for, ``available`` imports them all, and so does reading
``rmlab.nodes.audio`` and the like. Until then each built-in name is held in the
registry by a placeholder naming its class, so a notebook class that takes a
built-in's name is refused when it is defined, as when the library was imported
eagerly (``tests/unit/test_lazy_import.py`` keeps ``_LIBRARY`` equal to what the
modules register).
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from rmlab.nodes import base as _base
from rmlab.nodes.base import (
    ALL_VARIANTS,
    Node,
    Param,
    PassThrough,
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

_MODULES = ("audio", "analysis", "vad", "compat")
_LIBRARY = {
    **dict.fromkeys(
        ("Gain", "Mix", "Resample", "Chunker", "Filter", "Delay", "Echo"), "audio"
    ),
    **dict.fromkeys(
        ("LevelMeter", "SilenceDetector", "Spectrum", "Spectrogram", "Pitch"), "analysis"
    ),
    **dict.fromkeys(("EnergyVAD", "SileroVADNode"), "vad"),
    **dict.fromkeys(
        ("CalculatorNode", "EchoNode", "AudioChunkerNode", "FastResampleNode",
         "AudioLevelNode", "SilenceDetectorNode"),
        "compat",
    ),
}  # fmt: skip
"""Each built-in node type and the library module that defines it."""


class _Pending(types.SimpleNamespace):
    """Stands in the registry for a built-in whose module is not imported yet.

    ``register`` compares module and qualified name to tell a re-run cell from a
    clash, so it refuses another class under this name and lets the real one in.
    """


for _name, _module in _LIBRARY.items():
    if _name not in _base._registry:  # imported already: the class itself is there
        _base._registry[_name] = _Pending(  # type: ignore[assignment]
            __module__=f"rmlab.nodes.{_module}", __qualname__=_name
        )


def lookup(node_type: str, path: str = "node_type") -> type[Node]:
    """The class registered as ``node_type``; ``ManifestError`` naming the closest match.

    A built-in's module is imported here, on its first lookup.
    """
    if isinstance(_base._registry.get(node_type), _Pending):
        importlib.import_module(f"rmlab.nodes.{_LIBRARY[node_type]}")
    return _base.lookup(node_type, path)


def available() -> dict[str, type[Node]]:
    """Every registered node type, by name (built-ins, plugins, notebook-defined)."""
    _load_library()
    return _base.available()


def _load_library() -> None:
    for name in _MODULES:
        importlib.import_module(f"rmlab.nodes.{name}")


def __getattr__(name: str) -> Any:
    if name in _MODULES:  # rmlab.nodes.audio after a plain `import rmlab.nodes`
        return importlib.import_module(f"rmlab.nodes.{name}")
    raise AttributeError(f"module 'rmlab.nodes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
