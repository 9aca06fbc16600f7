"""Decoder fuzz: hostile frames raise WireError and nothing else, and never yield a wrong array.

Deterministic (fixed seed). Frames come from five generators: random bytes, random
payloads behind a valid header, valid frames truncated at every position (with and
without the payload_len fixed up to match), valid frames with random byte mutations,
and valid frames with huge values written over their length fields.
"""

from __future__ import annotations

import random
import struct
import time
import tracemalloc
from collections.abc import Iterator

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
from rmlab.wire import decode, encode

pytestmark = pytest.mark.unit

SEED = 20240611
HUGE = [0xFF, 0xFFFF, 0xFFFF_FFFF, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 1]

try:  # numpy >= 2
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # numpy 1.x
    byte_bounds = np.byte_bounds  # type: ignore[attr-defined]


def _seed_values() -> list[RuntimeData]:
    f32 = np.arange(6, dtype=np.float32)
    return [
        Audio(f32, 48000, 2, timestamp_us=7, session_id="s"),
        Audio(f32[:2], 16000, 1, {"a": [1, 2.5, None]}),
        Video(np.arange(12, dtype=np.uint8), 2, 2, 1, 0, 3, True),
        Text("hello"),
        Text("hi", "log", session_id="sess"),
        Text("\x00x"),
        Control({"type": "flush", "n": 1}),
        Numpy(np.arange(6, dtype=np.float64).reshape(2, 3)),
        Numpy(np.asfortranarray(np.arange(6, dtype=np.int16).reshape(3, 2))),
        Numpy(np.array(1.5, dtype=np.float32)),
        Numpy(np.zeros((0, 4), dtype=np.uint8)),
        Numpy(np.array([True, False, True])),
        Numpy(np.array([1 + 2j, 3 - 4j], dtype=np.complex128)),
        Numpy(np.arange(24, dtype=np.uint32).reshape(2, 3, 4)),
        Numpy(np.arange(3, dtype=np.float16)),
        File("/tmp/a.wav", "a.wav", "audio/wav", 100, 4, 50, "t"),
        File("/x"),
        EndOfInput(timestamp_us=99),
        Json({"k": [1, "two", {"three": 3.0}]}),
        Json(None),
        Binary(b"\x00\x01\x02\xff"),
    ]


UPSTREAM = bytes.fromhex(
    "06 0000 0000000000000000 2a000000"
    "0100 0300000000000000 0100 0400000000000000 0700 666c6f61743332 01"
    "0000803f 00000040 00004040"
)


def _fix_len(frame: bytearray) -> bytearray:
    """Rewrite payload_len to match the buffer, so payload decoders see the damage."""
    if len(frame) >= 3:
        slen = int.from_bytes(frame[1:3], "little")
        at = 3 + slen + 8
        if at + 4 <= len(frame):
            frame[at : at + 4] = (len(frame) - at - 4).to_bytes(4, "little")
    return frame


def _frames(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    seeds = [encode(v) for v in _seed_values()] + [UPSTREAM]
    for _ in range(2000):
        yield "random", rng.randbytes(rng.randrange(0, 96))
    for _ in range(2000):
        tag = rng.choice([1, 2, 3, 5, 6, 7, 8, 9, 10, 0, 4, 11, 255])
        sid = rng.randbytes(rng.randrange(0, 4))
        payload = rng.randbytes(rng.randrange(0, 96))
        head = struct.pack("<BH", tag, len(sid)) + sid + struct.pack("<QI", 0, len(payload))
        yield "random-payload", head + payload
    for frame in seeds:
        for cut in range(len(frame)):
            yield "truncated", frame[:cut]
            yield "truncated-fixed", bytes(_fix_len(bytearray(frame[:cut])))
    for _ in range(3000):
        frame = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        if rng.random() < 0.5:
            _fix_len(frame)
        yield "mutated", bytes(frame)
    for _ in range(2500):
        frame = bytearray(rng.choice(seeds))
        width = rng.choice([2, 4, 8])
        value = rng.choice(HUGE) & ((1 << (8 * width)) - 1)
        at = rng.randrange(0, max(1, len(frame) - width + 1))
        frame[at : at + width] = value.to_bytes(width, "little")[: len(frame) - at]
        if rng.random() < 0.5:
            _fix_len(frame)
        yield "huge-length", bytes(frame)


def _arrays(d: RuntimeData) -> list[np.ndarray]:
    if isinstance(d, Numpy):
        return [d.array]
    if isinstance(d, Audio):
        return [d.samples]
    if isinstance(d, Video):
        return [d.pixels]
    return []


def _check_decoded(d: RuntimeData, frame: bytes, copy: bool) -> None:
    base_lo = np.frombuffer(frame, np.uint8).__array_interface__["data"][0] if frame else 0
    for arr in _arrays(d):
        assert isinstance(arr, np.ndarray)
        assert arr.nbytes <= len(frame) - 15
        if copy:
            assert arr.flags.writeable and arr.flags.owndata
            continue
        assert not arr.flags.writeable
        if arr.size == 0:
            continue
        lo, hi = byte_bounds(arr)
        # Arrays are the frame's tail: contiguous, inside the buffer, ending at its end.
        assert hi - lo == arr.nbytes
        assert base_lo <= lo and hi == base_lo + len(frame)
        assert np.shares_memory(arr, np.frombuffer(frame, np.uint8))
    if isinstance(d, Numpy) and d.array.dtype == np.bool_ and d.array.size:
        assert d.array.view(np.uint8).max() <= 1
    # Whatever decodes is a valid frame: it re-encodes and decodes to the same value.
    again = decode(encode(d))
    assert again == d


def test_decoder_fuzz() -> None:
    rng = random.Random(SEED)
    counts: dict[str, int] = {}
    decoded = 0
    t0 = time.perf_counter()
    for kind, frame in _frames(rng):
        counts[kind] = counts.get(kind, 0) + 1
        for copy in (False, True):
            try:
                d = decode(frame, copy=copy)
            except WireError as exc:
                assert str(exc), frame.hex()
                continue
            except Exception as exc:
                pytest.fail(
                    f"{kind} frame raised {type(exc).__name__}: {exc}\ninput hex: {frame.hex()}"
                )
            try:
                _check_decoded(d, frame, copy)
            except Exception as exc:
                pytest.fail(f"{kind} frame decoded wrongly ({exc!r})\ninput hex: {frame.hex()}")
            decoded += 1
    elapsed = time.perf_counter() - t0
    total = sum(counts.values())
    assert total >= 10_000, counts
    assert decoded > 500, f"only {decoded} decodes succeeded: the fuzz is too shallow"
    assert elapsed < 30, f"fuzz took {elapsed:.1f} s"


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((2**62,), "float32"),
        ((2**31, 2**31, 4), "uint8"),
        ((0, 2**62), "float64"),
        ((2**63,), "int8"),
        ((2**64 - 1,), "bool"),
        ((2**32,) * 4, "complex128"),
    ],
)
def test_gigantic_shape_is_rejected_quickly_without_allocating(
    shape: tuple[int, ...], dtype: str
) -> None:
    name = dtype.encode()
    payload = (
        struct.pack("<H", len(shape))
        + struct.pack(f"<{len(shape)}Q", *shape)
        + struct.pack("<H", 0)
        + struct.pack("<H", len(name))
        + name
        + b"\x01"  # upstream flags: no bit2, strides ignored
        + b"\x00" * 16
    )
    frame = b"\x06\x00\x00" + bytes(8) + struct.pack("<I", len(payload)) + payload
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(WireError, match="Numpy"):
            decode(frame)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.1
    assert peak < 1 << 20
