"""Self-contained operation source: module functions, notebook cells, and what is refused."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
import threading
import uuid
from typing import Any

import pytest

from jupyter_pipelines.capture import CaptureError, capture_source
from jupyter_pipelines.errors import BadRequest
from jupyter_pipelines.runner.job import load_operation

MODULE = '''
import json
import os.path
import numpy as np
from jupyter_pipelines import operation

SCALE = 3
NAMES = ("a", "b")
UNUSED = 42


def _square(x):
    return x * x


def helper(values):
    return [_square(v) * SCALE for v in values]


@operation
def compute(values, offset: int = 0):
    arr = np.asarray(helper(values)) + offset
    return json.dumps({"sum": int(arr.sum()), "names": list(NAMES), "base": os.path.basename("/x/y")})
'''


def load_module(tmp_path, source: str, importable: bool) -> Any:
    """A module from a real file; ``importable`` puts it on sys.path and in sys.modules."""
    name = f"capmod_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    if importable:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_captured(source: str, function: str, **kwargs: Any) -> Any:
    return load_operation(source, function, "test")(**kwargs)


def test_module_function_with_imports_constants_and_recursive_helpers(tmp_path) -> None:
    module = load_module(tmp_path, MODULE, importable=False)
    source = capture_source(module.compute)
    assert "import numpy as np" in source  # the alias is kept
    assert "import json" in source
    assert "import os\n" in source  # `os.path.basename` needs the top-level name
    assert "SCALE = 3" in source and "NAMES = ('a', 'b')" in source
    assert "UNUSED" not in source
    assert "def helper(values):" in source
    assert "def _square(x):" in source  # a helper of a helper
    assert "@operation" not in source and "jupyter_pipelines" not in source  # decorator stripped
    assert source.index("def _square") < source.index("def compute")
    compile(source, "<captured>", "exec")
    # what the job process does: exec in a fresh namespace
    assert json.loads(run_captured(source, "compute", values=[1, 2], offset=1)) == \
        {"sum": 3 * (1 + 4) + 2, "names": ["a", "b"], "base": "y"}
    assert module.compute.func(values=[1, 2], offset=1) == run_captured(source, "compute", values=[1, 2], offset=1)


def test_importable_module_helpers_are_imported_by_name(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = load_module(tmp_path, MODULE, importable=True)
    try:
        source = capture_source(module.compute)
        assert f"from {module.__name__} import helper" in source
        assert "def helper" not in source
        assert "def compute(values, offset: int = 0):" in source
    finally:
        sys.modules.pop(module.__name__, None)


def test_library_functions_are_imported() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    code = "from os.path import join as pjoin\nfrom os.path import basename\n" \
           "def op(a):\n    return basename(pjoin('/x', a))\n"
    _exec_with_source(code, namespace)
    source = capture_source(namespace["op"])
    assert "from posixpath import basename" in source or "from os.path import basename" in source
    assert "as pjoin" in source
    assert run_captured(source, "op", a="f.txt") == "f.txt"


def _exec_with_source(code: str, namespace: dict[str, Any]) -> None:
    """Execute code the way a notebook cell is: its source is findable through linecache."""
    import linecache

    filename = f"<cell {uuid.uuid4().hex[:8]}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec"), namespace)


def test_decorator_with_arguments_is_stripped() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    _exec_with_source(textwrap.dedent('''
        from jupyter_pipelines import operation

        @operation(
            outputs=("a", "b"),
        )
        def two():
            return 1, 2
    '''), namespace)
    source = capture_source(namespace["two"])
    assert source.startswith("def two():")
    assert "operation" not in source
    assert run_captured(source, "two") == (1, 2)


def test_closures_are_refused_with_a_clear_error() -> None:
    def outer():
        factor = 2

        def inner(x):
            return x * factor

        return inner

    with pytest.raises(CaptureError, match=r"uses variables of an enclosing function \(factor\).*top level"):
        capture_source(outer())
    assert issubclass(CaptureError, BadRequest)


def test_closure_in_an_operation_decorator_call_is_refused() -> None:
    from jupyter_pipelines import Pipeline, operation

    limit = 3

    @operation
    def capped(n: int = 1):
        return min(n, limit)

    with pytest.raises(CaptureError, match="limit"):
        with Pipeline("closure"):
            capped()


@pytest.mark.parametrize("kind", ["lock", "file"])
def test_uncapturable_global_is_refused_naming_it(kind, tmp_path) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    if kind == "lock":
        namespace["shared_thing"] = threading.Lock()
        expected = "lock"
    else:
        namespace["shared_thing"] = open(tmp_path / "f.txt", "w")  # noqa: SIM115
        expected = "TextIOWrapper"
    _exec_with_source("def op():\n    return shared_thing\n", namespace)
    try:
        with pytest.raises(CaptureError, match=rf"'op' uses the global 'shared_thing' \(a {expected}\).*cannot be captured"):
            capture_source(namespace["op"])
    finally:
        if kind == "file":
            namespace["shared_thing"].close()


def test_nan_constant_is_refused() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__", "BAD": float("nan")}
    _exec_with_source("def op():\n    return BAD\n", namespace)
    with pytest.raises(CaptureError, match="'BAD'"):
        capture_source(namespace["op"])


def test_shadowed_names_are_refused() -> None:
    helper_ns: dict[str, Any] = {"__name__": "__main__", "VALUE": 1}
    _exec_with_source("def helper():\n    return VALUE\n", helper_ns)
    namespace: dict[str, Any] = {"__name__": "__main__", "VALUE": 2, "helper": helper_ns["helper"]}
    _exec_with_source("def op():\n    return helper() + VALUE\n", namespace)
    with pytest.raises(CaptureError, match="'VALUE'"):
        capture_source(namespace["op"])


def test_locals_and_parameters_are_not_globals() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__", "x": threading.Lock()}
    _exec_with_source("def op(x):\n    y = x + 1\n    return y\n", namespace)
    assert run_captured(capture_source(namespace["op"]), "op", x=1) == 2


# -- the notebook ------------------------------------------------------------------------------------

NOTEBOOK_CELLS = [
    "import os\nimport numpy as np\nfrom jupyter_pipelines import Pipeline, operation",
    "def scaled_total(values, factor):\n    return float(np.sum(np.asarray(values) * factor))",
    "@operation(outputs=('total', 'pid'))\n"
    "def measure(factor: float = 2.0):\n"
    "    values = np.arange(5)\n"
    "    print('measuring in', os.getpid())\n"
    "    return scaled_total(values, factor), os.getpid()",
    "with Pipeline('nb_pipeline', project='notebooks') as p:\n"
    "    total, pid = measure(factor=3.0)\n"
    "ex = p.run(name='from notebook', wait=True)\n"
    "assert ex.status == 'success', ex.jobs\n"
    "kernel_pid = os.getpid()\n"
    "job_pid = ex.result('measure', 'pid')\n"
    "assert job_pid != kernel_pid, (job_pid, kernel_pid)\n"
    "assert ex.result('measure', 'total') == 30.0\n"
    "print('RESULT', ex.name, ex.status, ex.result('measure', 'total'), kernel_pid, job_pid)",
]


@pytest.mark.timeout(180)
def test_operation_defined_in_a_notebook_runs_in_a_worker(tmp_path, pipelines_home) -> None:
    pytest.importorskip("numpy")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    path = tmp_path / "pipeline.ipynb"
    nbformat.write(notebook, str(path))
    assert os.environ["JUPYTER_PIPELINES_HOME"] == pipelines_home  # the kernel inherits these
    assert os.environ["JUPYTER_PIPELINES_EMBEDDED"] == "1"

    executed = nbformat.read(str(path), as_version=4)
    nbclient.NotebookClient(executed, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    text = "".join(output.get("text", "") for output in executed.cells[3].outputs if output.output_type == "stream")
    line = next(line for line in text.splitlines() if line.startswith("RESULT"))
    _, name, status, total, kernel_pid, job_pid = line.split()
    assert (name, status, float(total)) == ("from_notebook", "success", 30.0)
    assert kernel_pid != job_pid and int(job_pid) != os.getpid()

    # the execution is in the store the kernel used, with the captured self-contained source
    from jupyter_pipelines.engine import ExecutionManager

    manager = ExecutionManager(pipelines_home)
    try:
        record = manager.get("notebooks", "from_notebook")
        assert record.status == "success"
        source = manager.store.commit(record.commit_id)["snapshot"]["operations"]["measure"]["source"]
        assert "import numpy as np" in source and "import os" in source
        assert "def scaled_total(values, factor):" in source and "@operation" not in source
        assert f"measuring in {job_pid}" in manager.job_log("notebooks", "from_notebook", "measure")
    finally:
        manager.close()
