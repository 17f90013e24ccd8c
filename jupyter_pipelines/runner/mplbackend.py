"""The matplotlib backend of job processes: Agg, whose ``show()`` keeps the open figures.

Only matplotlib imports this module, once an operation uses it (see ``figures.BACKEND``); the
runner itself never does, so it is not part of the stdlib-only runtime of exported zips.
"""
from __future__ import annotations

from typing import Any

from matplotlib import _pylab_helpers
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from . import figures

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    """Keep every open figure as a PNG of the job, then close them (as a notebook's inline backend)."""
    managers = _pylab_helpers.Gcf.get_all_fig_managers()
    figures.shown([manager.canvas.figure for manager in managers])
    for manager in managers:
        _pylab_helpers.Gcf.destroy(manager)
