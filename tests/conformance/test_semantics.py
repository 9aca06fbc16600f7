"""Every rule of DESIGN section 6, checked against each executor (see conftest.EXECUTORS)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rmlab import (
    Audio,
    Binary,
    Control,
    File,
    Json,
    Manifest,
    ManifestError,
    NodeError,
    Numpy,
    SessionClosed,
    SessionError,
    Text,
    Timeout,
    Video,
    execute,
    execute_pipeline,
    execute_pipeline_with_input,
    open_session,
)

from . import nodes  # noqa: F401  # registers the C* test nodes

pytestmark = pytest.mark.unit


def values(outs) -> list:
    return [o.data.value for o in outs]


def run(executor: str, m: Manifest, inputs: list, **kw) -> list:
    with open_session(m, executor, backpressure="block", **kw) as s:
        for x in inputs:
            s.push(x)
        s.end()
        return list(s)


def test_inputs_go_to_every_source_and_sinks_come_back(executor: str) -> None:
    m = (
        Manifest(name="two sources")
        .add("a", "CTag", tag="a")
        .add("b", "CTag", tag="b")
        .add("mid", "CTag", tag="m")
        .add("out", "PassThrough")
        .connect("a", "mid")
        .connect("mid", "out")
    )
    outs = run(executor, m, [{"k": 1}])
    # sources a and b both got the input; sinks are b and out (mid is not a sink)
    got = sorted((o.node_id, tuple(o.data.value["via"])) for o in outs)
    assert got == [("b", ("b",)), ("out", ("a", "m"))]


def test_push_to_a_named_node(executor: str) -> None:
    m = Manifest().add("a", "CTag", tag="a").add("b", "CTag", tag="b")
    with open_session(m, executor, backpressure="block") as s:
        s.push(1, to="b")
        out = s.pull(timeout=5)
        assert (out.node_id, out.data.value) == ("b", {"via": ["b"], "v": 1})
        with pytest.raises(SessionError, match=r"push\(to='zz'\): no such node; .*\(a, b\)"):
            s.push(1, to="zz")
    m = Manifest().add("a", "CTag", tag="a").add("b", "CTag", tag="b").connect("a", "b")
    with open_session(m, executor) as s, pytest.raises(SessionError, match="not a source node"):
        s.push(1, to="b")


def test_fan_out_delivers_to_every_successor(executor: str) -> None:
    m = Manifest().add("src", "PassThrough")
    for t in ("x", "y", "z"):
        m.add(t, "CTag", tag=t).connect("src", t)
    outs = run(executor, m, [1, 2])
    assert sorted((o.node_id, o.data.value["v"]) for o in outs) == [
        (t, v) for t in "xyz" for v in (1, 2)
    ]


def test_fan_in_merges_in_arrival_order(executor: str) -> None:
    m = (
        Manifest()
        .add("a", "CTag", tag="a")
        .add("b", "CTag", tag="b")
        .add("join", "PassThrough")
        .connect("a", "join")
        .connect("b", "join")
    )
    with open_session(m, executor, backpressure="block") as s:
        order = []
        for i, src in enumerate(["a", "b", "b", "a"]):
            s.push(i, to=src)
            order.append(s.pull(timeout=5).data.value)
    assert order == [
        {"via": ["a"], "v": 0},
        {"via": ["b"], "v": 1},
        {"via": ["b"], "v": 2},
        {"via": ["a"], "v": 3},
    ]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_zero_to_n_outputs_per_input(executor: str, n: int) -> None:
    m = Manifest().add("r", "CRepeat", n=n).add("out", "PassThrough").connect("r", "out")
    assert values(run(executor, m, [1, 2])) == [1] * n + [2] * n


def test_order_is_kept_per_edge(executor: str) -> None:
    m = (
        Manifest()
        .add("src", "PassThrough")
        .add("l", "CTag", tag="l")
        .add("r", "CRepeat", n=2)
        .add("join", "PassThrough")
        .connect("src", "l")
        .connect("src", "r")
        .connect("l", "join")
        .connect("r", "join")
    )
    outs = run(executor, m, list(range(300)))
    via_l = [o.data.value["v"] for o in outs if isinstance(o.data.value, dict)]
    via_r = [o.data.value for o in outs if not isinstance(o.data.value, dict)]
    assert via_l == list(range(300))
    assert via_r == [v for v in range(300) for _ in (0, 1)]


def test_taps_return_inner_nodes_too(executor: str) -> None:
    m = Manifest().add("a", "CTag", tag="a").add("b", "CTag", tag="b").connect("a", "b")
    with open_session(m, executor, backpressure="block") as s:
        assert s.tap("a") is s
        s.push(5)
        s.end()
        got = sorted((o.node_id, tuple(o.data.value["via"])) for o in s)
    assert got == [("a", ("a",)), ("b", ("a", "b"))]
    with open_session(m, executor) as s, pytest.raises(SessionError, match="tap"):
        s.tap("nope")


def test_end_flushes_then_iteration_stops(executor: str) -> None:
    m = Manifest().add("hold", "CHold").add("tag", "CTag", tag="t").connect("hold", "tag")
    with open_session(m, executor, backpressure="block") as s:
        for i in range(3):
            s.push(i)
        with pytest.raises(Timeout, match="call end"):
            s.pull(timeout=0.2)
        s.end()
        assert [o.data.value["v"] for o in s] == [0, 1, 2]
        with pytest.raises(SessionClosed, match="every output was pulled"):
            s.pull(timeout=1)
        with pytest.raises(SessionClosed):
            s.push(1)
        s.end()  # a second end() is harmless


def test_node_error_surfaces_and_the_session_goes_on(executor: str) -> None:
    m = Manifest().add("f", "CFail", bad=13).add("out", "PassThrough").connect("f", "out")
    with open_session(m, executor, backpressure="block") as s:
        for v in (1, 13, 2):
            s.push(v)
        assert s.pull(timeout=5).data.value == 1
        with pytest.raises(NodeError) as err:
            s.pull(timeout=5)
        assert err.value.node_id == "f"
        assert "ValueError" in str(err.value) and "refusing 13" in str(err.value)
        assert "in process" in err.value.traceback and "raise ValueError" in err.value.traceback
        assert s.pull(timeout=5).data.value == 2
        assert s.stats().errors == {"f": 1}


def test_execute_raises_the_node_error(executor: str) -> None:
    m = Manifest().add("f", "CFail")
    with pytest.raises(NodeError, match="node 'f' failed"):
        execute(m, [13], executor=executor)


def test_setup_error_fails_open_session(executor: str) -> None:
    m = Manifest().add("bad", "CBadSetup")
    with pytest.raises(NodeError, match="no such device: imaginary-mic") as err:
        open_session(m, executor)
    assert err.value.node_id == "bad"


def test_drop_oldest_counts_every_drop(executor: str) -> None:
    m = Manifest().add("slow", "CSlow", ms=2.0)
    with open_session(m, executor, backpressure="drop-oldest", queue_size=4) as s:
        for i in range(200):
            s.push(i)  # never blocks, however slow the pipeline
        s.end()
        got = values(s)
        drops = s.stats().drops
    assert sum(drops.values()) > 0
    assert len(got) + sum(drops.values()) == 200
    assert got == sorted(got)  # what survives keeps its order


def test_block_is_lossless(executor: str) -> None:
    m = Manifest().add("slow", "CSlow", ms=0.2)
    outs = run(executor, m, list(range(100)), queue_size=2)
    assert values(outs) == list(range(100))


def test_empty_manifest_is_a_loopback(any_executor: str) -> None:
    m = Manifest.load({"version": "v1", "metadata": {"name": "loop"}, "nodes": []})
    outs = run(any_executor, m, [np.arange(3), "hi"])
    assert [o.node_id for o in outs] == ["", ""]
    np.testing.assert_array_equal(outs[0].data.array, [0, 1, 2])
    assert outs[1].data.text == "hi"


def passthrough(executor: str) -> Manifest:
    """One PassThrough node, or (on the loopback) no node: the same observable result."""
    return Manifest() if executor == "loopback" else Manifest().add("p", "PassThrough")


def test_every_variant_passes_through_unchanged(any_executor: str) -> None:
    frames = [
        Audio(np.linspace(-1, 1, 960, dtype=np.float32), 48000, metadata={"mic": 1}),
        Numpy(np.arange(12, dtype=np.int16).reshape(3, 4).T),
        Text("héllo", channel="chat"),
        Json({"a": [1, 2.5, None]}),
        Binary(b"\x00\xff"),
        Control({"type": "flush"}),
        File("/tmp/x.wav", filename="x.wav", size=10),
        Video(np.zeros((2, 3, 3), np.uint8), width=3, height=2, frame_number=7),
    ]
    frames = [f.replace(timestamp_us=1000 + i, session_id="s") for i, f in enumerate(frames)]
    outs = run(any_executor, passthrough(any_executor), frames)
    assert [o.data for o in outs] == frames


def test_push_stamps_time_and_session(any_executor: str) -> None:
    with open_session(passthrough(any_executor), any_executor, session_id="abc") as s:
        s.push(Json(1))
        out = s.pull(timeout=5)
    assert out.data.session_id == "abc" and out.data.timestamp_us > 1_700_000_000_000_000
    assert [h.node_id for h in out.trace.hops] == ([] if any_executor == "loopback" else ["p"])
    assert out.trace.latency_ns > 0


def test_stats(executor: str) -> None:
    m = Manifest(name="st").add("a", "PassThrough").add("b", "PassThrough").connect("a", "b")
    with open_session(m, executor) as s:
        for i in range(10):
            s.push(i)
        s.end()
        list(s)
        st = s.stats()
    assert st.executor == executor and st.pushed == 10 and st.outputs == 10
    assert set(st.nodes) == {"a", "b"} and st.nodes["a"].count == 10
    assert st.end_to_end.count == 10 and st.end_to_end.median_ms > 0
    assert "<table>" in st._repr_html_() and "end to end" in str(st)
    assert st.to_dict()["nodes"]["b"]["count"] == 10


def test_close_is_final_and_idempotent(any_executor: str) -> None:
    s = open_session(passthrough(any_executor), any_executor)
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(SessionClosed):
        s.push(1)
    with pytest.raises(SessionClosed):
        s.pull(timeout=0.1)


def test_async_twins(executor: str) -> None:
    m = Manifest().add("a", "CTag", tag="a")

    async def main() -> list:
        with open_session(m, executor, backpressure="block") as s:
            waiter = asyncio.ensure_future(s.apull())
            await asyncio.sleep(0.01)
            waiter.cancel()  # a cancelled apull must not swallow a later output
            with pytest.raises(asyncio.CancelledError):
                await waiter
            with pytest.raises(Timeout):
                await s.apull(timeout=0.05)
            for i in range(5):
                await s.apush(i)
            s.end()
            return [o async for o in s]

    outs = asyncio.run(main())
    assert [o.data.value["v"] for o in outs] == [0, 1, 2, 3, 4]


def test_remotemedia_coroutines(executor: str) -> None:
    m = Manifest().add("h", "CHold").dumps()
    audio = {
        "type": "audio",
        "samples": np.ones(4, np.float32),
        "sample_rate": 16000,
        "channels": 1,
    }
    got = asyncio.run(execute_pipeline_with_input(m, [audio, "txt", {"k": 1}, b"b"]))
    assert got[0]["type"] == "audio" and got[0]["sample_rate"] == 16000
    np.testing.assert_array_equal(got[0]["samples"], np.ones(4, np.float32))
    assert got[1:] == ["txt", {"k": 1}, b"b"]
    assert asyncio.run(execute_pipeline(m)) == []


def test_set_params_takes_effect_between_frames(executor: str) -> None:
    m = Manifest().add("t", "CTag", tag="before")
    with open_session(m, executor, backpressure="block") as s:
        s.push(1)
        assert s.pull(timeout=5).data.value == {"via": ["before"], "v": 1}
        s.set_params("t", tag="after")
        s.push(2)
        assert s.pull(timeout=5).data.value == {"via": ["after"], "v": 2}
        assert s.graph.manifest.node("t").params == {"tag": "after"}
        with pytest.raises(ManifestError, match=r"nodes\[0\].params.tagg: unknown parameter"):
            s.set_params("t", tagg="x")
        with pytest.raises(SessionError, match="no such node"):
            s.set_params("nope", tag="x")
