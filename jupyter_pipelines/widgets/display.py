"""Display helpers: show a widget once per cell even when ``show()``'s result is the cell's value."""
from __future__ import annotations

from typing import Any

import ipywidgets as w


def _cell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    return getattr(shell, "execution_count", None) if shell is not None else None


class Shown:
    """Base of the dialog and view objects: ``show()`` displays ``self.widget`` and returns ``self``.

    ``pipeline.execute()`` as the last line of a cell returns the dialog, which IPython then displays
    too: ``_ipython_display_`` skips that second display in the cell that already showed it (a later
    cell that shows the object again gets another view of the same live widgets).
    """

    widget: w.Widget
    _shown_in: Any = None

    def show(self) -> Any:
        from IPython.display import display

        self._shown_in = _cell()
        display(self.widget)
        return self

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self._shown_in is not None and self._shown_in == _cell():
            return
        self._shown_in = _cell()
        display(self.widget)

