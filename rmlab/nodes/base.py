"""The node SDK: ``Node``, ``Param``, ``@node`` and the registry.

A node is a class with typed ``Param`` attributes and one override point,
``process(frame)``, which returns one frame, ``None`` (nothing) or an iterable of
frames. Optional hooks: ``setup()`` runs once where the node runs (possibly a
worker process), ``flush()`` when its input has ended (emit what is buffered) and
``teardown()`` when it stops. Policy (latency measurement, restarts, backpressure)
lives in the executors, not here, so this class stays small.

Every subclass registers itself under its ``node_type`` (the class name unless
given; ``class Base(Node, abstract=True)`` stays out), which is what a manifest's
``node_type`` names. Re-running a notebook cell that defines a node replaces the
earlier definition. Third-party
packages add nodes through the ``rmlab.nodes`` entry-point group.
"""

from __future__ import annotations

import difflib
import inspect
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar, get_type_hints

import numpy as np

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
from rmlab.errors import ManifestError, RmlabError

__all__ = [
    "ALL_VARIANTS",
    "Node",
    "Param",
    "PassThrough",
    "available",
    "lookup",
    "node",
    "outputs",
    "register",
]

ALL_VARIANTS: frozenset[type[RuntimeData]] = frozenset(
    {Audio, Video, Text, Control, Numpy, File, EndOfInput, Json, Binary}
)

_MISSING: Any = object()
_JSON_TYPES = {float: "number", int: "integer", bool: "boolean", str: "string"}
_RESERVED = {"node_id", "process", "setup", "flush", "teardown", "update", "accepts", "produces",
             "node_type"}  # fmt: skip


class Param:
    """A typed, validated node parameter; also the source of the node's JSON Schema.

    ``gain_db: float = Param(0.0, min=-60.0, max=24.0, doc="gain in decibels")``
    declares a float parameter. The type comes from ``type=`` or the annotation,
    falling back to the default's type. ``aliases`` lists alternative names
    accepted in manifests (the RemoteMedia camelCase spellings).
    """

    def __init__(
        self,
        default: Any = _MISSING,
        *,
        type: type | None = None,  # mirrors the manifest vocabulary
        min: float | None = None,
        max: float | None = None,
        choices: Iterable[Any] | None = None,
        doc: str = "",
        aliases: Iterable[str] = (),
    ):
        self.default = default
        self.type = type
        self.min = min
        self.max = max
        self.choices = tuple(choices) if choices is not None else None
        self.doc = doc
        self.aliases = tuple(aliases)
        self.name = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._params[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        problem = self.check(value)
        if problem:
            raise ManifestError([(f"params.{self.name}", problem)])
        obj._params[self.name] = self.coerce(value)

    def __repr__(self) -> str:
        t = self.type.__name__ if self.type else "?"
        d = "required" if self.required else repr(self.default)
        return f"Param({self.name}: {t} = {d})"

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or None when it is."""
        value = plain(value)
        t = self.type
        if t is bool and not isinstance(value, bool):
            return f"expected a boolean, got {_show(value)}"
        if t is int and (isinstance(value, bool) or not isinstance(value, int)):
            return f"expected an integer, got {_show(value)}"
        if t is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"expected a number, got {_show(value)}"
            if not math.isfinite(value):
                return f"expected a finite number, got {value}"
        if t is str and not isinstance(value, str):
            return f"expected a string, got {_show(value)}"
        if self.choices is not None and value not in self.choices:
            opts = ", ".join(repr(c) for c in self.choices)
            return f"must be one of {opts}; got {_show(value)}"
        if self.min is not None and value < self.min:
            return f"must be >= {self.min}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max}, got {value}"
        return None

    def coerce(self, value: Any) -> Any:
        value = plain(value)
        return float(value) if self.type is float else value

    def schema(self) -> dict[str, Any]:
        """This parameter as a JSON Schema property."""
        s: dict[str, Any] = {}
        if self.type in _JSON_TYPES:
            s["type"] = _JSON_TYPES[self.type]
        if self.choices is not None:
            s["enum"] = list(self.choices)
        if self.min is not None:
            s["minimum"] = self.min
        if self.max is not None:
            s["maximum"] = self.max
        if not self.required:
            s["default"] = self.default
        if self.doc:
            s["description"] = self.doc
        return s


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (params are JSON values)."""
    return value.item() if isinstance(value, np.generic) else value


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


class Node:
    """Base class of every node. Override ``process``; optionally ``setup``/``teardown``.

    Class attributes:

    - ``node_type``: the name manifests use (default: the class name).
    - ``accepts``: the RuntimeData variants ``process`` takes (default: all).
    - ``produces``: the variants it emits, or ``None`` for "the same as its input".
    """

    node_type: ClassVar[str] = ""
    accepts: ClassVar[frozenset[type[RuntimeData]]] = ALL_VARIANTS
    produces: ClassVar[frozenset[type[RuntimeData]] | None] = None
    params: ClassVar[dict[str, Param]] = {}
    _aliases: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "node_type" not in cls.__dict__:
            cls.node_type = cls.__name__
        try:
            hints = get_type_hints(cls)
        except Exception:  # annotations naming notebook-local types: fall back to defaults
            hints = {}
        params: dict[str, Param] = {}
        for base in reversed(cls.__mro__[1:]):
            params.update(getattr(base, "params", {}))
        for name, value in cls.__dict__.items():
            if isinstance(value, Param):
                if name in _RESERVED or name.startswith("_"):
                    raise RmlabError(f"{cls.__name__}: {name!r} cannot be a Param name")
                if value.type is None:
                    hinted = hints.get(name)
                    value.type = hinted if hinted in _JSON_TYPES else _type_of(value.default)
                params[name] = value
        cls.params = params
        cls._aliases = {a: p.name for p in params.values() for a in p.aliases}
        cls.accepts = frozenset(cls.accepts)
        if cls.produces is not None:
            cls.produces = frozenset(cls.produces)
        if not abstract:
            register(cls)

    def __init__(self, **params: Any):
        problems = self.param_problems(params)
        if problems:
            raise ManifestError(problems)
        self.node_id = self.node_type
        self._params: dict[str, Any] = {}
        for name, p in self.params.items():
            self._params[name] = p.default
        for key, value in params.items():
            name = self._aliases.get(key, key)
            self._params[name] = self.params[name].coerce(value)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def param_problems(cls, params: Any, path: str = "params") -> list[tuple[str, str]]:
        """Every problem with ``params`` for this node, as ``(json_path, message)``."""
        if not isinstance(params, Mapping):
            return [(path, f"expected an object of parameters, got {_show(params)}")]
        problems: list[tuple[str, str]] = []
        seen: dict[str, str] = {}
        for key, value in params.items():
            name = cls._aliases.get(key, key)
            p = cls.params.get(name)
            if p is None:
                known = sorted([*cls.params, *cls._aliases])
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                valid = f" (valid: {', '.join(known)})" if known else " (it takes none)"
                problems.append(
                    (f"{path}.{key}", f"unknown parameter of {cls.node_type}{hint}{valid}")
                )
                continue
            if name in seen:
                problems.append(
                    (f"{path}.{key}", f"same parameter as {seen[name]!r}; give only one")
                )
                continue
            seen[name] = key
            problem = p.check(value)
            if problem:
                problems.append((f"{path}.{key}", problem))
        for name, p in cls.params.items():
            if p.required and name not in seen:
                problems.append((f"{path}.{name}", "required parameter is missing"))
        return problems

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """JSON Schema of this node's ``params`` object (aliases included)."""
        props: dict[str, Any] = {}
        for name, p in cls.params.items():
            props[name] = p.schema()
            for alias in p.aliases:
                props[alias] = {**p.schema(), "description": f"alias of {name}"}
        s: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [n for n, p in cls.params.items() if p.required]
        if required:
            s["required"] = required
        return s

    @classmethod
    def doc(cls) -> str:
        """The node's documentation (its docstring, dedented)."""
        return inspect.cleandoc(cls.__doc__ or "")

    def update(self, **params: Any) -> None:
        """Change params while running (``Session.set_params`` calls this between frames).

        Validates the new values together with the current ones, then assigns them.
        A node whose carried state depends on its params overrides this (calling
        ``super().update``) to rebuild that state.
        """
        params = {self._aliases.get(k, k): v for k, v in params.items()}
        problems = self.param_problems({**self._params, **params})
        if problems:
            raise ManifestError(problems)
        for name, value in params.items():
            self._params[name] = self.params[name].coerce(value)

    def setup(self) -> None:
        """Acquire resources; runs once in the process that runs the node."""

    def process(self, frame: RuntimeData) -> RuntimeData | Iterable[RuntimeData] | None:
        """Handle one input frame; return an output, an iterable of outputs, or None."""
        raise NotImplementedError(f"{type(self).__name__} must override process()")

    def flush(self) -> RuntimeData | Iterable[RuntimeData] | None:
        """Emit what the node still buffers; called once when its input has ended.

        Nodes never see ``EndOfInput`` in ``process``: the executor calls ``flush``
        after every predecessor has ended and then passes ``EndOfInput`` on.
        """
        return None

    def teardown(self) -> None:
        """Release resources; runs once when the node stops."""


def outputs(result: Any) -> list[RuntimeData]:
    """Normalise what ``process``/``flush`` returned into a list of frames.

    ``None`` is nothing; a frame is one output; an ndarray, str, bytes or dict is
    one output through ``as_data``; any other iterable is a sequence of outputs.
    """
    if result is None:
        return []
    if isinstance(result, RuntimeData):
        return [result]
    if isinstance(result, (np.ndarray, str, bytes, bytearray, memoryview, Mapping)):
        return [as_data(result)]
    if isinstance(result, Iterable):
        return [x if isinstance(x, RuntimeData) else as_data(x) for x in result]
    return [as_data(result)]


def _type_of(default: Any) -> type | None:
    if default is _MISSING or default is None:
        return None
    t = type(default)
    return t if t in _JSON_TYPES else None


# -- function nodes ----------------------------------------------------------------


class _FunctionNode(Node, abstract=True):
    """A node made by ``@node`` from a function of ndarrays."""

    accepts = frozenset({Audio, Numpy})
    func: ClassVar[Callable[..., Any]]

    def process(self, frame: RuntimeData) -> RuntimeData | None:
        if isinstance(frame, Audio):
            x = frame.samples if frame.channels == 1 else frame.as_2d()
        elif isinstance(frame, Numpy):
            x = frame.array
        else:
            raise TypeError(
                f"{self.node_type} takes Audio or Numpy frames, got {type(frame).__name__}"
            )
        y = type(self).func(x, **self._params)
        if y is None or isinstance(y, RuntimeData):
            return y
        if isinstance(y, np.ndarray) and isinstance(frame, Audio):
            channels = y.shape[1] if y.ndim == 2 else 1
            return Audio(
                y, frame.sample_rate, channels, frame.metadata,
                timestamp_us=frame.timestamp_us, session_id=frame.session_id,
            )  # fmt: skip
        out = as_data(y)
        return out.replace(timestamp_us=frame.timestamp_us, session_id=frame.session_id)


def node(
    name: str | Callable[..., Any] | None = None,
) -> Any:
    """Turn a function of ndarrays into a registered node class.

    ``@node`` or ``@node("Name")`` on ``def f(x, *, gain: float = 1.0) -> ndarray``:
    ``x`` is the input array (Audio samples, ``(frames, channels)`` when
    multichannel, or a Numpy frame's array); keyword parameters with defaults become
    ``Param``s (a default may itself be a ``Param`` for ranges and docs). Returning
    an ndarray emits a frame of the input's variant; ``None`` emits nothing.
    """

    def wrap(func: Callable[..., Any]) -> type[Node]:
        node_type = name if isinstance(name, str) else func.__name__
        sig = inspect.signature(func)
        positional = [
            p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if len(positional) != 1:
            raise RmlabError(
                f"@node function {func.__name__} must take exactly one positional argument "
                "(the array); make its parameters keyword arguments with defaults"
            )
        ns: dict[str, Any] = {
            "node_type": node_type,
            "func": staticmethod(func),
            "__doc__": func.__doc__,
            "__module__": func.__module__,
            "__qualname__": node_type,
        }
        for p in sig.parameters.values():
            if p is positional[0] or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            param = p.default if isinstance(p.default, Param) else Param(p.default)
            if param.type is None and p.annotation in _JSON_TYPES:
                param.type = p.annotation
            ns[p.name] = param
        return type(node_type, (_FunctionNode,), ns)

    if callable(name) and not isinstance(name, str):
        return wrap(name)
    return wrap


# -- registry ------------------------------------------------------------------------

_registry: dict[str, type[Node]] = {}
_plugin_errors: dict[str, str] = {}
_plugins_loaded = False
_lock = threading.Lock()


def register(cls: type[Node], name: str | None = None) -> type[Node]:
    """Register ``cls`` under ``name`` (default ``cls.node_type``); returns ``cls``.

    Subclasses of ``Node`` register themselves; call this only for another name.
    Re-registering the same class path (a re-run notebook cell) replaces it; a
    different class under a taken name is an error.
    """
    key = name or cls.node_type
    old = _registry.get(key)
    if old is not None and old is not cls:
        same = (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__)
        if not same:
            raise RmlabError(
                f"node type {key!r} is already registered by {old.__module__}.{old.__qualname__}; "
                f"give {cls.__module__}.{cls.__qualname__} another node_type"
            )
    _registry[key] = cls
    return cls


def _load_plugins() -> None:
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in entry_points(group="rmlab.nodes"):
            try:
                cls = ep.load()
                if not (isinstance(cls, type) and issubclass(cls, Node)):
                    raise TypeError(f"{ep.value} is not a Node subclass")
                register(cls, ep.name)
            except Exception as exc:  # a broken plugin must not break every manifest
                _plugin_errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"


def available() -> dict[str, type[Node]]:
    """Every registered node type, by name (built-ins, plugins, notebook-defined)."""
    _load_plugins()
    return dict(sorted(_registry.items()))


def lookup(node_type: str, path: str = "node_type") -> type[Node]:
    """The class registered as ``node_type``; ``ManifestError`` naming the closest match."""
    _load_plugins()
    cls = _registry.get(node_type)
    if cls is not None:
        return cls
    if node_type in _plugin_errors:
        msg = f"node type {node_type!r} failed to load: {_plugin_errors[node_type]}"
        raise ManifestError([(path, msg)])
    close = difflib.get_close_matches(node_type, list(_registry), n=1, cutoff=0.6)
    if not close:
        low = {k.lower(): k for k in _registry}
        close = [low[node_type.lower()]] if node_type.lower() in low else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ManifestError(
        [(path, f"unknown node type {node_type!r}{hint}")],
        hint="List the available node types with `rmlab nodes`.",
    )


class PassThrough(Node):
    """Emit every input frame unchanged (also the RemoteMedia ``PassThrough``)."""

    def process(self, frame: RuntimeData) -> RuntimeData:
        return frame
