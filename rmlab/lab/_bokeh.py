"""A Bokeh layout in a notebook, updated with binary comm messages (private).

Why not ``jupyter_bokeh.BokehModel`` or ``push_notebook``: measured in JupyterLab 4.6
(``../shared/notes/jupyter-and-browser.md`` and ``rmlab bench plots``), a BokehModel
patch costs 3-4 ms of kernel time and sends 3 + 2 x buffers comm messages per changed
property, so four plots at 20 updates/s cost a third of a core and fall behind;
``push_notebook`` is fast but cannot sit inside an ipywidgets layout and has no
Voila path. ``BokehCanvas`` keeps Bokeh for what it is good at (axes, legends, pan
and zoom, drawn by BokehJS) and replaces its transport: the figures are built in
Python and synced once as ``json_item``; after that each update is one anywidget
message whose columns travel as float32 buffers, applied in the page with
``source.data = ...`` or ``source.stream(...)``. The front end is
``widgets/plots.js``, whose header documents the messages.

Flow control: the page acknowledges what it has drawn (``{type: "drawn", seq}``, at
most every 100 ms), and ``ready_to_send()`` is False while more than
``MAX_IN_FLIGHT`` updates are unacknowledged. A page that draws slower than the
dispatcher sends (a slow laptop, a busy tab) then gets fewer, fresher updates
instead of a backlog that grows without end; until a page has acknowledged
anything (none may be showing the plot), sending is not held back.

BokehJS must be in the page: ``ensure_bokehjs()`` publishes it with
``output_notebook(INLINE)`` (offline: no CDN) once per kernel before anything is
shown; a view that still finds none (a page opened later, an unusual front end) asks
for it and gets the same script over the comm.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import anywidget
import bokeh
import numpy as np
import traitlets

from rmlab._widget import widget_file

__all__ = ["BokehCanvas", "Op", "ShownWithBokeh", "ensure_bokehjs"]

MAX_IN_FLIGHT = 8
"""Updates sent but not yet drawn, at most (0.4 s at 20 updates/s)."""

_loaded = False
_load_lock = threading.Lock()

Op = tuple[str, Literal["replace", "stream"], Mapping[str, np.ndarray], int | None]
"""One data-source change: (source name, mode, columns, rollover for "stream")."""


def ensure_bokehjs() -> None:
    """Publish BokehJS into the notebook (inline, offline) once per kernel."""
    global _loaded
    with _load_lock:
        if _loaded:
            return
        from bokeh.io import output_notebook
        from bokeh.resources import INLINE

        output_notebook(INLINE, hide_banner=True)
        _loaded = True


def _bokehjs_sources() -> list[bytes]:
    """BokehJS's core script, for a view that found none in its page."""
    from bokeh.resources import Resources

    return [js.encode() for js in Resources(mode="inline", components=["bokeh"]).js_raw]


class ShownWithBokeh:
    """Mixin for a widget that shows Bokeh plots: BokehJS is published before the widget,
    and an exception while rendering is warned about before IPython swallows it."""

    needs_bokehjs = True

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        try:
            if self.needs_bokehjs:
                ensure_bokehjs()
            return super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        except Exception as exc:
            warnings.warn(f"{type(self).__name__} failed to render: {exc!r}", stacklevel=2)
            raise


class BokehCanvas(ShownWithBokeh, anywidget.AnyWidget):
    """A Bokeh layout whose data sources the kernel updates with one message per batch.

    Subclasses build the layout (``set_layout``), give every data source a ``name``
    unique in it, and call ``send_ops`` from one thread. ``sent`` counts update
    messages; ``page_errors`` keeps what failed in the page.
    """

    _esm = widget_file("plots.js")

    item = traitlets.Dict().tag(sync=True)
    name = traitlets.Unicode("plot").tag(sync=True)
    bokeh_version = traitlets.Unicode(bokeh.__version__).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent = 0
        self.held = 0
        """Flushes held back because the page was behind (see flow control above)."""
        self.page_errors: list[str] = []
        self._drawn = -1  # the last update the page acknowledged; -1: none yet
        self._want_snapshot = threading.Event()
        self.on_msg(self._on_msg)

    def set_layout(self, layout: Any) -> None:
        """Show ``layout`` (a Bokeh model) instead of the current one."""
        from bokeh.embed import json_item

        self.item = dict(json_item(layout))

    def send_ops(self, ops: Sequence[Op]) -> int:
        """Send one update message changing each named data source; returns its bytes."""
        header: list[dict[str, Any]] = []
        buffers: list[bytes] = []
        for source, mode, columns, rollover in ops:
            header.append(
                {"source": source, "mode": mode, "rollover": rollover, "columns": list(columns)}
            )
            buffers.extend(np.ascontiguousarray(c, dtype="<f4").tobytes() for c in columns.values())
        if not header:
            return 0
        msg = {"type": "update", "seq": self.sent, "t": time.time() * 1000, "ops": header}
        self.send(msg, buffers=buffers)
        self.sent += 1
        return sum(len(b) for b in buffers)

    def ready_to_send(self) -> bool:
        """False while the page is more than ``MAX_IN_FLIGHT`` updates behind."""
        if self._drawn < 0 or self.sent - 1 - self._drawn < MAX_IN_FLIGHT:
            return True
        self.held += 1
        return False

    def take_snapshot_request(self) -> bool:
        """True once after a view asked for everything (it was just drawn)."""
        if self._want_snapshot.is_set():
            self._want_snapshot.clear()
            return True
        return False

    def _on_msg(self, _widget: Any, content: Any, _buffers: list[Any]) -> None:
        # the comm thread: only flag or record, never compute here
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "drawn" and isinstance(content.get("seq"), int):
            self._drawn = max(self._drawn, content["seq"])
        elif kind == "ready":
            self._drawn = self.sent - 1  # a new view: nothing is owed to it
            self._want_snapshot.set()
        elif kind == "need-bokeh":
            self.send({"type": "bokeh-js"}, buffers=_bokehjs_sources())
        elif kind == "error":
            self.page_errors = [*self.page_errors[-9:], str(content.get("message"))]
