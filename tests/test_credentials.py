"""Credentials for inputs: two Input artifacts on ``s3`` in two accounts (moto buckets with different
keys), each read with its own credentials, which never reach a file, an argument list, an
environment, a log, a store row, an event, an API response or an error message."""
from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time
from typing import Any

import psutil
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from s3_server import MotoS3, s3_accounts, s3_server  # noqa: E402,F401  (fixtures)

from jupyter_pipelines import Input, Output, Pipeline, operation  # noqa: E402
from jupyter_pipelines.artifacts import Artifact  # noqa: E402
from jupyter_pipelines.errors import BadRequest  # noqa: E402

pytestmark = pytest.mark.timeout(240)
COMPUTE = {"backend": "local", "config": {"preload": "numpy,pandas,s3fs"}}
MiB = 1 << 20


@operation
def pair(left, right, release: str = ""):
    """Join two inputs; with ``release``, wait (bounded) until that file exists."""
    import os
    import time

    deadline = time.time() + 60
    while release and not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.05)
    return [left, right]


@operation
def length(data):
    return len(data)


def public(moto: MotoS3, user: str) -> dict[str, Any]:
    account = moto.accounts[user]
    config = moto.storage_config(account, prefix="inputs")
    return {k: config[k] for k in ("bucket", "prefix", "endpoint_url", "region")}


@pytest.fixture
def two_accounts(engine, s3_accounts: MotoS3) -> MotoS3:
    """Artifact ``a`` in alice's bucket, ``b`` in bob's, each uploaded with its own keys (checked)."""
    alice, bob = s3_accounts.accounts["alice"], s3_accounts.accounts["bob"]
    Artifact.upload({"from": "alice"}, "a", storage="s3", config=public(s3_accounts, "alice"),
                    credentials=alice.credentials)
    Artifact.upload({"from": "bob"}, "b", storage="s3", config=public(s3_accounts, "bob"),
                    credentials=bob.credentials)
    return s3_accounts


def two_inputs(name: str, release: str = "") -> Pipeline:
    with Pipeline(name) as p:
        Output(pair(Input("a"), Input("b"), release=release), name=f"{name}-out")
    return p


def secret_values(moto: MotoS3) -> list[str]:
    return [value for account in moto.accounts.values() for value in (account.key, account.secret)]


def processes_of(root: psutil.Process) -> list[psutil.Process]:
    return [root, *root.children(recursive=True)]


def test_accounts_are_separate(two_accounts: MotoS3) -> None:
    """The fixture really simulates two accounts: one's keys cannot read the other's bucket."""
    alice, bob = two_accounts.accounts["alice"], two_accounts.accounts["bob"]
    assert two_accounts.filesystem(alice).ls(alice.bucket)
    with pytest.raises(PermissionError):
        two_accounts.filesystem(bob).ls(alice.bucket)
    with pytest.raises(BadRequest, match=r"artifact 'a' on 's3' storage: access denied"):
        Artifact.load("a", credentials=bob.credentials)
    assert Artifact.load("a", credentials=alice.credentials) == {"from": "alice"}


def test_each_input_is_read_with_its_own_credentials_and_secrets_stay_in_memory(
        engine, two_accounts: MotoS3, tmp_path, pipelines_home) -> None:
    alice, bob = two_accounts.accounts["alice"], two_accounts.accounts["bob"]
    secrets = secret_values(two_accounts)
    release = str(tmp_path / "release")
    ex = two_inputs("two", release).run(name="two", compute=COMPUTE,
                                        credentials={"a": alice.credentials, "b": bob.credentials})

    # while the operation runs: no process of the engine (fork server, job children) shows a
    # secret in its argument list or environment
    seen: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and ex.jobs["pair"]["status"] != "running":
        time.sleep(0.05)
    assert ex.jobs["pair"]["status"] == "running"
    for process in processes_of(psutil.Process()):
        try:
            cmdline = " ".join(process.cmdline())
            environ = json.dumps(process.environ())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seen.append(process)
        for secret in secrets:
            assert secret not in cmdline and secret not in environ, process
    assert any("forkserver" in " ".join(p.cmdline()) for p in seen)
    open(release, "w").close()
    ex.wait(timeout=120)
    assert ex.status == "success", {op: (job["status"], job["error"]) for op, job in ex.jobs.items()}
    assert Artifact.load("two-out") == [{"from": "alice"}, {"from": "bob"}]

    # no secret in: API responses, events, artifact records, backends, settings, errors
    responses = [ex.data, engine.get("default", "two").to_dict(), [r.to_dict() for r in engine.executions()],
                 [e.to_dict() for e in engine.store.events()], [a.to_dict() for a in Artifact.list()],
                 engine.backends(), engine.settings("default", "two"), engine.tags()]
    text = json.dumps(responses, default=str)
    for secret in secrets:
        assert secret not in text
    # no secret in any file the engine wrote: the store (with -wal/-shm), logs, the data
    engine.store.close()
    files = [path for path in glob.glob(os.path.join(pipelines_home, "**"), recursive=True) if os.path.isfile(path)]
    assert any(path.endswith("pipelines.db") for path in files)
    assert any(path.endswith(".log") for path in files)
    for path in files:
        with open(path, "rb") as file:
            data = file.read()
        for secret in secrets:
            assert secret.encode() not in data, path


@pytest.mark.parametrize("case", ["wrong-account", "wrong-secret", "unknown-key", "missing"])
def test_a_bad_credential_fails_the_reading_operation_clearly(engine, two_accounts: MotoS3, case: str,
                                                              monkeypatch, pipelines_home) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    alice, bob = two_accounts.accounts["alice"], two_accounts.accounts["bob"]
    wrong = {"wrong-account": alice.credentials, "wrong-secret": {"key": bob.key, "secret": "not-" + bob.secret},
             "unknown-key": {"key": "AKIAUNKNOWN0000000000", "secret": "whatever-secret-value"},
             "missing": None}[case]
    credentials = {"a": alice.credentials}
    if wrong is not None:
        credentials["b"] = wrong
    ex = two_inputs(f"bad{case.replace('-', '')}").run(name="bad", compute=COMPUTE, credentials=credentials,
                                                       wait=True)
    assert ex.status == "failed"
    job = ex.jobs["b"]
    assert job["status"] == "failed" and ex.jobs["a"]["status"] == "success"
    assert ex.jobs["pair"]["status"] == "skipped"
    error = job["error"]
    assert error.startswith("input artifact 'b' on 's3' storage: "), error
    expected = "no credentials" if case == "missing" else "access denied"
    assert expected in error and "check the credentials" in error or case == "missing", error
    assert not job["traceback"]
    log = engine.job_log("default", ex.name, "b")
    for text in (error, log, json.dumps(ex.data), json.dumps([e.to_dict() for e in engine.store.events()])):
        assert "botocore" not in text and "Traceback" not in text and "aiobotocore" not in text
        for secret in [*secret_values(two_accounts), "not-" + bob.secret, "whatever-secret-value"]:
            assert secret not in text
    assert error in log


def test_credentials_for_unknown_inputs_or_fields_are_refused(engine, two_accounts: MotoS3) -> None:
    alice = two_accounts.accounts["alice"]
    with pytest.raises(BadRequest, match="not inputs"):
        two_inputs("refuse").run(credentials={"zzz": alice.credentials})
    with pytest.raises(BadRequest, match="unknown field"):
        two_inputs("refuse").run(credentials={"a": {"passwd": "x"}})
    assert engine.executions() == []


def test_large_s3_artifact_streams_through_the_input_job(engine, s3_accounts: MotoS3, tmp_path) -> None:
    """A 64 MiB file goes from S3 to the execution's storage in chunks: the Input job's memory
    grows by far less than the file (peak RSS of the job process, sampled with psutil, against
    that of the Input job of a 1 KiB file)."""
    s3_server = s3_accounts
    alice = s3_server.accounts["alice"]
    big = tmp_path / "big.bin"
    chunk = os.urandom(MiB)
    with open(big, "wb") as file:
        for _ in range(64):
            file.write(chunk)
    record = Artifact.upload(str(big), "big", storage="s3", config=public(s3_server, "alice"),
                             credentials=alice.credentials)
    assert record.size == 64 * MiB and record.type == "file"
    small = tmp_path / "small.bin"
    small.write_bytes(chunk[:1024])
    Artifact.upload(str(small), "small", storage="s3", config=public(s3_server, "alice"), credentials=alice.credentials)
    with Pipeline("big") as p:
        length(Input("big"))
        length(Input("small"))
    ex = p.run(name="big", compute=COMPUTE, credentials={"big": alice.credentials, "small": alice.credentials})

    peaks: dict[int, int] = {}
    baseline: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for process in psutil.Process().children(recursive=True):
                try:
                    if "forkserver" in " ".join(process.cmdline()) and process.parent().pid == os.getpid():
                        baseline.append(process.memory_info().rss)
                    else:
                        peaks[process.pid] = max(peaks.get(process.pid, 0), process.memory_info().rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ex.wait(timeout=180)
    done.set()
    sampler.join()
    assert ex.status == "success", {op: (job["status"], job["error"]) for op, job in ex.jobs.items()}
    assert ex.result("length") == 64 * MiB
    record = engine.get("default", "big")
    job, tiny = record.job("big"), record.job("small")
    assert job.outputs[0]["type"] == "bytearray" and job.outputs[0]["size"] > 64 * MiB
    assert job.pid in peaks and tiny.pid in peaks, (job.pid, tiny.pid, sorted(peaks))
    # what copying 64 MiB costs beyond copying 1 KiB (connecting to S3 costs the same in both)
    growth = peaks[job.pid] - peaks[tiny.pid]
    print(f"Input job peak RSS: 64 MiB file {peaks[job.pid] / MiB:.0f} MiB, 1 KiB file {peaks[tiny.pid] / MiB:.0f} "
          f"MiB, fork server {min(baseline) / MiB:.0f} MiB")
    assert growth < 24 * MiB, f"copying 64 MiB took {growth / MiB:.0f} MiB more than copying 1 KiB"
