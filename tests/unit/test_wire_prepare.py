"""``wire.prepare`` (plan once, then write) writes exactly what ``encode`` does."""

from __future__ import annotations

import numpy as np
import pytest

from rmlab import Audio, Binary, Control, EndOfInput, File, Json, Numpy, Text, Video, WireError
from rmlab.wire import encode, encoded_size, prepare

pytestmark = pytest.mark.unit

FRAMES = [
    Audio(np.linspace(-1, 1, 960, dtype=np.float32), 48000, metadata={"m": 1}, session_id="s"),
    Numpy(np.arange(12, dtype=np.int16).reshape(3, 4).T, timestamp_us=5),
    Text("héllo", channel="chat"),
    Json({"a": [1, 2.5, None]}),
    Binary(b"\x00\xff"),
    Control({"type": "flush"}),
    File("/tmp/x.wav", filename="x.wav", size=10),
    Video(np.zeros((2, 3, 3), np.uint8), width=3, height=2, frame_number=7),
    EndOfInput(),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_prepare_writes_what_encode_writes(frame) -> None:
    p = prepare(frame)
    assert p.size == encoded_size(frame)
    buf = bytearray(p.size + 3)
    assert p.into(memoryview(buf)) == p.size
    assert bytes(buf[: p.size]) == encode(frame)


def test_prepare_refuses_a_small_or_read_only_buffer() -> None:
    p = prepare(Json(1))
    with pytest.raises(WireError, match="too small"):
        p.into(bytearray(2))
    with pytest.raises(WireError, match="read-only"):
        p.into(bytes(p.size))
