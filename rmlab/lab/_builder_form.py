"""The Builder's parameter form: the selected node's controls, then its doc.

``ParamForm`` shows one node at a time, compactly, so it fits beside a canvas: a
title line (type, what it takes and emits), the id box, one field per ``Param``
(``rmlab.lab._builder_fields``: the control, and a line under it for what went
wrong), and last the node's docstring, folded behind "About <type>".

Every edit is handed to the Builder's callbacks, which validate and apply it, or
refuse it: the form then puts the manifest's value back (``set_value``) and shows
the reason under the field the person typed in (``refused``), not only in the
canvas's error line far above. Mistakes the form catches itself (text that is not a
number, a typed number out of range) never reach the Builder and are answered the
same way. The form never changes a manifest by itself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from rmlab import ManifestError, NodeSpec
from rmlab.lab._builder_fields import STYLE, Field, Unusable, field_for, fmt, message_line, say
from rmlab.nodes import Node, lookup

__all__ = ["ParamForm", "node_doc", "node_header", "param_key", "param_value"]


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
    """The form's title line: the node's type and what it takes and emits."""
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
        )
    header = widgets.HTML(body, layout=widgets.Layout(width="100%"))
    header.add_class("rm-form-header")
    return header


def node_doc(node_type: str, cls: type[Node]) -> widgets.HTML:
    """The node's whole docstring, folded: below the controls, opened on a click."""
    doc = widgets.HTML(
        f"<details><summary>About {html.escape(node_type)}</summary>"
        f"<div class='rm-node-doc'>{_doc_html(cls.doc())}</div></details>",
        layout=widgets.Layout(width="100%"),
    )
    doc.add_class("rm-form-doc")
    return doc


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
    """The parameter form of one node: its type, its id, one field per Param, its doc.

    Edits are handed to ``on_param(node_id, name, value)`` and ``on_rename(node_id,
    new_id)``; the Builder applies them and, whether it accepted or refused, writes
    the manifest's value back with ``set_value`` / ``set_id``, which do not count as
    edits, and reports a refusal with ``refused``. ``node_id`` follows renames, so the
    form stays open on a renamed node.
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
        self._id_message: widgets.HTML | None = None  # the line under the id box
        self._made: list[widgets.Widget] = []  # every widget of the form shown: closed with it
        self._quiet = False  # set while the Builder writes a value: not an edit
        self.show(None)

    def show(self, spec: NodeSpec | None) -> None:
        """Show the form of ``spec`` (None: a hint to select a node); closes the old one."""
        old = self._made
        self.node_id = spec.id if spec is not None else None
        self.fields = {}
        self._id_box = None
        if spec is None:
            shown, inner = [widgets.HTML("<i>Select a node to edit its parameters.</i>")], []
        else:
            shown, inner = self._widgets(spec)
        self._made = [*shown, *inner]
        self.children = shown
        for w in old:  # their observers check ownership first, so late events edit nothing
            w.close()

    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` in param ``name``'s field (canonical name), without an edit;
        what the field said about an earlier value goes."""
        field = self.fields.get(name)
        if field is not None:
            field.current = value
            field.say("")

            def write() -> None:
                field.widget.value = field.show(value)
                if field.entry is not None:
                    field.entry.value = fmt(value)

            self._quietly(write)

    def set_id(self, node_id: str) -> None:
        """The node this form edits is now called ``node_id`` (show it, without an edit)."""
        self.node_id = node_id
        box = self._id_box
        if box is not None:
            self._quietly(lambda: setattr(box, "value", node_id))

    def refused(self, exc: ManifestError, name: str | None = None) -> None:
        """Say under param ``name``'s field (None: the id box) why an edit was refused."""
        reasons = "; ".join(msg for _, msg in exc.problems)
        field = self.fields.get(name) if name is not None else None
        if field is not None:
            field.say(f"Refused: {reasons}. {field.name} stays {fmt(field.current)}")
        elif name is None and self._id_message is not None:
            say(self._id_message, f"Not renamed: {reasons}")

    def message(self, name: str | None = None) -> str:
        """The text under param ``name``'s field (None: the id box); "" when none."""
        field = self.fields.get(name) if name is not None else None
        line = field.message if field is not None else self._id_message
        return html.unescape(re.sub(r"<[^>]+>", "", line.value)) if line is not None else ""

    def _widgets(self, spec: NodeSpec) -> tuple[list[widgets.Widget], list[widgets.Widget]]:
        """The widgets of ``spec``'s form: the form's children, and those inside them."""
        cls = _class(spec.node_type)
        box = widgets.Text(value=spec.id, description="id", continuous_update=False)
        box.tooltip = "the node's id in the manifest; Enter renames it"
        box.style = STYLE  # type: ignore[attr-defined]
        box.layout = widgets.Layout(width="100%")
        box.add_class("rm-node-id")
        box.observe(lambda ch: self._renamed(box, ch["new"]), "value")
        self._id_box = box
        self._id_message = line = message_line()
        id_field = widgets.VBox([box, line], layout=widgets.Layout(width="100%"))
        shown: list[widgets.Widget] = [node_header(spec.node_type, cls), id_field]
        inner: list[widgets.Widget] = [box, line]  # closed with the form
        for name, p in (cls.params if cls else {}).items():
            field = field_for(name, p, param_value(spec, name))
            field.widget.observe(lambda ch, f=field: self._changed(f, ch["new"]), "value")
            if field.entry is not None:
                field.entry.observe(lambda ch, f=field: self._typed(f, ch["new"]), "value")
            self.fields[name] = field
            shown.append(field.box)
            control = field.box.children[0]
            inner += [control, field.message]
            if field.entry is not None:
                inner += [field.widget, field.entry]  # inside ``control``, an HBox
        if cls is not None:
            shown.append(node_doc(spec.node_type, cls))
        return shown, inner

    def _changed(self, field: Field, new: Any) -> None:
        """The field's control changed: an edit, unless it is the page's echo."""
        try:
            value = field.read(new)
        except Unusable as exc:
            self._unusable(field, exc)
            return
        if value != field.current:  # else the page's echo of what it was given
            self._edited(field, value)

    def _typed(self, field: Field, text: str) -> None:
        """A number was typed into a slider's box."""
        if self._quiet or text == fmt(field.current):
            return
        try:
            value = field.read_entry(text)
        except Unusable as exc:
            self._unusable(field, exc)
            return
        if value == field.current:
            self.set_value(field.name, field.current)  # "-6.0" for -6: show it as usual
        else:
            self._edited(field, value)

    def _unusable(self, field: Field, exc: Unusable) -> None:
        """Put the manifest's value back in ``field`` and say why the typed one was not
        applied (the Builder never sees it)."""
        if self._quiet or not self._owns(field.widget):
            return
        self.set_value(field.name, field.current)
        field.say(str(exc))

    def _edited(self, field: Field, value: Any) -> None:
        if self._quiet or not self._owns(field.widget) or self.node_id is None:
            return
        field.say("")  # a refusal says it again (``refused``)
        self._on_param(self.node_id, field.name, value)

    def _renamed(self, box: widgets.Text, new_id: str) -> None:
        if self._quiet or not self._owns(box) or self.node_id is None:
            return
        if self._id_message is not None:
            say(self._id_message, "")
        self._on_rename(self.node_id, new_id)

    def _owns(self, widget: widgets.Widget) -> bool:
        """Whether ``widget`` belongs to the form shown now (a replaced form's late
        events edit nothing)."""
        return widget is self._id_box or any(f.widget is widget for f in self.fields.values())

    def _quietly(self, write: Callable[[], Any]) -> None:
        self._quiet = True
        try:
            write()
        finally:
            self._quiet = False

    def close(self) -> None:
        """Close the form and its widgets."""
        for w in self._made:
            w.close()
        super().close()
