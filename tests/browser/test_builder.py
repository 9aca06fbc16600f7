"""The Builder in real JupyterLab, used like a person uses it: with the mouse and keyboard.

A person drags three nodes from the palette onto the canvas, connects them port to
port, selects a node and types a value into the box beside its slider; the kernel's
``builder.manifest`` must then be exactly the pipeline they drew. A connection that
would close a cycle is refused where they can see it, and leaves the manifest as it
was. Deleting with the Delete key and editing from Python are seen on both sides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Lab, Notebook

pytestmark = pytest.mark.browser

SETUP = """\
from rmlab.lab.builder import Builder
builder = Builder()
builder
"""

W, H = 170, 64  # a node's box on the canvas (rmlab.lab._builder_state.NODE_W, NODE_H)


def center(page: Any, selector: str) -> tuple[float, float]:
    """The page coordinates of the center of the element ``selector``."""
    page.wait_for_selector(selector)
    page.locator(".rm-canvas").scroll_into_view_if_needed()  # typing in the form scrolls
    # the canvas redraws on every sync: an element may be replaced between two calls
    box = wait_for(lambda: page.locator(selector).bounding_box(), timeout=5)
    assert box is not None, f"{selector} is not visible"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press, move in steps (as a hand does: pointermove events on the way), release."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 10, start[1] + 5, steps=2)
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def canvas_point(page: Any, x: float, y: float) -> tuple[float, float]:
    """The page coordinates of point (x, y) of the canvas drawing."""
    box = page.locator(".rm-canvas").bounding_box()
    return box["x"] + x, box["y"] + y


def edge_midpoint(page: Any, source: str, target: str) -> tuple[float, float]:
    """The page coordinates of the middle of the drawn connection ``source -> target``.

    (A straight connection has a zero-height box, which Playwright calls hidden: so
    wait for it to be attached, and click the line itself, as a person does.)
    """
    selector = f".rm-edge[data-from={source}][data-to={target}] .rm-edge-line"
    page.wait_for_selector(selector, state="attached")
    x, y = page.evaluate(
        """(selector) => {
          const path = document.querySelector(selector);
          const p = path.getPointAtLength(path.getTotalLength() / 2);
          const m = path.getScreenCTM();
          return [m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f];
        }""",
        selector,
    )
    return x, y


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def manifest(nb: Notebook) -> dict[str, Any]:
    return nb.evaluate("builder.manifest.to_dict()")


def add_by_drag(page: Any, node_type: str, node_id: str, x: float, y: float) -> None:
    """Drag ``node_type`` from the palette so the node's center lands at canvas (x, y)."""
    drag(
        page,
        center(page, f".rm-palette-item[data-node-type={node_type}]"),
        canvas_point(page, x, y),
    )
    page.wait_for_selector(f".rm-node[data-node-id={node_id}]")


def connect(page: Any, source: str, target: str) -> None:
    """Drag from ``source``'s output port onto ``target``'s input port."""
    drag(
        page,
        center(page, f".rm-node[data-node-id={source}] .rm-port-out"),
        center(page, f".rm-node[data-node-id={target}] .rm-port-in"),
    )


def test_a_person_builds_a_three_node_pipeline(lab: Lab) -> None:
    nb = lab.open([SETUP])
    nb.run_all()
    page = nb.page
    page.wait_for_selector(".rm-palette-item[data-node-type=Gain]")

    drops = {"gain": (110, 80), "filter": (320, 140), "level_meter": (530, 80)}
    for node_type, node_id in [
        ("Gain", "gain"),
        ("Filter", "filter"),
        ("LevelMeter", "level_meter"),
    ]:
        add_by_drag(page, node_type, node_id, *drops[node_id])
    connect(page, "gain", "filter")
    page.wait_for_selector(".rm-edge[data-from=gain][data-to=filter]")
    connect(page, "filter", "level_meter")
    page.wait_for_selector(".rm-edge[data-from=filter][data-to=level_meter]")

    # select the Gain node, then type into the number box beside its slider like a person
    page.click(".rm-node[data-node-id=gain] .rm-node-title")
    entry = page.locator(".rm-field-gain_db .rm-param-entry input")
    entry.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("-6")
    page.keyboard.press("Enter")

    def gain_set() -> dict[str, Any] | None:
        m = manifest(nb)
        return m if m["nodes"][0]["params"] == {"gain_db": -6.0} else None

    got = wait_for(gain_set)
    assert got, f"gain_db never reached the kernel: {manifest(nb)}"
    for n in got["nodes"]:  # each node where it was dropped (its center under the pointer)
        x, y = drops[n["id"]]
        assert abs(n["position"]["x"] - (x - W / 2)) <= 2, n
        assert abs(n["position"]["y"] - (y - H / 2)) <= 2, n
        del n["position"]
    assert got == {
        "version": "v1",
        "metadata": {"name": ""},
        "nodes": [
            {"id": "gain", "node_type": "Gain", "params": {"gain_db": -6.0}},
            {"id": "filter", "node_type": "Filter", "params": {}},
            {"id": "level_meter", "node_type": "LevelMeter", "params": {}},
        ],
        "connections": [{"from": "gain", "to": "filter"}, {"from": "filter", "to": "level_meter"}],
    }
    assert page.inner_text(".rm-problems-head") == "No problems"
    assert page.inner_text(".rm-builder-error") == ""

    # closing the loop is refused visibly, and nothing changes in the kernel
    connect(page, "level_meter", "gain")
    error = page.locator(".rm-builder-error")
    error.wait_for(state="visible")
    assert "would make a cycle" in error.inner_text()
    assert page.locator(".rm-edge").count() == 2
    assert manifest(nb)["connections"] == got["connections"]


LOADED = """\
from rmlab import Manifest
from rmlab.lab.builder import Builder
manifest = Manifest(name="t").add("gain", "Gain").add("meter", "LevelMeter")
builder = Builder(manifest.connect("gain", "meter"))
builder
"""


def test_python_edits_search_move_and_delete_keys(lab: Lab) -> None:
    nb = lab.open([LOADED])
    nb.run_all()
    page = nb.page
    page.wait_for_selector(".rm-node[data-node-id=meter]")

    # an edit made in the kernel is drawn
    nb.execute(
        "builder.add_node('Filter', 'lp', position=(300, 150)); builder.connect('gain', 'lp')"
    )
    page.wait_for_selector(".rm-edge[data-from=gain][data-to=lp]", state="attached")

    # search the palette, click an item: it is added at a free spot
    page.fill(".rm-palette-search", "echoes")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.rm-palette-item')].map(e => e.dataset.nodeType)"
        ".join() === 'Echo'"
    )
    page.click(".rm-palette-item[data-node-type=Echo]")
    page.wait_for_selector(".rm-node[data-node-id=echo]")

    # drag a node by (+40, +30): its position in the kernel moves by exactly that
    start = center(page, ".rm-node[data-node-id=lp] .rm-node-title")
    drag(page, start, (start[0] + 40, start[1] + 30))
    moved = wait_for(
        lambda: nb.evaluate("builder.manifest.node('lp').position") != {"x": 300, "y": 150}
    )
    assert moved and nb.evaluate("builder.manifest.node('lp').position") == {"x": 340, "y": 180}

    # select a connection, press Delete; select a node, press Delete
    page.locator(".rm-canvas").scroll_into_view_if_needed()
    page.mouse.click(*edge_midpoint(page, "gain", "meter"))
    page.keyboard.press("Delete")
    page.wait_for_selector(".rm-edge[data-from=gain][data-to=meter]", state="detached")
    page.click(".rm-node[data-node-id=meter] .rm-node-title")
    page.keyboard.press("Delete")
    page.wait_for_selector(".rm-node[data-node-id=meter]", state="detached")
    m = manifest(nb)
    assert [n["id"] for n in m["nodes"]] == ["gain", "lp", "echo"]
    assert m["connections"] == [{"from": "gain", "to": "lp"}]
    # the keys were the editor's, not JupyterLab's: the notebook still has its one cell
    assert page.locator(".jp-Notebook .jp-Cell").count() == 1
    assert page.inner_text(".rm-builder-error") == ""


SAVE_SETUP = """\
import rmlab
from rmlab.lab.builder import Builder
manifest = rmlab.Manifest(name="class handout").add("gain", "Gain", gain_db=-6.0)
builder = Builder(manifest)
builder
"""


def test_save_and_open_a_file_next_to_the_notebook(lab: Lab) -> None:
    nb = lab.open([SAVE_SETUP])
    nb.run_all()
    page = nb.page
    name = page.locator(".rm-file-name input")
    assert name.input_value() == "class-handout.json"
    page.locator(".rm-file-save").click()
    page.locator(".rm-file-status:has-text('Saved class-handout.json')").wait_for()
    saved = lab.server.root / "class-handout.json"  # the notebook's folder
    assert [n["id"] for n in json.loads(saved.read_text())["nodes"]] == ["gain"]

    (lab.server.root / "broken.json").write_text('{"nodes": [{"id": "x"}]}')
    page.locator(".rm-file-rescan").click()
    page.locator(".rm-file-list select").select_option("broken.json")
    page.locator(".rm-file-open").click()
    refused = page.locator(".rm-file-status .rm-file-refused")
    refused.wait_for()
    assert "Not opened: broken.json is not a valid manifest" in refused.inner_text()
    assert nb.evaluate("[n.id for n in builder.manifest.nodes]") == ["gain"]

    nb.execute("builder.add_node('PassThrough')")
    page.locator(".rm-file-list select").select_option("class-handout.json")
    page.locator(".rm-file-open").click()
    page.locator(".rm-file-status:has-text('Opened class-handout.json')").wait_for()
    assert nb.evaluate("[n.id for n in builder.manifest.nodes]") == ["gain"]
    page.locator('.rm-node[data-node-id="gain"]').wait_for()
    assert page.locator(".rm-node").count() == 1
