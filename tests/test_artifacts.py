"""Artifacts: upload from a file or an object, metadata and provenance, get/list/load/open, streaming."""
from __future__ import annotations

import os
import tracemalloc

import pytest

from jupyter_pipelines import Input, Output, Pipeline, operation
from jupyter_pipelines.artifacts import Artifact
from jupyter_pipelines.errors import BadRequest, NotFound
from jupyter_pipelines.runner import serialize
from jupyter_pipelines.runner.job import file_value_header

MiB = 1 << 20


@operation
def inspect(raw):
    return {"type": type(raw).__name__, "size": len(raw), "head": bytes(raw[:4])}


def test_upload_a_file_as_it_is(engine, tmp_path) -> None:
    source = tmp_path / "table.csv"
    source.write_bytes(b"a,b\n1,2\n")
    record = Artifact.upload(str(source), "table")
    assert record.type == "file" and record.size == 8 and record.backend == "local"
    assert record.project == "default" and record.execution is None and record.node is None and record.created
    assert record.path == os.path.join(engine.context.storage_root, "default", "uploaded.artifacts", "table.csv")
    with open(record.path, "rb") as file:
        assert file.read() == b"a,b\n1,2\n"
    assert Artifact.get("table") == record
    assert Artifact.load("table") == b"a,b\n1,2\n"
    with Artifact.open("table") as file:
        assert file.read(3) == b"a,b"
    assert [a.name for a in Artifact.list()] == ["table"]
    assert record.to_dict()["type"] == "file"


def test_upload_an_object_to_a_project_and_other_storage(engine, tmp_path) -> None:
    record = Artifact.upload({"x": [1, 2]}, "conf", project="proj", storage="fsspec",
                             config={"url": f"file://{tmp_path}/elsewhere"})
    assert record.type == "dict" and record.project == "proj" and record.backend == "fsspec"
    assert record.path == f"{tmp_path}/elsewhere/proj/uploaded.artifacts/conf.pkl"
    with open(record.path, "rb") as file:
        assert serialize.load(file) == {"x": [1, 2]}
    assert record.size == os.path.getsize(record.path)
    assert Artifact.load("conf", "proj") == {"x": [1, 2]}
    assert Artifact.list("proj") == [record] and Artifact.list() == []
    # a path given as a value, not a file
    as_value = Artifact.upload(str(tmp_path), "where", file=False)
    assert as_value.type == "str" and Artifact.load("where") == str(tmp_path)
    # replaced by a new upload of the same name
    assert Artifact.upload([1], "conf", project="proj").type == "list"
    assert Artifact.load("conf", "proj") == [1]


def test_bad_uploads_register_nothing(engine, tmp_path) -> None:
    with pytest.raises(BadRequest, match="no such file"):
        Artifact.upload(str(tmp_path / "missing.csv"), "missing")
    with pytest.raises(BadRequest, match="bad name"):
        Artifact.upload([1], "../escape")
    with pytest.raises(BadRequest, match="unknown storage backend"):
        Artifact.upload([1], "x", storage="nowhere")
    with pytest.raises(BadRequest, match="missing field 'bucket'"):
        Artifact.upload([1], "x", storage="s3")
    with pytest.raises(BadRequest, match="both in config and in credentials"):
        Artifact.upload([1], "x", storage="s3", config={"bucket": "b", "secret": "s"}, credentials={"secret": "t"})
    with pytest.raises(NotFound, match="Artifact.upload"):
        Artifact.get("x")
    assert Artifact.list() == []


def test_secret_fields_and_credentials_are_not_stored(engine, tmp_path) -> None:
    config = {"url": f"file://{tmp_path}/s", "options": {"auto_mkdir": True}}
    record = Artifact.upload([1], "s", storage="fsspec", config=config,
                             credentials={"secret_options": {"skip_instance_cache": True}})
    assert record.config == {"url": f"file://{tmp_path}/s", "options": {"auto_mkdir": True}}


def test_register_existing_data(engine, tmp_path) -> None:
    existing = tmp_path / "existing.bin"
    existing.write_bytes(b"12345")
    record = Artifact.register(str(existing), "existing")
    assert record.path == str(existing) and record.size == 5 and record.type == "file"
    assert Artifact.load("existing") == b"12345"
    with pytest.raises(BadRequest, match="does not exist"):
        Artifact.register(str(tmp_path / "nope"), "nope")


def test_load_names_the_artifact_when_its_data_is_gone(engine, tmp_path) -> None:
    record = Artifact.upload([1], "gone")
    os.remove(record.path)
    with pytest.raises(BadRequest, match=r"artifact 'gone' on 'local' storage: .* does not exist"):
        Artifact.load("gone")


def test_file_artifacts_reach_operations_as_bytes(engine, tmp_path) -> None:
    source = tmp_path / "raw.bin"
    source.write_bytes(b"\x00\x01binary" * 100)
    Artifact.upload(str(source), "raw")
    with Pipeline("bytes") as p:
        Output(inspect(Input("raw")), name="inspected")
    ex = p.run(name="bytes", wait=True)
    assert ex.status == "success", {op: (job["status"], job["error"]) for op, job in ex.jobs.items()}
    assert Artifact.load("inspected") == {"type": "bytearray", "size": 800, "head": b"\x00\x01bi"}
    out = Artifact.get("inspected")
    assert (out.execution, out.node, out.type, out.backend) == ("bytes", "inspected", "dict", "local")
    assert ex.jobs["raw"]["outputs"][0]["type"] == "bytearray"


def test_file_value_header_loads_as_the_bytes_that_follow() -> None:
    import io

    data = os.urandom(1000)
    value = serialize.load(io.BytesIO(file_value_header(len(data)) + data))
    assert isinstance(value, bytearray) and value == data


def test_upload_streams_without_reading_the_file_whole(engine, tmp_path) -> None:
    big = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with open(big, "wb") as file:
        for _ in range(48):
            file.write(block)
    tracemalloc.start()
    try:
        record = Artifact.upload(str(big), "big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.size == 48 * MiB and os.path.getsize(record.path) == 48 * MiB
    assert peak < 20 * MiB, f"upload held {peak / MiB:.0f} MiB"
    tracemalloc.start()
    try:
        value = list(range(10))
        Artifact.upload(value, "obj")
        with Artifact.open("big") as file:
            while file.read(4 * MiB):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB, f"reading held {peak / MiB:.0f} MiB"


def test_outside_an_engine_uses_the_home_store(tmp_path) -> None:
    home = str(tmp_path / "elsewhere-home")
    record = Artifact.upload([3], "lone", home=home)
    assert record.path.startswith(os.path.join(home, "storage") + os.sep)
    assert os.path.isfile(os.path.join(home, "pipelines.db"))
    assert Artifact.get("lone", home=home) == record and Artifact.load("lone", home=home) == [3]
    assert [a.name for a in Artifact.list(home=home)] == ["lone"]
