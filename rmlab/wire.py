"""The frame codec: ``RuntimeData`` <-> bytes, byte-exact with the RemoteMedia SDK.

One frame per iceoryx2 sample. Little-endian, no padding::

    off   size  field
    0     1     tag u8                 1 Audio, 2 Video, 3 Text, 5 Control, 6 Numpy,
                                       7 File, 8 EndOfInput, 9 Json, 10 Binary
    1     2     session_len u16
    3     S     session_id UTF-8
    3+S   8     timestamp_us u64
    11+S  4     payload_len u32
    15+S  P     payload

Payloads:

- Audio: ``sample_rate u32 | channels u16 | metadata_len u32 | metadata UTF-8 JSON
  (0 bytes = None) | samples f32``.
- Video: ``width u32 | height u32 | format u8 | codec u8 | frame_number u64 |
  is_keyframe u8 (0/1) | pixels``.
- Text: channel "tts": the raw UTF-8 text (upstream's form). Any other channel, or
  text that itself starts with NUL: ``0x00 | chan_len u8 | channel | text``.
- Numpy: ``ndim u16 | shape u64 x ndim | nstrides u16 | strides i64 x nstrides |
  dtype_len u16 | dtype name | flags u8 | data``. Flags: bit0 C-contiguous, bit1
  F-contiguous, bit2 "data is laid out as the strides say" (rmlab). rmlab writes C-
  or F-contiguous arrays in their own memory order with canonical strides and sets
  bit2; other arrays (strided, reversed, ...) are written C-ordered. A frame without
  bit2 (upstream writes ``tobytes()`` but the array's original strides) is read
  C-ordered by shape and dtype, ignoring its strides. Data is little-endian.
- File: ``path_len u16 | path | fname_len u16 | fname | mime_len u16 | mime |
  size u64 | offset u64 | length u64 | sid_len u16 | stream_id``; 0 or "" is None.
- Control, Json: compact UTF-8 JSON (Control must be an object; NaN and Infinity are
  rejected, as serde_json would; numpy scalars and arrays are written as numbers and
  lists). Binary: raw bytes. EndOfInput: empty.

Zero-copy contract:

- ``encode_into(data, buf)`` writes the frame at offset 0 of caller-owned memory (an
  iceoryx2 loan) and copies array bytes exactly once, straight from the source array
  (converting order and byte order on the way when it has to).
- ``decode(buf)`` (``copy=False``) returns arrays (``Audio.samples``, ``Numpy.array``,
  ``Video.pixels``) as read-only views on ``buf`` and ``Binary.data`` as a read-only
  memoryview slice of it: O(1) in the payload size. The caller keeps ``buf`` alive and
  unchanged while they are used; ``decode(buf, copy=True)`` returns owned, writable
  copies instead. Views are only byte-aligned (the layout has no padding); numpy
  handles that, and code that needs aligned memory should decode with ``copy=True``.
- ``buf`` must hold exactly one frame: trailing bytes are an error (an iceoryx2
  sample is exactly as long as the frame; a frame written with ``encode_into`` into
  a larger buffer is decoded from ``buf[:n]``).

Every malformed frame raises ``WireError`` naming the field; no other exception
leaves ``decode``, a lying length never allocates, and a decoded array never reads
outside its payload (with bit2 only the exact C or F strides of the shape are
accepted, and bool bytes must be 0 or 1).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

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
)
from rmlab.errors import WireError

__all__ = ["Prepared", "decode", "encode", "encode_into", "encoded_size", "prepare"]

_HEAD = struct.Struct("<BH")  # tag, session_len
_TAIL = struct.Struct("<QI")  # timestamp_us, payload_len
_HEADER = 15  # frame bytes besides session_id and payload
_AUDIO = struct.Struct("<IHI")  # sample_rate, channels, metadata_len
_VIDEO = struct.Struct("<IIBBQB")  # width, height, format, codec, frame_number, is_keyframe
_U16 = struct.Struct("<H")
_U64X3 = struct.Struct("<QQQ")  # File size, offset, length
_MAX_U32 = 0xFFFF_FFFF
_MAX_INTP = 2**63 - 1  # numpy's limit on an array's extent in bytes

_TEXT_EXPLICIT = 0  # first payload byte of the explicit-channel Text form

_F32 = np.dtype("<f4")
_U8 = np.dtype("u1")

# Names are the wire's dtype vocabulary (numpy's ``dtype.name``); anything else is
# rejected on both sides, so object/structured/string/datetime never cross.
_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    )
}
_DTYPE_NAMES = ", ".join(_DTYPES)
_MAX_DTYPE_LEN = 16


def _max_ndim() -> int:
    # numpy 2 allows 64 dimensions, numpy 1.x 32; a peer's frame must fit ours.
    try:
        np.empty((1,) * 64)
    except ValueError:
        return 32
    return 64


_MAX_NDIM = _max_ndim()
# Precompiled per-ndim structs: unpacking a shape is one C call, not a Python loop.
_SHAPE = [struct.Struct(f"<{n}Q") for n in range(_MAX_NDIM + 1)]
_STRIDES = [struct.Struct(f"<{n}q") for n in range(_MAX_NDIM + 1)]

# Both caches are keyed by what a stream repeats frame after frame (shape, dtype,
# layout), so the per-frame work is a dict lookup; bounded because decode keys come
# from untrusted bytes.
_CACHE_MAX = 256
_NP_ENC: dict[tuple[Any, ...], tuple[bytes, np.dtype, tuple[int, ...], tuple[int, ...], int]] = {}
_NP_DEC: dict[bytes, tuple[tuple[int, ...], np.dtype, tuple[int, ...], int]] = {}

# (meta bytes, bulk, bulk bytes, array destination (dtype, shape, strides) or None)
_Plan: TypeAlias = tuple[
    bytes, Any, int, "tuple[np.dtype, tuple[int, ...], tuple[int, ...]] | None"
]


# --------------------------------------------------------------------------- helpers


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    # Zero-length axes count as 1, so strides stay meaningful for empty arrays.
    out = [0] * len(shape)
    acc = itemsize
    for i in range(len(shape) - 1, -1, -1):
        out[i] = acc
        acc *= shape[i] or 1
    return tuple(out)


def _f_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    out = [0] * len(shape)
    acc = itemsize
    for i in range(len(shape)):
        out[i] = acc
        acc *= shape[i] or 1
    return tuple(out)


def _both_contiguous(shape: tuple[int, ...]) -> bool:
    # numpy's relaxed rule: C and F coincide when at most one axis is longer than 1.
    return 0 in shape or sum(1 for d in shape if d > 1) <= 1


def _finite_float(s: str) -> float:
    v = float(s)
    if math.isinf(v):
        raise ValueError(f"number {s} is out of range")
    return v


def _reject_constant(s: str) -> Any:
    raise ValueError(f"{s} is not JSON")


def _numpy_to_json(o: Any) -> Any:
    # Node code computes meters and events with numpy; its scalars and small arrays
    # should not need a manual float()/tolist() before they can be sent.
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _dumps(value: Any, field: str) -> bytes:
    try:
        return json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
            default=_numpy_to_json,
        ).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise WireError(f"{field}: not JSON-serialisable ({exc})") from exc


def _loads(mv: memoryview, a: int, b: int, field: str) -> Any:
    text = _utf8(mv, a, b, field)
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"{field}: invalid JSON ({exc})") from exc


def _utf8(mv: memoryview, a: int, b: int, field: str) -> str:
    try:
        return str(mv[a:b], "utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"{field}: invalid UTF-8 at byte {a + exc.start} of the frame") from exc


def _text_bytes(s: Any, field: str) -> bytes:
    try:
        return s.encode()
    except UnicodeEncodeError as exc:
        raise WireError(f"{field}: cannot be encoded as UTF-8 ({exc.reason})") from exc
    except AttributeError as exc:
        raise WireError(f"{field}: expected str, got {type(s).__name__}") from exc


def _short(field: str, need: int, have: int) -> WireError:
    return WireError(f"{field}: needs {need} bytes but only {max(have, 0)} remain in the payload")


# --------------------------------------------------------------------------- encoding


def _numpy_layout(
    shape: tuple[int, ...], dtype: np.dtype, layout: int
) -> tuple[bytes, np.dtype, tuple[int, ...], tuple[int, ...], int]:
    le = dtype.newbyteorder("<")
    wire = _DTYPES.get(le.name)
    if wire is None or wire != le:
        raise WireError(
            f"Numpy.array: dtype {dtype} cannot cross the wire; supported: {_DTYPE_NAMES}"
        )
    if len(shape) > _MAX_NDIM:
        raise WireError(f"Numpy.array: {len(shape)} dimensions, at most {_MAX_NDIM}")
    itemsize = wire.itemsize
    if layout == 1:
        strides = _f_strides(shape, itemsize)
        flags = 4 | (3 if _both_contiguous(shape) else 2)
    else:
        strides = _c_strides(shape, itemsize)
        flags = 4 | (3 if _both_contiguous(shape) else 1)
    name = le.name.encode()
    ndim = len(shape)
    meta = b"".join(
        (
            _U16.pack(ndim),
            _SHAPE[ndim].pack(*shape),
            _U16.pack(ndim),
            _STRIDES[ndim].pack(*strides),
            _U16.pack(len(name)),
            name,
            bytes((flags,)),
        )
    )
    nbytes = math.prod(shape) * itemsize
    info = (meta, wire, shape, strides, nbytes)
    if len(_NP_ENC) >= _CACHE_MAX:
        _NP_ENC.clear()
    _NP_ENC[(shape, dtype, layout)] = info
    return info


def _plan_numpy(d: Numpy) -> _Plan:
    arr = d.array
    fl = arr.flags
    # 0: C-contiguous, 1: F-contiguous, 2: anything else (written C-ordered).
    layout = 0 if fl.c_contiguous else 1 if fl.f_contiguous else 2
    info = _NP_ENC.get((arr.shape, arr.dtype, layout))
    if info is None:
        info = _numpy_layout(arr.shape, arr.dtype, layout)
    meta, wire, shape, strides, nbytes = info
    return meta, arr, nbytes, (wire, shape, strides)


def _plan_audio(d: Audio) -> _Plan:
    s = d.samples
    md = d.metadata
    if md is None:
        mj = b""
    elif isinstance(md, dict):
        mj = _dumps(md, "Audio.metadata")
    else:
        raise WireError(f"Audio.metadata: expected a dict or None, got {type(md).__name__}")
    meta = _AUDIO.pack(d.sample_rate, d.channels, len(mj)) + mj
    return meta, s, s.nbytes, (_F32, s.shape, _c_strides(s.shape, 4))


def _plan_video(d: Video) -> _Plan:
    p = d.pixels
    meta = _VIDEO.pack(
        d.width, d.height, d.format, d.codec, d.frame_number, 1 if d.is_keyframe else 0
    )
    return meta, p, p.nbytes, (_U8, p.shape, _c_strides(p.shape, 1))


def _plan_text(d: Text) -> _Plan:
    body = _text_bytes(d.text, "Text.text")
    channel = d.channel
    if channel in ("tts", "") and not (body and body[0] == _TEXT_EXPLICIT):
        return b"", body, len(body), None
    ch = _text_bytes(channel, "Text.channel")
    if len(ch) > 255:
        raise WireError(f"Text.channel: {len(ch)} bytes of UTF-8, at most 255")
    return bytes((_TEXT_EXPLICIT, len(ch))) + ch, body, len(body), None


def _plan_control(d: Control) -> _Plan:
    if not isinstance(d.message, dict):
        raise WireError(f"Control.message: expected a dict, got {type(d.message).__name__}")
    body = _dumps(d.message, "Control.message")
    return b"", body, len(body), None


def _plan_json(d: Json) -> _Plan:
    body = _dumps(d.value, "Json.value")
    return b"", body, len(body), None


def _plan_binary(d: Binary) -> _Plan:
    try:
        mv = memoryview(d.data)
    except TypeError as exc:
        raise WireError(f"Binary.data: expected bytes-like, got {type(d.data).__name__}") from exc
    if mv.ndim != 1 or mv.format not in ("B", "b", "c"):
        mv = mv.cast("B") if mv.c_contiguous else memoryview(mv.tobytes())
    elif not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    return b"", mv, mv.nbytes, None


def _plan_file(d: File) -> _Plan:
    parts = []
    for field, value in (
        ("File.path", d.path),
        ("File.filename", d.filename),
        ("File.mime_type", d.mime_type),
    ):
        b = b"" if value is None else _text_bytes(value, field)
        if len(b) > 0xFFFF:
            raise WireError(f"{field}: {len(b)} bytes of UTF-8, at most 65535")
        parts += (_U16.pack(len(b)), b)
    parts.append(_U64X3.pack(d.size or 0, d.offset or 0, d.length or 0))
    sid = b"" if d.stream_id is None else _text_bytes(d.stream_id, "File.stream_id")
    if len(sid) > 0xFFFF:
        raise WireError(f"File.stream_id: {len(sid)} bytes of UTF-8, at most 65535")
    parts += (_U16.pack(len(sid)), sid)
    return b"".join(parts), None, 0, None


def _plan_end(d: EndOfInput) -> _Plan:
    return b"", None, 0, None


def _explain(data: RuntimeData, exc: Exception) -> WireError:
    name = type(data).__name__
    variant = _BY_CLASS.get(type(data))
    fields = (("timestamp_us", 64), *(variant.int_fields if variant else ()))
    for field, bits in fields:
        v = getattr(data, field, None)
        if v is None and field in ("size", "offset", "length"):
            continue
        try:
            ok = 0 <= v.__index__() < 2**bits
        except (AttributeError, TypeError):
            ok = False
        if not ok:
            return WireError(f"{name}.{field}: expected an int in [0, 2**{bits}), got {v!r}")
    return WireError(f"{name}: cannot encode ({type(exc).__name__}: {exc})")


def _plan(data: RuntimeData) -> tuple[int, _Plan, bytes]:
    encoder = _ENCODERS.get(type(data))
    if encoder is None:
        encoder = next((e for t, e in _ENCODERS.items() if isinstance(data, t)), None)
        if encoder is None:
            raise WireError(
                f"cannot encode {type(data).__name__}; pass a RuntimeData variant "
                "(rmlab.as_data turns arrays, str, bytes and dicts into one)"
            )
    tag, planner = encoder
    try:
        plan = planner(data)
    except (struct.error, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise _explain(data, exc) from exc
    sid = _text_bytes(data.session_id, "session_id")
    if len(sid) > 0xFFFF:
        raise WireError(f"session_id: {len(sid)} bytes of UTF-8, at most 65535")
    payload = len(plan[0]) + plan[2]
    if payload > _MAX_U32:
        raise WireError(
            f"{type(data).__name__}: payload of {payload} bytes exceeds the 4 GiB - 1 "
            "a frame can carry (payload_len is u32); split the data"
        )
    return tag, plan, sid


def encoded_size(data: RuntimeData) -> int:
    """Bytes ``encode_into(data, buf)`` will write: the size to loan from iceoryx2."""
    _, plan, sid = _plan(data)
    return _HEADER + len(sid) + len(plan[0]) + plan[2]


class Prepared:
    """A frame planned once: ``size`` to loan, then ``into(buf)`` writes it (hot paths).

    ``encoded_size`` followed by ``encode_into`` plans the frame twice (metadata
    packed, session id encoded, layout looked up); a shared-memory publisher that
    must know the size before it can loan the memory to write into uses this instead.
    """

    __slots__ = ("_data", "_plan", "_sid", "_tag", "size")

    def __init__(self, data: RuntimeData):
        self._tag, self._plan, self._sid = _plan(data)
        self._data = data
        self.size: int = _HEADER + len(self._sid) + len(self._plan[0]) + self._plan[2]

    def into(self, buf: Any) -> int:
        """Write the frame at offset 0 of ``buf`` (writable, at least ``size`` bytes)."""
        mv = (
            buf
            if type(buf) is memoryview and buf.format == "B" and not buf.readonly
            else (_writable(buf))
        )
        return _write(self._data, self._tag, self._plan, self._sid, mv)


def prepare(data: RuntimeData) -> Prepared:
    """Plan ``data`` for encoding once; see ``Prepared``."""
    return Prepared(data)


def _writable(buf: Any) -> memoryview:
    try:
        mv = memoryview(buf)
    except TypeError as exc:
        raise WireError(
            f"encode_into: buf must be a writable buffer, got {type(buf).__name__}"
        ) from exc
    if mv.readonly:
        raise WireError("encode_into: buf is read-only")
    if mv.ndim != 1 or mv.format != "B":
        if not mv.c_contiguous:
            raise WireError("encode_into: buf must be C-contiguous memory")
        mv = mv.cast("B")
    elif not mv.c_contiguous:
        raise WireError("encode_into: buf must be C-contiguous memory")
    return mv


def encode_into(data: RuntimeData, buf: Any) -> int:
    """Write ``data`` as one frame at offset 0 of ``buf``; return the bytes written.

    ``buf`` is caller-owned writable memory (an iceoryx2 loan, a bytearray, a
    memoryview) of at least ``encoded_size(data)`` bytes. Array data is copied once,
    directly from the source array.
    """
    tag, plan, sid = _plan(data)
    return _write(data, tag, plan, sid, _writable(buf))


def encode(data: RuntimeData) -> bytes:
    """The frame as a new ``bytes`` object (convenience; use ``encode_into`` on hot paths)."""
    tag, plan, sid = _plan(data)
    buf = bytearray(_HEADER + len(sid) + len(plan[0]) + plan[2])
    _write(data, tag, plan, sid, memoryview(buf))
    return bytes(buf)


def _write(data: RuntimeData, tag: int, plan: _Plan, sid: bytes, mv: memoryview) -> int:
    meta, bulk, nbulk, dst = plan
    s = len(sid)
    size = _HEADER + s + len(meta) + nbulk
    if mv.nbytes < size:
        raise WireError(
            f"encode_into: buffer of {mv.nbytes} bytes is too small for this "
            f"{type(data).__name__} frame of {size} bytes (use encoded_size)"
        )
    o = 3 + s
    try:
        _HEAD.pack_into(mv, 0, tag, s)
        _TAIL.pack_into(mv, o, data.timestamp_us, len(meta) + nbulk)
    except (struct.error, TypeError, ValueError, OverflowError) as exc:
        raise _explain(data, exc) from exc
    mv[3:o] = sid
    o += 12
    m = o + len(meta)
    mv[o:m] = meta
    if nbulk:
        if dst is None:
            mv[m:size] = bulk
        else:
            # One pass from the source: converts byte order and makes strided views
            # C-ordered without an intermediate copy.
            np.copyto(np.ndarray(dst[1], dst[0], mv, m, dst[2]), bulk, casting="equiv")
    return size


# --------------------------------------------------------------------------- decoding


def _dec_audio(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Audio:
    if end - p < 10:
        raise _short("Audio.header (sample_rate, channels, metadata_len)", 10, end - p)
    rate, channels, mlen = _AUDIO.unpack_from(mv, p)
    if rate == 0:
        raise WireError("Audio.sample_rate: 0 is not a sample rate")
    if channels == 0:
        raise WireError("Audio.channels: 0 channels")
    q = p + 10 + mlen
    if q > end:
        raise _short("Audio.metadata", mlen, end - p - 10)
    metadata = None
    if mlen:
        metadata = _loads(mv, p + 10, q, "Audio.metadata")
        if not isinstance(metadata, dict):
            raise WireError(
                f"Audio.metadata: expected a JSON object, got {type(metadata).__name__}"
            )
    nb = end - q
    if nb % 4:
        raise WireError(f"Audio.samples: {nb} bytes is not a whole number of float32 samples")
    n = nb >> 2
    if n % channels:
        raise WireError(f"Audio.samples: {n} samples is not a multiple of channels={channels}")
    samples = np.ndarray((n,), _F32, mv, q)
    if copy:
        samples = samples.copy()
    return Audio(samples, rate, channels, metadata, timestamp_us=ts, session_id=sid)


def _dec_video(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Video:
    if end - p < 19:
        raise _short("Video.header (width .. is_keyframe)", 19, end - p)
    width, height, fmt, codec, number, key = _VIDEO.unpack_from(mv, p)
    if key > 1:
        raise WireError(f"Video.is_keyframe: {key} is not 0 or 1")
    pixels = np.ndarray((end - p - 19,), _U8, mv, p + 19)
    if copy:
        pixels = pixels.copy()
    return Video(
        pixels,
        width,
        height,
        fmt,
        codec,
        number,
        bool(key),
        timestamp_us=ts,
        session_id=sid,
    )


def _dec_text(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Text:
    if p < end and mv[p] == _TEXT_EXPLICIT:
        if end - p < 2:
            raise _short("Text.chan_len", 1, end - p - 1)
        q = p + 2 + mv[p + 1]
        if q > end:
            raise _short("Text.channel", mv[p + 1], end - p - 2)
        channel = _utf8(mv, p + 2, q, "Text.channel")
        return Text(_utf8(mv, q, end, "Text.text"), channel, timestamp_us=ts, session_id=sid)
    return Text(_utf8(mv, p, end, "Text.text"), timestamp_us=ts, session_id=sid)


def _dec_control(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Control:
    message = _loads(mv, p, end, "Control.message")
    if not isinstance(message, dict):
        raise WireError(f"Control.message: expected a JSON object, got {type(message).__name__}")
    return Control(message, timestamp_us=ts, session_id=sid)


def _dec_json(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Json:
    return Json(_loads(mv, p, end, "Json.value"), timestamp_us=ts, session_id=sid)


def _dec_binary(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Binary:
    return Binary(bytes(mv[p:end]) if copy else mv[p:end], timestamp_us=ts, session_id=sid)


def _dec_end(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> EndOfInput:
    if end != p:
        raise WireError(f"EndOfInput: payload must be empty, got {end - p} bytes")
    return EndOfInput(timestamp_us=ts, session_id=sid)


def _dec_file(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> File:
    strings: list[str | None] = []
    for field in ("File.path", "File.filename", "File.mime_type"):
        if end - p < 2:
            raise _short(f"{field} length", 2, end - p)
        n = _U16.unpack_from(mv, p)[0]
        p += 2
        if p + n > end:
            raise _short(field, n, end - p)
        strings.append(_utf8(mv, p, p + n, field) if n else None)
        p += n
    if end - p < 24:
        raise _short("File.size/offset/length", 24, end - p)
    size, offset, length = _U64X3.unpack_from(mv, p)
    p += 24
    if end - p < 2:
        raise _short("File.stream_id length", 2, end - p)
    n = _U16.unpack_from(mv, p)[0]
    p += 2
    if p + n != end:
        if p + n > end:
            raise _short("File.stream_id", n, end - p)
        raise WireError(f"File: {end - p - n} unexpected bytes after stream_id")
    stream_id = _utf8(mv, p, end, "File.stream_id") if n else None
    return File(
        strings[0] or "",
        strings[1],
        strings[2],
        size or None,
        offset or None,
        length or None,
        stream_id,
        timestamp_us=ts,
        session_id=sid,
    )


def _numpy_meta(
    mv: memoryview, p: int, ndim: int, nstrides: int, r: int, dlen: int, flags: int
) -> tuple[tuple[int, ...], np.dtype, tuple[int, ...], int]:
    if flags & ~7:
        raise WireError(f"Numpy.flags: unknown bits in 0x{flags:02x}")
    raw = bytes(mv[r + 2 : r + 2 + dlen])
    dtype = _DTYPES.get(raw.decode("utf-8", "replace"))
    if dtype is None:
        raise WireError(f"Numpy.dtype: unsupported dtype {raw!r}; supported: {_DTYPE_NAMES}")
    shape = _SHAPE[ndim].unpack_from(mv, p + 2)
    itemsize = dtype.itemsize
    extent = itemsize
    for d in shape:
        if d > _MAX_INTP:
            raise WireError(f"Numpy.shape: dimension {d} is too large")
        extent *= d or 1
        if extent > _MAX_INTP:
            raise WireError(f"Numpy.shape: {shape} x {itemsize} bytes is too large for an array")
    nbytes = math.prod(shape) * itemsize
    strides = _c_strides(shape, itemsize)
    if flags & 4:
        if nstrides != ndim:
            raise WireError(f"Numpy.strides: {nstrides} strides for {ndim} dimensions")
        given = _STRIDES[ndim].unpack_from(mv, p + 4 + 8 * ndim)
        # Only the exact contiguous layouts: any other strides could make numpy read
        # outside the payload or alias elements.
        if given != strides and nbytes:
            f = _f_strides(shape, itemsize)
            if given != f:
                raise WireError(
                    f"Numpy.strides: {given} are neither the C {strides} nor the F {f} "
                    f"strides of shape {shape} with itemsize {itemsize}"
                )
            strides = f
    return shape, dtype, strides, nbytes


def _dec_numpy(mv: memoryview, p: int, end: int, ts: int, sid: str, copy: bool) -> Numpy:
    if end - p < 2:
        raise _short("Numpy.ndim", 2, end - p)
    ndim = _U16.unpack_from(mv, p)[0]
    if ndim > _MAX_NDIM:
        raise WireError(f"Numpy.ndim: {ndim} dimensions, at most {_MAX_NDIM}")
    q = p + 2 + 8 * ndim
    if q + 2 > end:
        raise _short("Numpy.shape and nstrides", 8 * ndim + 2, end - p - 2)
    nstrides = _U16.unpack_from(mv, q)[0]
    if nstrides > _MAX_NDIM:
        raise WireError(f"Numpy.nstrides: {nstrides} strides, at most {_MAX_NDIM}")
    r = q + 2 + 8 * nstrides
    if r + 2 > end:
        raise _short("Numpy.strides and dtype_len", 8 * nstrides + 2, end - q - 2)
    dlen = _U16.unpack_from(mv, r)[0]
    if dlen > _MAX_DTYPE_LEN:
        raise WireError(f"Numpy.dtype: name of {dlen} bytes; supported: {_DTYPE_NAMES}")
    f = r + 2 + dlen
    if f >= end:
        raise _short("Numpy.dtype and flags", dlen + 1, end - r - 2)
    key = bytes(mv[p : f + 1])
    info = _NP_DEC.get(key)
    if info is None:
        info = _numpy_meta(mv, p, ndim, nstrides, r, dlen, mv[f])
        if len(_NP_DEC) >= _CACHE_MAX:
            _NP_DEC.clear()
        _NP_DEC[key] = info
    shape, dtype, strides, nbytes = info
    f += 1
    if end - f != nbytes:
        raise WireError(
            f"Numpy.data: {end - f} bytes, but shape {shape} of {dtype.name} needs {nbytes}"
        )
    arr = np.ndarray(shape, dtype, mv, f, strides)
    if dtype.kind == "b" and nbytes and np.ndarray(shape, _U8, mv, f, strides).max() > 1:
        # A bool byte other than 0/1 makes numpy compute wrong sums and comparisons.
        raise WireError("Numpy.data: bool array holds bytes other than 0 and 1")
    if copy:
        arr = arr.copy(order="K")
    return Numpy(arr, timestamp_us=ts, session_id=sid)


# --------------------------------------------------------------------------- the tag table


@dataclass(frozen=True, slots=True)
class _Variant:
    """Everything the codec knows about one ``RuntimeData`` variant, in one row."""

    cls: type[RuntimeData]
    tag: int
    """The frame's first byte, numbered as upstream numbers it (no rmlab variant has 4)."""
    plan: Callable[[Any], _Plan]
    """``data -> (meta, bulk, bulk bytes, array destination)``: what ``_write`` copies."""
    decode: Callable[[memoryview, int, int, int, str, bool], RuntimeData]
    """``(buf, payload start, payload end, timestamp_us, session_id, copy) -> data``."""
    int_fields: tuple[tuple[str, int], ...] = ()
    """Integer fields and their widths in bits, to name the field a struct.error was about."""

    @property
    def name(self) -> str:
        return self.cls.__name__


# The one table of tags: encoding, decoding and every message about tags derive from it.
_VARIANTS = (
    _Variant(Audio, 1, _plan_audio, _dec_audio, (("sample_rate", 32), ("channels", 16))),
    _Variant(
        Video,
        2,
        _plan_video,
        _dec_video,
        (("width", 32), ("height", 32), ("format", 8), ("codec", 8), ("frame_number", 64)),
    ),
    _Variant(Text, 3, _plan_text, _dec_text),
    _Variant(Control, 5, _plan_control, _dec_control),
    _Variant(Numpy, 6, _plan_numpy, _dec_numpy),
    _Variant(File, 7, _plan_file, _dec_file, (("size", 64), ("offset", 64), ("length", 64))),
    _Variant(EndOfInput, 8, _plan_end, _dec_end),
    _Variant(Json, 9, _plan_json, _dec_json),
    _Variant(Binary, 10, _plan_binary, _dec_binary),
)

# Flat lookups derived from the table: the hot paths do one dict.get and no attribute
# access per frame.
_BY_CLASS: dict[type, _Variant] = {v.cls: v for v in _VARIANTS}
_BY_TAG: dict[int, _Variant] = {v.tag: v for v in _VARIANTS}
_ENCODERS: dict[type, tuple[int, Callable[[Any], _Plan]]] = {
    v.cls: (v.tag, v.plan) for v in _VARIANTS
}
_DECODERS: dict[int, Callable[[memoryview, int, int, int, str, bool], RuntimeData]] = {
    v.tag: v.decode for v in _VARIANTS
}


def _tag_ranges(tags: list[int]) -> str:
    """``[1, 2, 3, 5, 6]`` -> ``"1-3, 5-6"``: the known tags, for the unknown-tag message."""
    runs: list[list[int]] = []
    for t in sorted(tags):
        if runs and t == runs[-1][-1] + 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


_KNOWN_TAGS = _tag_ranges(list(_BY_TAG))


def decode(buf: Any, *, copy: bool = False) -> RuntimeData:
    """Decode exactly one frame.

    With ``copy=False`` arrays and ``Binary.data`` are read-only views on ``buf``
    (O(1) in the payload size; keep ``buf`` alive and unchanged while they are in
    use); with ``copy=True`` they are owned and writable. Raises ``WireError``
    naming the field for any malformed frame, and for nothing else.
    """
    try:
        mv = memoryview(buf)
    except TypeError as exc:
        raise WireError(f"decode: expected a bytes-like buffer, got {type(buf).__name__}") from exc
    if mv.ndim != 1 or mv.format != "B":
        try:
            mv = mv.cast("B")
        except (TypeError, ValueError) as exc:
            raise WireError(f"decode: buffer cannot be read as bytes ({exc})") from exc
    if not mv.c_contiguous:
        raise WireError("decode: buffer must be C-contiguous memory")
    if not copy:
        mv = mv.toreadonly()
    end = mv.nbytes
    if end < _HEADER:
        raise WireError(f"header: frame of {end} bytes is shorter than the 15-byte minimum")
    tag, slen = _HEAD.unpack_from(mv, 0)
    dec = _DECODERS.get(tag)
    if dec is None:
        raise WireError(f"tag: unknown frame tag {tag} (known: {_KNOWN_TAGS})")
    p = 3 + slen
    if p + 12 > end:
        raise WireError(f"session_len: {slen} bytes of session_id run past the {end}-byte frame")
    ts, plen = _TAIL.unpack_from(mv, p)
    p += 12
    if p + plen != end:
        if p + plen > end:
            raise WireError(
                f"payload_len: {plen} bytes announced, {end - p} present (truncated frame)"
            )
        raise WireError(
            f"payload_len: {plen} bytes announced but the buffer holds {end - p - plen} "
            "more (pass exactly one frame, e.g. buf[:n])"
        )
    sid = _utf8(mv, 3, 3 + slen, "session_id") if slen else ""
    try:
        return dec(mv, p, end, ts, sid, copy)
    except WireError:
        raise
    except Exception as exc:
        # Backstop for the contract "only WireError leaves decode"; the checks above
        # are meant to name the field before anything here can fire.
        raise WireError(
            f"{_BY_TAG[tag].name}: malformed payload ({type(exc).__name__}: {exc})"
        ) from exc
