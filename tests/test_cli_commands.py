"""Every CLI command, against an embedded engine and against a real `jupyter server` process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from cli_target import Target  # noqa: E402
from live_server import Server  # noqa: E402
from polling import gone, wait_until  # noqa: E402
from s3_server import MotoS3, s3_accounts, s3_server  # noqa: E402,F401  (fixtures)

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

CALC = '''
from jupyter_pipelines import Pipeline, operation


@operation
def numbers(n: int = 3, factor: float = 1.0):
    values = [i * factor for i in range(n)]
    print("values", values, flush=True)
    return values


@operation
def total(values, label: str = "sum"):
    print(label, sum(values), flush=True)
    return sum(values)


with Pipeline("calc", project="cli") as calc:
    total(numbers())
'''

LIVE = '''
from jupyter_pipelines import Pipeline, operation


@operation
def talk(started: str = "", release: str = ""):
    import os, time
    open(started, "w").close()
    print("first line", flush=True)
    deadline = time.time() + 120
    while not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.05)
    print("second line", flush=True)
    return 1


@operation
def stall(x, pid_file: str = ""):
    import os, time
    with open(pid_file, "w") as file:
        file.write(str(os.getpid()))
    time.sleep(300)


with Pipeline("live") as live:
    stall(talk(started=%r, release=%r), pid_file=%r)
'''


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "server"])
def target(request, tmp_path) -> Target:
    if request.param == "server":
        return Target("server", tmp_path, request.getfixturevalue("live_server"))
    return Target("embedded", tmp_path)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def calc_file(tmp_path: Path) -> str:
    path = tmp_path / "calc.py"
    path.write_text(CALC)
    return str(path)


def test_the_engine_used_is_said_once_on_stderr(target: Target) -> None:
    result = target.cli("list", "--project", "nothing-here")
    ok(result)
    said = [line for line in result.stderr.splitlines() if line.startswith("jupyter_pipelines: using")]
    if target.kind == "server":
        assert said == [f"jupyter_pipelines: using the Jupyter server at {target.server.url} "
                        "(set by JUPYTER_PIPELINES_URL)."]
    else:
        assert said == ["jupyter_pipelines: using the embedded engine (JUPYTER_PIPELINES_EMBEDDED=1); "
                        "executions run in this process."]


def test_run_with_backend_config_params_and_a_config_file(target: Target, tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("compute:\n  backend: local\n  config:\n    workers: 1\nparams:\n  numbers.n: 4\n")
    out = ok(target.cli("run", calc_file(tmp_path), "--name", "opts", "--config", str(config),
                        "--compute-config", "workers=2", "--param", "numbers.factor=2.5",
                        "--param", "total.label=the total"))
    assert "Execution opts of cli/calc on " in out and "opts: success" in out
    data = json.loads(ok(target.cli("show", "opts", "--json")))
    assert data["params"] == {"numbers.n": 4, "numbers.factor": 2.5, "total.label": "the total"}
    assert data["compute"]["backend"] == "local" and data["compute"]["config"]["workers"] == 2
    assert ok(target.cli("logs", "opts", "total")) == "the total 15.0\n"

    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"storage": {"backend": "memory"}, "params": {"numbers.n": 2}}))
    ok(target.cli("run", calc_file(tmp_path), "--name", "json-config", "--config", str(as_json)))
    data = json.loads(ok(target.cli("show", "json-config", "--json")))
    assert data["storage"]["backend"] == "memory" and data["params"] == {"numbers.n": 2}

    bad = target.cli("run", calc_file(tmp_path), "--param", "nodot=1")
    assert bad.returncode == 2 and "OPERATION.ATTRIBUTE=VALUE" in bad.stderr
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"compute": "local", "colour": "blue"}')
    bad = target.cli("run", calc_file(tmp_path), "--config", str(unknown))
    assert bad.returncode == 2 and "unknown section(s) ['colour']" in bad.stderr


def test_the_digits_notebook_runs(target: Target) -> None:
    pytest.importorskip("sklearn")
    result = target.cli("run", "examples/digits.ipynb", "--name", "from-notebook")
    out = ok(result)
    assert "from-notebook: success" in out and "(6/6 operations succeeded)" in out
    # the cell that uses what run() returns is skipped while reading, with a note; nothing else is
    notes = [line for line in result.stderr.splitlines() if "while reading" in line]
    assert notes == ["jupyter_pipelines: while reading digits.ipynb, skipped cell 9 from line 2 on "
                     "(AttributeError: 'NoneType' object has no attribute 'result')"]
    listed = ok(target.cli("list"))
    assert "from-notebook" in listed and "from-code" not in listed  # the notebook's own run() did not submit


def test_names_are_found_in_any_project(target: Target, tmp_path) -> None:
    path = calc_file(tmp_path)
    ok(target.cli("run", path, "--project", "p1", "--name", "same"))
    ok(target.cli("run", path, "--project", "p2", "--name", "same", "--param", "numbers.n=5"))
    ok(target.cli("run", path, "--project", "p2", "--name", "other"))

    assert "other  success  pipeline calc  project p2" in ok(target.cli("show", "other"))
    both = target.cli("show", "same")
    assert both.returncode == 2
    assert "executions named 'same' are in several projects (p1, p2); choose one with --project" in both.stderr
    assert "project p1" in ok(target.cli("show", "same", "--project", "p1"))
    assert ok(target.cli("logs", "other", "total")) == "sum 3.0\n"
    assert target.cli("logs", "same", "total").returncode == 2
    assert ok(target.cli("logs", "same", "total", "--project", "p2")) == "sum 10.0\n"
    missing = target.cli("logs", "other", "nope")
    assert missing.returncode == 2 and "has no operation 'nope'; it has numbers, total" in missing.stderr

    diff = ok(target.cli("diff", "same", "other"))  # only p2 has both tags
    assert "project p2" in diff and "~ numbers: n 5 -> 3" in diff
    assert json.loads(ok(target.cli("diff", "same", "other", "--json")))["operations"]["changed"][0]["node"] == \
        "numbers"
    assert "no changes" in ok(target.cli("diff", "same", "same", "--project", "p1"))

    rows = ok(target.cli("list")).splitlines()
    assert rows[0].split() == ["NAME", "PROJECT", "PIPELINE", "STATUS", "CREATED", "DURATION"]
    ours = [row.split()[:2] for row in rows[1:] if row.split()[1] in ("p1", "p2")]  # the server is shared
    assert ours == [["other", "p2"], ["same", "p2"], ["same", "p1"]]
    limited = target.cli("list", "--limit", "2")
    assert len(ok(limited).splitlines()) == 3 and "the 2 newest" in limited.stderr
    assert [row.split()[0] for row in ok(target.cli("list", "--project", "p1")).splitlines()[1:]] == ["same"]
    assert "other" in ok(target.cli("list", "--pipeline", "calc", "--status", "success"))
    tags = ok(target.cli("tags", "--project", "p2"))
    assert "other" in tags and "same" in tags and "p1" not in tags

    assert ok(target.cli("delete", "other")) == "deleted other (project p2)\n"
    gone_now = target.cli("show", "other")
    assert gone_now.returncode == 2 and "no execution named 'other' in any project" in gone_now.stderr

    archive = tmp_path / "out" / "calc.zip"
    assert f"wrote {archive}" in ok(target.cli("export", path, "-o", str(archive)))
    assert "main.py" in zipfile.ZipFile(archive).namelist()

    resumed = ok(target.cli("resume"))
    assert resumed == ("resumed: nothing to resume\n" if target.kind == "embedded" else
                       f"the Jupyter server at {target.server.url} resumes interrupted executions itself when it "
                       "starts\n")


def test_rerun_with_an_edited_operation(target: Target, tmp_path) -> None:
    path = calc_file(tmp_path)
    ok(target.cli("run", path, "--name", "dbg", "--debug"))
    edit = tmp_path / "total.py"
    edit.write_text('def total(values, label: str = "sum"):\n    print("EDITED", label, sum(values), flush=True)\n'
                    '    return sum(values)\n')
    out = ok(target.cli("rerun", "dbg", "--edit", f"total={edit}"))
    assert out.startswith("Re-running dbg of cli/calc on ")
    assert ": total (edited: total)" in out.splitlines()[0]
    progress = [line.split("] ", 1)[1].split() for line in out.splitlines() if line.startswith("[")]
    assert progress == [["total", "running"], ["total", "success", progress[1][2]]]  # numbers is not run again
    assert "dbg: success" in out
    assert ok(target.cli("logs", "dbg", "total")) == "EDITED sum 3.0\n"

    ok(target.cli("run", path, "--name", "plain"))
    refused = target.cli("rerun", "plain", "--edit", f"total={edit}")
    assert refused.returncode == 2 and "was not run in debug mode" in refused.stderr
    assert target.cli("rerun", "plain", "--edit", "total").returncode == 2
    again = target.cli("rerun", "plain")  # nothing failed and nothing edited: it says so (a 409 from the API)
    assert again.returncode == 2 and "nothing to re-run in 'plain'" in again.stderr


def test_logs_follow_live_output_and_cancel_from_another_process(target: Target, tmp_path) -> None:
    started, release, pid_file = tmp_path / "started", tmp_path / "release", tmp_path / "stall.pid"
    path = tmp_path / "live.py"
    path.write_text(LIVE % (str(started), str(release), str(pid_file)))
    runner = target.start("run", str(path), "--project", "live", "--name", "live-run")
    follower = None
    try:
        wait_until(started.exists, what="the operation to start")
        follower = target.start("logs", "live-run", "talk", "--follow")
        assert follower.wait_for("first line") == "first line\n"
        assert follower.process.poll() is None  # still following: the operation waits for the release
        release.touch()
        assert follower.wait_for("second line") == "second line\n"
        code, out, err = follower.finish()
        assert code == 0 and out == "first line\nsecond line\n", err

        wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="the second operation to start")
        job_pid = int(pid_file.read_text())
        canceled = ok(target.cli("cancel", "live-run"))  # found in project 'live' without --project
        assert canceled.startswith("live-run: ")
        code, out, err = runner.finish()
    finally:
        runner.stop()
        if follower is not None:
            follower.stop()
    assert code == 1, out + err
    assert "talk         success" in out and "live-run: canceled" in out
    wait_until(lambda: gone(job_pid), what="the canceled job's process to end")
    # following an operation that already ended prints its log and returns
    assert ok(target.cli("logs", "live-run", "talk", "--follow")) == "first line\nsecond line\n"


SECRET_PIPELINE = '''
from jupyter_pipelines import Input, Output, Pipeline, operation


@operation
def count_lines(data):
    import os
    print("inherited", sorted(k for k in os.environ if k.startswith("CLI_SECRET")), flush=True)
    return len(bytes(data).splitlines())


with Pipeline("secretive") as secretive:
    Output(count_lines(Input("raw")), name="line-count")
'''


def test_secrets_from_the_environment_and_files_stay_secret(target: Target, tmp_path,
                                                             s3_accounts: MotoS3) -> None:
    alice, bob = s3_accounts.accounts["alice"], s3_accounts.accounts["bob"]
    secrets = [alice.key, alice.secret, bob.key, bob.secret]
    public = {"endpoint_url": s3_accounts.endpoint, "region": "us-east-1"}
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    alice_secret = tmp_path / "alice.json"
    alice_secret.write_text(json.dumps({"secret": alice.secret}))
    env = {"CLI_SECRET_ALICE_KEY": alice.key, "CLI_SECRET_BOB_KEY": bob.key, "CLI_SECRET_BOB_SECRET": bob.secret}
    outputs: list[str] = []
    argvs: list[list[str]] = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argvs.append(target.argv(*args))
        result = target.cli(*args, env=env)
        outputs.append(result.stdout + result.stderr)
        return result

    storage_config = [f"--storage-config={key}={value}" for key, value in
                      {**public, "bucket": alice.bucket, "prefix": "inputs"}.items()]
    uploaded = ok(cli("artifacts", "upload", str(data), "raw", "--storage", "s3", *storage_config,
                      "--secret-env", "key=CLI_SECRET_ALICE_KEY", "--credentials", str(alice_secret)))
    assert uploaded.startswith(f"uploaded {data} as artifact raw of project default (12 B, s3 storage")
    assert "raw" in ok(cli("artifacts", "list"))
    record = json.loads(ok(cli("artifacts", "show", "raw", "--json")))
    assert record["backend"] == "s3" and record["config"]["bucket"] == alice.bucket
    assert "key" not in record["config"] and "secret" not in record["config"]
    assert "storage s3" in ok(cli("artifacts", "show", "raw"))

    refused = cli("artifacts", "upload", str(data), "raw2", "--storage", "s3", *storage_config,
                  "--storage-config", "secret=not-on-the-command-line")
    assert refused.returncode == 2 and "is secret" in refused.stderr and "not-on-the-command-line" not in \
        refused.stderr

    pipeline = tmp_path / "secretive.py"
    pipeline.write_text(SECRET_PIPELINE)
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"raw": alice.credentials}))
    config = tmp_path / "storage.yaml"
    config.write_text(f"storage:\n  backend: s3\n  config:\n    bucket: {bob.bucket}\n    prefix: runs\n"
                      f"    endpoint_url: {s3_accounts.endpoint}\n    region: us-east-1\n")
    result = cli("run", str(pipeline), "--name", "secret-run", "--config", str(config),
                 "--credentials", str(credentials),
                 "--secret-env", "storage.key=CLI_SECRET_BOB_KEY", "--secret-env", "secret=CLI_SECRET_BOB_SECRET")
    assert "secret-run: success" in ok(result)
    inherited = ok(cli("logs", "secret-run", "count_lines"))
    assert inherited.startswith("inherited [") and "CLI_SECRET_BOB" not in inherited  # named ones are not passed on
    assert "line-count" in ok(cli("show", "secret-run"))

    on_command_line = cli("run", str(pipeline), "--config", str(config), "--storage-config",
                          "secret=not-on-the-command-line")
    assert on_command_line.returncode == 2
    assert "--secret-env storage.secret=ENVVAR" in on_command_line.stderr
    unset = cli("run", str(pipeline), "--secret-env", "credentials.raw.key=CLI_SECRET_UNSET")
    assert unset.returncode == 2 and "CLI_SECRET_UNSET (for credentials.raw.key) is not set" in unset.stderr
    without = cli("run", str(pipeline), "--config", str(config), "--name", "no-credentials",
                  "--secret-env", "storage.key=CLI_SECRET_BOB_KEY", "--secret-env", "secret=CLI_SECRET_BOB_SECRET")
    assert without.returncode != 0  # alice's bucket refuses bob's keys: the credentials above were what worked

    stored = target.stored_bytes()
    assert stored
    for secret in secrets:
        assert not any(secret in " ".join(argv) for argv in argvs)
        assert not any(secret in output for output in outputs), secret
        assert secret.encode() not in stored, secret


def test_help_texts_are_plain(target: Target) -> None:
    if target.kind == "server":
        pytest.skip("help does not depend on the engine")
    commands = ["run", "list", "show", "logs", "cancel", "rerun", "delete", "tags", "diff", "resume", "export",
                "artifacts", "artifacts list", "artifacts show", "artifacts upload"]
    texts = [ok(target.cli("--help"))] + [ok(target.cli(*command.split(), "--help")) for command in commands]
    for text in texts:
        assert "`" not in text, text
    assert all(command.split()[-1] in texts[0] for command in commands)


def test_yaml_needs_pyyaml(monkeypatch, tmp_path) -> None:
    from jupyter_pipelines.cli import options
    from jupyter_pipelines.errors import BadRequest

    path = tmp_path / "c.yaml"
    path.write_text("params: {}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(BadRequest, match=r"is YAML, which needs PyYAML \(pip install pyyaml\); or write it as JSON"):
        options.config_file(str(path))


def test_values_are_json_when_they_parse() -> None:
    from jupyter_pipelines.cli.options import assignments

    assert assignments(["a=3", "b=0.5", "c=true", "d=[1, 2]", 'e="7"', "f=text", "g=", "h=a=b"], "--x") == {
        "a": 3, "b": 0.5, "c": True, "d": [1, 2], "e": "7", "f": "text", "g": "", "h": "a=b"}
    assert assignments(["bucket=2024", "workers=2"], "--x", text_fields={"bucket"}) == {"bucket": "2024",
                                                                                        "workers": 2}


def test_list_pages_through() -> None:
    from jupyter_pipelines.cli import commands
    from jupyter_pipelines.client import Api

    class Paged(Api):
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def page(self, **filters):
            self.calls.append(filters)
            start = int(filters.get("before") or 0)
            rows = [{"name": f"e{i}"} for i in range(start, min(start + filters["limit"], 7))]
            return {"executions": rows, "next": str(start + len(rows)) if start + len(rows) < 7 else None}

    api = Paged()
    monkey = commands.SEARCH_PAGE
    commands.SEARCH_PAGE = 3
    try:
        everything, more = commands.newest(api, None)
        assert [e["name"] for e in everything] == [f"e{i}" for i in range(7)] and not more
        assert len(api.calls) == 3
        first, more = commands.newest(api, 5)
        assert [e["name"] for e in first] == [f"e{i}" for i in range(5)] and more
    finally:
        commands.SEARCH_PAGE = monkey
