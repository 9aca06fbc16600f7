"""``Lab``'s presentation layout on a teacher's screen: everything in view at once.

At 1920x1080 and at 1366x768, in JupyterLab (with its file browser open) and in
Voila, the Lab's top scrolled into view: the canvas and all four plots (latency over
time, its distribution, scope, spectrum) are inside the viewport together, none
squeezed to nothing, and the selected node's parameters are beside the canvas with
the controls before the node's doc, which is folded. The stacked arrangement is one
click away and puts the plots back below the builder; "files, JSON, code" shows the
exports only when asked.

Screenshots go to ``$RMLAB_TEST_ARTIFACTS`` (default: pytest's tmp_path).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser._voila import voila_page
from tests.browser.conftest import Lab

pytestmark = pytest.mark.browser

SCREENS = [(1920, 1080), (1366, 768)]

APP = """\
from rmlab import Manifest
from rmlab.lab import Lab

lesson = Manifest(name="layout").add("gain", "Gain").add("lowpass", "Filter")
lab = Lab(lesson.add("meter", "LevelMeter").connect("gain", "lowpass"), executor="local")
lab.builder.connect("lowpass", "meter")
lab.builder.select("lowpass")
lab
"""

# Every box a person needs at once: the canvas, and each Bokeh figure (the latency
# widget draws two). Bokeh's figures live in shadow roots: the query walks into them.
BOXES_JS = """() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const figures = (root) => [...root.querySelectorAll("*")].flatMap((e) =>
    e.shadowRoot ? [...(e.matches(".bk-Figure") ? [e] : []), ...figures(e.shadowRoot)] : []);
  const out = {canvas: box(document.querySelector(".rm-lab .rm-stage"))};
  for (const name of ["latency", "scope", "spectrum"]) {
    figures(document.querySelector(`.rm-lab .rm-plot-${name}`)).forEach((f, i) => {
      out[`${name}${i}`] = box(f);
    });
  }
  return out;
}"""

# The Lab's top at the top of whatever scrolls it (JupyterLab's panel, Voila's page).
TOP_JS = "() => document.querySelector('.rm-lab').scrollIntoView({block: 'start'})"

# The height lab.js measured has been applied to the grid (after a resize, too).
FITTED_JS = """() => {
  const lab = document.querySelector('.rm-lab');
  const fit = parseFloat(lab?.style.getPropertyValue('--rm-fit-height'));
  const grid = lab?.querySelector('.rm-lab-grid');
  return fit > 0 && Math.abs(grid.getBoundingClientRect().height - fit) < 1;
}"""


def all_in_view(page: Any, width: int, height: int) -> dict[str, dict[str, float]]:
    """Check that the canvas and the four figures are drawn whole inside the viewport."""
    page.evaluate(TOP_JS)
    boxes = page.evaluate(BOXES_JS)
    assert set(boxes) == {"canvas", "latency0", "latency1", "scope0", "spectrum0"}, boxes
    for name, b in boxes.items():
        assert b["w"] >= 150 and b["h"] >= 150, f"{name} is squeezed at {width}x{height}: {b}"
        inside = b["x"] >= 0 and b["y"] >= 0
        inside = inside and b["x"] + b["w"] <= width + 0.5 and b["y"] + b["h"] <= height + 0.5
        assert inside, f"{name} is outside the {width}x{height} viewport: {b}"
    canvas = boxes["canvas"]
    assert all(b["x"] >= canvas["x"] + canvas["w"] for n, b in boxes.items() if n != "canvas")
    return boxes


def every_screen_in_view(page: Any, artifacts: Path, where: str) -> None:
    """At each screen size: the Lab fitted to it, everything in view; a screenshot.

    Bokeh lays its figures out again after a resize on its own schedule (a resize
    observer, then a render), so the boxes are given a few seconds to settle; what
    is still outside then is a real failure.
    """
    for width, height in SCREENS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function(FITTED_JS)
        deadline = time.monotonic() + 10
        while True:
            try:
                all_in_view(page, width, height)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                page.wait_for_timeout(200)
        page.screenshot(path=str(artifacts / f"lab-{where}-{width}x{height}.png"))


def controls_before_the_doc(page: Any) -> None:
    form = page.locator(".rm-lab .rm-form")
    field = form.locator(".rm-field-cutoff_hz").bounding_box()
    about = form.locator(".rm-form-doc summary")
    assert about.inner_text() == "About Filter"
    assert field["y"] < about.bounding_box()["y"]
    assert not form.locator(".rm-form-doc details").evaluate("(d) => d.open")
    assert not form.locator(".rm-node-doc").is_visible()  # folded until asked
    about.click()
    form.locator(".rm-node-doc").wait_for()  # one click opens it
    about.click()


def test_presentation_fits_one_screen_in_jupyterlab_and_switches(lab: Lab, artifacts: Path) -> None:
    nb = lab.open([APP])
    nb.run_all()
    page = nb.page
    page.locator(".rm-lab .rm-plot-spectrum canvas").first.wait_for()
    assert page.locator(".jp-SideBar .lm-mod-current").count() > 0  # file browser open
    every_screen_in_view(page, artifacts, "jupyterlab")
    controls_before_the_doc(page)

    # the exports, one button away: shown instead of the parameters (two columns here)
    assert not page.locator(".rm-lab .rm-io").is_visible()
    page.locator(".rm-lab-io").click()
    page.locator(".rm-lab .rm-io").wait_for()
    page.locator(".rm-lab .rm-files .rm-file-save").wait_for()
    assert not page.locator(".rm-lab .rm-form").is_visible()
    page.locator(".rm-lab-io").click()
    page.locator(".rm-lab .rm-form").wait_for()

    # stacked: the builder, then the console with its plots below it
    page.locator(".rm-lab-arrangement button", has_text="stacked").click()
    page.locator(".rm-lab.rm-lab-stacked").wait_for()
    nb.wait_for("lab.arrangement", "stacked")
    page.locator(".rm-lab .rm-io").wait_for()  # stacked shows everything
    canvas = page.locator(".rm-lab .rm-stage").bounding_box()
    latency = page.locator(".rm-lab .rm-plot-latency").bounding_box()
    assert latency["y"] > canvas["y"] + canvas["height"]
    assert abs(page.locator(".rm-lab .rm-plot-latency .rm-plot-body").bounding_box()["height"]
               - 280) < 1  # fmt: skip
    page.screenshot(path=str(artifacts / "lab-jupyterlab-stacked.png"))
    nb.execute("lab.arrangement = 'presentation'")  # and back, from Python
    page.locator(".rm-lab.rm-lab-presentation").wait_for()
    page.wait_for_function(FITTED_JS)
    all_in_view(page, *SCREENS[-1])
    assert not nb.console, nb.console


def test_presentation_fits_one_screen_in_voila(lab: Lab, artifacts: Path) -> None:
    with voila_page(lab, APP, *SCREENS[0]) as (page, errors):
        page.locator(".rm-lab .rm-plot-spectrum canvas").first.wait_for()
        assert page.locator(".rm-lab.rm-lab-presentation").count() == 1  # the default
        every_screen_in_view(page, artifacts, "voila")
        controls_before_the_doc(page)
        assert not errors, errors
