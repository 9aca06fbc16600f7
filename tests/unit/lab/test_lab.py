"""``Lab`` without a browser: its parts, its two arrangements, the exports button.

How the arrangements look is tested in the browser (``tests/browser/test_layout.py``);
here: which classes the stylesheet is given, and that a bad arrangement is refused.
"""

from __future__ import annotations

import time

import pytest

import rmlab
from rmlab import Manifest
from rmlab.lab import Console, Lab
from rmlab.lab.lab import ARRANGEMENTS, ArrangementError

pytestmark = pytest.mark.unit


def chain() -> Manifest:
    return Manifest(name="lab").add("gain", "Gain").add("p", "PassThrough").connect("gain", "p")


def test_lab_puts_the_builder_the_tools_and_the_console_together() -> None:
    lab = Lab(chain(), executor="local")
    try:
        assert lab._grid.children == (lab.builder, lab._tools, lab.console)
        assert isinstance(lab.console, Console) and lab.manifest is lab.builder.manifest
        assert {"rm-lab", "rm-lab-presentation"} <= set(lab._dom_classes)  # the default
        assert "rm-lab-canvas" in lab.builder.canvas._dom_classes
        assert all(p.height is None for p in lab.console.plots)  # they fill the layout's boxes
        lab.start()
        deadline = time.monotonic() + 5
        while lab.console.status.get("outputs", 0) <= 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lab.console.status["outputs"] > 3
        lab.stop()
        assert not lab.console.running
    finally:
        lab.close()
    assert lab.comm is None and lab.console.comm is None and lab.arrangement_picker.comm is None


def test_the_arrangement_switches_from_python_and_from_its_buttons() -> None:
    lab = Lab(chain(), executor="local", arrangement="stacked")
    try:
        assert lab.arrangement == "stacked" and "rm-lab-stacked" in lab._dom_classes
        lab.arrangement = "presentation"
        assert lab.arrangement_picker.value == "presentation"
        assert "rm-lab-presentation" in lab._dom_classes
        assert "rm-lab-stacked" not in lab._dom_classes
        lab.arrangement_picker.value = "stacked"  # what a click on "stacked" does
        assert lab.arrangement == "stacked" and "rm-lab-presentation" not in lab._dom_classes
        with pytest.raises(ArrangementError):
            lab.arrangement = "grid"
        assert lab.arrangement == "stacked"
    finally:
        lab.close()


def test_a_bad_arrangement_says_which_ones_there_are() -> None:
    with pytest.raises(ArrangementError) as info:
        Lab(chain(), arrangement="sideways")
    assert isinstance(info.value, rmlab.RmlabError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert "'sideways'" in message and all(repr(a) in message for a in ARRANGEMENTS)


def test_the_exports_button_shows_and_hides_them() -> None:
    lab = Lab(chain(), executor="local")
    try:
        assert not lab.io_button.value and "rm-lab-io-open" not in lab._dom_classes
        lab.io_button.value = True
        assert "rm-lab-io-open" in lab._dom_classes
        lab.io_button.value = False
        assert "rm-lab-io-open" not in lab._dom_classes
    finally:
        lab.close()


def test_a_lab_without_plots_needs_no_bokehjs() -> None:
    with_plots, without = Lab(chain()), Lab(chain(), plots=False)
    try:
        assert with_plots.needs_bokehjs and not without.needs_bokehjs
    finally:
        with_plots.close()
        without.close()
