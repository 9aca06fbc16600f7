"""The Console's status line shows the error that is happening now, not old ones.

Real local sessions fed by a real-time tone (50 frames/s); Start and Stop are
pressed with ``button.click()``, which runs the same handlers a browser click runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from rmlab import Manifest, Node, Param
from rmlab.lab import Builder, Console

from .test_console import LabFlaky, wait_for  # noqa: F401  # LabFlaky: registered by name

pytestmark = pytest.mark.unit


class StatusTestNeeds(Node):
    """A node with a required param: added without it, the pipeline has a problem."""

    label: str = Param(doc="required")


@pytest.fixture
def console() -> Any:
    m = Manifest(name="status").add("gain", "Gain").add("flaky", "LabFlaky", every=1)
    c = Console(m.connect("gain", "flaky"), executor="local")
    yield c
    c.close()


def test_the_current_error_is_on_the_status_line_until_a_fix_runs_cleanly(console: Any) -> None:
    c = console
    c.start_button.click()
    wait_for(lambda: "rm-status-error" in c.status_line.value)
    assert c.status["error"].startswith("node 'flaky' failed: ValueError")
    assert "boom at frame" in c.status_line.value
    assert "data-resolved" not in c.error_panel.value and " open>" in c.error_panel.value
    c.set_params("flaky", every=0)  # the fix, applied live
    wait_for(lambda: "rm-status-error" not in c.status_line.value)
    assert c.status["error"] == "" and c.status["outputs"] >= 50
    panel = wait_for(lambda: "data-resolved" in c.error_panel.value and c.error_panel.value)
    assert "resolved: it has run cleanly since" in panel and " open>" not in panel
    assert len(c.errors) == 1  # still there to read
    c.stop_button.click()


def test_stop_clears_the_status_line_but_keeps_the_errors_to_read(console: Any) -> None:
    c = console
    c.start_button.click()
    wait_for(lambda: "rm-status-error" in c.status_line.value)
    c.stop_button.click()
    assert c.status["state"] == "stopped" and c.status["error"] == ""
    assert "rm-status-error" not in c.status_line.value
    assert 'data-node="flaky"' in c.error_panel.value  # kept, not marked resolved
    assert "data-resolved" not in c.error_panel.value


def test_a_problem_note_goes_when_the_edit_is_undone() -> None:
    b = Builder(Manifest(name="note").add("gain", "Gain"))
    c = Console(b, executor="local")
    try:
        c.start()
        b.add_node("StatusTestNeeds", "needs")  # its required label is missing
        assert "has problems" in c.status["note"] and "has problems" in c.status_line.value
        b.remove("needs")  # valid again, and the same pipeline as the one running
        assert c.status["note"] == "" and "rm-note" not in c.status_line.value
        c.stop()
    finally:
        c.close()


def test_an_error_while_stopped_stays_until_the_next_start(tmp_path: Any) -> None:
    c = Console(Manifest().add("gain", "Gain"), source=str(tmp_path / "missing.wav"))
    try:
        c.start_button.click()  # the file is not there: Start fails, shown by the buttons
        assert not c.running
        assert "missing.wav" in c.status["error"] and "rm-status-error" in c.status_line.value
    finally:
        c.close()
