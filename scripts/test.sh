#!/usr/bin/env bash
# Set up everything the tests need (a fresh venv, Chromium, npm packages) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
fi

python3 -m venv .venv-test
.venv-test/bin/pip install --upgrade pip >/dev/null
.venv-test/bin/pip install ".[test]"
export PATH="$PWD/.venv-test/bin:$PATH"

echo "== side panel: lint and unit tests"
(cd labextension && jlpm install && jlpm lint:check && jlpm test)

echo "== python: ruff and mypy"
.venv-test/bin/ruff check jupyter_pipelines tests benchmarks
.venv-test/bin/mypy jupyter_pipelines

echo "== python: unit, server, widgets, export, backends, browser"
mkdir -p test-artifacts
exec .venv-test/bin/pytest tests -p no:cacheprovider -ra "$@"
