"""The command line, ``jupyter pipelines COMMAND`` (also ``python -m jupyter_pipelines``).

``main`` parses the arguments (``main.py``) and runs a command (``commands.py``) against the API
found by ``client.connect``; ``loading.py`` reads a file's pipelines, ``options.py`` the backends'
configuration, parameters and secrets.
"""
from __future__ import annotations

from .loading import choose, load_pipelines
from .main import main, parser

__all__ = ["choose", "load_pipelines", "main", "parser"]
