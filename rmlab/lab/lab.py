"""``Lab``: the builder, the console and the live plots in one layout.

It is a plain ipywidgets ``VBox`` (builder on top, console with its plots below), so
it renders the same in JupyterLab, in a classic notebook and in Voila, where only the
outputs of a notebook are shown: a notebook whose last cell is ``Lab()`` is an app.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from rmlab.lab._bokeh import ShownWithBokeh
from rmlab.lab.builder import Builder
from rmlab.lab.console import Console

__all__ = ["Lab"]


class Lab(ShownWithBokeh, widgets.VBox):
    """Build a pipeline by drag and drop, press Start, watch latency and outputs live.

    ``manifest``: what the builder starts with (None: an empty canvas; a ``Manifest``
    is edited in place). ``source`` and the keyword arguments go to ``Console``
    (``executor``, ``output``, ``speaker``, ``rate``, ...). ``lab.builder`` and
    ``lab.console`` are the parts; ``lab.manifest`` is the builder's manifest.
    """

    def __init__(self, manifest: Any = None, source: Any = "tone", **console: Any) -> None:
        self.builder = Builder(manifest)
        self.console = Console(self.builder, source, **console)
        super().__init__([self.builder, self.console])
        self.add_class("rm-lab")

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
        self.console.close()
        self.builder.close()
        super().close()
