#!/usr/bin/env bash
# Set up a virtual environment with jupyter_pipelines and open the example notebook in JupyterLab.
# The package (and its side panel) is installed again only when the checkout changed since the last
# install: a stamp in .venv keeps a hash of the sources it was built from.
set -euo pipefail
cd "$(dirname "$0")/.."

checkout_hash() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # the commit, what differs from it (content, not just names), and untracked files that are not ignored
    {
      git rev-parse HEAD
      git diff HEAD --binary
      git ls-files --others --exclude-standard -z | sort -z | xargs -0 -r sha256sum
    } | sha256sum | cut -d' ' -f1
  else
    find pyproject.toml setup.py jupyter-config jupyter_pipelines labextension \
      \( -name node_modules -o -name __pycache__ -o -path jupyter_pipelines/labextension -o -path labextension/lib \) \
      -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
  fi
}

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.jupyter_pipelines-installed
wanted="$(checkout_hash)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing jupyter_pipelines into .venv (the checkout changed since the last install)…"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet ".[examples]"
  echo "$wanted" > "$stamp"
fi

root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)
exec .venv/bin/jupyter lab "${root_flag[@]}" examples/digits.ipynb "$@"
