"""Storage backends: field schemas (secret flags), fsspec's abstract test suite, and the same
pipeline run on every backend (local, memory, fsspec URL, s3 on moto, sciserver-files on the stand-in)."""
from __future__ import annotations

import os
import posixpath
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.put import AbstractPutTests

sys.path.insert(0, os.path.dirname(__file__))
from s3_server import MotoS3, s3_accounts, s3_server  # noqa: E402,F401  (fixtures)
from sciserver_standin import SciServerStandin  # noqa: E402

from jupyter_pipelines import Input, Output, Pipeline, operation  # noqa: E402
from jupyter_pipelines.artifacts import Artifact  # noqa: E402
from jupyter_pipelines.errors import BadRequest  # noqa: E402
from jupyter_pipelines.paths import Context  # noqa: E402
from jupyter_pipelines.storage import storage_backends  # noqa: E402

pytestmark = pytest.mark.timeout(180)
CONTEXT = Context("/tmp/jp-data", "/tmp/jp-data/storage", 2)


# -- schemas ------------------------------------------------------------------------------------------

def test_every_storage_backend_is_registered_with_its_fields() -> None:
    schemas = {schema["name"]: schema for schema in storage_backends.schemas()}
    assert {"local", "memory", "fsspec", "s3", "sciserver-files"} <= set(schemas)
    secret = {name: {f["name"] for f in schema["fields"] if f["secret"]} for name, schema in schemas.items()}
    assert secret["local"] == set() and secret["memory"] == set()
    assert secret["s3"] == {"key", "secret", "token"}
    assert secret["fsspec"] == {"secret_options"}
    assert secret["sciserver-files"] == {"password", "token"}
    required = {name: {f["name"] for f in schema["fields"] if f["required"]} for name, schema in schemas.items()}
    assert required["s3"] == {"bucket"} and required["fsspec"] == {"url"} and required["sciserver-files"] == {"volume"}
    for schema in schemas.values():
        for field in schema["fields"]:
            assert set(field) == {"name", "type", "default", "description", "choices", "secret", "required", "minimum",
                                  "maximum", "credential"}
            assert field["description"]


def test_s3_config_spec_and_public_config() -> None:
    backend = storage_backends.create("s3", {"bucket": "b", "prefix": "/p/q/", "endpoint_url": "http://h:1",
                                             "region": "eu-west-1", "key": "AKID", "secret": "S3CR3T"}, CONTEXT)
    assert backend.root() == "b/p/q"
    spec = backend.spec()
    assert spec["protocol"] == "s3"
    assert spec["options"]["key"] == "AKID" and spec["options"]["secret"] == "S3CR3T"
    assert spec["options"]["client_kwargs"] == {"endpoint_url": "http://h:1", "region_name": "eu-west-1"}
    assert backend.public_config == {"bucket": "b", "prefix": "/p/q/", "endpoint_url": "http://h:1",
                                     "region": "eu-west-1"}
    assert "key" not in storage_backends.create("s3", {"bucket": "b"}, CONTEXT).spec()["options"]
    with pytest.raises(BadRequest, match="missing field 'bucket'"):
        storage_backends.create("s3", {}, CONTEXT)
    with pytest.raises(BadRequest, match="unknown field"):
        storage_backends.create("s3", {"bucket": "b", "password": "x"}, CONTEXT)


def test_fsspec_url_backend_splits_protocol_and_merges_secret_options(tmp_path) -> None:
    backend = storage_backends.create("fsspec", {"url": f"file://{tmp_path}/data"}, CONTEXT)
    assert backend.spec() == {"protocol": "file", "options": {}}
    assert backend.root() == f"{tmp_path}/data"
    memory = storage_backends.create("fsspec", {"url": "memory://jp/x", "options": {"a": 1},
                                                "secret_options": {"b": 2}}, CONTEXT)
    assert memory.spec() == {"protocol": "memory", "options": {"a": 1, "b": 2}}
    assert memory.public_config == {"url": "memory://jp/x", "options": {"a": 1}}


def test_local_memory_sciserver_roots() -> None:
    assert storage_backends.create("local", {}, CONTEXT).root() == "/tmp/jp-data/storage"
    assert storage_backends.create("memory", {}, CONTEXT).spec() == {"protocol": "memory", "options": {}}
    sci = storage_backends.create("sciserver-files", {"volume": "/Storage/u/v/", "token": "T"}, CONTEXT)
    assert sci.root() == "Storage/u/v" and sci.spec()["protocol"] == "sciserver"
    assert sci.spec()["options"]["token"] == "T" and "token" not in sci.public_config
    # uploaded artifacts go beside the executions, in a folder no execution name can take
    local = storage_backends.create("local", {}, CONTEXT)
    assert local.upload_location("proj", "raw", ".csv") == "/tmp/jp-data/storage/proj/uploaded.artifacts/raw.csv"
    with pytest.raises(BadRequest):
        local.upload_location("proj", "../x")


# -- fsspec's abstract test suite ----------------------------------------------------------------------

class LocalStorageFixtures(AbstractFixtures):
    """``local``: fsspec's own LocalFileSystem as the backend configures it (auto_mkdir)."""

    @pytest.fixture
    def fs(self) -> fsspec.AbstractFileSystem:
        fs = storage_backends.create("local", {}, CONTEXT).filesystem()
        assert isinstance(fs, LocalFileSystem)
        return fs

    @pytest.fixture
    def fs_path(self, tmp_path) -> str:
        return str(tmp_path)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True


class MemoryStorageFixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self) -> fsspec.AbstractFileSystem:
        fs = storage_backends.create("memory", {}, CONTEXT).filesystem()
        assert isinstance(fs, MemoryFileSystem)
        return fs

    @pytest.fixture
    def fs_join(self) -> Any:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, fs) -> Iterator[str]:
        path = f"/abstract-{uuid.uuid4().hex[:10]}"
        yield path
        if fs.exists(path):
            fs.rm(path, recursive=True)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True


class S3StorageFixtures(AbstractFixtures):
    """``s3`` against moto on loopback, as s3fs's own derived tests do (a bucket, no empty folders).

    These check filesystem semantics, not accounts: moto's authentication (which doubles the
    cost of each request) stays off while they run.
    """

    @pytest.fixture
    def fs(self, s3_server: MotoS3) -> fsspec.AbstractFileSystem:
        backend = storage_backends.create("s3", s3_server.storage_config(), CONTEXT)
        fs = backend.filesystem()
        fs.invalidate_cache()
        return fs

    @pytest.fixture
    def fs_join(self) -> Any:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, s3_server: MotoS3) -> str:
        return s3_server.new_bucket()

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestLocalCopy(AbstractCopyTests, LocalStorageFixtures):
    pass


class TestLocalGet(AbstractGetTests, LocalStorageFixtures):
    pass


class TestLocalPut(AbstractPutTests, LocalStorageFixtures):
    pass


class TestMemoryCopy(AbstractCopyTests, MemoryStorageFixtures):
    pass


class TestMemoryGet(AbstractGetTests, MemoryStorageFixtures):
    pass


class TestMemoryPut(AbstractPutTests, MemoryStorageFixtures):
    pass


class TestS3Copy(AbstractCopyTests, S3StorageFixtures):
    pass


class TestS3Get(AbstractGetTests, S3StorageFixtures):
    pass


class TestS3Put(AbstractPutTests, S3StorageFixtures):
    pass


# -- the pipeline on each storage backend ------------------------------------------------------------

@operation(outputs=("words", "total"))
def digest(raw, numbers, scale: int = 1):
    text = bytes(raw).decode()
    return sorted(set(text.split())), sum(numbers) * scale


@operation
def describe(words, total):
    return {"words": words, "total": total}


@pytest.fixture(scope="module")
def standin() -> Iterator[SciServerStandin]:
    with SciServerStandin() as server:
        yield server


BACKENDS = ["local", "memory", "fsspec", "s3", "sciserver-files"]
#: The fork server imports these once: importing s3fs costs over a second in each job otherwise.
COMPUTE = {"backend": "local", "config": {"preload": "numpy,pandas,s3fs,requests"}}


def storage_choice(kind: str, request: pytest.FixtureRequest, tmp_path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config without secrets, secrets)`` of a fresh place on backend ``kind``."""
    if kind == "local":
        return {"root": str(tmp_path / "local-store")}, {}
    if kind == "memory":
        return {"root": f"/jp-{uuid.uuid4().hex[:8]}"}, {}
    if kind == "fsspec":
        return {"url": f"file://{tmp_path}/fsspec-store"}, {}
    if kind == "s3":
        moto: MotoS3 = request.getfixturevalue("s3_accounts")
        account = moto.accounts["alice"]
        config = moto.storage_config(account)
        return {k: config[k] for k in ("bucket", "prefix", "endpoint_url", "region")}, account.credentials
    standin: SciServerStandin = request.getfixturevalue("standin")
    return ({"volume": f"Storage/alice/persistent/jp-{uuid.uuid4().hex[:8]}", "files_url": standin.files_url,
             "login_url": standin.login_url}, {"token": standin.issue_token("alice")})


@pytest.mark.parametrize("kind", BACKENDS)
def test_pipeline_runs_on_each_storage_backend(kind: str, engine, request, tmp_path) -> None:
    config, secrets = storage_choice(kind, request, tmp_path)
    text = tmp_path / "words.txt"
    text.write_bytes(b"b a c a b\n")
    raw = Artifact.upload(str(text), "raw", storage=kind, config=config, credentials=secrets)
    numbers = Artifact.upload([1, 2, 3], "numbers", storage=kind, config=config, credentials=secrets)
    assert raw.type == "file" and raw.size == 10 and numbers.type == "list"
    backend = storage_backends.create(kind, {**config, **secrets}, engine.context)
    root = backend.root().rstrip("/")
    assert raw.path.startswith(root + "/") and numbers.path.startswith(root + "/")
    assert backend.filesystem().cat_file(raw.path) == b"b a c a b\n"  # stored as it is

    with Pipeline(f"on-{kind.replace('-', '')}") as p:
        words, total = digest(Input("raw"), Input("numbers"), scale=10)
        Output(describe(words, total), name="summary")
        Output(words, name="words")
    ex = p.run(name="run", wait=True, compute=COMPUTE, storage={"backend": kind, "config": {**config, **secrets}},
               credentials={"raw": secrets, "numbers": secrets} if secrets else None)
    assert ex.status == "success", {op: (job["status"], job["error"]) for op, job in ex.jobs.items()}
    assert ex.data["storage"] == {"backend": kind, "config": backend.public_config}
    for job in ex.jobs.values():
        for out in job["outputs"]:
            assert out["location"].startswith(root + "/"), out
    assert ex.jobs["raw"]["outputs"][0]["type"] == "bytearray"

    summary = Artifact.get("summary")
    assert summary.backend == kind and summary.execution == "run" and summary.node == "summary"
    assert summary.type == "dict" and summary.path.startswith(root + "/") and summary.size > 0
    assert summary.config == backend.public_config
    assert Artifact.load("summary", credentials=secrets) == {"words": ["a", "b", "c"], "total": 60}
    assert Artifact.load("words", credentials=secrets) == ["a", "b", "c"]
    assert Artifact.load("raw", credentials=secrets) == b"b a c a b\n"
    assert ex.result("digest", "total") == 60
