"""Set-up: scripts/lab.sh installs only when the checkout changed; the metadata is current; examples write
only where git does not look."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE_PIP = """#!/bin/sh
echo "pip $*" >> "$CALLS"
"""
FAKE_JUPYTER = """#!/bin/sh
echo "jupyter $*" >> "$CALLS"
"""


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git checkout with scripts/lab.sh and a pretend .venv whose pip and jupyter record their calls."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "lab.sh", repo / "scripts" / "lab.sh")
    (repo / "module.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text(".venv/\n")
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("pip", FAKE_PIP), ("jupyter", FAKE_JUPYTER), ("python", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=repo, check=True)
    return repo


def lab(repo: Path) -> list[str]:
    calls = repo / "calls.txt"
    calls.unlink(missing_ok=True)
    result = subprocess.run(["bash", "scripts/lab.sh"], cwd=repo, env={**os.environ, "CALLS": str(calls)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines()


def installs(calls: list[str]) -> bool:
    return any(call.startswith("pip install") and ".[examples]" in call for call in calls)


def test_lab_installs_only_when_the_checkout_changed(checkout: Path) -> None:
    first = lab(checkout)
    assert installs(first) and all("--quiet" in call for call in first if call.startswith("pip"))
    assert first[-1].startswith("jupyter lab") and "examples/digits.ipynb" in first[-1]
    assert lab(checkout) == [first[-1]]  # nothing changed: straight to JupyterLab
    (checkout / "module.py").write_text("x = 2\n")  # an edit
    assert installs(lab(checkout))
    assert not installs(lab(checkout))
    (checkout / "module.py").write_text("x = 3\n")  # another edit of the same, already modified file
    assert installs(lab(checkout))
    (checkout / "new.py").write_text("y = 1\n")  # a new file
    assert installs(lab(checkout))
    assert not installs(lab(checkout))


def test_metadata_is_current_and_the_version_has_one_source() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "BSD-3-Clause"  # an SPDX string: the table form is deprecated
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jupyter_pipelines._version.__version__"}
    setuptools = next(r for r in project["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(re.search(r">=(\d+)", setuptools).group(1)) >= 77  # the first to read the SPDX form
    tree = ast.parse((ROOT / "jupyter_pipelines" / "_version.py").read_text())
    assert any(isinstance(node, ast.Assign) and node.targets[0].id == "__version__" for node in tree.body)


def test_examples_write_their_outputs_where_git_does_not_look() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    notebook = json.loads((ROOT / "examples" / "digits.ipynb").read_text())
    written = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            written += re.findall(r"\.export\(\s*['\"]([^'\"]+)['\"]", "".join(cell["source"]))
    assert written, "the example exports a zip"
    for path in written:
        target = os.path.relpath(ROOT / "examples" / path, ROOT)  # a kernel runs in the notebook's folder
        ignored = subprocess.run(["git", "check-ignore", "-q", target], cwd=ROOT)
        assert ignored.returncode == 0, f"{target} would show up in git status"
    for path in ("examples/.ipynb_checkpoints/digits-checkpoint.ipynb", ".ipynb_checkpoints/x.ipynb"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0

