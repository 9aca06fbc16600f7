"""rmlab.wire's tag table is the one place tags live: frames, lookups and messages agree with it."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rmlab.wire as wire
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

pytestmark = pytest.mark.unit

# Upstream's numbering, written out here on purpose: the table must not drift from it.
UPSTREAM = {
    Audio: 1,
    Video: 2,
    Text: 3,
    Control: 5,
    Numpy: 6,
    File: 7,
    EndOfInput: 8,
    Json: 9,
    Binary: 10,
}

SAMPLES: list[RuntimeData] = [
    Audio(np.zeros(4, np.float32), 16000, 1),
    Video(np.zeros(12, np.uint8), 2, 2),
    Text("hi"),
    Control({"op": "flush"}),
    Numpy(np.arange(3)),
    File("/tmp/x.wav"),
    EndOfInput(),
    Json([1, 2]),
    Binary(b"\x00\x01"),
]


def test_the_table_has_one_row_per_variant_with_upstreams_tag() -> None:
    variants = {c for c in RuntimeData.__subclasses__() if c.__module__ == "rmlab.data"}
    assert {v.cls for v in wire._VARIANTS} == variants
    assert {v.cls: v.tag for v in wire._VARIANTS} == UPSTREAM
    assert len({v.tag for v in wire._VARIANTS}) == len(wire._VARIANTS)
    assert [v.name for v in wire._VARIANTS] == [v.cls.__name__ for v in wire._VARIANTS]
    # rmlab.data's classes carry a TAG constant of their own: it must say the same
    for v in wire._VARIANTS:
        assert getattr(v.cls, "TAG", v.tag) == v.tag, f"{v.name}.TAG disagrees with the table"


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).__name__)
def test_each_frame_starts_with_its_rows_tag_and_decodes_through_its_row(
    data: RuntimeData,
) -> None:
    frame = wire.encode(data)
    assert frame[0] == wire._BY_CLASS[type(data)].tag
    assert type(wire.decode(frame)) is type(data)


def test_the_unknown_tag_message_lists_exactly_the_tables_tags() -> None:
    frame = bytearray(wire.encode(EndOfInput()))
    known = {v.tag for v in wire._VARIANTS}
    for tag in range(256):
        frame[0] = tag
        if tag in known:  # an empty payload may be too short for it, but the tag is fine
            try:
                wire.decode(frame)
            except WireError as exc:
                assert not str(exc).startswith("tag:"), exc
            continue
        with pytest.raises(WireError, match=r"^tag: unknown frame tag \d+ \(known: ") as err:
            wire.decode(frame)
        listed = re.search(r"known: ([\d, -]+)\)", str(err.value))
        assert listed is not None
        assert expand(listed[1]) == known, str(err.value)
    assert "(known: 1-3, 5-10)" in str(err.value)  # what upstream's tags print as


def expand(ranges: str) -> set[int]:
    out: set[int] = set()
    for part in ranges.split(", "):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


@pytest.mark.parametrize(
    ("tags", "text"),
    [([1], "1"), ([3, 1, 2], "1-3"), ([1, 3], "1, 3"), ([1, 2, 3, 5, 7, 8], "1-3, 5, 7-8")],
)
def test_tag_ranges(tags: list[int], text: str) -> None:
    assert wire._tag_ranges(tags) == text


def test_the_malformed_payload_backstop_names_the_variant_from_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> RuntimeData:
        raise KeyError("boom")

    monkeypatch.setitem(wire._DECODERS, 9, broken)
    with pytest.raises(WireError, match=r"^Json: malformed payload \(KeyError: 'boom'\)"):
        wire.decode(wire.encode(Json(1)))


def test_an_int_field_out_of_range_is_named_from_the_tables_row() -> None:
    with pytest.raises(WireError, match=r"Video\.codec: expected an int in \[0, 2\*\*8\)"):
        wire.encode(Video(np.zeros(4, np.uint8), 1, 1, codec=256))
    with pytest.raises(WireError, match=r"File\.offset: expected an int in \[0, 2\*\*64\)"):
        wire.encode(File("x", offset=-1))


def test_the_module_docstring_lists_the_tables_tags() -> None:
    doc = wire.__doc__ or ""
    start = doc.index("tag u8")
    block = doc[start : doc.index("session_len u16", start)]
    listed = dict((name, int(tag)) for tag, name in re.findall(r"(\d+) (\w+)", block))
    assert listed == {v.name: v.tag for v in wire._VARIANTS}
