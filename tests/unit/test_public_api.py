"""The public surface is exactly what we mean it to be (httpx's test_exported_members)."""

from __future__ import annotations

import numpy as np
import pytest

import rmlab
import rmlab.errors
import rmlab.events
import rmlab.nodes
import rmlab.wire

pytestmark = pytest.mark.unit

EXPECTED = {
    "Audio", "Binary", "Connection", "Control", "DeviceError", "EndOfInput", "ExecutorError",
    "File", "Json", "Manifest", "ManifestError", "Node", "NodeCrashed", "NodeError", "NodeSpec",
    "Numpy", "Param", "RmlabError", "RuntimeData", "SessionClosed", "SessionError", "Text",
    "Timeout", "Video", "WireError", "__version__", "as_data", "node",
    "Output", "Session", "execute", "execute_pipeline", "execute_pipeline_with_input",
    "open_session", "warm_up",
    "Hop", "LatencyStats", "Stats", "Trace",
}  # fmt: skip


def test_all_is_the_expected_surface() -> None:
    assert set(rmlab.__all__) == EXPECTED, "public surface changed: update EXPECTED on purpose"
    assert len(rmlab.__all__) == len(set(rmlab.__all__))


def test_what_public_calls_return_is_exported() -> None:
    # Session.stats() and Output.trace hand these out, so users may name them in hints
    with rmlab.open_session(rmlab.Manifest().add("gain", "Gain", gain_db=0)) as s:
        s.push(rmlab.Audio(np.zeros(4, np.float32), 16000))
        out = s.pull(timeout=5)
        stats = s.stats()
    assert type(out.trace) is rmlab.Trace
    assert [type(h) for h in out.trace.hops] == [rmlab.Hop]
    assert type(stats) is rmlab.Stats
    assert type(stats.nodes["gain"]) is type(stats.end_to_end) is rmlab.LatencyStats


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in rmlab.__all__:
        obj = getattr(rmlab, name)
        if name != "__version__":
            assert (obj.__doc__ or "").strip(), f"rmlab.{name} has no docstring"


def test_public_submodules() -> None:
    assert set(rmlab.wire.__all__) == {
        "Prepared",
        "decode",
        "encode",
        "encode_into",
        "encoded_size",
        "prepare",
    }
    assert set(rmlab.nodes.__all__) >= {"Node", "Param", "node", "available", "lookup", "register"}
    assert set(rmlab.events.__all__) == {
        "Dropped", "Ended", "Event", "HopDone", "NodeFailed", "NodeRestarted", "Output",
        "Watch", "Watcher",
    }  # fmt: skip


def test_the_lab_uses_only_the_public_api() -> None:
    import ast
    import pathlib

    public = {"rmlab", "rmlab.events", "rmlab.nodes", "rmlab.audio", "rmlab.wire"}
    shared = {"rmlab._graph", "rmlab._widget"}  # private infrastructure the lab is built on
    lab = pathlib.Path(rmlab.__file__).parent / "lab"
    bad = []
    for path in sorted(lab.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mod = node.module
                inside = mod.startswith(("rmlab.lab", "rmlab.audio")) or mod in public | shared
                if mod.startswith("rmlab") and not inside:
                    bad.append(f"{path.name}:{node.lineno}: from {mod} import ...")
    assert not bad, "the lab must use rmlab's public API:\n" + "\n".join(bad)


def test_audio_surface() -> None:
    import rmlab.audio

    for name in rmlab.audio.__all__:
        assert getattr(rmlab.audio, name).__doc__, f"rmlab.audio.{name} has no docstring"
    assert {"BrowserMic", "BrowserSpeaker", "Microphone", "Speaker", "ToneSource"} <= set(
        rmlab.audio.__all__
    )


def test_lab_surface() -> None:
    import rmlab.lab

    assert set(rmlab.lab.__all__) == {
        "Builder", "Console", "Dispatcher", "Lab", "LatencyPlot", "ScopePlot", "SpectrumPlot",
    }  # fmt: skip
    for name in rmlab.lab.__all__:
        assert getattr(rmlab.lab, name).__doc__, f"rmlab.lab.{name} has no docstring"


def test_error_tree() -> None:
    E = rmlab
    assert all(issubclass(getattr(E, n), E.RmlabError) for n in rmlab.errors.__all__)
    assert issubclass(E.NodeCrashed, E.NodeError)
    assert issubclass(E.Timeout, E.SessionError) and issubclass(E.SessionClosed, E.SessionError)
    crashed = E.NodeCrashed("gain", signal=9, stderr_tail="Killed")
    assert (crashed.node_id, crashed.signal, crashed.traceback) == ("gain", 9, "Killed")
    assert "node 'gain' failed: worker process died (killed by signal 9)" in str(crashed)
    err = E.ManifestError([("nodes[0].id", "bad"), ("version", "worse")])
    assert str(err) == "invalid manifest (2 problems)\n  nodes[0].id: bad\n  version: worse"
