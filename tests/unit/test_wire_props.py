"""Property tests: every variant round-trips through encode_into/decode, both copy modes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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
from rmlab.wire import decode, encode, encode_into, encoded_size

pytestmark = pytest.mark.unit

NAMES = [
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
]

U64 = st.integers(0, 2**64 - 1)
sessions = st.text(max_size=12)
small_text = st.text(max_size=40)

dtypes = st.sampled_from(NAMES).flatmap(
    lambda n: st.sampled_from([np.dtype(n), np.dtype(n).newbyteorder(">")])
)
arrays = dtypes.flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
)


def _view(a: np.ndarray, how: str) -> np.ndarray:
    if a.ndim == 0 or how == "as-is":
        return a
    if how == "fortran":
        return np.asfortranarray(a)
    if how == "transposed":
        return a.T
    if how == "reversed":
        return a[::-1]
    if how == "every-other":
        return a[..., ::2]
    if how == "negative-last":
        return a[..., ::-1]
    if how == "swapped":
        return np.swapaxes(a, 0, -1)
    raise AssertionError(how)


views = st.sampled_from(
    ["as-is", "fortran", "transposed", "reversed", "every-other", "negative-last", "swapped"]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=12,
)


def _roundtrip(value: RuntimeData, pad: int) -> list[RuntimeData]:
    """Encode into a buffer with ``pad`` spare bytes; decode both ways."""
    size = encoded_size(value)
    buf = bytearray(size + pad)
    n = encode_into(value, buf)
    assert n == size
    frame = bytes(buf[:n])
    assert encode(value) == frame
    out = [decode(memoryview(buf)[:n]), decode(frame, copy=True), decode(frame)]
    return out


@settings(max_examples=1000, deadline=None)
@given(arrays, views, sessions, U64, st.integers(0, 16))
def test_numpy_roundtrip(a: np.ndarray, how: str, sid: str, ts: int, pad: int) -> None:
    v = _view(a, how)
    value = Numpy(v, timestamp_us=ts, session_id=sid)
    le = v.dtype.newbyteorder("<")
    for out in _roundtrip(value, pad):
        assert isinstance(out, Numpy)
        assert out.session_id == sid and out.timestamp_us == ts
        got = out.array
        assert got.dtype == le
        assert got.shape == v.shape
        # Bit-exact (NaN payloads, -0.0), compared in logical C order.
        assert got.tobytes() == v.astype(le).tobytes()
        if v.flags.c_contiguous:
            assert got.flags.c_contiguous
        elif v.flags.f_contiguous:
            assert got.flags.f_contiguous
        else:
            assert got.flags.c_contiguous  # made C-contiguous on the way
        if v.dtype.isnative:
            assert out == value


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda ch: st.tuples(
            st.just(ch),
            hnp.arrays(np.float32, st.integers(0, 20).map(lambda f: f * ch)),
        )
    ),
    st.integers(1, 2**32 - 1),
    st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    st.booleans(),
    sessions,
    U64,
)
def test_audio_roundtrip(
    ch_samples: tuple[int, np.ndarray],
    rate: int,
    metadata: dict | None,
    strided: bool,
    sid: str,
    ts: int,
) -> None:
    channels, samples = ch_samples
    if strided:
        samples = np.repeat(samples, 2)[::2]  # non-contiguous float32 view
    value = Audio(samples, rate, channels, metadata, timestamp_us=ts, session_id=sid)
    for out in _roundtrip(value, 3):
        assert out == value
        assert out.samples.tobytes() == samples.tobytes()


@settings(max_examples=200, deadline=None)
@given(small_text, st.sampled_from(["tts", "", "log", "x" * 255]) | small_text, sessions, U64)
def test_text_roundtrip(text: str, channel: str, sid: str, ts: int) -> None:
    if len(channel.encode()) > 255:
        channel = "long"
    value = Text(text, channel, timestamp_us=ts, session_id=sid)
    for out in _roundtrip(value, 0):
        assert out == value


@settings(max_examples=200, deadline=None)
@given(json_values, st.dictionaries(st.text(max_size=6), json_values, max_size=4), sessions, U64)
def test_json_and_control_roundtrip(value: object, message: dict, sid: str, ts: int) -> None:
    for v in (Json(value, timestamp_us=ts, session_id=sid), Control(message, session_id=sid)):
        for out in _roundtrip(v, 1):
            assert out == v


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), sessions, U64)
def test_binary_and_end_roundtrip(data: bytes, sid: str, ts: int) -> None:
    for v in (
        Binary(data, timestamp_us=ts, session_id=sid),
        Binary(bytearray(data)),
        Binary(memoryview(data)),
        EndOfInput(timestamp_us=ts, session_id=sid),
    ):
        for out in _roundtrip(v, 2):
            assert out == v


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=48),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
    st.integers(0, 255),
    U64,
    st.booleans(),
    st.booleans(),
)
def test_video_roundtrip(
    pixels: bytes,
    width: int,
    height: int,
    fmt: int,
    codec: int,
    number: int,
    key: bool,
    as_image: bool,
) -> None:
    px = np.frombuffer(pixels, np.uint8)
    if as_image and px.size % 3 == 0:
        px = px.reshape(-1, 1, 3)  # flattened by Video
    value = Video(px, width, height, fmt, codec, number, key)
    for out in _roundtrip(value, 0):
        assert out == value
        assert out.pixels.tobytes() == pixels


optional_text = st.none() | st.text(max_size=12)
optional_u64 = st.none() | U64


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=20),
    optional_text,
    optional_text,
    optional_u64,
    optional_u64,
    optional_u64,
    optional_text,
    sessions,
    U64,
)
def test_file_roundtrip(
    path: str,
    filename: str | None,
    mime: str | None,
    size: int | None,
    offset: int | None,
    length: int | None,
    stream_id: str | None,
    sid: str,
    ts: int,
) -> None:
    value = File(
        path, filename, mime, size, offset, length, stream_id, timestamp_us=ts, session_id=sid
    )
    for out in _roundtrip(value, 5):
        assert out == value
