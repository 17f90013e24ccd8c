"""A plain install enables the server extension and ships the side panel (checked on installed copies)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig

import pytest

import jupyter_pipelines

INSTALLED = os.path.realpath(jupyter_pipelines.__file__).startswith(os.path.realpath(sysconfig.get_paths()["purelib"]))
pytestmark = pytest.mark.skipif(not INSTALLED, reason="an editable install does not place data files")


def jupyter(*args: str) -> str:
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=120,
                            env=env)  # `jupyter` runs the `jupyter-*` it finds first on PATH: this Python's
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_server_extension_is_enabled_after_install() -> None:
    assert re.search(r"jupyter_pipelines\s+enabled", jupyter("server", "extension", "list"))


def test_side_panel_is_installed_and_enabled() -> None:
    assert re.search(r"jupyter-pipelines v[\d.]+ enabled", jupyter("labextension", "list"))
