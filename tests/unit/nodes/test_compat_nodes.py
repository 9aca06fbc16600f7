"""RemoteMedia-compatible nodes: upstream names, params (camelCase too) and behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from rmlab import Audio, Json, Manifest, NodeError, Text
from rmlab.nodes import lookup
from rmlab.nodes.audio import Chunker, Resample
from rmlab.nodes.compat import (
    AudioChunkerNode,
    AudioLevelNode,
    CalculatorNode,
    EchoNode,
    FastResampleNode,
    SilenceDetectorNode,
)
from rmlab.testing import run_node
from tests.unit.nodes.signals import cat, frames_of, random_sizes, sine

pytestmark = pytest.mark.unit

SR = 48000

# The upstream example from the RemoteMedia notes, verbatim.
UPSTREAM = """{"version": "v1", "metadata": {"name": "vad"},
 "nodes": [
  {"id": "input_chunker", "node_type": "AudioChunkerNode", "params": {"chunkSize": 960}},
  {"id": "audio_resampler", "node_type": "FastResampleNode",
   "params": {"sourceRate": 48000, "targetRate": 16000, "quality": "Low", "channels": 1},
   "is_streaming": true}],
 "connections": [{"from": "input_chunker", "to": "audio_resampler"}]}"""


@pytest.mark.parametrize(
    ("op", "a", "b", "result"),
    [
        ("add", 10, 20, 30.0),
        ("subtract", 5, 7.5, -2.5),
        ("multiply", 5, 7, 35.0),
        ("divide", 100, 4, 25.0),
    ],
)
def test_calculator(op: str, a: float, b: float, result: float) -> None:
    request = Json({"operation": op, "operands": [a, b]}, timestamp_us=3, session_id="s")
    (out,) = run_node(CalculatorNode(), [request])
    assert out == Json(
        {"result": result, "operation": op, "operands": [float(a), float(b)]},
        timestamp_us=3,
        session_id="s",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"operation": "divide", "operands": [1, 0]}, "ZeroDivisionError.*division by zero"),
        ({"operation": "power", "operands": [2, 3]}, "unknown operation 'power'; supported: add"),
        ({"operation": "add", "operands": [1]}, "two numbers"),
        ({"operation": "add", "operands": [1, "2"]}, "two numbers"),
        ({"operation": "add", "operands": [True, 2]}, "two numbers"),
        ([1, 2], "expects a Json object"),
    ],
)
def test_calculator_errors(value: object, message: str) -> None:
    with pytest.raises(NodeError, match=message):
        run_node(CalculatorNode(), [Json(value)])


def test_calculator_rejects_non_json_input() -> None:
    assert CalculatorNode.accepts == {Json}  # validation refuses a Text edge up front
    with pytest.raises(NodeError, match="does not accept Text"):
        run_node(CalculatorNode(), [Text('{"operation": "add", "operands": [1, 2]}')])
    with pytest.raises(TypeError, match="expects Json input, got Text"):
        CalculatorNode().process(Text("1 + 2"))  # also when an executor does not check


def test_echo_node_counts_texts_and_passes_audio() -> None:
    audio = Audio(np.ones(4), 16000)
    out = run_node(EchoNode(), [Text("hi", timestamp_us=5), audio, Text("again", channel="chat")])
    assert out[0] == Text("Echo #1: hi", timestamp_us=5)
    # passed on as it is: the same samples (a read-only view of them, as every input is)
    assert out[1] == audio and np.shares_memory(out[1].samples, audio.samples)
    assert out[2] == Text("Echo #2: again", channel="chat")
    assert run_node(EchoNode(), ["fresh"]) == [Text("Echo #1: fresh")]


def test_audio_chunker_node_sizes_and_alias() -> None:
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    frames = frames_of(x, 16000, random_sizes(len(x), 1, high=700))
    out = run_node(AudioChunkerNode(chunkSize=512), frames)
    assert [o.frames for o in out] == [512] * 9 + [5000 - 9 * 512]
    np.testing.assert_array_equal(cat(out)[:, 0], x)
    assert AudioChunkerNode().chunk_size == 512
    same = run_node(Chunker(size=512), frames)
    assert out == same  # one implementation


def test_fast_resample_node_is_resample_with_upstream_params() -> None:
    x = sine(440, 1.0, SR)
    node = FastResampleNode(sourceRate=48000, targetRate=16000, quality="Low")
    out = run_node(node, frames_of(x, SR))
    assert out == run_node(Resample(target_rate=16000, quality="LQ"), frames_of(x, SR))
    assert len(cat(out)) == 16000
    with pytest.raises(NodeError, match=r"expects 44100 Hz x1 audio .* got 48000 Hz x1"):
        run_node(FastResampleNode(source_rate=44100), frames_of(x, SR)[:1])
    with pytest.raises(NodeError, match="x1 audio"):
        run_node(FastResampleNode(), [Audio(np.zeros((10, 2)), SR)])


def test_audio_level_node_event() -> None:
    (loud,) = run_node(AudioLevelNode(), [Audio(sine(1000, 0.02, SR, amp=0.5), SR, timestamp_us=9)])
    assert loud.value == {
        "rms_db": pytest.approx(-9.031, abs=1e-3),
        "peak_db": pytest.approx(-6.021, abs=1e-3),
        "is_low_volume": False,
        "is_silence": False,
        "health": 1.0,
        "stream_id": None,
        "timestamp_us": 9,
        "_schema": "audio_level_event",
    }
    (low,) = run_node(AudioLevelNode(), [Audio(sine(1000, 0.02, SR, amp=0.01 * np.sqrt(2)), SR)])
    assert low.value["is_low_volume"] and low.value["health"] == pytest.approx(
        0.5, abs=1e-3
    )  # -40 dB
    (silent,) = run_node(AudioLevelNode(), [Audio(np.zeros(960), SR)])
    assert (
        silent.value["is_silence"]
        and not silent.value["is_low_volume"]
        and silent.value["health"] == 0.0
    )


def test_silence_detector_node_sustained_silence_and_dropouts() -> None:
    tone = frames_of(sine(1000, 0.1, SR, amp=0.1), SR, 4800)[0]  # 100 ms
    gap = Audio(np.zeros(4800), SR)
    stream = [tone, gap, tone, gap, tone, gap, *[gap] * 5]
    events = [e.value for e in run_node(SilenceDetectorNode(), stream)]
    assert [e["is_silent"] for e in events] == [False, True] * 3 + [True] * 5
    assert [e["dropout_count"] for e in events[:6]] == [0, 1, 1, 2, 2, 3]
    assert events[5]["has_intermittent_dropouts"] and not events[3]["has_intermittent_dropouts"]
    assert [e["silence_duration_ms"] for e in events[5:]] == pytest.approx(
        [100, 200, 300, 400, 500, 600]
    )
    assert [e["is_sustained_silence"] for e in events[5:]] == [False] * 4 + [True] * 2
    assert events[6]["health"] == pytest.approx(0.6)  # 200 ms of the 500 ms allowed
    assert events[0]["_schema"] == "silence_event" and events[0]["health"] == 1.0
    short_window = [e.value for e in run_node(SilenceDetectorNode(dropout_window_ms=250), stream)]
    assert short_window[5]["dropout_count"] == 2  # the first dropout is 400 ms old


def test_upstream_manifest_with_camelcase_params_loads_and_runs() -> None:
    m = Manifest.load(UPSTREAM)
    chunker, resampler = (lookup(n.node_type)(**n.params) for n in m.nodes)
    assert (chunker.chunk_size, resampler.source_rate, resampler.target_rate) == (960, 48000, 16000)
    frames = frames_of(sine(440, 0.5, SR), SR, random_sizes(SR // 2, 2, high=1500))
    chunks = run_node(chunker, frames)
    assert {c.frames for c in chunks[:-1]} == {960}
    out = run_node(resampler, chunks)
    assert sum(o.frames for o in out) == 8000 and {o.sample_rate for o in out} == {16000}


def test_silero_vad_node_accepts_upstream_camelcase_params() -> None:
    doc = {
        "version": "v1",
        "nodes": [
            {
                "id": "vad",
                "node_type": "SileroVADNode",
                "params": {
                    "threshold": 0.6,
                    "samplingRate": 8000,
                    "minSpeechDurationMs": 100,
                    "minSilenceDurationMs": 200,
                    "speechPadMs": 10,
                },
            }
        ],
        "connections": [],
    }
    node = lookup("SileroVADNode")(**Manifest.load(doc).nodes[0].params)
    assert (node.sampling_rate, node.min_speech_duration_ms, node.speech_pad_ms) == (8000, 100, 10)
