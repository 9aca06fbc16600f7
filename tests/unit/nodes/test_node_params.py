"""The built-in library as a whole: documented, typed, strict about params, borrowing input."""

from __future__ import annotations

import copy
import importlib.util

import jsonschema
import numpy as np
import pytest

from rmlab import Audio, Manifest, ManifestError
from rmlab.data import RuntimeData
from rmlab.nodes import ALL_VARIANTS, available
from rmlab.nodes.base import outputs
from rmlab.testing import run_node
from tests.unit.nodes.signals import frames_of

pytestmark = pytest.mark.unit

BUILTIN = {k: c for k, c in available().items() if c.__module__.startswith("rmlab.nodes.")}
LIBRARY = [
    "AudioChunkerNode", "AudioLevelNode", "CalculatorNode", "Chunker", "Delay", "Echo",
    "EchoNode", "EnergyVAD", "FastResampleNode", "Filter", "Gain", "LevelMeter", "Mix",
    "PassThrough", "Pitch", "Resample", "SilenceDetector", "SilenceDetectorNode",
    "SileroVADNode", "Spectrogram", "Spectrum",
]  # fmt: skip


def test_the_library_is_registered() -> None:
    assert sorted(BUILTIN) == LIBRARY


@pytest.mark.parametrize("name", LIBRARY)
def test_every_node_is_documented_and_declares_its_types(name: str) -> None:
    cls = BUILTIN[name]
    doc = cls.doc()
    assert (len(doc) > 60 and "\n" in doc) or name == "PassThrough", "say what and why"
    for pname, p in cls.params.items():
        assert p.doc, f"{name}.{pname} has no doc"
        assert p.type is not None, f"{name}.{pname} has no type"
        assert p.check(p.default) is None, f"{name}.{pname} default is invalid"
    if name not in ("PassThrough", "EchoNode"):  # those two pass any frame through
        assert cls.accepts != ALL_VARIANTS and cls.produces is not None
        assert all(issubclass(t, RuntimeData) for t in cls.produces)
    node = cls()  # defaults are valid together (SileroVADNode loads nothing here)
    schema = cls.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(dict(node._params), schema)


def _load(node_type: str, params: dict) -> list[tuple[str, str]]:
    doc = {"version": "v1", "nodes": [{"id": "n", "node_type": node_type, "params": params}]}
    with pytest.raises(ManifestError) as err:
        Manifest.load(doc)
    with pytest.raises(ManifestError) as added:
        Manifest().add("n", node_type, **params)
    assert added.value.problems == err.value.problems  # the builder says the same
    return err.value.problems


@pytest.mark.parametrize(
    ("node_type", "params", "path", "text"),
    [
        ("Gain", {"gain_db": "loud"}, "gain_db", "expected a number, got str"),
        ("Gain", {"gain_db": 30}, "gain_db", "must be <= 24.0"),
        ("Gain", {"gian_db": 3}, "gian_db", "did you mean 'gain_db'?"),
        ("Resample", {"target_rate": 16000.5}, "target_rate", "expected an integer"),
        ("Resample", {"quality": "best"}, "quality", "must be one of 'QQ', 'LQ'"),
        ("Chunker", {"size": 0}, "size", "must be >= 1"),
        ("Chunker", {"remainder": "zero"}, "remainder", "'partial', 'pad', 'drop'"),
        ("Filter", {"kind": "lowshelf"}, "kind", "must be one of 'lowpass'"),
        ("Filter", {"kind": "bandpass", "cutoff_hz": 5000}, "cutoff2_hz", "cutoff2_hz > cutoff_hz"),
        ("Echo", {"feedback": 1.0}, "feedback", "must be <= 0.99"),
        ("Mix", {"mode": "max"}, "mode", "'sum', 'mean'"),
        ("Spectrogram", {"n_fft": 256, "hop": 512}, "hop", "must be <= n_fft (256)"),
        ("Pitch", {"fmin_hz": 300.0, "fmax_hz": 200.0}, "fmax_hz", "above fmin_hz"),
        ("EnergyVAD", {"passthrough": "yes"}, "passthrough", "expected a boolean"),
        ("AudioChunkerNode", {"chunkSize": 0}, "chunkSize", "must be >= 1"),
        ("AudioChunkerNode", {"chunk_size": 512, "chunkSize": 960}, "chunkSize", "same parameter"),
        ("FastResampleNode", {"quality": "low"}, "quality", "'Low', 'Medium', 'High'"),
        ("FastResampleNode", {"sourceRate": "48k"}, "sourceRate", "expected an integer"),
        ("SileroVADNode", {"samplingRate": 44100}, "samplingRate", "must be one of 8000, 16000"),
        ("SileroVADNode", {"threshold": 1.5}, "threshold", "must be <= 1.0"),
        ("CalculatorNode", {"operation": "add"}, "operation", "it takes none"),
    ],
)
def test_bad_params_fail_validation_with_their_path(
    node_type: str, params: dict, path: str, text: str
) -> None:
    problems = _load(node_type, params)
    assert len(problems) == 1, problems
    assert problems[0][0] == f"nodes[0].params.{path}"
    assert text in problems[0][1]


@pytest.mark.parametrize("name", [n for n in LIBRARY if Audio in BUILTIN[n].accepts])
def test_nodes_only_borrow_their_input(name: str) -> None:
    """Input arrays may be read-only views the executor takes back after ``process``.

    Each frame is a read-only view that is overwritten with NaN as soon as
    ``process`` returns (its outputs are copied first, as an executor encodes them);
    a node that wrote into its input or kept a view of it would differ from a run
    on private copies.
    """
    if name == "SileroVADNode" and not all(
        importlib.util.find_spec(m) for m in ("onnxruntime", "silero_vad")
    ):
        pytest.skip("silero-vad / onnxruntime not installed")
    cls = BUILTIN[name]
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((6000, 1))).astype(np.float32)
    sizes = [700, 1000, 1300, 900, 2100]
    reference = run_node(
        cls(), [f.replace(samples=f.samples.copy()) for f in frames_of(x, 48000, sizes)]
    )
    node, got = cls(), []
    node.setup()
    for f in frames_of(x, 48000, sizes):
        lent = f.samples.copy()
        frame = f.replace(samples=lent[:])  # a view of `lent`, made read-only
        frame.samples.flags.writeable = False
        got += copy.deepcopy(outputs(node.process(frame)))
        lent[:] = np.nan
    got += outputs(node.flush())
    assert got == reference
