"""The notebook lab: build a pipeline, run it, watch it live.

- ``Builder``: a drag-and-drop manifest editor (palette, canvas, param form).
- ``Console``: source and executor pickers, Start/Stop, status, errors, live plots.
- ``Lab``: both in one layout, for JupyterLab and Voila.
- ``LatencyPlot``, ``ScopePlot``, ``SpectrumPlot`` and their ``Dispatcher``: the live
  Bokeh plots, usable on their own with any session.
"""

from rmlab.lab.builder import Builder
from rmlab.lab.console import Console
from rmlab.lab.lab import Lab
from rmlab.lab.plots import Dispatcher, LatencyPlot, ScopePlot, SpectrumPlot

__all__ = ["Builder", "Console", "Dispatcher", "Lab", "LatencyPlot", "ScopePlot", "SpectrumPlot"]
