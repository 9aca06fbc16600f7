"""The parameter form answers every edit it does not apply, under the field typed in.

Headless: setting a widget's ``value`` runs the same Python handlers a browser edit
runs. What the person sees is the field's message line (``rm-field-message``), and
the control must always show what the manifest holds.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pytest

from rmlab import Audio, Manifest, Node, Param
from rmlab.lab import Builder

pytestmark = pytest.mark.unit


class FormTestBand(Node):
    """A band between two edges; ``lo`` must stay below ``hi``.

    Second paragraph: folded away with the first, below the controls.
    """

    __module__ = "__main__"
    accepts = frozenset({Audio})
    lo: float = Param(100.0, min=0.0, max=1000.0, doc="lower edge")
    hi: float = Param(500.0, min=0.0, max=1000.0, doc="upper edge")
    taps: int = Param(4, min=1, max=64, doc="a whole number on a slider")
    floor: float = Param(0.0, min=0.0, doc="bounded below only")
    count: int = Param(3, doc="unbounded")

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        if values["lo"] >= values["hi"]:
            return [("lo", f"must be below hi ({values['hi']})")]
        return []


def band() -> Builder:
    b = Builder(Manifest(name="form").add("band", "FormTestBand"))
    b.select("band")
    return b


def message(b: Builder, name: str | None) -> str:
    return b._form.message(name)


def test_controls_come_first_and_the_doc_is_folded_below_them() -> None:
    b = band()
    kids = b._form.children
    classes = [set(k._dom_classes) for k in kids]
    assert "rm-form-header" in classes[0]
    assert "rm-node-doc" not in kids[0].value  # the title line only
    assert "rm-field-lo" in classes[2] and "rm-field-count" in classes[-2]
    doc = kids[-1]
    assert "rm-form-doc" in doc._dom_classes
    assert doc.value.startswith("<details><summary>About FormTestBand</summary>")
    assert "<details open" not in doc.value and "Second paragraph" in doc.value


def test_a_typed_number_is_applied_and_the_slider_follows() -> None:
    b = band()
    lo = b._form.fields["lo"]
    assert lo.entry is not None and lo.entry.value == "100"
    assert isinstance(lo.widget, widgets.FloatSlider) and not lo.widget.readout
    lo.entry.value = "250"
    assert b.manifest.node("band").params == {"lo": 250.0}
    assert lo.widget.value == 250.0 and lo.entry.value == "250"
    assert message(b, "lo") == ""


def test_text_that_is_not_a_number_is_answered_and_reverted() -> None:
    b = band()
    lo = b._form.fields["lo"]
    lo.entry.value = "abc"
    assert message(b, "lo") == "'abc' is not a number: lo stays 100"
    assert lo.entry.value == "100" and b.manifest.node("band").params == {}
    assert not lo.message.layout.display  # shown (it is "none" while empty)
    lo.entry.value = "120"  # a good value clears the message
    assert message(b, "lo") == "" and lo.message.layout.display == "none"


def test_an_out_of_range_number_is_refused_with_the_range() -> None:
    b = band()
    hi = b._form.fields["hi"]
    hi.entry.value = "5000"
    assert message(b, "hi") == "5000 is out of range: hi goes from 0 to 1000. Refused: hi stays 500"
    assert hi.entry.value == "500" and hi.widget.value == 500.0
    assert b.manifest.node("band").params == {}
    floor = b._form.fields["floor"]  # a text box: bounded below only
    floor.widget.value = "-1"
    assert message(b, "floor") == (
        "-1 is out of range: floor must be at least 0. Refused: floor stays 0"
    )
    assert floor.widget.value == "0"


def test_whole_numbers_and_unbounded_numbers() -> None:
    b = band()
    taps = b._form.fields["taps"]
    assert isinstance(taps.widget, widgets.IntSlider)
    taps.entry.value = "2.5"
    assert message(b, "taps") == "2.5 is not a whole number: taps stays 4"
    taps.entry.value = "8"
    assert b.manifest.node("band").params == {"taps": 8} and taps.widget.value == 8
    count = b._form.fields["count"]
    count.widget.value = "many"
    assert message(b, "count") == "'many' is not a number: count stays 3"
    assert count.widget.value == "3"
    count.widget.value = "1e3"  # a whole number, written as a float
    assert b.manifest.node("band").params == {"taps": 8, "count": 1000}
    assert count.widget.value == "1000"


def test_a_refusal_by_the_builder_is_shown_under_its_field() -> None:
    b = band()
    lo = b._form.fields["lo"]
    lo.entry.value = "600"  # in range, but not below hi
    assert message(b, "lo") == "Refused: must be below hi (500.0). lo stays 100"
    assert lo.entry.value == "100" and lo.widget.value == 100.0
    assert b.manifest.node("band").params == {}
    b._form.fields["hi"].entry.value = "800"
    assert message(b, "lo") == "Refused: must be below hi (500.0). lo stays 100"  # its own
    lo.entry.value = "600"
    assert message(b, "lo") == "" and b.manifest.node("band").params == {"lo": 600.0, "hi": 800.0}


def test_a_refused_rename_is_shown_under_the_id_box() -> None:
    b = Builder(Manifest().add("a", "Gain").add("b", "Gain"))
    b.select("b")
    b._form._id_box.value = "a"
    assert message(b, None) == "Not renamed: id 'a' is taken"
    assert b._form._id_box.value == "b"
    b._form._id_box.value = "c"
    assert message(b, None) == "" and [n.id for n in b.manifest.nodes] == ["a", "c"]


def test_a_python_side_change_clears_the_fields_message() -> None:
    b = band()
    b._form.fields["lo"].entry.value = "x"
    assert message(b, "lo")
    b.set_param("band", "lo", 50.0)
    assert message(b, "lo") == "" and b._form.fields["lo"].entry.value == "50"


def test_closing_the_form_closes_every_widget_it_made() -> None:
    b = band()
    made = list(b._form._made)
    assert b._form.fields["lo"].entry in made and b._form.fields["lo"].message in made
    b.select(None)  # another form: the old widgets are closed
    assert all(w.comm is None for w in made)
