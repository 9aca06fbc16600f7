"""The Builder's canvas widget and the messages its page sends.

``GraphCanvas`` is an anywidget; its front end, ``widgets/graph.js``, draws the node
palette, the SVG graph, the problem list and the error line. The page only ever asks:
each gesture becomes one message, which ``dispatch`` turns into a call of the
Builder's public API (so the page can do nothing a notebook cell cannot).

Messages from the page (``model.send(content)``), one edit each::

    {"type": "add", "node_type": T, "x": X, "y": Y}    x, y optional: the next free slot;
                                                       a drop on a node moves to free space
    {"type": "move", "id": ID, "x": X, "y": Y}         sent once, at the end of a drag
    {"type": "connect", "from": ID, "to": ID}
    {"type": "disconnect", "from": ID, "to": ID}
    {"type": "remove", "id": ID}
    {"type": "rename", "id": ID, "new_id": ID}
    {"type": "set_param", "id": ID, "name": NAME, "value": JSON}
    {"type": "undo"} / {"type": "redo"}                Ctrl-Z, Ctrl-Shift-Z or Ctrl-Y, buttons
    {"type": "refresh"}                                re-read the node registry

Every message may carry ``"ask": N`` (the page's own counter); each is answered in
``answer`` with that number once applied or refused, so the page shows a refusal's
reason where the gesture happened, and knows which graphs it asked for. Pan and zoom
are the page's own state, never messages: they are how one person looks at the
graph, not part of the pipeline.

Synced traits: ``graph`` and ``palette`` (Python -> page: what to draw, see
``rmlab.lab._builder_state``), ``palette_query`` (page -> Python: the search box;
Python filters), ``selected`` (both ways: the selected node id, or ""), ``error``
(the error line; the page also writes its own rendering errors there),
``answer`` (Python -> page: ``{"ask", "message"}``, the message "" unless refused),
``history`` (Python -> page: ``{"undo": n, "redo": n}`` steps available) and
``live`` (Python -> page: a running session's figures per node and edge, see
``rmlab.lab._builder_live``; ``{}`` when nothing runs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import traitlets

from rmlab import ManifestError, Session
from rmlab._widget import Widget, widget_file
from rmlab.lab import _builder_state as state
from rmlab.lab._builder_live import LiveMarks

if TYPE_CHECKING:
    from rmlab.lab.builder import Builder

__all__ = ["REQUESTS", "GraphCanvas", "Malformed", "dispatch"]

REQUESTS = frozenset(
    {"add", "move", "connect", "disconnect", "remove", "rename", "set_param", "undo", "redo",
     "refresh"}
)  # fmt: skip
"""Every message type the page may send (a test checks graph.js sends no other)."""


class GraphCanvas(Widget):
    """The Builder's front end: palette, SVG graph, problem list and error line."""

    _esm = widget_file("graph.js")
    _css = widget_file("graph.css")

    graph = traitlets.Dict().tag(sync=True)
    palette = traitlets.List().tag(sync=True)
    palette_query = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    answer = traitlets.Dict().tag(sync=True)
    history = traitlets.Dict({"undo": 0, "redo": 0}).tag(sync=True)
    live = traitlets.Dict().tag(sync=True)

    live_every_s = 0.25
    """Seconds between two ``live`` updates at most (the figures are read at 4/s)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._live_session: Session | None = None
        self._live_marks = LiveMarks()
        self._live_sent = -math.inf
        self._answers = 0

    def show_live(self, session: Session | None, errors: Iterable[BaseException] = ()) -> None:
        """Draw ``session``'s figures on the graph (None: nothing runs, clear them).

        Called on every tick of the Console's plot dispatcher; sends at most once per
        ``live_every_s`` (a new session, and the clearing, at once). ``errors``: the
        errors the Console logged, for each failed node's message.
        """
        if session is None:
            self._live_session = None
            if self.live:
                self.live = {}
            return
        now = time.monotonic()
        if session is not self._live_session:  # started, or hot-swapped: counters restart
            self._live_session, self._live_marks = session, LiveMarks()
        elif now - self._live_sent < self.live_every_s:
            return
        self._live_sent = now
        params = {n.id: n.params for n in session.manifest.nodes}
        self.live = self._live_marks.update(session.stats(), errors, params)

    def reply(self, content: Mapping[str, Any], refusal: Exception | None = None) -> None:
        """Answer the page's request ``content``: done, or why not (shown where it was made)."""
        self._answers += 1
        message = ""
        if isinstance(refusal, ManifestError):
            message = "; ".join(msg for _, msg in refusal.problems)
            if content.get("type") == "connect" and content.get("from") == content.get("to"):
                message = "a node cannot take its own output: connect it to another node"
        elif isinstance(refusal, Malformed):
            message = str(refusal)
        elif refusal is not None:  # a bug: said here too, and raised to the error line
            message = f"{type(refusal).__name__}: {refusal}"
        ask = content.get("ask")
        self.answer = {
            "ask": ask if isinstance(ask, int) and not isinstance(ask, bool) else None,
            "n": self._answers,  # a second identical answer is still a change
            "message": message,
        }


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
    Builder raises (``ManifestError`` for a refused edit). Either way the page gets
    its ``answer``.
    """
    if not isinstance(content, dict):
        raise Malformed(f"expected an object, got {content!r}")
    try:
        kind = content.get("type")
        if kind not in REQUESTS:
            raise Malformed(f"unknown message type {kind!r}")
        _apply(builder, kind, content)
    except Exception as exc:
        builder.canvas.reply(content, exc)
        raise
    builder.canvas.reply(content)


def _apply(builder: Builder, kind: str, content: dict[str, Any]) -> None:
    if kind == "add":
        x, y = _coord(content, "x"), _coord(content, "y")
        position = None
        with builder._lock:  # the free spot is still free when the node takes it
            if x is not None and y is not None:  # dropped: where it was let go, or next to it
                position = state.free_spot(state.layout(builder.manifest).values(), x, y)
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
    elif kind in ("undo", "redo"):
        (builder.undo if kind == "undo" else builder.redo)()
    else:
        builder.refresh()
