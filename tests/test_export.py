"""The export zip: runs with ``python main.py`` without jupyter_pipelines, same outputs as the engine.

Fixtures live here (no conftest changes): each test gets its own engine home.
"""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_pipelines import Input, Output, Pipeline, operation
from jupyter_pipelines.cli import load_pipelines
from jupyter_pipelines.engine import ExecutionManager
from jupyter_pipelines.export import ExportError
from jupyter_pipelines.export import build_zip as build_zip_of
from jupyter_pipelines.runner import serialize
from jupyter_pipelines.store import ArtifactRecord, Store
from jupyter_pipelines.store.models import now

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "digits.py")
SECRET = "s3cr3t-Value-that-must-not-leak-0123456789"
ACCESS_KEY = "AKIAEXPORTTEST"
# Runs main.py with jupyter_pipelines made unimportable, so a test fails if the zip depends on it.
ISOLATED = ("import runpy, sys; sys.modules['jupyter_pipelines'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")


# -- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch) -> str:
    path = str(tmp_path / "home")
    monkeypatch.setenv("JUPYTER_PIPELINES_HOME", path)
    monkeypatch.setenv("JUPYTER_PIPELINES_EMBEDDED", "1")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "FSSPEC_", "RAW_DATA_")) and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def extract(zip_path: str, target: str) -> str:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    return target


def write_zip(pipeline: Pipeline, path: str, home: str, **options: Any) -> str:
    """Export through the engine of ``home``, as the API does."""
    manager = ExecutionManager(home)
    try:
        return manager.export_to({"pipeline": pipeline.to_dict(), **options}, path)
    finally:
        manager.close()


def build_zip(pipeline: Any, file: Any, home: str) -> None:
    """The builder itself, given what the engine of ``home`` knows (no input artifacts here)."""
    manager = ExecutionManager(home)
    try:
        build_zip_of(pipeline, file, records={}, context=manager.context)
    finally:
        manager.close()


def export(pipeline: Pipeline, tmp_path, home: str, name: str = "export", **options: Any) -> str:
    zip_path = write_zip(pipeline, str(tmp_path / f"{name}.zip"), home=home, **options)
    return extract(zip_path, str(tmp_path / name))


def run_main(folder: str, *args: str, env: dict[str, str] | None = None,
             python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    command = [python, "-c", ISOLATED, os.path.join(folder, "main.py"), *args] if python == sys.executable \
        else [python, os.path.join(folder, "main.py"), *args]
    return subprocess.run(command, cwd=folder, env=env or clean_env(), capture_output=True, text=True, timeout=600)


def load(path: str) -> Any:
    with open(path, "rb") as file:
        return serialize.load(file)


def engine_outputs(home: str, pipeline: Pipeline, **options: Any) -> dict[str, Any]:
    """Run the pipeline with the engine; return ``{artifact: value}`` of its Output artifacts."""
    manager = ExecutionManager(home)
    try:
        record = manager.submit(pipeline, "reference", **options)
        record = manager.wait(pipeline.project, record.name, timeout=300)
        assert record.status == "success", [(j.node, j.status, j.error, j.traceback) for j in record.jobs]
        names = [node.artifact for node in pipeline.nodes.values() if node.kind == "output"]
        return {name: load(manager.store.artifact(pipeline.project, name).path) for name in names}
    finally:
        manager.close()


# -- operations used by the pipelines below ---------------------------------------------------------
@operation
def numbers(n: int = 5):
    return list(range(n))


@operation
def total(values):
    return {"total": sum(values["values"]), "count": len(values["values"])}


@operation
def boom(data, divisor: int = 0):
    scaled = [x / divisor for x in data]
    return scaled


@operation
def after(data):
    return data


@operation(outputs=("first", "rest"))
def head(data):
    return data[0], data[1:]


def s3_pipeline() -> Pipeline:
    with Pipeline("from-s3", project="tests") as pipeline:
        raw = Input("raw-data")
        Output(total(raw), name="summary")
    return pipeline


# -- 1. the digits example in a fresh virtual environment ------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_digits_export_runs_in_a_fresh_venv_with_the_engines_outputs(tmp_path, home):
    pipeline = load_pipelines(DIGITS)["digits"]
    folder = export(pipeline, tmp_path, home, "digits")
    requirements = open(os.path.join(folder, "requirements.txt")).read()
    assert "fsspec" in requirements and "scikit-learn" in requirements and "jupyter" not in requirements

    venv = str(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, env=clean_env(), timeout=300)
    python = os.path.join(venv, "bin", "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-r", os.path.join(folder, "requirements.txt")],
                             env=clean_env(), capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    isolated = subprocess.run([python, "-c", "import jupyter_pipelines"], cwd=folder, env=clean_env(),
                              capture_output=True, text=True, timeout=120)
    assert isolated.returncode != 0 and "ModuleNotFoundError" in isolated.stderr

    result = run_main(folder, python=python)
    assert result.returncode == 0, result.stdout + result.stderr
    for node in ("load_digits", "split", "train", "evaluate"):
        assert f"operation {node!r} (operations/{node}.py) done in" in result.stdout
    assert "accuracy:" in result.stdout

    outputs = os.path.join(folder, "outputs")
    assert sorted(os.listdir(outputs)) == ["digits-metrics.pkl", "digits-model.pkl"]
    exported = {name[:-4]: load(os.path.join(outputs, name)) for name in os.listdir(outputs)}
    reference = engine_outputs(home, pipeline)
    assert set(exported) == set(reference)
    assert exported["digits-metrics"] == reference["digits-metrics"]
    assert exported["digits-metrics"]["accuracy"] > 0.9
    from sklearn.datasets import load_digits

    data = load_digits().data
    assert (exported["digits-model"].predict(data) == reference["digits-model"].predict(data)).all()


# -- 2. deterministic ----------------------------------------------------------------------------------
def test_the_same_pipeline_exported_twice_gives_byte_identical_zips(tmp_path, home):
    pipeline = load_pipelines(DIGITS)["digits"]
    first = write_zip(pipeline, str(tmp_path / "a.zip"), home=home)
    second = write_zip(load_pipelines(DIGITS)["digits"], str(tmp_path / "b" / "c.zip"), home=home)
    assert first == str(tmp_path / "a.zip") and os.path.isabs(second)
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()
    buffer = io.BytesIO()
    build_zip(pipeline, buffer, home=home)
    with open(first, "rb") as a:
        assert buffer.getvalue() == a.read()
    from_json = io.BytesIO()
    build_zip(json.loads(pipeline.to_json()), from_json, home=home)  # as the server passes it
    assert from_json.getvalue() == buffer.getvalue()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        for expected in ("main.py", "pipeline.json", "requirements.txt", "README.md", "runtime/__init__.py",
                         "runtime/job.py", "runtime/serialize.py", "operations/train.py", "artifacts/"):
            assert expected in names
        manifest = json.loads(archive.read("pipeline.json"))
    assert manifest["order"] == ["load_digits", "split", "train", "evaluate", "digits-model", "digits-metrics"]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]


def test_runtime_is_the_runner_and_imports_nothing_of_jupyter_pipelines(tmp_path, home):
    folder = export(load_pipelines(DIGITS)["digits"], tmp_path, home)
    import jupyter_pipelines.runner as runner

    for name in ("__init__.py", "job.py", "serialize.py"):
        shipped = open(os.path.join(folder, "runtime", name)).read()
        assert shipped == open(os.path.join(os.path.dirname(runner.__file__), name)).read()
        assert "from jupyter_pipelines" not in shipped and "import jupyter_pipelines" not in shipped


# -- 3. operations that would collide ----------------------------------------------------------------
def test_same_function_names_and_one_operation_with_two_attribute_sets_do_not_collide(tmp_path, home):
    modules = tmp_path / "src"
    modules.mkdir()
    (modules / "ns_plus.py").write_text(textwrap.dedent("""
        from jupyter_pipelines import operation

        @operation
        def step(data):
            return [x + 1 for x in data]
    """))
    (modules / "ns_times.py").write_text(textwrap.dedent("""
        from jupyter_pipelines import operation

        @operation
        def step(data):
            return [x * 10 for x in data]
    """))
    (modules / "collide.py").write_text(textwrap.dedent("""
        import os, sys
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import ns_plus, ns_times
        from jupyter_pipelines import Output, Pipeline, operation

        @operation
        def start(n: int = 3):
            return list(range(n))

        @operation
        def scale(data, factor: int = 1):
            return [x * factor for x in data]

        with Pipeline("collide", project="tests") as collide:
            plus = ns_plus.step(start())
            times = ns_times.step(plus)
            Output(scale(times, factor=2), name="doubled")
            Output(scale(times, factor=3), name="tripled")
    """))
    pipeline = load_pipelines(str(modules / "collide.py"))["collide"]
    assert sorted(pipeline.operations) == ["scale", "start", "step", "step_2"]
    folder = export(pipeline, tmp_path, home)
    files = sorted(os.listdir(os.path.join(folder, "operations")))
    assert files == ["scale.py", "start.py", "step.py", "step_2.py"]
    sources = {name: open(os.path.join(folder, "operations", name)).read() for name in files}
    assert "x + 1" in sources["step.py"] and "x * 10" in sources["step_2.py"]
    manifest = json.load(open(os.path.join(folder, "pipeline.json")))
    attributes = {n["id"]: n["attributes"] for n in manifest["nodes"] if n.get("operation") == "scale"}
    assert attributes == {"scale": {"factor": 2}, "scale_2": {"factor": 3}}

    result = run_main(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(os.path.join(folder, "outputs", "doubled.pkl")) == [20, 40, 60]
    assert load(os.path.join(folder, "outputs", "tripled.pkl")) == [30, 60, 90]
    # --storage and --output-dir elsewhere, data kept in memory
    out = str(tmp_path / "elsewhere")
    result = run_main(folder, "--storage", "memory://run", "--output-dir", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(os.path.join(out, "tripled.pkl")) == [30, 60, 90]


# -- 4. a failing operation --------------------------------------------------------------------------
def test_a_failing_operation_exits_non_zero_with_its_traceback(tmp_path, home):
    with Pipeline("fails", project="tests") as pipeline:
        first, rest = head(numbers(n=4))
        Output(after(boom(rest, divisor=0)), name="never")
    folder = export(pipeline, tmp_path, home)
    result = run_main(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert os.path.join(folder, "operations", "boom.py") in result.stderr
    assert "scaled = [x / divisor for x in data]" in result.stderr  # the offending line is shown
    assert "operation 'boom' (operations/boom.py) failed" in result.stderr
    assert "2 later steps not run" in result.stderr
    assert "operation 'head' (operations/head.py) done in" in result.stdout
    assert "operation 'after'" not in result.stdout
    assert not os.path.exists(os.path.join(folder, "outputs", "never.pkl"))
    bad = run_main(folder, "--input", "nope=/tmp/x")
    assert bad.returncode == 2 and "nope" in bad.stderr


# -- 5 and 6. an Input artifact on S3, credentials, no secret in the zip ---------------------------------
@pytest.fixture
def s3_artifact(home) -> Iterator[dict[str, Any]]:
    """A moto S3 server on loopback with a registered artifact ``raw-data`` on it."""
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"exports-{uuid.uuid4().hex[:12]}"  # moto keeps its state per process, across servers
    try:
        fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET, client_kwargs={"endpoint_url": endpoint},
                               skip_instance_cache=True)
        fs.mkdir(bucket)
        value = {"values": [3, 4, 5, 6]}
        with fs.open(f"{bucket}/inputs/raw.pkl", "wb") as file:
            size = serialize.dump(value, file)
        store = Store(os.path.join(home, "pipelines.db"))
        store.save_artifact(ArtifactRecord(
            project="tests", name="raw-data", backend="s3",
            config={"bucket": bucket, "prefix": "inputs", "endpoint_url": endpoint, "region": "us-east-1",
                    "key": None},
            path=f"{bucket}/inputs/raw.pkl", type="dict", size=size, created=now()))
        store.close()
        yield {"endpoint": endpoint, "value": value, "fs": fs, "path": f"{bucket}/inputs/raw.pkl"}
    finally:
        server.stop()


def members(zip_path: str) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_an_s3_input_is_fetched_with_credentials_from_the_environment(tmp_path, home, s3_artifact):
    pipeline = s3_pipeline()
    zip_path = write_zip(pipeline, str(tmp_path / "s3.zip"), home=home,
                         credentials={"raw-data": {"key": ACCESS_KEY, "secret": SECRET}})
    folder = extract(zip_path, str(tmp_path / "s3"))
    manifest = json.load(open(os.path.join(folder, "pipeline.json")))
    entry = manifest["inputs"]["raw-data"]
    assert entry["bundled"] is False and entry["protocol"] == "s3"
    assert entry["credentials"]["key"]["env"] == "RAW_DATA_KEY"
    assert entry["credentials"]["secret"]["env"] == "RAW_DATA_SECRET"
    assert entry["credentials"]["secret"]["required"] is True
    readme = open(os.path.join(folder, "README.md")).read()
    assert "RAW_DATA_KEY" in readme and "RAW_DATA_SECRET" in readme
    assert "s3fs" in open(os.path.join(folder, "requirements.txt")).read()

    result = run_main(folder, env=clean_env(RAW_DATA_KEY=ACCESS_KEY, RAW_DATA_SECRET=SECRET))
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(os.path.join(folder, "outputs", "summary.pkl")) == {"total": 18, "count": 4}
    assert load(os.path.join(folder, "outputs", "summary.pkl")) == engine_outputs(
        home, pipeline, credentials={"raw-data": {"key": ACCESS_KEY, "secret": SECRET}})["summary"]

    missing = run_main(folder, env=clean_env(RAW_DATA_KEY=ACCESS_KEY))
    assert missing.returncode == 2
    assert "RAW_DATA_SECRET" in missing.stderr and "raw-data" in missing.stderr
    assert "RAW_DATA_KEY" not in missing.stderr.split("missing", 1)[1]
    assert "RAW_DATA_TOKEN" not in missing.stderr  # a session token is optional
    assert "Traceback" not in missing.stderr
    neither = run_main(folder)
    assert neither.returncode == 2 and "RAW_DATA_KEY" in neither.stderr and "RAW_DATA_SECRET" in neither.stderr

    # --input replaces the recorded location; a local file needs no credentials
    local = str(tmp_path / "local.pkl")
    with open(local, "wb") as file:
        serialize.dump({"values": [1, 2]}, file)
    override = run_main(folder, "--input", f"raw-data={local}")
    assert override.returncode == 0, override.stdout + override.stderr
    assert load(os.path.join(folder, "outputs", "summary.pkl")) == {"total": 3, "count": 2}

    for name, content in members(zip_path).items():
        assert SECRET.encode() not in content, name
    assert SECRET.encode() not in open(zip_path, "rb").read()


def test_bundled_and_embedded_credentials(tmp_path, home, s3_artifact):
    pipeline = s3_pipeline()
    # bundled: read with in-memory credentials, which are not written; runs with no variable set
    bundled_zip = write_zip(pipeline, str(tmp_path / "bundled.zip"), home=home, bundle=["raw-data"],
                            credentials={"raw-data": {"key": ACCESS_KEY, "secret": SECRET}})
    contents = members(bundled_zip)
    assert "artifacts/raw-data.pkl" in contents
    assert serialize.load(io.BytesIO(contents["artifacts/raw-data.pkl"])) == s3_artifact["value"]
    for name, content in contents.items():
        assert SECRET.encode() not in content, name
    folder = extract(bundled_zip, str(tmp_path / "bundled"))
    s3_artifact["fs"].rm(s3_artifact["path"])  # the zip no longer needs S3
    result = run_main(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(os.path.join(folder, "outputs", "summary.pkl")) == {"total": 18, "count": 4}

    # embedded: only when asked, under a clearly named key, with a warning in the README
    with s3_artifact["fs"].open(s3_artifact["path"], "wb") as file:
        serialize.dump({"values": [10]}, file)
    embedded_zip = write_zip(pipeline, str(tmp_path / "embedded.zip"), home=home,
                             embed_credentials={"raw-data": {"key": ACCESS_KEY, "secret": SECRET}})
    contents = members(embedded_zip)
    holders = sorted(name for name, content in contents.items() if SECRET.encode() in content)
    assert holders == ["pipeline.json"]
    manifest = json.loads(contents["pipeline.json"])
    assert manifest["embedded_credentials"] == {"raw-data": {"key": ACCESS_KEY, "secret": SECRET}}
    assert "WARNING" in contents["README.md"].decode() and "embedded_credentials" in contents["README.md"].decode()
    folder = extract(embedded_zip, str(tmp_path / "embedded"))
    result = run_main(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(os.path.join(folder, "outputs", "summary.pkl")) == {"total": 10, "count": 1}


def test_bad_export_options_name_the_problem(tmp_path, home, s3_artifact):
    pipeline = s3_pipeline()
    with pytest.raises(ExportError, match="nope"):
        write_zip(pipeline, str(tmp_path / "x.zip"), home=home, bundle=["nope"])
    with pytest.raises(ExportError, match="password"):
        write_zip(pipeline, str(tmp_path / "x.zip"), home=home, embed_credentials={"raw-data": {"password": "x"}})
    with pytest.raises(ExportError, match="raw-data"):
        write_zip(pipeline, str(tmp_path / "x.zip"), home=str(tmp_path / "empty-home"))
    s3_artifact["fs"].rm(s3_artifact["path"])
    with pytest.raises(ExportError, match="'raw-data'.*does not exist"):
        write_zip(pipeline, str(tmp_path / "x.zip"), home=home, bundle=["raw-data"],
                  credentials={"raw-data": {"key": ACCESS_KEY, "secret": SECRET}})
    assert not os.path.exists(tmp_path / "x.zip")
    assert not [name for name in os.listdir(tmp_path) if "partial" in name]


def test_requirements_map_import_names_and_skip_the_standard_library():
    from jupyter_pipelines.export.requirements import requirements_text

    text, notes = requirements_text(["s3", "file"], {
        "a": "import json\nimport numpy as np\nfrom sklearn.svm import SVC\nfrom . import x\n",
        "b": "def f():\n    import os.path\n    from PIL import Image\n    import not_a_module_anywhere_xyz\n",
    })
    lines = [line.split("#")[0].strip() for line in text.splitlines() if line and not line.startswith("#")]
    names = [line.split("==")[0] for line in lines]
    assert names == sorted(names, key=str.lower)
    assert {"fsspec", "s3fs", "numpy", "scikit-learn", "Pillow"} <= set(names)
    assert "json" not in names and "os" not in names and "sklearn" not in names
    assert any("not_a_module_anywhere_xyz" in note for note in notes)


def test_a_filesystem_implemented_in_the_package_is_shipped_in_runtime():
    pytest.importorskip("jupyter_pipelines.storage.sciserver_fs")
    import fsspec

    from jupyter_pipelines.export.builder import shipped_filesystems
    from jupyter_pipelines.storage.sciserver_fs import SciServerFilesFileSystem

    fsspec.register_implementation("sciserver", SciServerFilesFileSystem, clobber=True)
    registrations, files, imports = shipped_filesystems(["sciserver", "s3", "file"])
    assert registrations == {"sciserver": "runtime.sciserver_fs:SciServerFilesFileSystem"}
    assert list(files) == ["runtime/sciserver_fs.py"]
    assert "jupyter_pipelines" not in imports["runtime/sciserver_fs.py"]
