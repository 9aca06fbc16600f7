"""How executors run a node: read-only input (or a private copy), ``source=``, one entry point."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from rmlab import Audio, Json, ManifestError, Node, NodeError, Numpy, Param, RmlabError, Text
from rmlab.data import Video, read_only, writable_copy
from rmlab.nodes.base import run_flush, run_process, run_update
from rmlab.testing import run_node

pytestmark = pytest.mark.unit

SR = 48000


# -- read_only / writable_copy -------------------------------------------------------


FIELD = {Audio: "samples", Numpy: "array", Video: "pixels"}
VARIANTS = pytest.mark.parametrize("kind", ["Audio", "Numpy", "Video"])


def _frame(kind: str) -> Any:
    """A frame of a variant that holds an array, with a writable array."""
    if kind == "Audio":
        return Audio(np.arange(8, dtype=np.float32), SR, 2, timestamp_us=5, session_id="s")
    if kind == "Numpy":
        return Numpy(np.arange(12.0).reshape(3, 4).T, timestamp_us=6)  # not C-contiguous
    return Video(np.arange(12, dtype=np.uint8), 2, 2, frame_number=3)


@VARIANTS
def test_read_only_is_a_read_only_view_and_leaves_the_caller_alone(kind: str) -> None:
    frame = _frame(kind)
    original = getattr(frame, FIELD[type(frame)])
    ro = read_only(frame)
    view = getattr(ro, FIELD[type(frame)])
    assert ro is not frame and type(ro) is type(frame) and ro == frame
    assert not view.flags.writeable
    assert np.shares_memory(view, original) and view.strides == original.strides  # no copy
    assert original.flags.writeable  # the caller's array keeps its flags
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 1
    assert read_only(ro) is ro  # already read-only (as on shm): the frame itself


def test_read_only_passes_frames_without_arrays_and_subclasses() -> None:
    text = Text("hi")
    assert read_only(text) is text and writable_copy(text) is text

    class TaggedAudio(Audio):
        pass

    tagged = TaggedAudio(np.zeros(4, np.float32), SR)
    ro = read_only(tagged)
    assert type(ro) is TaggedAudio and not ro.samples.flags.writeable


@VARIANTS
def test_writable_copy_is_private(kind: str) -> None:
    frame = _frame(kind)
    original = getattr(frame, FIELD[type(frame)])
    before = original.copy()
    original.flags.writeable = False  # e.g. a view of shared memory
    copy = writable_copy(frame)
    array = getattr(copy, FIELD[type(frame)])
    assert copy == frame and array.flags.writeable
    assert not np.shares_memory(array, original)
    assert array.strides == original.strides  # same layout (order="K")
    array[...] = 0
    np.testing.assert_array_equal(original, before)


# -- run_process -----------------------------------------------------------------------


class TWriter(Node, abstract=True):
    """Writes into its input, as a careless in-place node would."""

    def process(self, frame: Audio) -> Audio:
        frame.samples[0] = 1.0
        return frame


class TInplaceWriter(TWriter, abstract=True):
    inplace = True


def test_input_is_read_only_by_default() -> None:
    samples = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="read-only"):
        run_process(TWriter(), Audio(samples, SR), None)
    with pytest.raises(NodeError, match="ValueError in process"):
        run_node(TWriter(), [Audio(samples, SR)])
    assert samples.flags.writeable and not samples.any()  # caller untouched


def test_inplace_node_gets_a_private_writable_copy() -> None:
    samples = np.zeros(4, np.float32)
    (out,) = run_process(TInplaceWriter(), Audio(samples, SR), None)
    assert out.samples.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert not samples.any() and samples.flags.writeable  # the caller's array is untouched
    shared = np.zeros(4, np.float32)
    shared.flags.writeable = False  # as a frame from shared memory arrives
    (out,) = run_node(TInplaceWriter(), [Audio(shared, SR)])
    assert out.samples[0] == 1.0 and not shared.any()


def test_inplace_must_be_a_bool() -> None:
    with pytest.raises(RmlabError, match=r"TBadInplace\.inplace must be True or False"):

        class TBadInplace(Node, abstract=True):
            inplace = "yes"  # type: ignore[assignment]


class TSources(Node, abstract=True):
    """Records the source of every frame."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.seen: list[str | None] = []

    def process(self, frame: Text, source: str | None = None) -> Text:
        self.seen.append(source)
        return frame


class TSourcesKeywordOnly(TSources, abstract=True):
    def process(self, frame: Text, *, source: str | None = None) -> Text:
        self.seen.append(source)
        return frame


class TInheritsSource(TSources, abstract=True):
    """Does not override process: still told the source."""


class TOneInput(Node, abstract=True):
    def process(self, frame: Text) -> Text:  # would fail if given source=
        return frame.replace(text=frame.text + "!")


@pytest.mark.parametrize("cls", [TSources, TSourcesKeywordOnly, TInheritsSource])
def test_process_with_a_source_parameter_is_told_the_source(cls: type[TSources]) -> None:
    n = cls()
    assert run_process(n, Text("x"), "upstream") == [Text("x")]
    assert run_process(n, Text("y"), None) == [Text("y")]
    run_node(n, ["a", "b"], sources=["left", "right"])
    assert n.seen == ["upstream", None, "left", "right"]


def test_one_input_node_is_called_as_it_is() -> None:
    assert run_process(TOneInput(), Text("hi"), "somewhere") == [Text("hi!")]


def test_positional_only_source_is_refused() -> None:
    with pytest.raises(RmlabError, match=r"TPosOnly\.process: 'source'.*positional-only"):

        class TPosOnly(Node, abstract=True):
            def process(self, frame, source, /):  # type: ignore[override]
                return frame


def test_run_process_does_not_inspect_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_signature(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("run_process must not call inspect.signature per frame")

    monkeypatch.setattr(inspect, "signature", no_signature)
    frame = Audio(np.zeros(4, np.float32), SR)
    assert run_process(TSources(), Text("x"), "a") == [Text("x")]
    assert len(run_process(TInplaceWriter(), frame, None)) == 1


def test_exceptions_from_process_propagate_unchanged() -> None:
    boom = KeyError("missing")

    class TBoom(Node, abstract=True):
        def process(self, frame: Text) -> None:
            raise boom

    with pytest.raises(KeyError) as err:
        run_process(TBoom(), Text("x"), None)
    assert err.value is boom


def test_outputs_are_normalised() -> None:
    class TMany(Node, abstract=True):
        def process(self, frame: Text) -> Any:
            return [frame, np.arange(2), "text"]

        def flush(self) -> Any:
            return (Json(n) for n in range(2))

    out = run_process(TMany(), Text("x"), None)
    assert [type(o) for o in out] == [Text, Numpy, Text]
    assert run_flush(TMany()) == [Json(0), Json(1)]
    assert run_flush(TOneInput()) == []


class TCounted(Node, abstract=True):
    """Counts frames from a start value; the count is carried state."""

    start: int = Param(0, min=0)

    def setup(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.resets = getattr(self, "resets", 0) + 1
        self.count = self.start

    def process(self, frame: Text) -> Json:
        self.count += 1
        return Json(self.count)


def test_run_update_assigns_then_resets() -> None:
    n = TCounted()
    assert run_node(n, ["a", "b"], end=False) == [Json(1), Json(2)]
    run_update(n, {"start": 10})
    assert (n.start, n.count, n.resets) == (10, 10, 2)  # reset saw the new params
    with pytest.raises(ManifestError, match=r"params\.start: must be >= 0"):
        run_update(n, {"start": -1})
    assert (n.start, n.resets) == (10, 2)  # a refused update changes nothing, resets nothing


def test_run_node_sources_must_match_inputs() -> None:
    with pytest.raises(RmlabError, match="2 inputs but 1 sources"):
        run_node(TSources(), ["a", "b"], sources=["x"])
