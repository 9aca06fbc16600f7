"""``Lab``: the builder, the console and the live plots in one layout.

Two arrangements of the same widgets, switched at any time (``lab.arrangement``, or
the "side by side / stacked" buttons in the Lab):

- ``"presentation"`` (the default): one screen, nothing below the fold. The canvas
  and the selected node's parameters on the left, the console with its four live
  plots on the right, in a box exactly as tall as the area the notebook scrolls in
  (JupyterLab's notebook panel, a classic notebook's page, Voila's page), so moving a
  slider never scrolls away from the plot it changes. Save/Open and the JSON, code
  and import boxes are one button away ("files, JSON, code"). From 1400 px wide the
  parameters get a column of their own between canvas and plots; below 760 px (a
  narrow notebook) the parts stack in one column and the page scrolls.
- ``"stacked"``: the canvas across the whole width, then Save/Open, the form beside
  the exports, then the console and its plots: a document to scroll through.

Presentation is the default because it is what a Lab is shown for (a notebook whose
last cell is ``Lab()`` is a Voila app, often on a projector), and because it needs no
knowledge of where it runs: it measures the screen in the page and falls back to one
column by itself when the Lab is narrow.

It is plain ipywidgets (boxes laid out by CSS grid in ``widgets/rmlab.css``), so it
renders the same in JupyterLab, a classic notebook and Voila. The only page code is
``widgets/lab.js``, an invisible part that tells the stylesheet how tall one screen
is. The console's plots fill the boxes the stylesheet sizes (``height=None``).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from rmlab import RmlabError
from rmlab._widget import Widget, widget_file
from rmlab.lab._bokeh import ShownWithBokeh
from rmlab.lab.builder import Builder
from rmlab.lab.console import Console
from rmlab.lab.plots import LatencyPlot, ScopePlot, SpectrumPlot

__all__ = ["ARRANGEMENTS", "ArrangementError", "Lab"]

ARRANGEMENTS = ("presentation", "stacked")
"""What ``Lab(arrangement=...)`` and ``lab.arrangement`` take."""


class ArrangementError(RmlabError, ValueError):
    """``Lab(arrangement=...)`` was given something that is not an arrangement."""


def _checked(arrangement: Any) -> str:
    if arrangement not in ARRANGEMENTS:
        raise ArrangementError(
            f"Lab arrangement {arrangement!r} is not one of {', '.join(map(repr, ARRANGEMENTS))}: "
            'use "presentation" (one screen, canvas and plots side by side) or "stacked" '
            "(everything in one scrolling column)"
        )
    return arrangement


class _LabConsole(Console):
    """A Console whose plots fill the boxes the Lab's stylesheet sizes to the screen."""

    def _make_plots(self) -> tuple[LatencyPlot, ScopePlot, SpectrumPlot]:
        return LatencyPlot(height=None), ScopePlot(height=None), SpectrumPlot(height=None)


class _Fit(Widget):
    """Invisible: measures one screen of the notebook for the Lab's stylesheet, and
    brings that stylesheet (``rmlab.css``, every rmlab widget's) into the page."""

    _esm = widget_file("lab.js")


class Lab(ShownWithBokeh, widgets.VBox):
    """Build a pipeline by drag and drop, press Start, watch latency and outputs live.

    ``manifest``: what the builder starts with (None: an empty canvas; a ``Manifest``
    is edited in place). ``arrangement``: ``"presentation"`` (one screen: canvas and
    plots side by side) or ``"stacked"`` (one scrolling column); see the module doc.
    ``source`` and the other keyword arguments go to ``Console`` (``executor``,
    ``output``, ``speaker``, ``rate``, ...). ``lab.builder`` and ``lab.console`` are
    the parts; ``lab.manifest`` is the builder's manifest.
    """

    def __init__(
        self,
        manifest: Any = None,
        source: Any = "tone",
        *,
        arrangement: str = "presentation",
        **console: Any,
    ) -> None:
        _checked(arrangement)  # before any widget exists
        self.builder = Builder(manifest)
        self.console = _LabConsole(self.builder, source, **console)
        self.builder.canvas.add_class("rm-lab-canvas")
        self.arrangement_picker = widgets.ToggleButtons(
            options=[("side by side", "presentation"), ("stacked", "stacked")],
            value=arrangement,
            tooltips=["canvas and plots on one screen", "everything in one scrolling column"],
            style={"button_width": "auto"},
        )
        self.arrangement_picker.add_class("rm-lab-arrangement")
        self.io_button = widgets.ToggleButton(
            description="files, JSON, code",
            icon="code",
            tooltip="Save and Open, the manifest as JSON and as Python, a box to load JSON",
        )
        self.io_button.add_class("rm-lab-io")
        self._fit = _Fit(layout=widgets.Layout(display="none"))
        self._tools = widgets.HBox([self.io_button, self.arrangement_picker, self._fit])
        self._tools.add_class("rm-lab-tools")
        self._grid = widgets.Box([self.builder, self._tools, self.console])
        self._grid.add_class("rm-lab-grid")
        super().__init__([self._grid])
        self.add_class("rm-lab")
        self.add_class(f"rm-lab-{arrangement}")
        self.arrangement_picker.observe(self._on_arrangement, "value")
        self.io_button.observe(self._on_io, "value")

    @property
    def arrangement(self) -> str:
        """``"presentation"`` or ``"stacked"``; set it to switch (the page follows)."""
        return self.arrangement_picker.value

    @arrangement.setter
    def arrangement(self, value: str) -> None:
        self.arrangement_picker.value = _checked(value)

    @property
    def needs_bokehjs(self) -> bool:  # type: ignore[override]
        return self.console.needs_bokehjs  # (none without plots: Lab(plots=False))

    @property
    def manifest(self) -> Any:
        """The pipeline being built (the one Start runs)."""
        return self.builder.manifest

    def start(self) -> None:
        """Press Start."""
        self.console.start()

    def stop(self) -> None:
        """Press Stop."""
        self.console.stop()

    def close(self) -> None:
        """Stop, then close every part."""
        if not hasattr(self, "_grid"):  # refused by __init__ before making anything
            super().close()
            return
        self.console.close()
        self.builder.close()
        for w in (self.arrangement_picker, self.io_button, self._fit, self._tools):
            w.close()
        self._grid.close()
        super().close()

    def _on_arrangement(self, change: dict[str, Any]) -> None:
        self.remove_class(f"rm-lab-{change['old']}")
        self.add_class(f"rm-lab-{change['new']}")

    def _on_io(self, change: dict[str, Any]) -> None:
        # presentation hides Save/Open and the exports until asked; stacked shows them
        if change["new"]:
            self.add_class("rm-lab-io-open")
        else:
            self.remove_class("rm-lab-io-open")
