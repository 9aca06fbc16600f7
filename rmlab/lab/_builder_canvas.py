"""The Builder's canvas widget and the messages its page sends.

``GraphCanvas`` is an anywidget; its front end, ``widgets/graph.js``, draws the node
palette, the SVG graph, the problem list and the error line. The page only ever asks:
each gesture becomes one message, which ``dispatch`` turns into a call of the
Builder's public API (so the page can do nothing a notebook cell cannot).

Messages from the page (``model.send(content)``), one edit each::

    {"type": "add", "node_type": T, "x": X, "y": Y}    x, y optional: the next free slot
    {"type": "move", "id": ID, "x": X, "y": Y}         sent once, at the end of a drag
    {"type": "connect", "from": ID, "to": ID}
    {"type": "disconnect", "from": ID, "to": ID}
    {"type": "remove", "id": ID}
    {"type": "rename", "id": ID, "new_id": ID}
    {"type": "set_param", "id": ID, "name": NAME, "value": JSON}
    {"type": "refresh"}                                re-read the node registry

Synced traits: ``graph`` and ``palette`` (Python -> page: what to draw, see
``rmlab.lab._builder_state``), ``palette_query`` (page -> Python: the search box;
Python filters), ``selected`` (both ways: the selected node id, or ""), ``error``
(the error line; the page also writes its own rendering errors there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import traitlets

from rmlab._widget import Widget, widget_file

if TYPE_CHECKING:
    from rmlab.lab.builder import Builder

__all__ = ["REQUESTS", "GraphCanvas", "Malformed", "dispatch"]

REQUESTS = frozenset(
    {"add", "move", "connect", "disconnect", "remove", "rename", "set_param", "refresh"}
)
"""Every message type the page may send (a test checks graph.js sends no other)."""


class GraphCanvas(Widget):
    """The Builder's front end: palette, SVG graph, problem list and error line."""

    _esm = widget_file("graph.js")
    _css = widget_file("graph.css")

    graph = traitlets.Dict().tag(sync=True)
    palette = traitlets.List().tag(sync=True)
    palette_query = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)


class Malformed(ValueError):
    """A message from the page that breaks the protocol: a bug in the page, shown."""


def _text(content: Mapping[str, Any], key: str) -> str:
    value = content.get(key)
    if not isinstance(value, str):
        raise Malformed(f"{content.get('type')!r} needs a string {key!r}, got {value!r}")
    return value


def _coord(content: Mapping[str, Any], key: str) -> float | None:
    value = content.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise Malformed(f"{content.get('type')!r} needs a number {key!r}, got {value!r}")
    return value


def dispatch(builder: Builder, content: Any) -> None:
    """Apply one message from the page through the Builder's API.

    Raises ``Malformed`` for a message that breaks the protocol, and whatever the
    Builder raises (``ManifestError`` for a refused edit).
    """
    if not isinstance(content, dict):
        raise Malformed(f"expected an object, got {content!r}")
    kind = content.get("type")
    if kind not in REQUESTS:
        raise Malformed(f"unknown message type {kind!r}")
    if kind == "add":
        x, y = _coord(content, "x"), _coord(content, "y")
        position = None if x is None or y is None else (x, y)
        node_id = builder.add_node(_text(content, "node_type"), position=position)
        builder.select(node_id)  # the person will want its params next
    elif kind == "move":
        x, y = _coord(content, "x"), _coord(content, "y")
        if x is None or y is None:
            raise Malformed("'move' needs numbers 'x' and 'y'")
        builder.move(_text(content, "id"), x, y)
    elif kind in ("connect", "disconnect"):
        edit = builder.connect if kind == "connect" else builder.disconnect
        edit(_text(content, "from"), _text(content, "to"))
    elif kind == "remove":
        builder.remove(_text(content, "id"))
    elif kind == "rename":
        builder.rename(_text(content, "id"), _text(content, "new_id"))
    elif kind == "set_param":
        builder.set_param(_text(content, "id"), _text(content, "name"), content.get("value"))
    else:
        builder.refresh()
