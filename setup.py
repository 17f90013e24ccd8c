"""Packaging: metadata lives in pyproject.toml; this file builds the side panel and ships data files.

Building the package runs ``jlpm install`` and ``jlpm build:prod`` in ``labextension/`` (when
its sources are newer than the built extension), then installs the built extension to
``share/jupyter/labextensions/jupyter-pipelines`` and the server extension's config to
``etc/jupyter/jupyter_server_config.d``. Set ``JUPYTER_PIPELINES_SKIP_JS=1`` to skip the
JavaScript build (the package then ships without the side panel).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent.resolve()
SOURCES = HERE / "labextension"
BUILT = HERE / "jupyter_pipelines" / "labextension"
BUILD_COMMANDS = {"bdist_wheel", "build", "build_py", "editable_wheel", "develop", "install"}


def newest(paths: list[Path]) -> float:
    times = [p.stat().st_mtime for root in paths if root.exists()
             for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()]
    return max(times, default=0.0)


def build_labextension() -> None:
    marker = BUILT / "package.json"
    inputs = [SOURCES / name for name in ("src", "style", "schema", "package.json", "yarn.lock", "tsconfig.json")]
    if marker.exists() and newest([marker]) >= newest(inputs):
        return
    jlpm = [sys.executable, "-c", "import sys; from jupyter_builder.jlpm import main; sys.exit(main())"]
    # pip's isolated build environment is on this process's sys.path only: hand it to the children
    # (jlpm, and the `jupyter labextension build` that build:prod runs).
    env = {**os.environ, "YARN_ENABLE_IMMUTABLE_INSTALLS": "false",
           "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    subprocess.run([*jlpm, "install"], cwd=SOURCES, check=True, env=env)
    subprocess.run([*jlpm, "build:prod"], cwd=SOURCES, check=True, env=env)


def labextension_files() -> list[tuple[str, list[str]]]:
    target = Path("share/jupyter/labextensions/jupyter-pipelines")
    files: dict[str, list[str]] = {}
    for path in sorted(BUILT.rglob("*")):
        if path.is_file():
            folder = target / path.parent.relative_to(BUILT)
            files.setdefault(str(folder), []).append(str(path.relative_to(HERE)))
    return list(files.items())


if SOURCES.exists() and BUILD_COMMANDS & set(sys.argv) and os.environ.get("JUPYTER_PIPELINES_SKIP_JS") != "1":
    build_labextension()

setup(
    data_files=[
        ("etc/jupyter/jupyter_server_config.d", ["jupyter-config/jupyter_server_config.d/jupyter_pipelines.json"]),
        *labextension_files(),
    ],
)
