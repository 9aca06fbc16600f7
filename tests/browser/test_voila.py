"""``Lab`` as a Voila app: rendered without JupyterLab, and it runs.

Voila runs every cell of the notebook and shows only the outputs, through the Lab
server's Voila extension (``/voila/render/<path>``). The builder's canvas, the console
and the Bokeh plots must all render there, and Start must run the pipeline on the
shared-memory executor with the plots updating.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.browser._voila import voila_page
from tests.browser.conftest import Lab
from tests.browser.test_layout import every_screen_in_view

pytestmark = pytest.mark.browser

APP = """\
import rmlab
from rmlab.lab import Lab

manifest = (
    rmlab.Manifest(name="voila")
    .add("gain", "Gain", gain_db=-6.0)
    .add("lowpass", "Filter", cutoff_hz=2000.0)
    .add("out", "PassThrough")
    .connect("gain", "lowpass")
    .connect("lowpass", "out")
)
Lab(manifest, source="tone", executor="shm")
"""


def test_lab_renders_and_runs_in_voila(lab: Lab) -> None:
    with voila_page(lab, APP, 1280, 1000) as (page, errors):
        page.locator(".rm-lab .rm-builder").wait_for()
        page.locator(".rm-lab .rm-plot-latency canvas").first.wait_for()  # BokehJS is there
        assert page.locator(".rm-builder svg").count() >= 1  # the graph canvas drew
        page.locator(".rm-start:not([disabled])").click()
        page.locator('.rm-status [data-state="running"]').wait_for()
        page.wait_for_function(
            "() => Number(document.querySelector('.rm-plot-latency')?.dataset.rmUpdates) > 10"
        )
        time.sleep(1.5)
        fps = float(page.locator(".rm-status .rm-fps").get_attribute("data-fps"))
        assert 40 <= fps <= 60, page.locator(".rm-status").inner_text()
        assert page.locator(".rm-errors .rm-error").count() == 0
        page.locator(".rm-stop:not([disabled])").click()
        page.locator('.rm-status [data-state="stopped"]').wait_for()
        assert not errors, errors


def test_the_class_notebook_is_a_live_voila_app(lab: Lab, artifacts: Path) -> None:
    """Notebook 06 as the README hands it to a class: every cell runs, the console is
    live at the end (not "Loading widget..."), its plots have axes before Start (no
    empty-range warnings from BokehJS), and Start runs it."""
    server = lab.server
    source = Path(__file__).parents[2] / "notebooks" / "06-teaching-filters.ipynb"
    path = f"class-{uuid.uuid4().hex[:8]}.ipynb"
    shutil.copy(source, server.root / path)
    context = lab.browser.new_context(viewport={"width": 1920, "height": 1080})
    context.set_default_timeout(90_000)
    try:
        page = context.new_page()
        errors: list[str] = []
        logged: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: logged.append(msg.text))
        page.goto(f"{server.url}/voila/render/{path}?token={server.token}")
        page.locator(".rm-console .rm-plot-latency canvas").first.wait_for()
        page.locator(".rm-console .rm-plot-spectrum canvas").first.wait_for()
        assert page.locator(".widget-slider").count() >= 2  # the filter's sliders
        # the lesson's graph, the filter's sliders and the four plots: one projector screen
        every_screen_in_view(page, artifacts, "class-voila")
        page.set_viewport_size({"width": 1920, "height": 1080})
        assert page.get_by_text("Loading widget").count() == 0
        page.locator(".rm-start:not([disabled])").click()
        page.locator('.rm-status [data-state="running"]').wait_for()
        page.wait_for_function(
            "() => Number(document.querySelector('.rm-plot-spectrum')?.dataset.rmUpdates) > 10"
        )
        assert page.locator(".rm-errors .rm-error").count() == 0
        page.locator(".rm-stop:not([disabled])").click()
        page.locator('.rm-status [data-state="stopped"]').wait_for()
        assert not errors, errors
        assert not [m for m in logged if "initial ranges" in m], logged
    finally:
        context.close()
