"""The Builder graph's live marks, from real sessions' ``stats()`` (no browser).

``LiveMarks`` turns a session's statistics and the Console's logged errors into what
the page draws; ``GraphCanvas.show_live`` sends it at a bounded rate and clears it
when the session goes. Sessions here are real local ones pushed with
``backpressure="block"``, so every frame is processed and nothing depends on timing.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np
import pytest

from rmlab import Audio, Manifest, Node, NodeError, Param, Stats, open_session
from rmlab.lab import Lab
from rmlab.lab._builder_canvas import GraphCanvas
from rmlab.lab._builder_live import LiveMarks
from rmlab.runtime.trace import LatencyStats
from tests.conformance import nodes as _conformance_nodes  # noqa: F401  # CSlow

pytestmark = pytest.mark.unit


class LiveTestFlag(Node):
    """Raises on every frame while the file ``flag`` exists."""

    flag: str = Param("")

    def process(self, frame: Any) -> Any:
        if self.flag and os.path.exists(self.flag):
            raise ValueError("the flag file is there")
        return frame


def frame() -> Audio:
    return Audio(np.zeros(480, np.float32), 48000)


def pipeline(flag: str = "") -> Manifest:
    return (
        Manifest(name="live")
        .add("gain", "Gain")
        .add("slow", "CSlow", ms=5.0)
        .add("check", "LiveTestFlag", flag=flag)
        .connect("gain", "slow")
        .connect("slow", "check")
    )


def push(session: Any, n: int) -> list[NodeError]:
    """Push ``n`` frames one at a time, as a live source does (no queueing), pulling each
    result; return the node errors that came back."""
    errors = []
    for _ in range(n):
        session.push(frame())
        try:
            session.pull(timeout=10)
        except NodeError as exc:
            errors.append(exc)
    return errors


def params(session: Any) -> dict[str, Any]:
    return {n.id: dict(n.params) for n in session.manifest.nodes}


def test_the_slow_node_is_marked_with_its_latency_share_and_rate() -> None:
    marks = LiveMarks()
    with open_session(pipeline(), "local", backpressure="block") as s:
        push(s, 20)
        live = marks.update(s.stats(), [], params(s))
    nodes = live["nodes"]
    assert set(nodes) == {"gain", "slow", "check"}
    assert [n for n, f in nodes.items() if f["slowest"]] == ["slow"]
    assert nodes["slow"]["ms"] >= 5.0 > nodes["gain"]["ms"]
    assert nodes["slow"]["share"] > 0.5 > nodes["gain"]["share"]
    assert all(0.0 <= f["share"] <= 1.0 for f in nodes.values())
    assert live["e2e_ms"] >= nodes["slow"]["ms"]
    assert all(f["fps"] > 0 and f["error"] is None for f in nodes.values())
    assert live["drops"] == {}


def test_a_failing_node_is_marked_until_it_succeeds_again_or_its_params_change() -> None:
    flag = os.path.join(tempfile.mkdtemp(), "flag")
    marks = LiveMarks()
    with open_session(pipeline(flag), "local", backpressure="block") as s:
        push(s, 3)
        assert marks.update(s.stats(), [], params(s))["nodes"]["check"]["error"] is None
        open(flag, "w").close()
        errors = push(s, 3)
        live = marks.update(s.stats(), errors, params(s))
        assert live["nodes"]["check"]["error"] == "ValueError in process(): the flag file is there"
        assert live["nodes"]["gain"]["error"] is None
        # still failing, nothing new logged: the mark stays
        assert marks.update(s.stats(), errors, params(s))["nodes"]["check"]["error"]
        os.remove(flag)
        push(s, 2)  # it succeeds again
        assert marks.update(s.stats(), errors, params(s))["nodes"]["check"]["error"] is None

        open(flag, "w").close()
        errors = push(s, 2)
        assert marks.update(s.stats(), errors, params(s))["nodes"]["check"]["error"]
        s.set_params("check", flag=flag + ".fixed")  # the person tried a fix
        fixed = params(s)
        assert marks.update(s.stats(), errors, fixed)["nodes"]["check"]["error"] is None
        os.remove(flag)


def stats(**fields: Any) -> Stats:
    """A Stats as a session reports it (for what local sessions never do: restarts)."""
    nodes = {nid: LatencyStats.of([1_000_000] * 4, 4) for nid in ("a", "b")}
    e2e = LatencyStats.of([3_000_000] * 4)
    base = {"executor": "shm", "elapsed_s": 1.0, "pushed": 4, "outputs": 4, "nodes": nodes}
    return Stats(**{**base, "end_to_end": e2e, **fields})


def test_restarts_drops_and_a_node_with_no_timing_yet() -> None:
    s = stats(
        restarts={"a": 0, "b": 2},
        drops={"session->a": 3, "a->b": 5, "b->session": 0},
        nodes={"a": LatencyStats.of([2_000_000], 1), "b": LatencyStats.of([], 0)},
        errors={"b": 1},
    )
    live = LiveMarks().update(s, [])
    assert live["nodes"]["b"]["restarts"] == 2 and live["nodes"]["a"]["restarts"] == 0
    assert live["drops"] == {"session->a": 3, "a->b": 5}  # only edges that dropped
    assert live["nodes"]["b"]["ms"] is None and live["nodes"]["b"]["share"] == 0.0
    assert live["nodes"]["b"]["error"] == "raised an error (see the error panel)"
    assert live["nodes"]["a"]["slowest"] is False  # one timed node is not "the slowest"


def test_drops_of_a_real_session_reach_the_marks() -> None:
    m = Manifest(name="drops").add("slow", "CSlow", ms=20.0)
    with open_session(m, "local", queue_size=1) as s:  # drop-oldest: a full queue drops
        for _ in range(30):
            s.push(frame())
        s.end()
        list(s)
        live = LiveMarks().update(s.stats(), [])
    assert live["drops"].get("session->slow", 0) > 0


def test_show_live_is_bounded_in_rate_and_cleared_when_the_session_goes() -> None:
    canvas = GraphCanvas()
    canvas.live_every_s = 3600.0  # only a new session, or the end, may send now
    sent: list[dict[str, Any]] = []
    canvas.observe(lambda change: sent.append(change["new"]), "live")
    with open_session(pipeline(), "local", backpressure="block") as s:
        push(s, 2)
        canvas.show_live(s)
        for _ in range(5):
            canvas.show_live(s)  # the dispatcher ticks 20 times a second
        assert len(sent) == 1 and sent[0]["nodes"]["slow"]["fps"] > 0
        with open_session(pipeline(), "local", backpressure="block") as swapped:
            push(swapped, 1)
            canvas.show_live(swapped)  # a hot swap: a new session is shown at once
            assert len(sent) == 2
    canvas.show_live(None)
    canvas.show_live(None)
    assert sent[-1] == {} and len(sent) == 3
    canvas.close()


def test_a_labs_console_feeds_its_builders_graph_on_its_tick() -> None:
    lab = Lab(pipeline(), source="tone", executor="local", plots=False)
    try:
        lab.start()
        deadline = time.monotonic() + 10
        while not lab.builder.canvas.live.get("nodes", {}).get("slow", {}).get("slowest"):
            assert time.monotonic() < deadline, lab.builder.canvas.live
            time.sleep(0.05)
        lab.stop()
        assert lab.builder.canvas.live == {}
    finally:
        lab.close()
