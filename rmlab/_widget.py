"""What every rmlab anywidget shares: finding its front-end file, and errors that are seen.

The ES modules and CSS live in the repository's ``widgets/`` folder and ship inside
the wheel as ``rmlab/_widgets``; ``widget_file`` finds them in either place.
``Widget`` is the base class: the shared stylesheet, a synced ``error`` message the
page shows, and a render that warns before re-raising, because IPython swallows
exceptions raised while rendering a widget (anywidget does the same).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import anywidget
import traitlets

__all__ = ["Widget", "widget_file"]


def widget_file(name: str) -> Path:
    """The front-end file ``name``: inside the wheel, or in a source checkout."""
    package = Path(__file__).resolve().parent
    candidates = (package / "_widgets" / name, package.parent / "widgets" / name)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"rmlab's widget file {name} is missing (looked in {', '.join(map(str, candidates))}); "
        "reinstall rmlab"
    )


class Widget(anywidget.AnyWidget):
    """What both widgets share: the stylesheet, ``error``, and errors that are seen."""

    _css = widget_file("rmlab.css")
    error = traitlets.Unicode("").tag(sync=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # IPython swallows exceptions raised while rendering: warn first so they are seen
        try:
            return super()._repr_mimebundle_(**kwargs)
        except Exception as exc:
            warnings.warn(f"{type(self).__name__} failed to render: {exc!r}", stacklevel=2)
            raise

    def _report(self, message: str) -> None:
        """Show ``message`` in the widget (set only on change: 50 bad frames/s must not flood)."""
        if self.error != message:
            self.error = message
