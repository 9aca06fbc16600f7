"""The Builder's canvas on a classroom projector, in real JupyterLab: view, history, live.

A teacher loads a six-node filters pipeline: after fit every node is whole inside the
canvas at 1920x1080 and at 1366x768, with titles still readable, and a pipeline too
big for that is panned rather than shrunk. The wheel zooms around the pointer and a
drag on the background pans, without touching the manifest. Ctrl-Z undoes an add and
Ctrl-Shift-Z redoes it, in the kernel. A refused gesture says why next to where it
happened. While a ``Lab`` runs a tone through the ``local`` executor, the node that
sleeps 5 ms is marked the slowest within 2 s of Start, drops show where they happen,
a node that raises turns red with its message, and Stop clears it all.

Screenshots of each state go to ``$RMLAB_TEST_ARTIFACTS`` (default: pytest's tmp_path).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Lab
from tests.browser.test_builder import center, drag, wait_for

pytestmark = pytest.mark.browser

READABLE_PX = 14  # the smallest node title fit may draw (graph.js READABLE_PX)

LESSON = """\
from rmlab import Manifest
from rmlab.lab.builder import Builder
lesson = (
    Manifest(name="filters lesson")
    .add("gain", "Gain", gain_db=-6.0)
    .add("lowpass", "Filter", kind="lowpass", cutoff_hz=800.0)
    .add("highpass", "Filter", kind="highpass", cutoff_hz=2000.0)
    .add("mix", "Mix")
    .add("meter", "LevelMeter")
    .add("spectrum", "Spectrum")
    .connect("gain", "lowpass").connect("gain", "highpass")
    .connect("lowpass", "mix").connect("highpass", "mix")
    .connect("mix", "meter").connect("mix", "spectrum")
)
builder = Builder(lesson)
builder
"""

NODES = ["gain", "lowpass", "highpass", "mix", "meter", "spectrum"]


def shot(page: Any, artifacts: Path, name: str) -> None:
    """The page, scrolled to the canvas, and the canvas's own widget, as PNG files."""
    graph = page.locator(".rm-graph")
    graph.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"{name}.png"))
    graph.screenshot(path=str(artifacts / f"{name}-canvas.png"))


def view(page: Any) -> dict[str, float]:
    """The canvas's view: zoom and pan (page-local state, on the widget's root)."""
    data = page.locator(".rm-graph").evaluate("(el) => ({...el.dataset})")
    return {"k": float(data["zoom"]), "x": float(data["panX"]), "y": float(data["panY"])}


def outside(page: Any) -> list[str]:
    """The nodes whose box is not wholly inside the canvas, as drawn."""
    canvas = page.locator(".rm-canvas").bounding_box()
    out = []
    for nid in page.locator(".rm-node").evaluate_all("(els) => els.map((e) => e.dataset.nodeId)"):
        box = page.locator(f".rm-node[data-node-id={nid}] .rm-node-box").bounding_box()
        inside = (
            box["x"] >= canvas["x"] - 0.5
            and box["y"] >= canvas["y"] - 0.5
            and box["x"] + box["width"] <= canvas["x"] + canvas["width"] + 0.5
            and box["y"] + box["height"] <= canvas["y"] + canvas["height"] + 0.5
        )
        if not inside:
            out.append(nid)
    return out


def title_px(page: Any) -> float:
    """The rendered size of a node title, in screen pixels."""
    return page.locator(".rm-node-title").first.evaluate(
        "(t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a"
    )


def fitted(page: Any) -> bool:
    return not outside(page)


def empty_spot(page: Any) -> tuple[float, float]:
    """A point of the canvas with nothing drawn under it (the background, to drag)."""
    spot = page.evaluate(
        """() => {
          const svg = document.querySelector('.rm-canvas');
          const r = svg.getBoundingClientRect();
          for (let y = r.top + 10; y < r.bottom - 60; y += 15)
            for (let x = r.left + 10; x < r.right - 10; x += 15)
              if (document.elementFromPoint(x, y) === svg) return [x, y];
          return null;
        }"""
    )
    assert spot, "no empty spot on the canvas"
    return spot[0], spot[1]


def pan_to(page: Any, node_id: str) -> None:
    """Drag the background, as a person does, until ``node_id`` is in the canvas's middle."""
    canvas = page.locator(".rm-canvas").bounding_box()
    x, y = center(page, f".rm-node[data-node-id={node_id}] .rm-node-box")
    dx = canvas["x"] + canvas["width"] / 2 - x
    dy = canvas["y"] + canvas["height"] / 2 - y
    start = empty_spot(page)
    drag(page, start, (start[0] + dx, start[1] + dy))


def test_fit_shows_every_node_readably_at_projector_and_laptop_sizes(
    lab: Lab, artifacts: Path
) -> None:
    nb = lab.open([LESSON])
    page = nb.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    nb.run_all()
    page.wait_for_selector(".rm-node[data-node-id=spectrum]")
    assert wait_for(lambda: fitted(page)), f"outside the canvas after fit: {outside(page)}"
    assert title_px(page) >= READABLE_PX
    shot(page, artifacts, "fit-1920x1080")

    page.set_viewport_size({"width": 1366, "height": 768})  # the canvas refits by itself
    assert wait_for(lambda: fitted(page)), f"outside after the resize: {outside(page)}"
    assert title_px(page) >= READABLE_PX - 0.01
    page.locator(".rm-fit").click()
    assert not outside(page) and title_px(page) >= READABLE_PX - 0.01
    shot(page, artifacts, "fit-1366x768")
    assert nb.evaluate("[n.position for n in builder.manifest.nodes]") == [None] * 6

    # too big to fit readably: fit stops at a readable zoom and shows where it starts
    nb.execute(
        "long = Manifest(name='long')\n"
        "for i in range(12): long.add(f'step{i}', 'Gain')\n"
        "for i in range(11): long.connect(f'step{i}', f'step{i + 1}')\n"
        "builder.load(long)"
    )
    page.wait_for_selector(".rm-node[data-node-id=step11]", state="attached")
    wait_for(lambda: "step0" not in outside(page))
    assert title_px(page) >= READABLE_PX - 0.01
    gone = outside(page)
    assert "step0" not in gone and "step11" in gone, gone  # pan to see the rest
    shot(page, artifacts, "fit-too-big-1366x768")


def test_the_wheel_zooms_around_the_pointer_and_a_background_drag_pans(lab: Lab) -> None:
    nb = lab.open([LESSON])
    nb.run_all()
    page = nb.page
    page.wait_for_selector(".rm-node[data-node-id=spectrum]")
    page.locator(".rm-canvas").scroll_into_view_if_needed()
    page.wait_for_selector(".rm-graph[data-zoom]")  # fitted (at 1280 px, not all of it)
    before = view(page)
    x, y = center(page, ".rm-node[data-node-id=mix] .rm-node-box")
    canvas = page.locator(".rm-canvas").bounding_box()
    px, py = x - canvas["x"], y - canvas["y"]
    page.mouse.move(x, y)
    page.mouse.wheel(0, -300)  # away from the person: zoom in
    after = wait_for(lambda: (v := view(page))["k"] > before["k"] * 1.2 and v)
    assert after, view(page)
    # the graph point under the pointer stayed under it
    assert (px - before["x"]) / before["k"] == pytest.approx((px - after["x"]) / after["k"], abs=1)
    assert (py - before["y"]) / before["k"] == pytest.approx((py - after["y"]) / after["k"], abs=1)
    assert abs(center(page, ".rm-node[data-node-id=mix] .rm-node-box")[0] - x) < 2

    # drag the background: the view moves by the drag, the manifest not at all
    empty = empty_spot(page)
    drag(page, empty, (empty[0] + 120, empty[1] + 60))
    panned = view(page)
    assert panned["x"] == pytest.approx(after["x"] + 120, abs=1)
    assert panned["y"] == pytest.approx(after["y"] + 60, abs=1)
    assert panned["k"] == after["k"]
    page.locator(".rm-zoom-out").click()
    assert view(page)["k"] == pytest.approx(after["k"] * 0.8, rel=1e-3)
    assert page.locator(".rm-zoom-level").inner_text() == f"{round(after['k'] * 80)}%"
    assert nb.evaluate("[n.position for n in builder.manifest.nodes]") == [None] * 6
    assert nb.evaluate("builder.selected") is None  # the drag was not a click


EMPTY = """\
from rmlab.lab.builder import Builder
builder = Builder()
builder
"""


def test_ctrl_z_undoes_an_add_ctrl_shift_z_redoes_it_and_refusals_say_why_in_place(
    lab: Lab, artifacts: Path
) -> None:
    nb = lab.open([EMPTY])
    nb.run_all()
    page = nb.page
    undo, redo = page.locator(".rm-undo"), page.locator(".rm-redo")
    assert undo.is_disabled() and redo.is_disabled()
    page.click(".rm-palette-item[data-node-type=Gain]")
    page.wait_for_selector(".rm-node[data-node-id=gain]")
    nb.wait_for("[n.id for n in builder.manifest.nodes]", ["gain"])

    page.keyboard.press("Control+z")
    page.wait_for_selector(".rm-node[data-node-id=gain]", state="detached")
    nb.wait_for("[n.id for n in builder.manifest.nodes]", [])
    page.keyboard.press("Control+Shift+z")
    page.wait_for_selector(".rm-node[data-node-id=gain]")
    nb.wait_for("[n.id for n in builder.manifest.nodes]", ["gain"])
    undo.click()
    nb.wait_for("[n.id for n in builder.manifest.nodes]", [])
    page.locator(".rm-canvas").focus()
    page.keyboard.press("Control+y")
    nb.wait_for("[n.id for n in builder.manifest.nodes]", ["gain"])
    page.wait_for_selector(".rm-redo[disabled]", state="attached")
    assert not undo.is_disabled()
    # the keys were the editor's, not the notebook's: its one cell is still there
    assert page.locator(".jp-Notebook .jp-Cell").count() == 1

    # connecting a node to itself is refused, and the reason is shown at the node
    node = center(page, ".rm-node[data-node-id=gain] .rm-node-box")
    drag(page, center(page, ".rm-node[data-node-id=gain] .rm-port-out"), node)
    refusal = page.locator(".rm-refusal")
    refusal.wait_for()
    assert "cannot take its own output" in refusal.inner_text()
    box = refusal.bounding_box()
    where = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert abs(where[0] - node[0]) < 250 and abs(where[1] - node[1]) < 120, (where, node)
    assert refusal.evaluate("(e) => getComputedStyle(e).animationName") == "rm-fade"
    assert "Cannot connect gain -> gain" in page.inner_text(".rm-builder-error")
    shot(page, artifacts, "refused-self-connection")
    assert nb.evaluate("builder.manifest.connections") == []
    refusal.wait_for(state="detached", timeout=8000)  # it fades and goes


LIVE = """\
import time
import rmlab
from rmlab.lab import Lab

class SlowStep(rmlab.Node):
    \"\"\"Sleeps ``ms`` per frame, then passes it on.\"\"\"
    ms: float = rmlab.Param(5.0, min=0.0)

    def process(self, frame):
        time.sleep(self.ms / 1000)
        return frame

class Refuse(rmlab.Node):
    \"\"\"Passes frames on, or raises on every one while ``refuse`` is on.\"\"\"
    refuse: bool = rmlab.Param(False)

    def process(self, frame):
        if self.refuse:
            raise RuntimeError("refusing every frame (refuse=True)")
        return frame

manifest = (
    rmlab.Manifest(name="live")
    .add("gain", "Gain", gain_db=-6.0)
    .add("slow", "SlowStep")
    .add("boom", "Refuse")
    .add("out", "PassThrough")
    .connect("gain", "slow").connect("slow", "boom").connect("boom", "out")
)
lab = Lab(manifest, source="tone", executor="local", plots=False)
lab
"""


def live_node(page: Any, nid: str) -> dict[str, str]:
    return page.locator(f".rm-node[data-node-id={nid}]").evaluate(
        "(g) => ({cls: g.getAttribute('class'), ms: g.dataset.ms, fps: g.dataset.fps,"
        " share: g.dataset.share, live: g.querySelector('.rm-node-live').textContent,"
        " badges: g.querySelector('.rm-node-badges').textContent,"
        " fail: g.querySelector('.rm-node-fail').textContent,"
        " tip: g.querySelector(':scope > title').textContent})"
    )


def test_a_running_lab_marks_the_slow_node_drops_and_the_node_that_raises(
    lab: Lab, artifacts: Path
) -> None:
    nb = lab.open([LIVE])
    page = nb.page
    page.set_viewport_size({"width": 1920, "height": 1080})  # the classroom's projector
    nb.run_all()
    page.wait_for_selector(".rm-node[data-node-id=slow]")
    assert page.locator(".rm-graph").get_attribute("data-live") == "off"

    start = page.locator(".rm-start:not([disabled])")
    start.click()
    t0 = time.monotonic()
    page.wait_for_selector(".rm-node.rm-slowest[data-node-id=slow]", timeout=5000)
    took = time.monotonic() - t0
    assert took < 2.0, f"the slow node was marked {took:.2f} s after Start"
    slow = live_node(page, "slow")
    assert float(slow["ms"]) >= 5.0, slow
    others = [float(live_node(page, n)["share"]) for n in ("gain", "boom", "out")]
    assert float(slow["share"]) > max(others), (slow, others)  # the biggest fill and bar
    assert " ms \u00b7 " in slow["live"] and "slowest" in slow["badges"]
    assert page.locator(".rm-node.rm-slowest").count() == 1
    wait_for(lambda: float(live_node(page, "gain")["fps"] or 0) > 20)
    shot(page, artifacts, "live-slowest")

    # slower than the tone's 50 frames/s: the input queue fills and drops, shown there
    nb.execute("lab.builder.set_param('slow', 'ms', 60.0)")
    dropped = wait_for(lambda: "dropped at input" in live_node(page, "gain")["badges"], 15)
    assert dropped, live_node(page, "gain")
    shot(page, artifacts, "live-drops")
    nb.execute("lab.builder.set_param('slow', 'ms', 5.0)")

    nb.execute("lab.builder.set_param('boom', 'refuse', True)")  # every frame fails now
    page.wait_for_selector(".rm-node.rm-failed[data-node-id=boom]", timeout=10_000)
    boom = live_node(page, "boom")
    assert "RuntimeError" in boom["fail"]
    assert "error: RuntimeError in process(): refusing every frame (refuse=True)" in boom["tip"]
    assert page.locator(".rm-node.rm-failed").count() == 1
    if outside(page):  # the canvas is narrow beside the console: look at the red node
        pan_to(page, "boom")
    assert "boom" not in outside(page)
    shot(page, artifacts, "live-failed")
    nb.execute("lab.builder.set_param('boom', 'refuse', False)")  # fixed: the mark goes
    page.wait_for_selector(".rm-node.rm-failed", state="detached", timeout=10_000)

    page.locator(".rm-stop:not([disabled])").click()
    page.wait_for_selector(".rm-graph[data-live=off]", timeout=10_000)
    assert page.locator(".rm-node.rm-live, .rm-node.rm-slowest, .rm-node.rm-failed").count() == 0
    assert live_node(page, "slow")["live"] == ""
    shot(page, artifacts, "live-stopped")
