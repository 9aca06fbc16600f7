"""Every request the Builder's page sends is answered (``canvas.answer``), so the page
shows a refusal where its gesture happened and knows which graphs it asked for."""

from __future__ import annotations

from typing import Any

import pytest

from rmlab.lab.builder import Builder

pytestmark = pytest.mark.unit


def ask(b: Builder, n: int, **content: Any) -> dict[str, Any]:
    b.canvas._handle_custom_msg({**content, "ask": n}, [])
    return b.canvas.answer


def test_applied_refused_and_malformed_requests_are_all_answered() -> None:
    b = Builder()
    assert ask(b, 1, type="add", node_type="Gain")["message"] == ""
    assert ask(b, 2, type="add", node_type="Filter")["message"] == ""
    answer = ask(b, 3, type="connect", **{"from": "gain", "to": "gain"})
    assert answer["ask"] == 3
    assert answer["message"] == "a node cannot take its own output: connect it to another node"
    assert "Cannot connect gain -> gain" in b.error  # the error line says it too
    ask(b, 4, type="connect", **{"from": "gain", "to": "filter"})
    answer = ask(b, 5, type="connect", **{"from": "filter", "to": "gain"})
    assert answer["ask"] == 5 and "would make a cycle" in answer["message"]
    again = ask(b, 5, type="connect", **{"from": "filter", "to": "gain"})
    assert again["n"] > answer["n"]  # the same refusal twice is still news to the page
    assert "unknown message type" in ask(b, 6, type="teleport")["message"]
    assert ask(b, 7, type="undo")["message"] == "" and len(b.manifest.connections) == 0


def test_a_bug_behind_a_request_is_answered_and_still_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Builder()
    ask(b, 1, type="add", node_type="Gain")

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(b, "move", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        b._on_message(b.canvas, {"type": "move", "id": "gain", "x": 1, "y": 2, "ask": 2}, [])
    assert b.canvas.answer["ask"] == 2 and b.canvas.answer["message"] == "RuntimeError: a bug"
