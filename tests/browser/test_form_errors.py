"""A refused edit is explained where the person typed it, in real JupyterLab.

In a ``Lab``: a number typed into a parameter's box that is out of range, or not a
number at all, is answered right under that field (with the range, and that it was
refused) and the box shows the manifest's value again; a bad manifest pasted into
the Load JSON box is answered under that box. While the pipeline runs, the status
line by Start and Stop names the error a node raises, and lets go of it once a fix
runs cleanly, or on Stop.

Screenshots go to ``$RMLAB_TEST_ARTIFACTS`` (default: pytest's tmp_path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Lab, Notebook

pytestmark = pytest.mark.browser

APP = """\
import rmlab
from rmlab.lab import Lab

@rmlab.node
def flaky(x, *, fail: bool = False):
    \"\"\"Passes frames on; raises on every frame while ``fail`` is on.\"\"\"
    if fail:
        raise ValueError("flaky: fail is on")
    return x

m = rmlab.Manifest(name="errors").add("gain", "Gain", gain_db=-6.0).add("flaky", "flaky")
m.add("out", "PassThrough").connect("gain", "flaky").connect("flaky", "out")
lab = Lab(m, source="tone", executor="local", rate=5)  # (rate: a light page)
lab
"""


@pytest.fixture
def nb(lab: Lab) -> Notebook:
    """The app, opened in JupyterLab and run."""
    notebook = lab.open([APP])
    notebook.run_all()
    return notebook


def shot(page: Any, path: Path) -> None:
    """A screenshot with the Lab's top at the top of the notebook, as a person sees it."""
    page.evaluate("() => document.querySelector('.rm-lab').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path))


def below(page: Any, message: str, control: str) -> None:
    """``message`` is drawn right under ``control`` (within a line), not far away."""
    m, c = page.locator(message).bounding_box(), page.locator(control).bounding_box()
    assert 0 <= m["y"] - (c["y"] + c["height"]) < 30, (m, c)
    assert m["x"] < c["x"] + c["width"] and c["x"] < m["x"] + m["width"], (m, c)


def type_into(page: Any, css: str, text: str) -> None:
    box = page.locator(css)
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_a_typed_mistake_is_answered_under_its_field(nb: Notebook, artifacts: Path) -> None:
    page = nb.page
    page.locator(".rm-node[data-node-id=gain] .rm-node-title").click()
    entry = ".rm-field-gain_db .rm-param-entry input"
    message = page.locator(".rm-field-gain_db .rm-field-message")
    assert page.locator(entry).input_value() == "-6" and not message.is_visible()

    type_into(page, entry, "30")
    message.wait_for()
    assert message.inner_text() == (
        "30 is out of range: gain_db goes from -60 to 24. Refused: gain_db stays -6"
    )
    below(page, ".rm-field-gain_db .rm-field-message", ".rm-field-gain_db .rm-param-entry")
    assert page.locator(entry).input_value() == "-6"
    assert nb.evaluate("lab.manifest.node('gain').params") == {"gain_db": -6.0}
    shot(page, artifacts / "form-out-of-range.png")

    type_into(page, entry, "abc")
    page.locator(".rm-field-gain_db .rm-field-message:has-text('not a number')").wait_for()
    assert message.inner_text() == "'abc' is not a number: gain_db stays -6"
    assert page.locator(entry).input_value() == "-6"

    type_into(page, entry, "-12")  # a good value: applied, and the message goes
    message.wait_for(state="hidden")
    nb.wait_for("lab.manifest.node('gain').params", {"gain_db": -12.0})

    # a bad manifest pasted into the Load JSON box is answered under the box
    page.locator(".rm-lab-io").click()
    page.locator(".rm-io").get_by_text("Load JSON").click()
    page.locator(".rm-import-json textarea").fill('{"version": "v1", "nodes": [')
    page.locator(".rm-import-load").click()
    status = page.locator(".rm-import-status .rm-file-refused")
    status.wait_for()
    assert status.inner_text().startswith("Not loaded: not valid JSON: Expecting value")
    below(page, ".rm-import-status", ".rm-import-load")
    assert [n["id"] for n in nb.evaluate("lab.manifest.to_dict()")["nodes"]] == [
        "gain", "flaky", "out",
    ]  # fmt: skip
    shot(page, artifacts / "form-bad-json.png")
    assert not nb.console, nb.console


def test_the_status_line_lets_go_of_an_error_after_a_fix_and_on_stop(
    nb: Notebook, artifacts: Path
) -> None:
    page = nb.page
    page.locator(".rm-start:not([disabled])").click()
    page.locator('.rm-status [data-state="running"]').wait_for()
    nb.execute("lab.builder.select('flaky')")  # (in a narrow canvas it may be panned away)
    fail = page.locator(".rm-param-fail input")
    error = page.locator(".rm-status .rm-status-error")

    fail.check()  # the node raises on every frame, live
    error.wait_for()
    assert "node 'flaky' failed" in error.inner_text() and "flaky: fail is on" in error.inner_text()
    shot(page, artifacts / "status-error.png")
    fail.uncheck()  # the fix: it runs cleanly again, and the error becomes history
    error.wait_for(state="hidden")
    page.locator('.rm-errors .rm-error[data-resolved="true"][data-node="flaky"]').wait_for()

    fail.check()
    error.wait_for()
    page.locator(".rm-stop:not([disabled])").click()
    page.locator('.rm-status [data-state="stopped"]').wait_for()
    assert not error.is_visible()
    assert page.locator('.rm-errors .rm-error[data-node="flaky"]').count() == 1  # kept to read
    shot(page, artifacts / "status-after-stop.png")
