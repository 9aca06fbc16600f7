"""What the console's status line and error panel show, as HTML (private).

Both are plain ``ipywidgets.HTML`` whose markup carries stable classes and data
attributes (``data-state``, ``data-fps``, ``data-node``, ``data-resolved``), so
tests and stylesheets select on them rather than on wording.

The status line sits by Start and Stop, where the person looks: it names the latest
error while it is current (``rm-status-error``). The panel keeps every distinct error
with its traceback for reading; once the pipeline has run cleanly again they are
shown folded and grey, as resolved, instead of staying red on screen.
"""

from __future__ import annotations

import html
import re
import threading
import traceback
from typing import Any

from rmlab import ManifestError, NodeError

__all__ = ["ErrorLog", "headline", "status_html"]

_DIGITS = re.compile(r"\d+")
_RED = "var(--jp-error-color1, #c62828)"  # JupyterLab's error colour, or a plain red
_GREY = "var(--jp-ui-font-color2, #666)"


class ErrorLog:
    """The distinct errors of a run, oldest first, each with how often it happened.

    Errors whose first lines differ only in numbers ("boom at frame 20", "... 30")
    are one entry showing the latest. At most ``keep`` entries; thread-safe (the
    sessions' pump threads, the dispatcher and widget handlers all add to it).
    """

    def __init__(self, keep: int = 6) -> None:
        self.keep = keep
        self.version = 0
        """Grows at every change: render again when it differs from what was shown."""
        self._entries: dict[tuple[str, str], list[Any]] = {}  # key -> [count, latest]
        self._lock = threading.Lock()

    def add(self, exc: BaseException) -> None:
        node = exc.node_id if isinstance(exc, NodeError) else "console"
        key = (node, _DIGITS.sub("#", headline(exc)))
        with self._lock:
            entry = self._entries.pop(key, [0, exc])
            entry[0] += 1
            entry[1] = exc
            self._entries[key] = entry
            while len(self._entries) > self.keep:
                self._entries.pop(next(iter(self._entries)))
            self.version += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.version += 1

    @property
    def errors(self) -> list[BaseException]:
        with self._lock:
            return [exc for _, exc in self._entries.values()]

    def html(self, resolved: bool = False) -> tuple[int, str]:
        """``(version, markup)``: one ``<details class="rm-error" data-node=...>`` each,
        open and red, or (``resolved``: the pipeline has run cleanly since) folded and
        grey with ``data-resolved="true"``."""
        with self._lock:
            version, entries = self.version, list(self._entries.items())
        color, state = (_GREY, ' data-resolved="true"') if resolved else (_RED, " open")
        since = " &middot; resolved: it has run cleanly since" if resolved else ""
        items = []
        for (node, _), (count, exc) in entries:
            times = f" (&times;{count})" if count > 1 else ""
            items.append(
                f'<details class="rm-error" data-node="{html.escape(node)}"{state}>'
                f'<summary style="color: {color}">{html.escape(headline(exc))}{times}{since}'
                f'</summary><pre class="rm-traceback">{html.escape(_detail(exc))}</pre></details>'
            )
        return version, (f'<div class="rm-error-list">{"".join(items)}</div>' if items else "")


def headline(exc: BaseException) -> str:
    """The first line of an error: what the status line and a panel entry's title say."""
    return (str(exc).splitlines() or [repr(exc)])[0]


def _detail(exc: BaseException) -> str:
    """The node's own traceback (from its process), or this process's."""
    if isinstance(exc, NodeError):
        return exc.traceback or str(exc)
    if isinstance(exc, ManifestError):
        return str(exc)  # every problem with its path: more useful than where it was raised
    return "".join(traceback.format_exception(exc))


def status_html(s: dict[str, Any], executor: str, source: str) -> str:
    """The status line: state, executor, source, rates and counters, the current error
    (``s["error"]``, "" for none) and a note."""
    state = s["state"]
    parts = [f'<b class="rm-state" data-state="{state}">{state}</b>', html.escape(executor),
             html.escape(source)]  # fmt: skip
    if "in_fps" in s:
        e2e = s["e2e_ms"]
        fps = f"{s['in_fps']:.1f}"
        parts += [
            f'<span class="rm-fps" data-fps="{fps}">in {fps} frames/s</span>',
            f"out {s['out_fps']:.1f}/s",
            f'<span class="rm-drops" data-drops="{s["drops"]}">drops {s["drops"]}</span>',
            f"restarts {s['restarts']}",
            f'<span class="rm-error-count" data-errors="{s["errors"]}">errors {s["errors"]}</span>',
            "end to end " + (f"{e2e:.2f} ms" if e2e == e2e else "-"),
        ]
        if s.get("swaps"):
            parts.append(f"hot swaps {s['swaps']}")
    text = " &middot; ".join(parts)
    if s.get("error"):
        text += (
            f'<br><span class="rm-status-error" style="color: {_RED}">'
            f"error: {html.escape(s['error'])} (details below)</span>"
        )
    if s.get("note"):
        text += f'<br><span class="rm-note">{html.escape(s["note"])}</span>'
    return f'<div class="rm-status-line">{text}</div>'
