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


# -- names of the SDK, annotations, param_name, reset ------------------------------------


@pytest.mark.parametrize(
    "name",
    ["doc", "params", "schema", "param_problems", "param_name", "node_id", "_params", "_aliases",
     "_takes_source", "outputs", "run_process", "run_flush", "run_update"],
)  # fmt: skip
def test_class_attributes_may_not_shadow_the_sdk(name: str) -> None:
    with pytest.raises(RmlabError) as err:
        type("TShadow", (Node,), {name: "something", "__module__": __name__})
    assert str(err.value).startswith(f"TShadow: class attribute {name!r} would shadow")
    assert "rename it" in str(err.value)
    assert "TShadow" not in available()


@pytest.mark.parametrize(
    "name", ["process", "reset", "update", "inplace", "node_type", "doc", "schema", "_gain"]
)
def test_params_may_not_take_sdk_or_private_names(name: str) -> None:
    with pytest.raises(RmlabError, match=rf"TParamName: '{name}' cannot be a Param name.*rename"):
        type("TParamName", (Node,), {name: Param(1.0), "__module__": __name__})


def test_override_points_must_be_methods() -> None:
    with pytest.raises(RmlabError, match=r"TNotAMethod: 'flush' must be a method"):

        class TNotAMethod(Node, abstract=True):
            flush = None  # type: ignore[assignment]


def test_documented_override_points_and_settings_are_allowed() -> None:
    class TAllowed(Node, abstract=True):
        """Overrides every hook and setting."""

        node_type = "TAllowedType"
        accepts = frozenset({Text})
        produces = frozenset({Text})
        inplace = True
        level: float = Param(1.0)

        def __init__(self, **params):
            super().__init__(**params)

        def setup(self) -> None: ...
        def reset(self) -> None: ...
        def update(self, **params) -> None:
            super().update(**params)

        def process(self, frame):
            return frame

        def flush(self) -> None: ...
        def teardown(self) -> None: ...

        @classmethod
        def check_params(cls, values):
            return [("level", "too low")] if values["level"] < 0 else []

        def _private_helper(self) -> None: ...

    assert TAllowed.node_type == "TAllowedType" and TAllowed.inplace is True
    assert TAllowed.param_problems({"level": -1.0}) == [("params.level", "too low")]


def test_check_params_runs_after_each_param_is_valid() -> None:
    class TRange(Node, abstract=True):
        low: float = Param(0.0, min=0.0)
        high: float = Param(1.0, min=0.0)

        @classmethod
        def check_params(cls, values):
            return [("high", "must be above low")] if values["high"] <= values["low"] else []

    assert TRange.param_problems({"low": 2.0}) == [("params.high", "must be above low")]
    assert TRange.param_problems({"low": -1.0}) == [("params.low", "must be >= 0.0, got -1.0")]
    n = TRange()
    with pytest.raises(ManifestError, match="must be above low"):
        n.update(low=5.0)
    assert n.low == 0.0


NOTEBOOK_CELL = '''
from __future__ import annotations

from typing import ClassVar

from rmlab import Node, Param

Level = float  # a name of the cell itself


class TCell(Node, abstract=True):
    """Defined the way a notebook cell or exec'd code defines it."""

    gain: float = Param(1.0)
    taps: int = Param()
    mode: str = Param("a")
    on: bool = Param()
    level: Level = Param()
    helper: ClassVar[NotImportedAnywhere] = None  # not a Param: never evaluated

    def process(self, frame):
        return frame
'''


@pytest.mark.parametrize("scope", [{}, {"__name__": "__main__"}], ids=["bare", "main"])
def test_postponed_annotations_in_exec_code_give_param_types(scope: dict) -> None:
    exec(compile(NOTEBOOK_CELL, "cell", "exec"), scope)
    params = scope["TCell"].params
    types = {name: p.type for name, p in params.items()}
    assert types == {"gain": float, "taps": int, "mode": str, "on": bool, "level": float}
    n = scope["TCell"](taps=3, on=True, level=2)
    assert n.level == 2.0 and isinstance(n.level, float)


def test_unresolvable_param_annotation_is_reported() -> None:
    cell = NOTEBOOK_CELL.replace("level: Level = Param()", "level: Decibels = Param()")
    with pytest.raises(RmlabError) as err:
        exec(compile(cell, "cell", "exec"), {})
    text = str(err.value)
    assert "TCell" in text and "'Decibels'" in text and "'level'" in text
    assert "NameError" in text and "Param(..., type=float)" in text
    assert isinstance(err.value.__cause__, NameError)
    # An explicit type= means the annotation is not needed, so it is not evaluated.
    cell = NOTEBOOK_CELL.replace("level: Level = Param()", "level: Decibels = Param(type=float)")
    scope: dict = {}
    exec(compile(cell, "cell", "exec"), scope)
    assert scope["TCell"].params["level"].type is float


def test_param_name_resolves_aliases() -> None:
    assert TScale.param_name("numTaps") == "taps"
    assert TScale.param_name("taps") == "taps"
    assert TScale.param_name("nonsense") == "nonsense"  # the caller reports unknown keys


def test_plain_is_public() -> None:
    from rmlab.nodes import plain

    assert plain(np.float32(1.5)) == 1.5 and type(plain(np.float32(1.5))) is float
    assert plain(np.int64(3)) == 3 and type(plain(np.int64(3))) is int
    assert plain("text") == "text"


def test_update_calls_reset_with_the_new_params() -> None:
    seen = []

    class TState(Node, abstract=True):
        size: int = Param(4, min=1)

        def reset(self) -> None:
            seen.append(self.size)

    n = TState()
    assert seen == []  # Node itself never calls reset: setup/__init__ do, if the node wants
    n.update(size=8)
    assert seen == [8]
    with pytest.raises(ManifestError):
        n.update(size=0)
    assert seen == [8]
    assert Node.reset(n) is None  # the default carries nothing


def test_readme_stateful_node_example() -> None:
    import re
    from pathlib import Path

    from rmlab import Json
    from rmlab.testing import run_node

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = re.search(r"## Writing a node\n(.*?)\n## ", readme, re.S)
    assert section
    blocks = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    assert len(blocks) == 3, "the section shows Gate, the stateful node, then out="
    scope: dict = {}
    code = blocks[1].replace("class Average", "class ReadmeAverage")
    exec(compile(code, "README", "exec"), scope)
    avg = scope["ReadmeAverage"](window=2)
    levels = (1.0, 3.0, 5.0)
    frames = [Audio(np.full(4, v, np.float32), 48000, timestamp_us=i) for i, v in enumerate(levels)]
    means = [Json(m, timestamp_us=i) for i, m in enumerate((1.0, 2.0, 4.0))]
    assert run_node(avg, frames, end=False) == means
    avg.update(window=1)  # the window is rebuilt for the new size
    assert run_node(avg, frames[:1], end=False) == [Json(1.0, timestamp_us=0)]
    assert avg._recent.maxlen == 1
    # the out= example computes into the frame it is given
    scope = {}
    exec(compile(blocks[2].replace("class Attenuate", "class ReadmeAttenuate"), "README", "exec"),
         scope)  # fmt: skip
    att = scope["ReadmeAttenuate"](factor=0.25)
    (out,) = run_node(att, [Audio(np.ones(4, np.float32), 48000)], end=False)
    assert list(out.samples) == [0.25] * 4 and out.samples.flags.writeable


def test_function_node_with_postponed_annotations() -> None:
    cell = (
        "from __future__ import annotations\n"
        "import numpy as np\n"
        "from rmlab import node\n"
        "@node('TPostponed')\n"
        "def scale(x: np.ndarray, *, gain: float = 1, taps: int = 2) -> np.ndarray:\n"
        "    return x * gain\n"
    )
    scope: dict = {}
    exec(compile(cell, "cell", "exec"), scope)
    params = scope["scale"].params
    assert (params["gain"].type, params["taps"].type) == (float, int)  # not int from the 1
    with pytest.raises(RmlabError, match=r"@node function scale: .*'Gain'.*NameError"):
        exec(compile(cell.replace("gain: float", "gain: Gain"), "cell", "exec"), {})
