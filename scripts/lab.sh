#!/usr/bin/env bash
# Set up a virtual environment with jupyter_pipelines and open the example notebook in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --upgrade pip >/dev/null
.venv/bin/pip install ".[examples]"
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)
exec .venv/bin/jupyter lab "${root_flag[@]}" examples/digits.ipynb "$@"
