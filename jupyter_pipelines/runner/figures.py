"""Figures an operation draws with matplotlib, kept as PNG images beside its outputs.

While an operation runs, ``MPLBACKEND`` is ``Agg`` (also for the processes it starts), and once
matplotlib is imported — by the operation, or earlier by a pre-warmed process — its backend is
:data:`BACKEND`, an Agg whose ``show()`` keeps each open figure as a PNG and closes it (as a
notebook does). When the operation returns, a returned ``matplotlib.figure.Figure`` and figures
left open are kept too, in that order, each once. This module imports nothing but the standard
library, and never matplotlib: when the operation does not import it, nothing here touches it.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

#: The matplotlib backend of job processes (``mplbackend.py`` beside this file; only matplotlib
#: imports it).
BACKEND = f"module://{__package__}.mplbackend"
#: At most this many figures are kept per job.
LIMIT = 50
MIME = "image/png"


class Capture:
    """The figures of one operation run, as PNG bytes in the order they were shown."""

    def __init__(self) -> None:
        self.images: list[bytes] = []
        self._figures: list[Any] = []  # kept alive, so that ids are not reused while we compare them
        self.dropped = 0

    def add(self, figure: Any) -> None:
        if any(figure is seen for seen in self._figures):
            return
        self._figures.append(figure)
        if len(self.images) >= LIMIT:
            self.dropped += 1
            return
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        self.images.append(buffer.getvalue())


_current: Capture | None = None
_saved_env: str | None = None


def current() -> Capture | None:
    return _current


def shown(figures: Sequence[Any]) -> None:
    """``show()`` of the job's backend: keep each figure now (the backend closes them after)."""
    capture = _current
    if capture is None:
        return
    for figure in figures:
        try:
            capture.add(figure)
        except Exception as error:  # noqa: BLE001 - a figure that cannot be drawn must not fail the operation
            _note(f"a figure could not be saved: {type(error).__name__}: {error}")


def start() -> Capture:
    """Before the operation runs: Agg for matplotlib, and :data:`BACKEND` once it is imported."""
    global _current, _saved_env
    _current = Capture()
    _saved_env = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    if "matplotlib" in sys.modules:
        _use_backend(sys.modules["matplotlib"])
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("matplotlib", _use_backend))
    return _current


def finish(capture: Capture, values: Sequence[Any]) -> list[bytes]:
    """After the operation returned ``values``: keep returned figures, then the ones left open (and
    close those); the PNG images of the run, in order. Never raises."""
    try:
        figure_module = sys.modules.get("matplotlib.figure")
        if figure_module is not None:
            shown([value for value in values if isinstance(value, figure_module.Figure)])
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            shown([pyplot.figure(number) for number in pyplot.get_fignums()])
            pyplot.close("all")
    except Exception as error:  # noqa: BLE001 - never fail the operation for its figures
        _note(f"figures left open could not be saved: {type(error).__name__}: {error}")
    if capture.dropped:
        _note(f"{capture.dropped} figure(s) beyond the first {LIMIT} were not kept")
    return list(capture.images)


def stop() -> None:
    """After the operation: stop watching for matplotlib, put ``MPLBACKEND`` back."""
    global _current
    _current = None
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _AfterImport)]
    if _saved_env is None:
        os.environ.pop("MPLBACKEND", None)
    else:
        os.environ["MPLBACKEND"] = _saved_env


def _use_backend(matplotlib: Any) -> None:
    try:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.switch_backend(BACKEND)
        else:
            matplotlib.rcParams["backend"] = BACKEND
    except Exception as error:  # noqa: BLE001 - plain Agg then: figures left open are still kept
        _note(f"figures shown with plt.show() are not kept: {type(error).__name__}: {error}")


def _note(text: str) -> None:
    try:
        sys.stderr.write(f"[pipelines] {text}\n")
    except Exception:  # noqa: BLE001, S110 - a closed stderr is no reason to fail the job
        pass


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` right after the module ``name`` is first imported (once)."""

    def __init__(self, name: str, callback: Any) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self]
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenCall(spec.loader, self.callback)
        return spec


class _ThenCall(importlib.abc.Loader):
    def __init__(self, loader: Any, callback: Any) -> None:
        self.loader = loader
        self.callback = callback

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        self.callback(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self.loader, name)
