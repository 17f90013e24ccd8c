"""Export a pipeline as a zip that runs with ``python main.py``, without jupyter_pipelines installed.

See DESIGN.md ("Export zip") for the layout; :func:`write_zip` writes a file, :func:`build_zip`
writes into an open binary file (the server's exports folder).
"""
from .artifacts import ExportError
from .builder import build_zip, write_zip

__all__ = ["ExportError", "build_zip", "write_zip"]
