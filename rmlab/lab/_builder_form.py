"""The Builder's parameter form: one ipywidget per ``Param`` of the selected node.

The widget kind follows the Param: a slider when both ``min`` and ``max`` are set
(a log slider when the range spans three decades or more, so 1 Hz and 10 kHz are
both reachable), a dropdown for ``choices``, a checkbox for booleans, a text box
otherwise (JSON for untyped params). Each widget carries the CSS class
``rm-param-<name>`` and the Param's doc as its tooltip. ``Field`` pairs a widget
with the conversions between widget values and param values; the Builder watches
the widgets and applies edits.

``ParamForm`` is the form itself: it shows one node at a time and hands every edit
to the Builder's callbacks, which validate and apply it (or refuse it and put the
widget back with ``set_value``). It never changes a manifest by itself.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from rmlab import ManifestError, NodeSpec
from rmlab.nodes import Node, Param, lookup

__all__ = ["Field", "ParamForm", "field_for", "node_header", "param_key", "param_value"]

_STYLE = {"description_width": "130px"}
_LAYOUT = {"width": "100%"}


@dataclass
class Field:
    """One param's widget and the conversions between its value and the param's."""

    name: str
    widget: widgets.ValueWidget
    parse: Callable[[Any], Any]  # widget value -> param value
    show: Callable[[Any], Any]  # param value -> widget value
    current: Any = None  # the param value the widget shows (an echo of it is no edit)


def _same(v: Any) -> Any:
    return v


def _tooltip(name: str, p: Param) -> str:
    bits = [p.doc or name]
    if p.min is not None or p.max is not None:
        lo = p.min if p.min is not None else "-inf"
        hi = p.max if p.max is not None else "inf"
        bits.append(f"range {lo} to {hi}")
    bits.append("required" if p.required else f"default {json.dumps(p.default, default=repr)}")
    return "; ".join(bits)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _slider(p: Param, value: Any) -> tuple[widgets.ValueWidget, Callable[[Any], Any]]:
    """A slider over the Param's range, and how to read a param value off it.

    The page snaps every value to the slider's steps, typed ones too, and sends the
    snapped value back even for the initial one (-6 arrives as -6.000000000000007;
    4000 on a log slider as 3999.45). Reading rounds that noise away, so the form's
    own echo equals the param's value and is not taken for an edit.
    """
    lo, hi = float(p.min), float(p.max)  # type: ignore[arg-type]
    current = min(max(value, lo), hi) if _number(value) else lo
    if p.type is int:
        return widgets.IntSlider(value=int(current), min=int(lo), max=int(hi), step=1), int
    if lo > 0 and hi / lo >= 1000:  # three decades or more: a log scale
        w = widgets.FloatLogSlider(
            value=current,
            base=10,
            min=math.log10(lo),
            max=math.log10(hi),
            step=1e-5,  # the exponent's step: 5 significant digits survive
            readout_format=".0f" if lo >= 1 else ".3g",  # (d3-format: no "~" in Python)
        )
        return w, lambda v: float(f"{v:.5g}")
    # about a thousand steps across the range, at a round size
    step = 10.0 ** round(math.log10((hi - lo) / 1000)) if hi > lo else 1.0
    decimals = max(0, -round(math.log10(step)))
    w = widgets.FloatSlider(
        value=current, min=lo, max=hi, step=step, readout_format=f".{decimals}f"
    )
    return w, lambda v: round(v, decimals)


def field_for(name: str, p: Param, value: Any) -> Field:
    """The widget editing param ``name`` (declared as ``p``), showing ``value``."""
    if p.choices is not None:
        w: widgets.ValueWidget = widgets.Dropdown(
            options=[(str(c), c) for c in p.choices],
            value=value if value in p.choices else None,
        )
        field = Field(name, w, _same, _same)
    elif p.type is bool:
        w = widgets.Checkbox(value=value if isinstance(value, bool) else False, indent=False)
        field = Field(name, w, _same, _same)
    elif p.type in (int, float) and p.min is not None and p.max is not None:
        w, parse = _slider(p, value)
        field = Field(name, w, parse, _same)
    elif p.type is int:
        w = widgets.IntText(value=value if _number(value) else 0, continuous_update=False)
        field = Field(name, w, _same, _same)
    elif p.type is float:
        w = widgets.FloatText(value=value if _number(value) else 0.0, continuous_update=False)
        field = Field(name, w, _same, _same)
    elif p.type is str:
        w = widgets.Text(value=value if isinstance(value, str) else "", continuous_update=False)
        field = Field(name, w, _same, _same)
    else:  # an untyped param: any JSON value (a bare word is taken as a string)
        w = widgets.Text(value=_dumps(value), continuous_update=False, placeholder="JSON value")
        field = Field(name, w, _loads, _dumps)
    field.current = value
    w = field.widget
    w.description = name
    w.tooltip = _tooltip(name, p)
    w.style = _STYLE  # type: ignore[attr-defined]
    w.layout = widgets.Layout(**_LAYOUT)
    w.add_class("rm-param")
    w.add_class(f"rm-param-{name}")
    return field


def _dumps(value: Any) -> str:
    return "" if value is None else json.dumps(value, default=repr)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _reflow(doc: str) -> str:
    """A docstring for a narrow column: each paragraph's lines joined, so the widget
    wraps them; paragraphs with indented lines (examples, lists) are kept as written."""
    paragraphs = doc.split("\n\n")
    return "\n\n".join(
        p if any(line[:1].isspace() for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


def _doc_html(doc: str) -> str:
    """A docstring as HTML: reflowed, escaped, ``literals`` as <code>."""
    return re.sub(r"``(.+?)``", r"<code>\1</code>", html.escape(_reflow(doc)))


def node_header(node_type: str, cls: type[Node] | None) -> widgets.HTML:
    """The form's title: the node's type, what it takes and emits, and its whole doc."""
    if cls is None:
        body = (
            f"<b>{html.escape(node_type)}</b> is not a registered node type: "
            "its params cannot be edited here (define or import it, then refresh)."
        )
    else:
        takes = ", ".join(sorted(t.__name__ for t in cls.accepts))
        gives = ", ".join(sorted(t.__name__ for t in cls.produces)) if cls.produces else "the same"
        body = (
            f"<b>{html.escape(node_type)}</b> "
            f"<span class='rm-form-io'>takes {takes}; emits {gives}</span>"
            f"<div class='rm-node-doc'>{_doc_html(cls.doc())}</div>"
        )
    header = widgets.HTML(body, layout=widgets.Layout(width="100%"))
    header.add_class("rm-form-header")
    return header


def param_key(spec: NodeSpec, name: str) -> str:
    """The key param ``name`` is stored under in ``spec.params``: an alias already used
    there (upstream camelCase) is kept, so a loaded manifest keeps its spelling."""
    cls = _class(spec.node_type)
    if cls is None:
        return name
    canonical = cls.param_name(name)
    p = cls.params.get(canonical)
    spellings = [canonical, *(p.aliases if p else ())]
    return next((k for k in spellings if k in spec.params), canonical)


def param_value(spec: NodeSpec, name: str) -> Any:
    """The value of param ``name`` in ``spec`` under any spelling, else its default
    (None for a required param, or a param of an unknown node type)."""
    key = param_key(spec, name)
    if key in spec.params:
        return spec.params[key]
    cls = _class(spec.node_type)
    p = cls.params.get(key) if cls else None
    return None if p is None or p.required else p.default


def _class(node_type: str) -> type[Node] | None:
    try:
        return lookup(node_type)
    except ManifestError:
        return None


class ParamForm(widgets.VBox):
    """The parameter form of one node: its type and doc, its id, one widget per Param.

    Edits are handed to ``on_param(node_id, name, value)`` and ``on_rename(node_id,
    new_id)``; the Builder applies them and, whether it accepted or refused, writes
    the manifest's value back with ``set_value`` / ``set_id``, which do not count as
    edits. ``node_id`` follows renames, so the form stays open on a renamed node.
    """

    def __init__(
        self,
        on_param: Callable[[str, str, Any], None],
        on_rename: Callable[[str, str], None],
    ):
        super().__init__(layout=widgets.Layout(width="340px", flex="0 0 auto"))
        self.add_class("rm-form")
        self.node_id: str | None = None
        self.fields: dict[str, Field] = {}
        self._on_param = on_param
        self._on_rename = on_rename
        self._id_box: widgets.Text | None = None
        self._quiet = False  # set while the Builder writes a value: not an edit
        self.show(None)

    def show(self, spec: NodeSpec | None) -> None:
        """Show the form of ``spec`` (None: a hint to select a node); closes the old one."""
        old = self.children
        self.node_id = spec.id if spec is not None else None
        self.fields = {}
        self._id_box = None
        if spec is None:
            self.children = [widgets.HTML("<i>Select a node to edit its parameters.</i>")]
        else:
            self.children = self._widgets(spec)
        for w in old:  # their observers check ownership first, so late events edit nothing
            w.close()

    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` in param ``name``'s widget (canonical name), without an edit."""
        field = self.fields.get(name)
        if field is not None:
            field.current = value
            self._quietly(lambda: setattr(field.widget, "value", field.show(value)))

    def set_id(self, node_id: str) -> None:
        """The node this form edits is now called ``node_id`` (show it, without an edit)."""
        self.node_id = node_id
        box = self._id_box
        if box is not None:
            self._quietly(lambda: setattr(box, "value", node_id))

    def _widgets(self, spec: NodeSpec) -> list[widgets.Widget]:
        cls = _class(spec.node_type)
        box = widgets.Text(value=spec.id, description="id", continuous_update=False)
        box.tooltip = "the node's id in the manifest; Enter renames it"
        box.style = _STYLE  # type: ignore[attr-defined]
        box.layout = widgets.Layout(**_LAYOUT)
        box.add_class("rm-node-id")
        box.observe(
            lambda ch: self._edited(box, lambda nid: self._on_rename(nid, ch["new"])), "value"
        )
        self._id_box = box
        children: list[widgets.Widget] = [node_header(spec.node_type, cls), box]
        for name, p in (cls.params if cls else {}).items():
            field = field_for(name, p, param_value(spec, name))
            field.widget.observe(lambda ch, f=field: self._field_changed(f, ch["new"]), "value")
            self.fields[name] = field
            children.append(field.widget)
        return children

    def _field_changed(self, field: Field, new: Any) -> None:
        value = field.parse(new)
        if value != field.current:  # else the page's echo of what it was given
            self._edited(field.widget, lambda nid: self._on_param(nid, field.name, value))

    def _edited(self, widget: widgets.Widget, apply: Callable[[str], None]) -> None:
        # ignore the Builder's own writes, and widgets of a form already replaced
        owned = widget is self._id_box or any(f.widget is widget for f in self.fields.values())
        if not self._quiet and owned and self.node_id is not None:
            apply(self.node_id)

    def _quietly(self, write: Callable[[], Any]) -> None:
        self._quiet = True
        try:
            write()
        finally:
            self._quiet = False

    def close(self) -> None:
        """Close the form and its widgets."""
        for w in self.children:
            w.close()
        super().close()
