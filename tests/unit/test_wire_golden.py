"""Golden byte vectors for every frame variant, written by hand from DESIGN.md section 3.

Each vector is spelled out field by field (little-endian hex, one field per line) and
never produced by the encoder, so a change in the codec's output shows up here as a
byte difference against the documented layout. Float constants: f32 1.0 = 0000803f,
-1.0 = 000080bf, 0.5 = 0000003f, 0.25 = 0000803e, 2.0 = 00000040, 3.0 = 00004040,
4.0 = 00008040; f64 1.0 .. 6.0 = 000000000000f03f, 0000000000000040, 0000000000000840,
0000000000001040, 0000000000001440, 0000000000001840.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

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
from rmlab.wire import decode, encode, encode_into, encoded_size

pytestmark = pytest.mark.unit

H = bytes.fromhex  # whitespace between the hex digits of one literal is ignored

F32 = np.float32

GOLDEN: list[tuple[str, RuntimeData, bytes]] = [
    (
        "audio-2ch-no-metadata-with-session",
        Audio(
            np.array([1.0, -1.0, 0.5, 0.25], F32),
            48000,
            2,
            timestamp_us=1_000_000,
            session_id="s1",
        ),
        H(
            "01"  # tag 1 = Audio
            "0200"  # session_len 2
            "7331"  # session_id "s1"
            "40420f0000000000"  # timestamp_us 1_000_000 = 0x0f4240
            "1a000000"  # payload_len 26 = 10 + 16
            "80bb0000"  # sample_rate 48000 = 0xbb80
            "0200"  # channels 2
            "00000000"  # metadata_len 0: no metadata
            "0000803f 000080bf 0000003f 0000803e"  # samples 1, -1, 0.5, 0.25 (interleaved)
        ),
    ),
    (
        "audio-metadata",
        Audio(np.array([1.0], F32), 16000, 1, {"k": "v"}),
        H(
            "01"  # tag 1 = Audio
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "17000000"  # payload_len 23 = 10 + 9 + 4
            "803e0000"  # sample_rate 16000 = 0x3e80
            "0100"  # channels 1
            "09000000"  # metadata_len 9
            "7b226b223a2276227d"  # {"k":"v"} (compact JSON)
            "0000803f"  # samples 1.0
        ),
    ),
    (
        "text-tts",
        Text("hi"),
        H(
            "03"  # tag 3 = Text
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "02000000"  # payload_len 2
            "6869"  # "hi": channel tts is upstream's raw UTF-8
        ),
    ),
    (
        "text-other-channel",
        Text("hi", "log"),
        H(
            "03"  # tag 3 = Text
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "07000000"  # payload_len 7 = 1 + 1 + 3 + 2
            "00"  # explicit-channel marker
            "03"  # chan_len 3
            "6c6f67"  # channel "log"
            "6869"  # text "hi"
        ),
    ),
    (
        "text-starting-with-nul",
        Text("\x00a"),
        H(
            "03"  # tag 3 = Text
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "07000000"  # payload_len 7
            "00"  # explicit form, so the leading NUL is not taken as the marker
            "03"  # chan_len 3
            "747473"  # channel "tts"
            "0061"  # text "\x00a"
        ),
    ),
    (
        "control",
        Control({"type": "stop"}),
        H(
            "05"  # tag 5 = Control
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "0f000000"  # payload_len 15
            "7b2274797065223a2273746f70227d"  # {"type":"stop"}
        ),
    ),
    (
        "numpy-f32-c-order",
        Numpy(np.array([[1.0, 2.0], [3.0, 4.0]], F32)),
        H(
            "06"  # tag 6 = Numpy
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "3e000000"  # payload_len 62 = 2+16+2+16+2+7+1+16
            "0200"  # ndim 2
            "0200000000000000 0200000000000000"  # shape (2, 2)
            "0200"  # nstrides 2
            "0800000000000000 0400000000000000"  # strides (8, 4): C
            "0700"  # dtype_len 7
            "666c6f61743332"  # "float32"
            "05"  # flags: C-contiguous | laid out as strides say
            "0000803f 00000040 00004040 00008040"  # 1, 2, 3, 4 in memory order
        ),
    ),
    (
        "numpy-f32-f-order",
        Numpy(np.asfortranarray(np.array([[1.0, 2.0], [3.0, 4.0]], F32))),
        H(
            "06"  # tag 6 = Numpy
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "3e000000"  # payload_len 62
            "0200"  # ndim 2
            "0200000000000000 0200000000000000"  # shape (2, 2)
            "0200"  # nstrides 2
            "0400000000000000 0800000000000000"  # strides (4, 8): F
            "0700"  # dtype_len 7
            "666c6f61743332"  # "float32"
            "06"  # flags: F-contiguous | laid out as strides say
            "0000803f 00004040 00000040 00008040"  # memory order: 1, 3, 2, 4
        ),
    ),
    (
        "numpy-0d",
        Numpy(np.array(3.0)),
        H(
            "06"  # tag 6 = Numpy
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "16000000"  # payload_len 22 = 2+2+2+7+1+8
            "0000"  # ndim 0: no shape entries
            "0000"  # nstrides 0
            "0700"  # dtype_len 7
            "666c6f61743634"  # "float64"
            "07"  # flags: C | F | laid out as strides say
            "0000000000000840"  # 3.0
        ),
    ),
    (
        "numpy-zero-size",
        Numpy(np.zeros((0, 3), F32)),
        H(
            "06"  # tag 6 = Numpy
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "2e000000"  # payload_len 46 = 2+16+2+16+2+7+1
            "0200"  # ndim 2
            "0000000000000000 0300000000000000"  # shape (0, 3)
            "0200"  # nstrides 2
            "0c00000000000000 0400000000000000"  # C strides (12, 4): empty axes count as 1
            "0700"  # dtype_len 7
            "666c6f61743332"  # "float32"
            "07"  # flags: empty arrays are both C and F
            ""  # no data
        ),
    ),
    (
        "numpy-bool",
        Numpy(np.array([True, False, True])),
        H(
            "06"  # tag 6 = Numpy
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "1e000000"  # payload_len 30 = 2+8+2+8+2+4+1+3
            "0100"  # ndim 1
            "0300000000000000"  # shape (3,)
            "0100"  # nstrides 1
            "0100000000000000"  # strides (1,)
            "0400"  # dtype_len 4
            "626f6f6c"  # "bool"
            "07"  # flags: 1-D is C and F
            "010001"  # True, False, True
        ),
    ),
    (
        "numpy-complex64",
        Numpy(np.array([1 + 2j], np.complex64)),
        H(
            "06"  # tag 6 = Numpy
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "28000000"  # payload_len 40 = 2+8+2+8+2+9+1+8
            "0100"  # ndim 1
            "0100000000000000"  # shape (1,)
            "0100"  # nstrides 1
            "0800000000000000"  # strides (8,)
            "0900"  # dtype_len 9
            "636f6d706c65783634"  # "complex64"
            "07"  # flags
            "0000803f 00000040"  # real 1.0, imag 2.0
        ),
    ),
    (
        "numpy-int32-with-session-and-timestamp",
        Numpy(np.array([1, -1], np.int32), timestamp_us=0x0102030405060708, session_id="sé"),
        H(
            "06"  # tag 6 = Numpy
            "0300"  # session_len 3 (UTF-8 bytes, not characters)
            "73c3a9"  # session_id "sé"
            "0807060504030201"  # timestamp_us 0x0102030405060708
            "24000000"  # payload_len 36 = 2+8+2+8+2+5+1+8
            "0100"  # ndim 1
            "0200000000000000"  # shape (2,)
            "0100"  # nstrides 1
            "0400000000000000"  # strides (4,)
            "0500"  # dtype_len 5
            "696e743332"  # "int32"
            "07"  # flags
            "01000000 ffffffff"  # 1, -1
        ),
    ),
    (
        "video",
        Video(np.array([1, 2, 3, 4, 5, 6], np.uint8), 2, 1, 1, 0, 7, True),
        H(
            "02"  # tag 2 = Video
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "19000000"  # payload_len 25 = 19 + 6
            "02000000"  # width 2
            "01000000"  # height 1
            "01"  # format 1
            "00"  # codec 0 (raw)
            "0700000000000000"  # frame_number 7
            "01"  # is_keyframe
            "010203040506"  # pixels
        ),
    ),
    (
        "file-path-only",
        File("/a"),
        H(
            "07"  # tag 7 = File
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "22000000"  # payload_len 34 = 2+2 + 2 + 2 + 24 + 2
            "0200 2f61"  # path "/a"
            "0000"  # filename: none
            "0000"  # mime_type: none
            "0000000000000000"  # size: none
            "0000000000000000"  # offset: none
            "0000000000000000"  # length: none
            "0000"  # stream_id: none
        ),
    ),
    (
        "file-all-fields",
        File("/a", "a.wav", "audio/wav", 1000, 44, 256, "t1"),
        H(
            "07"  # tag 7 = File
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "32000000"  # payload_len 50 = 4 + 7 + 11 + 24 + 4
            "0200 2f61"  # path "/a"
            "0500 612e776176"  # filename "a.wav"
            "0900 617564696f2f776176"  # mime_type "audio/wav"
            "e803000000000000"  # size 1000
            "2c00000000000000"  # offset 44
            "0001000000000000"  # length 256
            "0200 7431"  # stream_id "t1"
        ),
    ),
    (
        "end-of-input",
        EndOfInput(timestamp_us=5, session_id="s1"),
        H(
            "08"  # tag 8 = EndOfInput
            "0200"  # session_len 2
            "7331"  # session_id "s1"
            "0500000000000000"  # timestamp_us 5
            "00000000"  # payload_len 0
        ),
    ),
    (
        "json",
        Json([1, "a", None]),
        H(
            "09"  # tag 9 = Json (rmlab)
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "0c000000"  # payload_len 12
            "5b312c2261222c6e756c6c5d"  # [1,"a",null]
        ),
    ),
    (
        "binary",
        Binary(b"\x00\xff\x10"),
        H(
            "0a"  # tag 10 = Binary (rmlab)
            "0000"  # session_len 0
            "0000000000000000"  # timestamp_us 0
            "03000000"  # payload_len 3
            "00ff10"  # raw bytes
        ),
    ),
]

IDS = [name for name, _, _ in GOLDEN]
G = {name: (value, golden) for name, value, golden in GOLDEN}


@pytest.mark.parametrize(("name", "value", "golden"), GOLDEN, ids=IDS)
def test_encode_matches_golden(name: str, value: RuntimeData, golden: bytes) -> None:
    assert encode(value) == golden
    assert encoded_size(value) == len(golden)
    buf = bytearray(len(golden))
    assert encode_into(value, buf) == len(golden)
    assert bytes(buf) == golden


@pytest.mark.parametrize(("name", "value", "golden"), GOLDEN, ids=IDS)
@pytest.mark.parametrize("copy", [False, True])
def test_decode_matches_golden(name: str, value: RuntimeData, golden: bytes, copy: bool) -> None:
    decoded = decode(golden, copy=copy)
    assert type(decoded) is type(value)
    assert decoded == value


UPSTREAM_F64_2x3 = H(
    "06"  # tag 6 = Numpy
    "0000"  # session_len 0
    "0000000000000000"  # timestamp_us 0
    "5e000000"  # payload_len 94 = 2+16+2+16+2+7+1+48
    "0200"  # ndim 2
    "0200000000000000 0300000000000000"  # shape (2, 3)
    "0200"  # nstrides 2
    "0800000000000000 1000000000000000"  # the ORIGINAL F strides (8, 16) ...
    "0700"  # dtype_len 7
    "666c6f61743634"  # "float64"
    "02"  # flags: F-contiguous, but no bit2: data is tobytes(), i.e. C order
    "000000000000f03f 0000000000000040 0000000000000840"  # row 0: 1, 2, 3
    "0000000000001040 0000000000001440 0000000000001840"  # row 1: 4, 5, 6
)


def test_upstream_numpy_frame_is_read_c_order_ignoring_strides() -> None:
    d = decode(UPSTREAM_F64_2x3)
    assert isinstance(d, Numpy)
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert d.array.dtype == np.float64
    np.testing.assert_array_equal(d.array, expected)
    assert d.array.flags.c_contiguous
    # Re-encoded, it becomes rmlab's own form: C strides (24, 8) and bit2.
    again = encode(d)
    assert again[15 + 2 + 16 + 2 : 15 + 2 + 16 + 2 + 16] == H("1800000000000000 0800000000000000")
    assert again[15 + 2 + 16 + 2 + 16 + 2 + 7] == 0x05


def test_upstream_1d_float32_frame() -> None:
    frame = H(
        "06"  # tag 6 = Numpy
        "0c00 746573745f73657373696f6e"  # session_len 12, "test_session"
        "0000000000000000"  # timestamp_us 0
        "2a000000"  # payload_len 42 = 2+8+2+8+2+7+1+12
        "0100 0300000000000000"  # ndim 1, shape (3,)
        "0100 0400000000000000"  # nstrides 1, strides (4,)
        "0700 666c6f61743332"  # "float32"
        "01"  # flags: C-contiguous (upstream: no bit2)
        "0000803f 00000040 00004040"  # 1, 2, 3
    )
    d = decode(frame)
    assert d.session_id == "test_session"
    np.testing.assert_array_equal(d.array, np.array([1, 2, 3], F32))


def test_rmlab_frame_with_strides_that_are_not_contiguous_is_rejected() -> None:
    bad = bytearray(G["numpy-f32-c-order"][1])  # numpy-f32-c-order
    strides_at = 15 + 2 + 16 + 2
    bad[strides_at : strides_at + 16] = H("1000000000000000 0400000000000000")  # (16, 4)
    with pytest.raises(WireError, match=r"Numpy\.strides"):
        decode(bytes(bad))


def test_text_empty_channel_is_tts() -> None:
    assert Text("hi", "") == Text("hi")
    assert encode(Text("hi", "")) == encode(Text("hi"))


def test_file_empty_and_zero_are_none() -> None:
    assert File("/a", "", "", 0, 0, 0, "") == File("/a")


# ---------------------------------------------------------------- zero-copy contract


def _arrays(d: RuntimeData) -> list[np.ndarray]:
    if isinstance(d, Numpy):
        return [d.array]
    if isinstance(d, Audio):
        return [d.samples]
    if isinstance(d, Video):
        return [d.pixels]
    return []


ARRAY_CASES = [g for g in GOLDEN if g[0] in ("audio-metadata", "numpy-f32-c-order", "video")]


@pytest.mark.parametrize(("name", "value", "golden"), ARRAY_CASES, ids=[g[0] for g in ARRAY_CASES])
def test_decode_views_are_read_only_and_share_the_buffer(
    name: str, value: RuntimeData, golden: bytes
) -> None:
    buf = bytearray(golden)
    d = decode(buf)
    (arr,) = _arrays(d)
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr.reshape(-1)[0] = 0
    assert np.shares_memory(arr, np.frombuffer(buf, np.uint8))
    # Writing the buffer shows through the view: it is the buffer's memory.
    before = arr.copy()
    buf[-1] ^= 0x01
    assert not np.array_equal(arr, before)


def test_decode_views_on_bytes_share_memory() -> None:
    golden = G["numpy-f32-c-order"][1]
    d = decode(golden)
    assert np.shares_memory(d.array, np.frombuffer(golden, np.uint8))


@pytest.mark.parametrize(("name", "value", "golden"), ARRAY_CASES, ids=[g[0] for g in ARRAY_CASES])
def test_decode_copy_is_writable_and_independent(
    name: str, value: RuntimeData, golden: bytes
) -> None:
    buf = bytearray(golden)
    d = decode(buf, copy=True)
    (arr,) = _arrays(d)
    assert arr.flags.writeable and arr.flags.owndata
    assert not np.shares_memory(arr, np.frombuffer(buf, np.uint8))
    before = arr.copy()
    buf[-1] ^= 0x01
    np.testing.assert_array_equal(arr, before)
    arr.reshape(-1)[0] = 0  # writable


def test_binary_views_and_copies() -> None:
    buf = bytearray(G["binary"][1])
    view = decode(buf).data
    assert isinstance(view, memoryview) and view.readonly
    buf[-1] = 0x11
    assert bytes(view) == b"\x00\xff\x11"
    owned = decode(buf, copy=True).data
    assert isinstance(owned, bytes)


def test_fortran_order_survives_decode() -> None:
    d = decode(G["numpy-f32-f-order"][1])
    assert d.array.flags.f_contiguous and not d.array.flags.c_contiguous
    assert decode(G["numpy-f32-f-order"][1], copy=True).array.flags.f_contiguous


def test_non_native_byte_order_is_written_little_endian() -> None:
    big = np.array([1, -1], ">i4")
    frame = encode(Numpy(big, timestamp_us=0x0102030405060708, session_id="sé"))
    # Same bytes as the native int32 vector.
    assert frame == G["numpy-int32-with-session-and-timestamp"][1]
    out = decode(frame).array
    assert out.dtype == np.dtype("<i4")
    np.testing.assert_array_equal(out, big)


def test_strided_views_are_written_c_order() -> None:
    base = np.array([[1.0, 9.0, 2.0], [9.0, 9.0, 9.0], [3.0, 9.0, 4.0]], F32)
    view = base[::2, ::2]  # [[1, 2], [3, 4]], neither C nor F contiguous
    assert encode(Numpy(view)) == G["numpy-f32-c-order"][1]
    rev = np.array([[4.0, 3.0], [2.0, 1.0]], F32)[::-1, ::-1]
    assert encode(Numpy(rev)) == G["numpy-f32-c-order"][1]


def test_encode_into_a_larger_buffer_and_decode_the_prefix() -> None:
    value, golden = G["audio-2ch-no-metadata-with-session"]
    buf = np.zeros(len(golden) + 100, np.uint8)  # an iceoryx2-like uint8 block
    n = encode_into(value, memoryview(buf))
    assert n == len(golden)
    assert buf[:n].tobytes() == golden
    assert decode(memoryview(buf)[:n]) == value
    with pytest.raises(WireError, match="payload_len"):
        decode(buf)  # trailing bytes: one frame per buffer


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "array",
    [
        np.array([object()], dtype=object),
        np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")]),
        np.array(["abc"]),
        np.array([b"abc"]),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
        np.array([1], dtype="timedelta64[s]"),
        np.zeros(2, dtype="V4"),
        np.zeros(2, dtype=np.longdouble),
    ],
    ids=["object", "structured", "str", "bytes", "datetime", "timedelta", "void", "longdouble"],
)
def test_unsupported_dtypes_raise(array: np.ndarray) -> None:
    if array.dtype == np.float64:  # longdouble is float64 on some platforms
        pytest.skip("longdouble is float64 here")
    with pytest.raises(WireError, match=r"Numpy\.array: dtype"):
        encode(Numpy(array))


def test_too_small_buffer_raises_with_sizes() -> None:
    value, golden = G["numpy-f32-c-order"]
    with pytest.raises(WireError, match=rf"{len(golden) - 1} bytes .* {len(golden)} bytes"):
        encode_into(value, bytearray(len(golden) - 1))


def test_read_only_buffer_raises() -> None:
    with pytest.raises(WireError, match="read-only"):
        encode_into(Text("hi"), bytes(100))
    with pytest.raises(WireError, match="writable buffer"):
        encode_into(Text("hi"), 42)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (Text("x", session_id="s" * 65536), "session_id"),
        (Text("x", "c" * 256), "Text.channel"),
        (Text("x", timestamp_us=-1), "timestamp_us"),
        (Text("x", timestamp_us=2**64), "timestamp_us"),
        (Audio(np.zeros(2, F32), 2**32), "Audio.sample_rate"),
        (Audio(np.zeros(2**16, F32), 48000, 2**16), "Audio.channels"),
        (Audio(np.zeros(2, F32), 48000, metadata=[1]), "Audio.metadata"),  # type: ignore[arg-type]
        (Audio(np.zeros(2, F32), 48000, metadata={"x": object()}), "Audio.metadata"),
        (Video(np.zeros(1, np.uint8), 1, 1, format=256), "Video.format"),
        (File("/a", size=-5), "File.size"),
        (File("/a" * 40000), "File.path"),
        (Control("stop"), "Control.message"),  # type: ignore[arg-type]
        (Control({"x": {1, 2}}), "Control.message"),
        (Json(object()), "Json.value"),
        (Json(float("nan")), "Json.value"),
        (Json({(1, 2): 3}), "Json.value"),
        (Binary(42), "Binary.data"),  # type: ignore[arg-type]
        (Text("\ud800"), "Text.text"),
    ],
)
def test_encode_errors_name_the_field(value: RuntimeData, match: str) -> None:
    with pytest.raises(WireError, match=re.escape(match)):
        encode(value)
    with pytest.raises(WireError, match=re.escape(match)):
        encode_into(value, bytearray(1 << 20))


def test_encode_rejects_non_frames() -> None:
    with pytest.raises(WireError, match="RuntimeData"):
        encode(np.zeros(3))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"", "header"),
        (H("06 0000 0000000000000000 000000"), "header"),
        (H("04 0000 0000000000000000 00000000"), "tag"),
        (H("03 ff00 0000000000000000 00000000"), "session_len"),
        (H("03 0000 0000000000000000 05000000 6869"), "payload_len"),
        (H("03 0000 0000000000000000 01000000 6869"), "payload_len"),
        (H("03 0100 ff 0000000000000000 00000000"), "session_id"),
        (H("03 0000 0000000000000000 01000000 ff"), "Text.text"),
        (H("03 0000 0000000000000000 03000000 00 05 61"), "Text.channel"),
        (H("05 0000 0000000000000000 02000000 5b5d"), "Control.message"),
        (H("09 0000 0000000000000000 03000000 7b7b7b"), "Json.value"),
        (H("09 0000 0000000000000000 03000000 4e614e"), "Json.value"),  # NaN
        (H("08 0000 0000000000000000 01000000 00"), "EndOfInput"),
        (H("01 0000 0000000000000000 0a000000 803e0000 0000 00000000"), "Audio.channels"),
        (H("01 0000 0000000000000000 0c000000 803e0000 0100 00000000 0000"), "Audio.samples"),
        (H("01 0000 0000000000000000 0e000000 803e0000 0200 00000000 00000000"), "Audio.samples"),
        (H("01 0000 0000000000000000 0a000000 803e0000 0100 ffffffff"), "Audio.metadata"),
        (
            H("02 0000 0000000000000000 13000000 01000000 01000000 00 00 0000000000000000 02"),
            "Video.is_keyframe",
        ),
        (H("07 0000 0000000000000000 02000000 ffff"), "File.path"),
    ],
)
def test_malformed_frames_name_the_field(frame: bytes, match: str) -> None:
    with pytest.raises(WireError, match=re.escape(match)):
        decode(frame)


def _numpy_frame(meta: str, data: str = "") -> bytes:
    payload = H(meta + data)
    return H("06 0000 0000000000000000") + len(payload).to_bytes(4, "little") + payload


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (
            _numpy_frame(
                "0100 0300000000000000 0100 0400000000000000 0700 666c6f61743332 05", "0000803f"
            ),
            "Numpy.data",
        ),  # shape x itemsize != data length
        (
            _numpy_frame(
                "0100 0100000000000000 0100 0800000000000000 0600 6f626a656374 07",
                "0000000000000000",
            ),
            "Numpy.dtype",
        ),  # "object"
        (
            _numpy_frame(
                "0100 0100000000000000 0100 0400000000000000 0500 666f6f6261 07", "00000000"
            ),
            "Numpy.dtype",
        ),  # "fooba"
        (
            _numpy_frame(
                "0100 0100000000000000 0100 0400000000000000 0700 666c6f61743332 0f", "00000000"
            ),
            "Numpy.flags",
        ),  # unknown flag bit
        (
            _numpy_frame(
                "0100 0100000000000000 0200 0400000000000000 0400000000000000"
                " 0700 666c6f61743332 07",
                "00000000",
            ),
            "Numpy.strides",
        ),  # 2 strides, 1 dim
        (
            _numpy_frame(
                "0100 0200000000000000 0100 0000000000000000 0700 666c6f61743332 07",
                "00000000 00000000",
            ),
            "Numpy.strides",
        ),  # zero stride would alias
        (
            _numpy_frame(
                "0100 0200000000000000 0100 fcffffffffffffff 0700 666c6f61743332 07",
                "00000000 00000000",
            ),
            "Numpy.strides",
        ),  # negative stride
        (
            _numpy_frame("0100 0200000000000000 0100 0100000000000000 0400 626f6f6c 07", "0102"),
            "Numpy.data",
        ),  # bool byte 2
        (_numpy_frame("4100"), "Numpy.ndim"),  # 65 dimensions
        (
            _numpy_frame("0100 00000000000000f0 0100 0100000000000000 0500 75696e7438 07"),
            "Numpy.shape",
        ),  # dimension >= 2**63
        (_numpy_frame("0100 0100000000000000"), "Numpy.shape"),  # truncated meta
    ],
)
def test_malformed_numpy_frames_name_the_field(frame: bytes, match: str) -> None:
    with pytest.raises(WireError, match=re.escape(match)):
        decode(frame)


def test_decode_rejects_non_buffers() -> None:
    with pytest.raises(WireError, match="bytes-like"):
        decode(12345)
    with pytest.raises(WireError, match="C-contiguous"):
        decode(memoryview(G["text-tts"][1] * 2)[::2])


def test_json_accepts_numpy_scalars_and_arrays() -> None:
    value = Json({"level": np.float32(0.5), "v": np.arange(2)})
    assert encode(value) == H(
        "09"  # tag 9 = Json
        "0000"  # session_len 0
        "0000000000000000"  # timestamp_us 0
        "17000000"  # payload_len 23
        "7b226c6576656c223a302e352c2276223a5b302c315d7d"  # {"level":0.5,"v":[0,1]}
    )


def test_video_pixels_are_stored_flat() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    v = Video(image, 2, 2)
    assert v.pixels.shape == (12,)
    assert decode(encode(v)) == v
