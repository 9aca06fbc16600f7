"""One ipywidget per ``Param`` of a node, with a message line under it (private).

The widget kind follows the Param: a slider when both ``min`` and ``max`` are set
(a log slider when the range spans three decades or more, so 1 Hz and 10 kHz are
both reachable), a dropdown for ``choices``, a checkbox for booleans, a text box
otherwise (JSON for untyped params).

Every number a person types reaches Python as the text they typed, so a mistake is
answered instead of swallowed: a slider has a box beside it to type into (its own
readout would clamp an out-of-range value and drop "abc" in the page, silently), and
an unbounded number is a text box. ``Field.parse`` turns what a widget holds into a
param value, or raises ``Unusable`` with what to tell the person; ``Field.say``
writes that, or a refusal from the Builder, on the line under the control.

CSS classes, for tests and stylesheets: ``rm-field rm-field-<name>`` on the whole
field, ``rm-param rm-param-<name>`` on the control, ``rm-param-entry`` on a
slider's number box, ``rm-field-message`` on the message line.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets

from rmlab.nodes import Param

__all__ = ["Field", "Unusable", "field_for", "message_line", "say"]

STYLE = {"description_width": "110px"}
_RED = "var(--jp-error-color1, #c62828)"


class Unusable(ValueError):
    """What a person typed is no value for the param; the message says why."""


@dataclass
class Field:
    """One param's control, the conversions between its value and the param's, and
    the line under it that says why an edit was not applied."""

    name: str
    param: Param
    widget: widgets.ValueWidget  # the control holding the value
    parse: Callable[[Any, Any], Any]  # (widget value, current) -> param value; or Unusable
    show: Callable[[Any], Any]  # param value -> widget value
    current: Any = None  # the param value the widget shows (an echo of it is no edit)
    entry: widgets.Text | None = None  # a slider's box to type a number into
    message: widgets.HTML = field(default_factory=lambda: message_line())
    box: widgets.Box = field(default_factory=widgets.VBox)  # what the form shows

    def read(self, value: Any) -> Any:
        """The param value the widget's ``value`` stands for (raises ``Unusable``)."""
        return self.parse(value, self.current)

    def read_entry(self, text: str) -> Any:
        """The param value typed into ``entry`` (raises ``Unusable``)."""
        return _typed_number(text, self.name, self.param, self.current)

    def say(self, text: str) -> None:
        """Show ``text`` under the control ("" hides the line)."""
        say(self.message, text)


def message_line() -> widgets.HTML:
    """An empty, hidden message line (``say`` fills it)."""
    line = widgets.HTML(layout=widgets.Layout(display="none", width="100%"))
    line.add_class("rm-field-message")
    return line


def say(line: widgets.HTML, text: str) -> None:
    """Show ``text`` in a message line, in the error colour; hide the line for ""."""
    # an empty HTML widget still takes a row's height: hide it instead
    line.value = f'<span style="color: {_RED}">{html.escape(text)}</span>' if text else ""
    line.layout.display = "" if text else "none"


def _same(v: Any) -> Any:
    return v


def _as_is(v: Any, _current: Any) -> Any:
    return v


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def fmt(v: Any) -> str:
    """A param value as a person would type it ("" for none)."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def _range(p: Param) -> str:
    if p.min is not None and p.max is not None:
        return f"goes from {fmt(p.min)} to {fmt(p.max)}"
    if p.min is not None:
        return f"must be at least {fmt(p.min)}"
    return f"must be at most {fmt(p.max)}"


def _typed_number(text: str, name: str, p: Param, current: Any) -> Any:
    """The number typed as ``text`` for param ``name``, checked against its type and
    range; ``Unusable`` says what is wrong and that the param keeps ``current``."""
    stays = f"{name} stays {fmt(current)}" if current is not None else f"{name} is not set"
    text = text.strip()
    if not text:
        raise Unusable(f"type a number: {stays}")
    try:
        value = float(text)
    except ValueError:
        raise Unusable(f"{text!r} is not a number: {stays}") from None
    if not math.isfinite(value):
        raise Unusable(f"{text} is not a finite number: {stays}")
    if p.type is int:
        if value != int(value):
            raise Unusable(f"{text} is not a whole number: {stays}")
        value = int(value)
    too_low = p.min is not None and value < p.min
    too_high = p.max is not None and value > p.max
    if too_low or too_high:
        raise Unusable(f"{text} is out of range: {name} {_range(p)}. Refused: {stays}")
    return value


def _tooltip(name: str, p: Param) -> str:
    bits = [p.doc or name]
    if p.min is not None or p.max is not None:
        lo = p.min if p.min is not None else "-inf"
        hi = p.max if p.max is not None else "inf"
        bits.append(f"range {lo} to {hi}")
    bits.append("required" if p.required else f"default {json.dumps(p.default, default=repr)}")
    return "; ".join(bits)


def _slider(p: Param, value: Any) -> tuple[widgets.ValueWidget, Callable[[Any, Any], Any]]:
    """A slider over the Param's range, and how to read a param value off it.

    The page snaps every value to the slider's steps and sends the snapped value
    back even for the initial one (-6 arrives as -6.000000000000007; 4000 on a log
    slider as 3999.45). Reading rounds that noise away, so the form's own echo equals
    the param's value and is not taken for an edit. No readout: the number box
    beside the slider shows the value and takes typed ones.
    """
    lo, hi = float(p.min), float(p.max)  # type: ignore[arg-type]
    current = min(max(value, lo), hi) if _number(value) else lo
    if p.type is int:
        w = widgets.IntSlider(value=int(current), min=int(lo), max=int(hi), step=1, readout=False)
        return w, lambda v, _c: int(v)
    if lo > 0 and hi / lo >= 1000:  # three decades or more: a log scale
        w = widgets.FloatLogSlider(
            value=current,
            base=10,
            min=math.log10(lo),
            max=math.log10(hi),
            step=1e-5,  # the exponent's step: 5 significant digits survive
            readout=False,
        )
        return w, lambda v, _c: float(f"{v:.5g}")
    # about a thousand steps across the range, at a round size
    step = 10.0 ** round(math.log10((hi - lo) / 1000)) if hi > lo else 1.0
    decimals = max(0, -round(math.log10(step)))
    w = widgets.FloatSlider(value=current, min=lo, max=hi, step=step, readout=False)
    return w, lambda v, _c: round(v, decimals)


def _loads(text: str, _current: Any) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word is taken as a string


def _dumps(value: Any) -> str:
    return "" if value is None else json.dumps(value, default=repr)


def field_for(name: str, p: Param, value: Any) -> Field:
    """The field editing param ``name`` (declared as ``p``), showing ``value``."""
    entry: widgets.Text | None = None
    if p.choices is not None:
        w: widgets.ValueWidget = widgets.Dropdown(
            options=[(str(c), c) for c in p.choices],
            value=value if value in p.choices else None,
        )
        parse, show = _as_is, _same
    elif p.type is bool:
        w = widgets.Checkbox(value=value if isinstance(value, bool) else False, indent=False)
        parse, show = _as_is, _same
    elif p.type in (int, float) and p.min is not None and p.max is not None:
        w, parse = _slider(p, value)
        show = _same
        entry = widgets.Text(value=fmt(value), continuous_update=False,
                             layout=widgets.Layout(width="72px", flex="0 0 auto"))  # fmt: skip
        entry.tooltip = f"type a value from {fmt(p.min)} to {fmt(p.max)}, then Enter"
        entry.add_class("rm-param-entry")
    elif p.type in (int, float):
        w = widgets.Text(value=fmt(value), continuous_update=False, placeholder="number")
        show = fmt

        def parse(text: str, current: Any) -> Any:
            return _typed_number(text, name, p, current)
    elif p.type is str:
        w = widgets.Text(value=value if isinstance(value, str) else "", continuous_update=False)
        parse, show = _as_is, _same
    else:  # an untyped param: any JSON value
        w = widgets.Text(value=_dumps(value), continuous_update=False, placeholder="JSON value")
        parse, show = _loads, _dumps
    w.description = name
    w.tooltip = _tooltip(name, p)
    w.style = STYLE  # type: ignore[attr-defined]
    w.layout = widgets.Layout(width="100%" if entry is None else "auto", flex="1 1 auto",
                              min_width="0")  # fmt: skip
    w.add_class("rm-param")
    w.add_class(f"rm-param-{name}")
    f = Field(name, p, w, parse, show, current=value, entry=entry)
    control = widgets.HBox([w, entry], layout=widgets.Layout(width="100%")) if entry else w
    f.box = widgets.VBox([control, f.message], layout=widgets.Layout(width="100%"))
    f.box.add_class("rm-field")
    f.box.add_class(f"rm-field-{name}")
    return f
