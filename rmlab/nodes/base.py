"""The node SDK: ``Node``, ``Param``, ``@node``, the registry and how executors run a node.

A node is a class with typed ``Param`` attributes and one override point,
``process(frame)``, which returns one frame, ``None`` (nothing) or an iterable of
frames. Optional hooks: ``setup()`` runs once where the node runs (possibly a
worker process), ``flush()`` when its input has ended (emit what is buffered),
``teardown()`` when it stops and ``reset()`` to rebuild carried state after a
param change. Policy (latency measurement, restarts, backpressure) lives in the
executors, not here, so this class stays small. Executors call a node only
through ``run_process``, ``run_flush`` and ``run_update``, so every executor (and
``rmlab.testing.run_node``) gives a node the same guarantees: read-only input
arrays unless it asks for a private copy, and ``source=`` when it wants it.

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
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar

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
    blank_like,
    read_only,
    writable_copy,
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
    "plain",
    "register",
    "run_flush",
    "run_process",
    "run_update",
]

ALL_VARIANTS: frozenset[type[RuntimeData]] = frozenset(
    {Audio, Video, Text, Control, Numpy, File, EndOfInput, Json, Binary}
)

_MISSING: Any = object()
_JSON_TYPES = {float: "number", int: "integer", bool: "boolean", str: "string"}
_OVERRIDES = frozenset({"process", "setup", "flush", "teardown", "update", "reset", "check_params"})
"""Methods of Node that a subclass is meant to override."""
_SETTINGS = frozenset({"node_type", "accepts", "produces", "inplace", "stateless"})
"""Class attributes of Node that a subclass is meant to set."""


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
    """Base class of every node. Override ``process``; optionally the other hooks.

    Override points (methods): ``process``, ``setup``, ``flush``, ``teardown``,
    ``reset`` (carried state), ``update`` (live param changes; it calls ``reset``)
    and the classmethod ``check_params`` (problems between params). Class settings:

    - ``node_type``: the name manifests use (default: the class name).
    - ``accepts``: the RuntimeData variants ``process`` takes (default: all).
    - ``produces``: the variants it emits, or ``None`` for "the same as its input".
    - ``inplace``: whether ``process`` may write into its input's array (below).
    - ``stateless``: ``process`` keeps nothing from one frame to the next (its output
      depends only on the frame and the params), so frames may be spread over several
      copies of the node: a node placed on Ray may then ask for
      ``"execution": {"replicas": N}`` (refused for a node that does not say so).

    Input is lent, and read-only. The array of an input frame (``Audio.samples``,
    ``Numpy.array``, ``Video.pixels``) is read-only on every executor, because the
    same frame may go to several nodes, or be a view of shared memory that the
    executor takes back after ``process`` returns; writing into it raises
    ``ValueError``. Compute into a new array, and copy what you keep between
    frames. A node that really wants to work in place sets ``inplace = True`` and
    then gets a private writable copy of each input (one copy per frame, paid by
    the executor), which it may modify and return.

    Which input a frame came from: a ``process`` with a parameter named
    ``source`` (``def process(self, frame, source=None)``) is passed the id of the
    predecessor node that emitted the frame, or ``None`` for a frame pushed into
    the session directly. Without that parameter ``process(frame)`` is called as
    it is. Give ``source`` a default so that calling ``process`` by hand still works.

    Computing straight into the output: a ``process`` with a parameter named ``out``
    (``def process(self, frame, out=None)``) is given a frame like its input (the
    same variant and fields) whose array is writable, of the same dtype and shape,
    and uninitialised. Write the result into it (``np.multiply(frame.samples, g,
    out=out.samples)``) and return ``out`` itself: on ``"shm"`` its array *is* the
    output's shared memory, so the frame leaves without being copied. Returning
    anything else is allowed and costs the usual copy; do not keep ``out`` after
    returning it. ``out`` is None when the input variant holds no array.

    Every other name defined here (``params``, ``schema``, ``doc``,
    ``param_problems``, ``param_name``, ``node_id``, ...) belongs to the SDK: a
    subclass attribute or ``Param`` with one of those names is an error, raised
    when the class is defined.
    """

    node_type: ClassVar[str] = ""
    accepts: ClassVar[frozenset[type[RuntimeData]]] = ALL_VARIANTS
    produces: ClassVar[frozenset[type[RuntimeData]] | None] = None
    inplace: ClassVar[bool] = False
    stateless: ClassVar[bool] = False
    params: ClassVar[dict[str, Param]] = {}
    _aliases: ClassVar[dict[str, str]] = {}
    _takes_source: ClassVar[bool] = False
    _takes_out: ClassVar[bool] = False

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_shadowing(cls)
        if "node_type" not in cls.__dict__:
            cls.node_type = cls.__name__
        for flag in ("inplace", "stateless"):
            if not isinstance(getattr(cls, flag), bool):
                raise RmlabError(
                    f"{cls.__name__}.{flag} must be True or False, got {_show(getattr(cls, flag))}"
                )
        params: dict[str, Param] = {}
        for base in reversed(cls.__mro__[1:]):
            params.update(getattr(base, "params", {}))
        annotations: Mapping[str, Any] | None = None
        for name, value in cls.__dict__.items():
            if isinstance(value, Param):
                if value.type is None:
                    if annotations is None:  # only read when some Param needs its type
                        annotations = _own_annotations(cls)
                    hinted = _param_annotation(cls, name, annotations)
                    value.type = hinted if hinted in _JSON_TYPES else _type_of(value.default)
                params[name] = value
        cls.params = params
        cls._aliases = {a: p.name for p in params.values() for a in p.aliases}
        cls._takes_source = _takes_keyword(cls, "source", "source: str | None = None")
        cls._takes_out = _takes_keyword(cls, "out", "out: RuntimeData | None = None")
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
    def param_name(cls, key: str) -> str:
        """The param's own name for ``key``, which may be one of its aliases.

        Keys that name no param come back unchanged (the caller reports them).
        """
        return cls._aliases.get(key, key)

    @classmethod
    def param_problems(cls, params: Any, path: str = "params") -> list[tuple[str, str]]:
        """Every problem with ``params`` for this node, as ``(json_path, message)``.

        Each param is checked alone first; only when all pass are they checked
        together (``check_params``), so a cross-param message never rests on a
        value that is itself wrong.
        """
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
        if problems:
            return problems
        given = {cls._aliases.get(k, k): v for k, v in params.items()}
        values = {name: given.get(name, p.default) for name, p in cls.params.items()}
        return [(f"{path}.{name}", msg) for name, msg in cls.check_params(values)]

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Problems between params, as ``(param_name, message)``; override to add some.

        ``values`` holds every param by its own name (given or default), each
        already valid alone. Manifest validation, the builder and ``update`` all
        see these problems, so a bad combination is refused before the node runs.
        """
        return []

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

        Validates the new values together with the current ones, assigns them, then
        calls ``reset()`` so that state carried between frames is rebuilt for the
        new params. A refused update changes nothing.
        """
        params = {self._aliases.get(k, k): v for k, v in params.items()}
        problems = self.param_problems({**self._params, **params})
        if problems:
            raise ManifestError(problems)
        for name, value in params.items():
            self._params[name] = self.params[name].coerce(value)
        self.reset()

    def reset(self) -> None:
        """Rebuild everything carried between frames from the current params.

        Override it in a node with carried state (filter memory, buffers,
        counters). ``update`` calls it after new params are assigned, so the state
        always matches the params; call it yourself from ``setup`` (and
        ``__init__``, if ``process`` should work on a node never set up) to build
        the initial state. The default carries nothing and does nothing.
        """

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


_SDK_NAMES = frozenset(
    {n for n in vars(Node) if not (n.startswith("__") and n.endswith("__"))}
    | {"node_id", "_params"}  # set on every instance by Node.__init__
    | {"outputs", "run_process", "run_flush", "run_update"}  # how executors drive a node
)
"""Every name of the SDK: a subclass must not define these except as documented."""
_SHADOWING = _SDK_NAMES - _OVERRIDES - _SETTINGS


def _refuse_shadowing(cls: type[Node]) -> None:
    """Raise for a class attribute of ``cls`` that would replace part of the SDK.

    Caught when the class is defined, because the failure otherwise shows up far
    away: a Param named ``schema`` breaks manifest validation, a class attribute
    named ``params`` loses every Param, one named ``outputs`` just confuses.
    """
    for name, value in cls.__dict__.items():
        if isinstance(value, Param):
            if name.startswith("_"):
                raise RmlabError(
                    f"{cls.__name__}: {name!r} cannot be a Param name: params are public "
                    f"(manifests set them); rename it, e.g. {name.lstrip('_') or 'value'!r}"
                )
            if name in _SDK_NAMES:
                raise RmlabError(
                    f"{cls.__name__}: {name!r} cannot be a Param name: it is Node.{name} of "
                    "the SDK; rename the param (a more specific name, or with a trailing '_')"
                )
        elif name in _SHADOWING:
            raise RmlabError(
                f"{cls.__name__}: class attribute {name!r} would shadow Node.{name} of the "
                "SDK; rename it (e.g. to a more specific name or with a trailing '_')"
            )
        elif name in _OVERRIDES and not (
            callable(value) or isinstance(value, (classmethod, staticmethod))
        ):
            raise RmlabError(
                f"{cls.__name__}: {name!r} must be a method (it overrides Node.{name}), "
                f"got {_show(value)}; rename the attribute"
            )


def _own_annotations(cls: type) -> Mapping[str, Any]:
    """The annotations written in ``cls``'s own body: objects, or strings if postponed."""
    if sys.version_info >= (3, 14):  # pragma: no cover - annotations are lazy from 3.14 on
        import annotationlib

        # As text, so one annotation that cannot be evaluated does not hide the others.
        return annotationlib.get_annotations(cls, format=annotationlib.Format.STRING)
    return inspect.get_annotations(cls)  # as written: strings under postponed evaluation


def _param_annotation(cls: type, name: str, annotations: Mapping[str, Any]) -> Any:
    """The evaluated annotation of Param ``name`` (None if it has none).

    Postponed annotations (``from __future__ import annotations``) are evaluated
    where the class was written: the globals of a function in its body (which
    also covers code run with ``exec``, as notebooks and tests do), else its
    module. Only Params are evaluated, so an annotation naming a type that is
    not importable at run time elsewhere in the class does no harm.
    """
    annotation = annotations.get(name)
    if not isinstance(annotation, str):
        return annotation
    return _evaluate(cls.__name__, name, annotation, _defining_globals(cls), dict(vars(cls)))


def _evaluate(
    owner: str,
    name: str,
    annotation: str,
    globalns: dict[str, Any],
    localns: Mapping[str, Any] | None,
) -> Any:
    """The value of a postponed annotation; RmlabError saying how to do without it."""
    try:
        return eval(annotation, globalns, localns)
    except Exception as exc:
        raise RmlabError(
            f"{owner}: cannot resolve the annotation {annotation!r} of Param {name!r} "
            f"({type(exc).__name__}: {exc}); give the type explicitly, e.g. "
            f"{name} = Param(..., type=float), or import the annotation's name"
        ) from exc


def _defining_globals(cls: type) -> dict[str, Any]:
    for value in vars(cls).values():
        func = getattr(value, "__func__", value)  # classmethod / staticmethod
        if inspect.isfunction(func) and func.__qualname__.startswith(cls.__qualname__ + "."):
            return func.__globals__
    module = sys.modules.get(cls.__module__)
    return vars(module) if module is not None else {}


def _takes_keyword(cls: type[Node], name: str, how: str) -> bool:
    """Whether ``cls.process`` has the parameter ``name`` (``source``, ``out``), passed
    by keyword."""
    try:
        sig = inspect.signature(cls.process)
    except (TypeError, ValueError):  # no signature (implemented in C): it cannot name one
        return False
    p = sig.parameters.get(name)
    if p is None:
        return False
    if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
        raise RmlabError(
            f"{cls.__name__}.process: {name!r} is passed by keyword, but here it is "
            f"{p.kind.description}; declare it as `{how}`"
        )
    return True


def run_process(
    node: Node, frame: RuntimeData, source: str | None, out: RuntimeData | None = None
) -> list[RuntimeData]:
    """Run ``node.process`` on one frame, as every executor does; returns its outputs.

    The frame's array is handed over read-only (a private writable copy when the
    node's class says ``inplace = True``); ``source``, the id of the predecessor
    that emitted the frame (``None``: pushed into the session), is passed only to a
    ``process`` that has a ``source`` parameter, and ``out`` only to one that has an
    ``out`` parameter (an executor may give one backed by its output memory; else a
    new blank one is made here). Exceptions from ``process`` propagate unchanged:
    the executor says which node failed and how.
    """
    # The hot path: the per-class facts were worked out once, in __init_subclass__, and
    # the usual case (an array that is already read-only, as on shm) costs one flag test.
    cls = type(node)
    if cls.inplace:
        frame = writable_copy(frame)
    else:
        name = frame.ARRAY_FIELD
        if name is not None and getattr(frame, name).flags.writeable:
            frame = read_only(frame)
    if cls._takes_out:
        kw: dict[str, Any] = {"out": _out_for(frame, out)}
        if cls._takes_source:
            kw["source"] = source
        return outputs(node.process(frame, **kw))  # type: ignore[call-arg]
    if cls._takes_source:
        return outputs(node.process(frame, source=source))  # type: ignore[call-arg]
    return outputs(node.process(frame))


def _out_for(frame: RuntimeData, out: RuntimeData | None) -> RuntimeData | None:
    if frame.ARRAY_FIELD is None:
        return None
    return out if out is not None else blank_like(frame)


def run_flush(node: Node) -> list[RuntimeData]:
    """Call ``node.flush()`` at the end of its input; returns its outputs as a list."""
    return outputs(node.flush())


def run_update(node: Node, params: dict[str, Any]) -> None:
    """Apply new params to a running node (``node.update``, which then calls ``reset``).

    Raises ``ManifestError`` (and changes nothing) when the params are refused.
    """
    node.update(**params)


def outputs(result: Any) -> list[RuntimeData]:
    """Normalise what ``process``/``flush`` returned into a list of frames.

    ``None`` is nothing; a frame is one output; an ndarray, str, bytes or dict is
    one output through ``as_data``; any other iterable is a sequence of outputs.
    """
    if result is None:
        return []
    if isinstance(result, RuntimeData):
        return [result]
    if type(result) is list:  # the usual iterable: no need to ask the ABCs below
        return [x if isinstance(x, RuntimeData) else as_data(x) for x in result]
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
            hinted = p.annotation
            if param.type is None and isinstance(hinted, str):  # postponed: evaluate it
                owner = f"@node function {func.__name__}"
                hinted = _evaluate(owner, p.name, hinted, func.__globals__, None)
            if param.type is None and hinted in _JSON_TYPES:
                param.type = hinted
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

    stateless = True

    def process(self, frame: RuntimeData) -> RuntimeData:
        return frame
