"""RuntimeData: the typed frames that flow between nodes.

One frozen dataclass per variant, all sharing ``timestamp_us`` (capture time of the
frame this one derives from, microseconds since the UNIX epoch) and ``session_id``.
The variants and their wire tags mirror the RemoteMedia SDK (tags 1-8); ``Json`` (9)
and ``Binary`` (10) are rmlab's own, because upstream flattens Json into Text and
throws Binary away.

Arrays are compared by value (dtype, shape and content, NaN equal to NaN), so two
frames are ``==`` when they would encode to the same payload.

This module imports nothing from rmlab except the error tree: the wire codec and
every executor build on it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rmlab.errors import WireError

__all__ = [
    "Audio",
    "Binary",
    "Control",
    "EndOfInput",
    "File",
    "Json",
    "Numpy",
    "RuntimeData",
    "Text",
    "Video",
    "as_data",
    "read_only",
    "writable_copy",
]


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        nan_ok = a.dtype.kind in "fc"
        return bool(np.array_equal(a, b, equal_nan=nan_ok))
    if isinstance(a, (bytes, bytearray, memoryview)) and isinstance(
        b, (bytes, bytearray, memoryview)
    ):
        return bytes(a) == bytes(b)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@dataclass(frozen=True, eq=False, kw_only=True)
class RuntimeData:
    """Base of every frame. Use a variant (``Audio``, ``Numpy``, ...), not this class."""

    TAG: ClassVar[int] = 0
    ARRAY_FIELD: ClassVar[str | None] = None
    """The field holding this variant's ndarray, or None (see ``read_only``)."""

    timestamp_us: int = 0
    """Capture time of the originating frame, microseconds since the UNIX epoch."""
    session_id: str = ""
    """Session the frame belongs to (empty when not tied to one)."""

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(
            _values_equal(getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)
        )

    __hash__ = None  # type: ignore[assignment]  # frames hold arrays: not hashable

    def replace(self, **changes: Any) -> RuntimeData:
        """Return a copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Audio(RuntimeData):
    """PCM audio: float32 samples, interleaved when ``channels > 1``.

    A 2-D ``(frames, channels)`` array is accepted and interleaved (C order);
    other dtypes are converted to float32.
    """

    TAG: ClassVar[int] = 1
    ARRAY_FIELD: ClassVar[str | None] = "samples"

    samples: np.ndarray
    sample_rate: int
    channels: int = 1
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        s = self.samples
        if not isinstance(s, np.ndarray) or s.dtype != np.float32 or s.ndim != 1:
            s = np.asarray(s)
            if s.ndim == 2:
                if self.channels == 1 and s.shape[1] != 1:
                    object.__setattr__(self, "channels", int(s.shape[1]))
                elif s.shape[1] != self.channels:
                    raise WireError(
                        f"Audio.samples has shape {s.shape} but channels={self.channels}; "
                        "pass (frames, channels) or interleaved 1-D samples"
                    )
            elif s.ndim > 2:
                raise WireError(f"Audio.samples must be 1-D or (frames, channels), got {s.shape}")
            s = np.ascontiguousarray(s, dtype=np.float32).reshape(-1)
            object.__setattr__(self, "samples", s)
        if int(self.sample_rate) <= 0:
            raise WireError(f"Audio.sample_rate must be positive, got {self.sample_rate}")
        if int(self.channels) <= 0:
            raise WireError(f"Audio.channels must be positive, got {self.channels}")
        if s.shape[0] % self.channels:
            raise WireError(
                f"Audio has {s.shape[0]} samples, not a multiple of channels={self.channels}"
            )

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return self.samples.shape[0] // self.channels

    @property
    def duration_s(self) -> float:
        """Length of the frame in seconds."""
        return self.frames / self.sample_rate

    def as_2d(self) -> np.ndarray:
        """The samples as a ``(frames, channels)`` view."""
        return self.samples.reshape(-1, self.channels)


@dataclass(frozen=True, eq=False)
class Video(RuntimeData):
    """A video frame. ``format`` and ``codec`` are the upstream enum codes (u8).

    ``pixels`` is stored flat (1-D uint8, C order), exactly as the wire carries it.
    """

    TAG: ClassVar[int] = 2
    ARRAY_FIELD: ClassVar[str | None] = "pixels"

    pixels: np.ndarray
    width: int
    height: int
    format: int = 0
    codec: int = 0
    frame_number: int = 0
    is_keyframe: bool = False

    def __post_init__(self) -> None:
        p = self.pixels
        if not isinstance(p, np.ndarray) or p.dtype != np.uint8 or p.ndim != 1:
            # Flat, as the wire carries it, so frames round-trip exactly; reshape
            # with (height, width, -1) for packed formats.
            object.__setattr__(self, "pixels", np.asarray(p, dtype=np.uint8).reshape(-1))


@dataclass(frozen=True, eq=False)
class Text(RuntimeData):
    """A text message on a named channel ("tts" by default, as upstream)."""

    TAG: ClassVar[int] = 3

    text: str
    channel: str = "tts"

    def __post_init__(self) -> None:
        # The wire cannot tell "" from "tts" (both are upstream's raw form).
        if self.channel == "":
            object.__setattr__(self, "channel", "tts")


@dataclass(frozen=True, eq=False)
class Control(RuntimeData):
    """A control message: a dict internally tagged with ``{"type": ...}``."""

    TAG: ClassVar[int] = 5

    message: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Numpy(RuntimeData):
    """Any numeric or bool ndarray, any shape, any contiguity."""

    TAG: ClassVar[int] = 6
    ARRAY_FIELD: ClassVar[str | None] = "array"

    array: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray):
            object.__setattr__(self, "array", np.asarray(self.array))


@dataclass(frozen=True, eq=False)
class File(RuntimeData):
    """A reference to (a byte range of) a file, as upstream's File variant.

    As on the wire, an empty string or 0 in an optional field means None.
    """

    TAG: ClassVar[int] = 7

    path: str
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    offset: int | None = None
    length: int | None = None
    stream_id: str | None = None

    def __post_init__(self) -> None:
        # On the wire 0 and "" mean "absent" (as upstream): normalise so frames
        # round-trip exactly.
        for name in ("filename", "mime_type", "size", "offset", "length", "stream_id"):
            value = getattr(self, name)
            if value is not None and (value == "" or value == 0):
                object.__setattr__(self, name, None)


@dataclass(frozen=True, eq=False)
class EndOfInput(RuntimeData):
    """No more input will follow: nodes flush what they buffer."""

    TAG: ClassVar[int] = 8


@dataclass(frozen=True, eq=False)
class Json(RuntimeData):
    """A JSON-serialisable value (rmlab's own tag 9; upstream sends it as Text)."""

    TAG: ClassVar[int] = 9

    value: Any = None


@dataclass(frozen=True, eq=False)
class Binary(RuntimeData):
    """Opaque bytes (rmlab's own tag 10; upstream replaces them with a string)."""

    TAG: ClassVar[int] = 10

    data: bytes | bytearray | memoryview = b""


def _from_dict(d: Mapping[str, Any]) -> RuntimeData:
    """The RemoteMedia Python client's dict input forms; any other dict is Json."""
    kind = d.get("type")
    try:
        if kind == "audio" and "samples" in d:
            return Audio(
                np.asarray(d["samples"], dtype=np.float32),
                int(d.get("sample_rate", 48000)),
                int(d.get("channels", 1)),
            )
        if kind == "text" and "data" in d:
            return Text(str(d["data"]))
        if kind == "binary" and "data" in d:
            return Binary(bytes(d["data"]))
        if kind == "file" and "path" in d:
            keys = ("filename", "mime_type", "size", "offset", "length", "stream_id")
            return File(str(d["path"]), **{k: d[k] for k in keys if k in d})
    except (TypeError, ValueError) as exc:
        raise WireError(f"cannot read {kind!r} input dict: {exc}") from exc
    return Json(dict(d))


def as_data(x: Any) -> RuntimeData:
    """Turn a Python value into a frame.

    ndarray -> Numpy, str -> Text, bytes-like -> Binary, RuntimeData unchanged;
    dicts in the RemoteMedia client's forms (``{"type": "audio", "samples", ...}``,
    ``"text"``, ``"binary"``, ``"file"``) become that variant; any other dict, list,
    number, bool or None becomes Json.
    """
    if isinstance(x, RuntimeData):
        return x
    if isinstance(x, np.ndarray):
        return Numpy(x)
    if isinstance(x, str):
        return Text(x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return Binary(bytes(x))
    if isinstance(x, Mapping):
        return _from_dict(x)
    if isinstance(x, (list, tuple, int, float, bool)) or x is None:
        return Json(list(x) if isinstance(x, tuple) else x)
    if isinstance(x, np.generic):
        return Numpy(np.asarray(x))
    raise WireError(
        f"cannot make a frame from {type(x).__name__}; pass an ndarray, str, bytes, "
        "dict/list (Json) or a RuntimeData variant"
    )


# -- array ownership ------------------------------------------------------------------


def _with_array(frame: RuntimeData, name: str, array: np.ndarray) -> RuntimeData:
    # A shallow copy with one field swapped, without __init__/__post_init__: the new
    # array has the dtype and shape the old one was already checked for, and this
    # runs once per frame per node, where dataclasses.replace would cost microseconds.
    new = object.__new__(type(frame))
    new.__dict__.update(frame.__dict__)
    new.__dict__[name] = array
    return new


def read_only(frame: RuntimeData) -> RuntimeData:
    """``frame`` with its array (Audio.samples, Numpy.array, Video.pixels) read-only.

    What executors hand to ``Node.process``: a node may read its input but not
    write into it, because the same frame may go to several nodes (local executor)
    or be a view of shared memory (shm executor). Returns ``frame`` itself when the
    array is already read-only (the usual case on shm) or the variant holds none;
    otherwise a new frame whose array is a read-only *view* of the original. Never
    copies samples and never changes the flags of the caller's array.
    """
    name = frame.ARRAY_FIELD
    if name is None:
        return frame
    array = getattr(frame, name)
    if not array.flags.writeable:
        return frame
    view = array.view()
    view.setflags(write=False)  # the same as flags.writeable = False, in half the time
    return _with_array(frame, name, view)


def blank_like(frame: RuntimeData) -> RuntimeData:
    """``frame`` with a new, uninitialised, writable array of the same dtype, shape and
    layout: the ``out`` a node that computes into its output is given (see ``Node``).
    A variant without an array is returned as it is."""
    name = frame.ARRAY_FIELD
    if name is None:
        return frame
    return _with_array(frame, name, np.empty_like(getattr(frame, name), order="K"))


def writable_copy(frame: RuntimeData) -> RuntimeData:
    """``frame`` with a private, writable copy of its array (same dtype, shape and layout).

    What a node that declares ``inplace = True`` gets: it may modify its input's
    array and return it, and nobody else sees the change. A variant without an
    array is returned as it is.
    """
    name = frame.ARRAY_FIELD
    if name is None:
        return frame
    return _with_array(frame, name, getattr(frame, name).copy(order="K"))
