"""The node SDK: Param checking and schemas, Node subclasses, @node, the registry."""

from __future__ import annotations

import numpy as np
import pytest

from rmlab import Audio, ManifestError, Node, Numpy, Param, RmlabError, Text, node
from rmlab.nodes import PassThrough, available, lookup, register

pytestmark = pytest.mark.unit


class TScale(Node):
    """Scale arrays.

    Longer description.
    """

    accepts = frozenset({Numpy, Audio})
    factor: float = Param(1.0, min=0.0, max=10.0, doc="linear gain")
    mode: str = Param("fast", choices=("fast", "exact"))
    taps: int = Param(4, min=1, aliases=("numTaps",))
    enabled: bool = Param(True)

    def process(self, frame):
        return Numpy(frame.array * self.factor)


class TRequired(Node, abstract=True):
    rate: int = Param(type=int)


def test_params_collected_with_types_from_annotations() -> None:
    assert list(TScale.params) == ["factor", "mode", "taps", "enabled"]
    assert [p.type for p in TScale.params.values()] == [float, str, int, bool]
    n = TScale(factor=2, numTaps=8)
    assert n.factor == 2.0 and isinstance(n.factor, float)
    assert n.taps == 8 and n.mode == "fast" and n.enabled is True


@pytest.mark.parametrize(
    ("params", "path", "text"),
    [
        ({"factor": "2"}, "params.factor", "expected a number, got str"),
        ({"factor": True}, "params.factor", "expected a number"),
        ({"factor": 11}, "params.factor", "must be <= 10.0"),
        ({"factor": -1}, "params.factor", "must be >= 0.0"),
        ({"factor": float("nan")}, "params.factor", "finite"),
        ({"mode": "slow"}, "params.mode", "must be one of 'fast', 'exact'"),
        ({"taps": 2.5}, "params.taps", "expected an integer"),
        ({"taps": 0}, "params.taps", "must be >= 1"),
        ({"enabled": 1}, "params.enabled", "expected a boolean"),
        ({"factr": 1.0}, "params.factr", "did you mean 'factor'?"),
        ({"taps": 2, "numTaps": 3}, "params.numTaps", "same parameter as 'taps'"),
    ],
)
def test_bad_params_name_their_path(params: dict, path: str, text: str) -> None:
    problems = TScale.param_problems(params)
    assert len(problems) == 1
    assert problems[0][0] == path
    assert text in problems[0][1]
    with pytest.raises(ManifestError) as err:
        TScale(**params)
    assert path in str(err.value)


def test_required_param() -> None:
    assert TRequired.param_problems({}) == [("params.rate", "required parameter is missing")]
    assert "TRequired" not in available()  # abstract=True keeps it out of the registry


def test_param_assignment_is_checked() -> None:
    n = TScale()
    n.factor = 3
    assert n.factor == 3.0
    with pytest.raises(ManifestError, match=r"must be <= 10\.0"):
        n.factor = 100


def test_node_schema() -> None:
    s = TScale.schema()
    assert s["additionalProperties"] is False
    assert s["properties"]["factor"] == {
        "type": "number",
        "minimum": 0.0,
        "maximum": 10.0,
        "default": 1.0,
        "description": "linear gain",
    }
    assert s["properties"]["mode"]["enum"] == ["fast", "exact"]
    assert s["properties"]["numTaps"]["description"] == "alias of taps"
    assert "required" not in s
    assert TRequired.schema()["required"] == ["rate"]


def test_doc_and_repr() -> None:
    assert TScale.doc().startswith("Scale arrays.\n\nLonger description.")
    assert repr(TScale()) == "TScale(factor=1.0, mode='fast', taps=4, enabled=True)"


def test_reserved_param_names_are_refused() -> None:
    with pytest.raises(RmlabError, match="cannot be a Param name"):

        class TBad(Node):
            process: int = Param(1)  # type: ignore[assignment]


def test_function_node_on_numpy_and_audio() -> None:
    @node("TClip")
    def clip(x: np.ndarray, *, limit: float = Param(0.5, min=0.0, doc="clip level")) -> np.ndarray:
        """Clip samples."""
        return np.clip(x, -limit, limit)

    assert lookup("TClip") is clip
    assert clip.doc() == "Clip samples."
    assert clip.params["limit"].max is None and clip.params["limit"].doc == "clip level"
    n = clip(limit=0.25)
    out = n.process(Numpy(np.array([-1.0, 0.1, 1.0]), timestamp_us=7))
    assert isinstance(out, Numpy) and out.timestamp_us == 7
    np.testing.assert_array_equal(out.array, [-0.25, 0.1, 0.25])
    stereo = Audio(np.ones((4, 2), np.float32), 48000)
    out = n.process(stereo)
    assert isinstance(out, Audio) and out.channels == 2 and out.sample_rate == 48000
    np.testing.assert_array_equal(out.samples, np.full(8, 0.25, np.float32))
    with pytest.raises(TypeError, match="takes Audio or Numpy"):
        n.process(Text("hi"))


def test_function_node_plain_decorator_and_none() -> None:
    @node
    def t_drop_quiet(x, *, level=0.1):
        return x if np.abs(x).max() > level else None

    assert t_drop_quiet.node_type == "t_drop_quiet"
    assert t_drop_quiet.params["level"].type is float
    assert t_drop_quiet().process(Numpy(np.zeros(3))) is None


def test_function_node_needs_one_array_argument() -> None:
    with pytest.raises(RmlabError, match="exactly one positional argument"):

        @node("TTwo")
        def two(x, y):
            return x


def test_registry_lookup_suggests_closest() -> None:
    assert lookup("PassThrough") is PassThrough
    with pytest.raises(ManifestError) as err:
        lookup("Passthru")
    assert err.value.problems == [
        ("node_type", "unknown node type 'Passthru'; did you mean 'PassThrough'?")
    ]
    with pytest.raises(ManifestError, match="did you mean 'PassThrough'"):
        lookup("passthrough")
    with pytest.raises(ManifestError, match="rmlab nodes"):
        lookup("Zzzzzz")


def test_registry_redefinition() -> None:
    first = type("TRedef", (Node,), {"__module__": "__main__", "__qualname__": "TRedef"})
    second = type("TRedef", (Node,), {"__module__": "__main__", "__qualname__": "TRedef"})
    assert lookup("TRedef") is second is not first  # a re-run notebook cell replaces
    with pytest.raises(RmlabError, match="already registered"):
        type("TRedef", (Node,), {"__module__": "elsewhere"})
    assert register(first, "TRedefAlias") is first and lookup("TRedefAlias") is first


def test_base_process_must_be_overridden() -> None:
    class TLazy(Node):
        pass

    with pytest.raises(NotImplementedError, match="TLazy must override process"):
        TLazy().process(Text("x"))


def test_update_changes_params_live_and_validates() -> None:
    n = TScale(factor=2.0)
    n.update(factor=3, numTaps=9)
    assert (n.factor, n.taps) == (3.0, 9)
    with pytest.raises(ManifestError, match=r"params\.factor: must be <= 10\.0"):
        n.update(factor=11)
    assert n.factor == 3.0  # a refused update changes nothing


def test_streaming_nodes_rebuild_their_state_on_update() -> None:
    from rmlab.nodes.audio import Filter
    from rmlab.testing import run_node

    t = np.arange(4800) / 48000
    x = Audio((np.sin(2 * np.pi * 3000 * t)).astype(np.float32), 48000)
    f = Filter(kind="lowpass", cutoff_hz=8000.0)
    loud = run_node(f, [x], end=False)[0].samples[-960:]
    f.update(cutoff_hz=300.0)
    quiet = run_node(f, [x], end=False)[0].samples[-960:]
    assert np.sqrt(np.mean(loud**2)) > 0.6 and np.sqrt(np.mean(quiet**2)) < 0.01
