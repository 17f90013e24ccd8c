"""How the dialogs and views are displayed: a live widget, and a static snapshot saved with the notebook.

A widget output needs its kernel: reopened after the kernel is gone (widget state is not saved by
default), JupyterLab shows "Error displaying widget: model not found" where it was, and after a
kernel restart the old widgets stay on the page but no longer reach anything. So ``show()``
displays two outputs, one after the other:

1. the live widget (``application/vnd.jupyter.widget-view+json``);
2. a snapshot of its state as HTML (``text/html``, with a ``display_id``), kept up to date with
   ``update_display`` (:meth:`Shown.refresh_snapshot`): the last state is what a saved notebook holds.

A ``<style>`` in the snapshot hides whichever of the two must not show: the snapshot while its
live widget is rendered after it, the widget's output when it could not be rendered (the class
``jupyter-widgets`` on the output itself: "model not found", or a missing frontend module).
After a kernel restart JupyterLab's widget manager marks every widget view
``jupyter-widgets-disconnected``: the views then show :func:`detached_note` and hide their
buttons (class ``jp-pipelines-needs-kernel``), which could no longer act.
"""
from __future__ import annotations

import uuid
from typing import Any

import ipywidgets as w

from .style import esc

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
NEEDS_KERNEL = "jp-pipelines-needs-kernel"

#: What a restarted kernel does to the views (see the module docstring); in every live view.
DETACHED_STYLE = (
    "<style>"
    ".jp-pipelines-detached-note{display:none}"
    ".jupyter-widgets-disconnected .jp-pipelines-detached-note{display:block}"
    f".jupyter-widgets-disconnected.{NEEDS_KERNEL}{{display:none!important}}"
    # the note says it once: no broken-link icon of ipywidgets' on each part of the view
    ".jp-pipelines-live.jupyter-widgets-disconnected::before,"
    ".jp-pipelines-live .jupyter-widgets-disconnected::before{display:none}"
    "</style>")


def _cell() -> Any:
    try:
        from IPython import get_ipython  # IPython only inside a kernel
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    return getattr(shell, "execution_count", None) if shell is not None else None


def _in_shell() -> bool:
    try:
        from IPython.core.interactiveshell import InteractiveShell  # IPython only inside a kernel
    except ImportError:  # pragma: no cover
        return False
    return InteractiveShell.initialized()


def publish(bundle: dict[str, Any], display_id: str | None = None, update: bool = False) -> None:
    """Display (or update) a raw MIME bundle in the current IPython shell; nothing outside one."""
    if not _in_shell():
        return
    from IPython.display import display  # IPython only inside a kernel

    if update:
        display(bundle, raw=True, display_id=display_id, update=True)
    elif display_id:
        display(bundle, raw=True, display_id=display_id)
    else:
        display(bundle, raw=True)


def detached_note(message_html: str) -> w.HTML:
    """A note shown only once the kernel behind the view is gone (restarted), with its style."""
    note = w.HTML(DETACHED_STYLE + '<div class="jp-pipelines-detached-note" role="status" style="border-left:4px '
                  'solid #ef6c00;background:#fff3e0;color:#4e2600;padding:6px 10px;margin:4px 0">'
                  f"{message_html}</div>")
    note.add_class("jp-pipelines-detached")
    return note


def reattach_hint(name: str, project: str) -> str:
    return f'<code>jupyter_pipelines.get({esc(repr(name))}, project={esc(repr(project))})</code>'


class Shown:
    """Base of the dialogs and views: ``show()`` displays ``self.widget`` with its snapshot and returns ``self``.

    ``pipeline.execute()`` as the last line of a cell returns the dialog, which IPython then displays
    too: ``_ipython_display_`` skips that second display in the cell that already showed it (a later
    cell that shows the object again gets another view of the same live widgets).
    Subclasses give :meth:`snapshot_html` (the body of the snapshot) and may give the texts.
    """

    widget: w.Widget
    _shown_in: Any = None
    _key: str = ""
    _displayed: bool = False
    _last_snapshot: str | None = None

    # -- what subclasses give -------------------------------------------------------------------------
    def snapshot_html(self) -> str:
        return ""

    def snapshot_text(self) -> str:
        return type(self).__name__

    def live_text(self) -> str:
        """The widget output's ``text/plain`` (where widgets cannot show)."""
        return self.snapshot_text()

    # -- display ----------------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """Ties the live output to its snapshot (CSS classes)."""
        if not self._key:
            self._key = uuid.uuid4().hex[:16]
        return self._key

    @property
    def display_id(self) -> str:
        return f"jp-pipelines-snapshot-{self.key}"

    def show(self) -> Any:
        self._shown_in = _cell()
        self._display()
        return self

    def _ipython_display_(self) -> None:
        if self._shown_in is not None and self._shown_in == _cell():
            return
        self._shown_in = _cell()
        self._display()

    def _display(self) -> None:
        self.widget.add_class("jp-pipelines-live")
        self.widget.add_class(f"jp-pipelines-live-{self.key}")
        bundle = dict(self.widget._repr_mimebundle_())
        bundle["text/plain"] = self.live_text()
        publish(bundle)
        self._last_snapshot = None
        self._displayed = True
        publish(self.snapshot_bundle(), self.display_id)

    def snapshot_bundle(self) -> dict[str, Any]:
        key = self.key
        style = ("<style>"
                 f".jp-OutputArea-child:has(.jp-pipelines-live-{key}) ~ "
                 f".jp-OutputArea-child:has(.jp-pipelines-snapshot-{key}){{display:none}}"
                 f".jp-OutputArea-child:has(> .jp-OutputArea-output.jupyter-widgets):has(+ .jp-OutputArea-child "
                 f".jp-pipelines-snapshot-{key}){{display:none}}"
                 "</style>")
        html = (f'{style}<div class="jp-pipelines-snapshot jp-pipelines-snapshot-{key}" '
                f'style="border:1px dashed var(--jp-border-color1,#bdbdbd);padding:6px 10px;max-width:980px">'
                f"{self.snapshot_html()}</div>")
        self._last_snapshot = html
        return {"text/html": html, "text/plain": self.snapshot_text()}

    def refresh_snapshot(self) -> bool:
        """Update the displayed snapshot to the current state (when it changed); True if it was sent."""
        if not self._displayed:
            return False
        before = self._last_snapshot
        bundle = self.snapshot_bundle()
        if bundle["text/html"] == before:
            return False
        publish(bundle, self.display_id, update=True)
        return True
