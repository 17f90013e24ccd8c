"""The execution engine on the local compute backend: processes, parallelism, storage, logs,
failure and cancel semantics, the store, names, version history and debug re-runs."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Any

import pytest
from job_operations import broken, chatty, join2, numbers, parity, start, total, tree, waits_for_failure
from polling import WAIT, gone, wait_until

from jupyter_pipelines import Output, Pipeline, operation
from jupyter_pipelines.errors import BadRequest, Conflict
from jupyter_pipelines.names import first_free, normalize
from jupyter_pipelines.runner import serialize

pytestmark = pytest.mark.timeout(120)


# -- operations (top level and self-contained: they are captured as source) ------------------------------


@operation
def pid_of(tag: str = ""):
    return os.getpid()


@operation
def window(folder: str = "", me: str = "", other: str = ""):
    """Record when it runs; wait (bounded) for the other one to have started too."""
    start = time.time()
    open(os.path.join(folder, f"{me}.start"), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(folder, f"{other}.start")) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    end = time.time()
    with open(os.path.join(folder, f"{me}.json"), "w") as file:
        json.dump([start, end], file)
    return me


@operation
def fails_once_sibling_runs(x, db: str = "", sibling: str = ""):
    """Fail, but only once ``sibling`` is running (bounded wait)."""
    import sqlite3

    deadline = time.time() + 60
    while time.time() < deadline:
        connection = sqlite3.connect(db, timeout=30)
        rows = connection.execute("SELECT status FROM jobs WHERE node = ?", (sibling,)).fetchall()
        connection.close()
        if rows and rows[0][0] == "running":
            break
        time.sleep(0.02)

    def inner(value):
        raise ValueError(f"bad value {value}")

    return inner(x)


@operation
def marks(x, path: str = ""):
    open(path, "w").close()
    return x


@operation
def up(n: int = 3):
    return list(range(n))


@operation
def mid(data):
    return [x * 10 for x in data]


@operation
def down(data):
    return sum(data)


# -- helpers ---------------------------------------------------------------------------------------------

def simple_pipeline(name: str = "simple", project: str = "default") -> Pipeline:
    with Pipeline(name, project=project) as p:
        data = numbers(n=6)
        evens, odds = parity(data)
        total(evens, odds)
    return p


# -- running -------------------------------------------------------------------------------------------------

def test_run_success_outputs_and_result(engine) -> None:
    ex = simple_pipeline().run(name="ok", wait=True)
    assert ex.status == "success"
    jobs = ex.jobs
    assert [job["status"] for job in jobs.values()] == ["success"] * 3
    assert all(job["attempt"] == 1 and job["exit_code"] == 0 for job in jobs.values())
    outputs = {out["name"]: out for out in jobs["parity"]["outputs"]}
    assert set(outputs) == {"evens", "odds"}
    assert outputs["evens"]["type"] == "list" and outputs["evens"]["size"] > 0
    assert outputs["evens"]["location"].endswith("/default/ok/data/parity/evens.pkl")
    assert jobs["total"]["outputs"][0]["type"] == "int"
    assert ex.result("parity", "evens") == [0, 2, 4]
    assert ex.result("parity", "odds") == [1, 3, 5]
    assert ex.result("total") == 15
    record = engine.get("default", "ok")
    assert record.status == "success" and record.started and record.ended and record.error is None


def test_each_operation_runs_in_its_own_process(engine) -> None:
    with Pipeline("pids") as p:
        for tag in "abc":
            pid_of(tag=tag)
    ex = p.run(wait=True)
    assert ex.status == "success"
    pids = [ex.result(node) for node in ("pid_of", "pid_of_2", "pid_of_3")]
    assert len(set(pids)) == 3
    assert os.getpid() not in pids
    stored = [job.pid for job in engine.get("default", ex.name).jobs]
    assert stored == pids


@pytest.mark.timeout(150)
def test_independent_operations_run_in_parallel(make_engine, tmp_path) -> None:
    make_engine(workers=2)
    folder = str(tmp_path)
    with Pipeline("parallel") as p:
        window(folder=folder, me="a", other="b")
        window(folder=folder, me="b", other="a")
    ex = p.run(wait=True)
    assert ex.status == "success", ex.jobs
    (a_start, a_end), (b_start, b_end) = (json.load(open(tmp_path / f"{me}.json")) for me in "ab")
    assert a_start < b_end and b_start < a_end, "the two operations did not overlap"


def test_data_passes_through_storage(engine) -> None:
    with Pipeline("stored") as p:
        data = numbers(n=4)
        evens, odds = parity(data)
        Output(evens, name="even-numbers")
    ex = p.run(name="stored", wait=True)
    assert ex.status == "success"
    root = engine.context.storage_root
    for job in ex.jobs.values():
        for out in job["outputs"]:
            assert out["location"].startswith(root + os.sep)
            assert os.path.isfile(out["location"])
            assert os.path.getsize(out["location"]) == out["size"]
    with open(ex.jobs["parity"]["outputs"][0]["location"], "rb") as file:
        assert serialize.load(file) == [0, 2]
    artifact = engine.store.artifact("default", "even-numbers")
    assert artifact.path == os.path.join(root, "default", "stored", "artifacts", "even-numbers.pkl")
    assert artifact.type == "list" and artifact.execution == "stored" and os.path.isfile(artifact.path)


def test_log_is_captured_as_written(engine, tmp_path) -> None:
    release = str(tmp_path / "release")
    with Pipeline("logs") as p:
        chatty(release=release)
    ex = p.run(name="chat")
    try:
        wait_until(lambda: "hello from the job" in engine.job_log("default", "chat", "chatty"), what="the log line")
        assert engine.get("default", "chat").job("chatty").status == "running"
    finally:
        open(release, "w").close()
    assert ex.wait(WAIT).status == "success"
    log = ex.logs("chatty")
    assert log.index("hello from the job") < log.index("released")


# -- failures and cancel ---------------------------------------------------------------------------------------

@pytest.mark.timeout(150)
def test_failure_semantics(make_engine) -> None:
    engine = make_engine(workers=2)
    db = engine.store.path
    with Pipeline("failing") as p:
        s = start()
        bad = fails_once_sibling_runs(s, db=db, sibling="waits_for_failure")
        slow = waits_for_failure(s, db=db, failing="fails_once_sibling_runs")
        join2(bad, slow)
        marks(slow, path="/nonexistent/never")
    ex = p.run(name="fails", wait=True)
    assert ex.status == "failed"
    jobs = ex.jobs
    assert jobs["start"]["status"] == "success"
    assert jobs["fails_once_sibling_runs"]["status"] == "failed"
    assert jobs["waits_for_failure"]["status"] == "success"  # the running sibling finished
    assert ex.result("waits_for_failure") == "finished"
    assert jobs["join2"]["status"] == "skipped"
    assert jobs["marks"]["status"] == "skipped"  # could run, but no new job starts after a failure
    assert jobs["fails_once_sibling_runs"]["error"] == "ValueError: bad value 1"
    trace = jobs["fails_once_sibling_runs"]["traceback"]
    assert "Traceback (most recent call last)" in trace
    assert "in fails_once_sibling_runs" in trace and "in inner" in trace
    assert 'raise ValueError(f"bad value {value}")' in trace  # the user's source line
    assert "jupyter_pipelines" not in trace and "runner" not in trace
    assert trace.strip().endswith("ValueError: bad value 1")
    record = engine.get("default", "fails")
    assert record.error == "operation 'fails_once_sibling_runs' failed: ValueError: bad value 1"
    assert "bad value 1" in ex.logs("fails_once_sibling_runs")


@pytest.mark.timeout(150)
def test_no_new_job_starts_after_a_failure(make_engine, tmp_path) -> None:
    engine = make_engine(workers=1)
    for attempt in range(3):  # the race it guards against is in the scheduling of queued jobs
        marker = tmp_path / f"c-ran-{attempt}"
        with Pipeline("diamond") as p:
            a = start()
            b = broken(a)
            c = marks(a, path=str(marker))
            join2(b, c)
        ex = p.run(name="diamond", wait=True)
        assert ex.status == "failed"
        jobs = ex.jobs
        assert jobs["broken"]["status"] == "failed"
        assert jobs["marks"]["status"] == "skipped", jobs["marks"]
        assert jobs["marks"]["started"] is None
        assert jobs["join2"]["status"] == "skipped"
        assert not marker.exists(), "an operation started after another had failed"
        statuses = [e.data["status"] for e in engine.store.events(execution_id=engine.get("default", ex.name).id)
                    if e.type == "job" and e.data["op"] == "marks"]
        assert "running" not in statuses


@pytest.mark.timeout(150)
def test_cancel_kills_the_whole_process_tree(engine, tmp_path) -> None:
    pids_file = str(tmp_path / "pids.json")
    with Pipeline("canceling") as p:
        data = tree(pids=pids_file)
        total(data, data)
    ex = p.run(name="cancel-me")
    wait_until(lambda: os.path.exists(pids_file), what="the job's processes")
    pids = json.load(open(pids_file))
    assert len(pids) >= 4  # job, bash, two sleeps
    assert engine.get("default", "cancel-me").job("tree").status == "running"
    ex.cancel()
    wait_until(lambda: all(gone(pid) for pid in pids), timeout=30, what="the process tree to die")
    ex.wait(WAIT)
    assert ex.status == "canceled"
    assert ex.jobs["tree"]["status"] == "canceled"
    assert ex.jobs["total"]["status"] == "canceled"
    assert engine.get("default", "cancel-me").error == "canceled by the user"


def test_cancel_a_finished_execution_changes_nothing(engine) -> None:
    ex = simple_pipeline().run(name="done", wait=True)
    assert ex.cancel().data["status"] == "success"


# -- the store ---------------------------------------------------------------------------------------------------

def test_events_have_strictly_increasing_seq(engine) -> None:
    seen: list[int] = []
    unsubscribe = engine.store.subscribe(lambda events: seen.extend(e.seq for e in events))
    try:
        first = simple_pipeline().run(name="one")
        second = simple_pipeline().run(name="two")
        assert first.wait(WAIT).status == "success" and second.wait(WAIT).status == "success"
    finally:
        unsubscribe()
    seqs = [event.seq for event in engine.store.events()]
    assert seqs == sorted(set(seqs)) and len(seqs) > 10
    assert sorted(seen) == sorted(set(seen)) and set(seen) <= set(seqs)
    for ex in (first, second):
        own = [e.seq for e in engine.store.events(execution_id=engine.get("default", ex.name).id)]
        assert own == sorted(set(own))
    events = list(first.events())
    assert events[0]["type"] == "execution" and events[-1]["data"]["status"] == "success"


def test_state_is_written_before_it_is_announced(engine) -> None:
    problems: list[str] = []
    checked: list[int] = []
    path = engine.store.path

    def check(events) -> None:
        connection = sqlite3.connect(path, timeout=30)
        try:
            for event in events:
                checked.append(event.seq)
                if not connection.execute("SELECT 1 FROM events WHERE seq = ?", (event.seq,)).fetchall():
                    problems.append(f"event {event.seq} announced before it was committed")
                    continue
                if event.type == "job":
                    node = event.data["op"]
                    status = connection.execute("SELECT status FROM jobs WHERE execution_id = ? AND node = ?",
                                                (event.execution_id, node)).fetchone()[0]
                else:
                    node = None
                    status = connection.execute("SELECT status FROM executions WHERE id = ?",
                                                (event.execution_id,)).fetchone()[0]
                later = [json.loads(row[0])["status"] for row in connection.execute(
                    "SELECT data FROM events WHERE execution_id = ? AND type = ? AND seq > ? ORDER BY seq",
                    (event.execution_id, event.type, event.seq)) if node is None or json.loads(row[0])["op"] == node]
                if status != event.data["status"] and status not in later:
                    problems.append(f"event {event.seq} says {event.data['status']}, the store says {status}")
        finally:
            connection.close()

    unsubscribe = engine.store.subscribe(check)
    try:
        ex = simple_pipeline().run(name="announced", wait=True)
    finally:
        unsubscribe()
    assert ex.status == "success"
    assert len(checked) >= 8
    assert problems == []


# -- names -------------------------------------------------------------------------------------------------------

def test_name_normalization_rules() -> None:
    assert normalize("  my run  ", "p") == "my_run"
    assert normalize("a.b c!é", "p") == "a_b_c__"
    assert normalize("ok-name_1", "p") == "ok-name_1"
    assert normalize("", "pipe") == "pipe_execution"
    assert normalize("   ", "pipe") == "pipe_execution"
    assert normalize(None, "pipe") == "pipe_execution"
    for bad in ("a/b", "..", "x..y", "a\\b", "/abs"):
        with pytest.raises(BadRequest, match="bad execution name"):
            normalize(bad, "p")
    assert first_free("test", []) == "test"
    assert first_free("test", ["test"]) == "test_2"
    assert first_free("test", ["test", "test_2"]) == "test_3"


def test_names_on_submit(engine) -> None:
    p = simple_pipeline()
    names = [engine.submit(p, "test").name for _ in range(3)]
    assert names == ["test", "test_2", "test_3"]
    assert engine.submit(p, "  spaced out ").name == "spaced_out"
    assert engine.submit(p, "").name == "simple_execution"
    assert engine.submit(p, "").name == "simple_execution_2"
    for bad in ("a/b", "..", "../etc"):
        with pytest.raises(BadRequest, match="bad execution name"):
            engine.submit(p, bad)
    assert len(engine.executions()) == 6  # nothing half-written by the refused names
    for name in names:
        assert engine.wait("default", name, timeout=WAIT).status == "success"
    # every execution has its tag, under the same name
    assert {t["name"] for t in engine.tags("default")} >= set(names)


@pytest.mark.timeout(180)
def test_concurrent_submissions_from_threads_get_distinct_names(engine) -> None:
    p = simple_pipeline("crowd")
    barrier = threading.Barrier(20)
    names: list[str] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait(timeout=30)
            names.append(engine.submit(p, "same").name)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert errors == []
    assert sorted(names) == sorted(["same"] + [f"same_{n}" for n in range(2, 21)])
    for name in names:
        assert engine.wait("default", name, timeout=WAIT).status == "success"


SUBMITTER = textwrap.dedent('''
    import json, os, sys, time
    from jupyter_pipelines.engine import ExecutionManager
    from jupyter_pipelines.pipeline import Pipeline

    home, go, count, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(source) as file:
        pipeline = Pipeline.from_json(file.read())
    manager = ExecutionManager(home, workers=1)
    deadline = time.time() + 60
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.005)
    names = [manager.submit(pipeline, "same").name for _ in range(count)]
    for name in names:
        manager.wait(pipeline.project, name, timeout=120)
    manager.close()
    print(json.dumps(names))
''')


@pytest.mark.timeout(180)
def test_concurrent_submissions_from_processes_get_distinct_names(pipelines_home, tmp_path) -> None:
    go = str(tmp_path / "go")
    source = tmp_path / "pipeline.json"
    source.write_text(simple_pipeline("crowd").to_json())
    processes = [subprocess.Popen([sys.executable, "-c", SUBMITTER, pipelines_home, go, "4", str(source)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(5)]
    time.sleep(0.5)  # not a timing assertion: lets the interpreters start so that they race
    open(go, "w").close()
    names: list[str] = []
    for process in processes:
        out, err = process.communicate(timeout=150)
        assert process.returncode == 0, err
        names.extend(json.loads(out.strip().splitlines()[-1]))
    assert sorted(names) == sorted(["same"] + [f"same_{n}" for n in range(2, 21)])


# -- version history ---------------------------------------------------------------------------------------

def test_tag_per_execution_points_at_its_commit(engine) -> None:
    p = simple_pipeline("versions", project="history")
    first = engine.submit(p, "v")
    second = engine.submit(p, "v")
    assert (first.name, second.name) == ("v", "v_2")
    tags = {t["name"]: t for t in engine.tags("history")}
    assert set(tags) == {"v", "v_2"}
    for record in (first, second):
        assert tags[record.name]["commit"] == record.commit_id == p.digest()
        assert tags[record.name]["execution"] == record.name and tags[record.name]["pipeline"] == "versions"
    snapshot = engine.store.commit(first.commit_id)["snapshot"]
    assert snapshot == p.to_dict()
    assert "def parity(data):" in snapshot["operations"]["parity"]["source"]
    assert "return sum(evens) + sum(odds)" in snapshot["operations"]["total"]["source"]
    with Pipeline("versions", project="history") as changed:
        data = numbers(n=8)
        evens, odds = parity(data)
        total(evens, odds)
    third = engine.submit(changed, "v")
    assert third.commit_id != first.commit_id
    assert engine.store.commit(third.commit_id)["parent"] == first.commit_id
    diff = engine.diff("history", "v", "v_3")["operations"]
    assert [c["node"] for c in diff["changed"]] == ["numbers"]
    assert diff["changed"][0]["attributes"] == {"n": [6, 8]}
    for name in ("v", "v_2", "v_3"):
        assert engine.wait("history", name, timeout=WAIT).status == "success"


# -- debug mode ----------------------------------------------------------------------------------------------

def _mid_edited_namespace() -> dict[str, Any]:
    """``mid`` redefined the way a notebook cell redefines it."""
    import linecache

    code = "def mid(data):\n    return [x * 100 for x in data]\n"
    filename = f"<cell {uuid.uuid4().hex[:8]}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(code, filename, "exec"), namespace)
    return namespace


def chain_pipeline() -> Pipeline:
    with Pipeline("chain") as p:
        data = up(n=3)
        scaled = mid(data)
        down(scaled)
    return p


def test_debug_rerun_with_an_edited_operation(engine) -> None:
    ex = chain_pipeline().run(name="dbg", debug=True, wait=True)
    assert ex.status == "success" and ex.result("down") == 30
    upstream_file = ex.jobs["up"]["outputs"][0]["location"]
    mtime = os.stat(upstream_file).st_mtime_ns
    commit = engine.get("default", "dbg").commit_id

    ex.rerun(_mid_edited_namespace()["mid"])
    # (Execution.wait() is not used here: see test_execution_wait_after_a_rerun)
    assert engine.wait("default", "dbg", timeout=WAIT).status == "success"
    jobs = ex.jobs
    assert jobs["up"]["attempt"] == 1  # upstream of the edit: its stored output is reused
    assert os.stat(upstream_file).st_mtime_ns == mtime
    assert jobs["mid"]["attempt"] == 2 and jobs["down"]["attempt"] == 2
    assert ex.result("mid") == [0, 100, 200]
    assert ex.result("down") == 300
    record = engine.get("default", "dbg")
    assert record.commit_id != commit
    assert engine.store.tag("default", "dbg")["commit"] == record.commit_id  # the tag follows the edit
    assert "x * 100" in engine.store.commit(record.commit_id)["snapshot"]["operations"]["mid"]["source"]

    # by source text, through the manager
    engine.rerun("default", "dbg", {"down": "def down(data):\n    return -sum(data)\n"})
    record = engine.wait("default", "dbg", timeout=WAIT)
    assert record.status == "success"
    assert [record.job(n).attempt for n in ("up", "mid", "down")] == [1, 2, 3]
    assert ex.result("down") == -300


def test_non_debug_rerun_with_edits_is_a_conflict(engine) -> None:
    ex = chain_pipeline().run(name="plain", wait=True)
    assert ex.status == "success"
    with pytest.raises(Conflict, match="not run in debug mode"):
        ex.rerun(_mid_edited_namespace()["mid"])
    with pytest.raises(Conflict, match="not run in debug mode"):
        engine.rerun("default", "plain", {"mid": "def mid(data):\n    return data\n"})
    with pytest.raises(BadRequest, match="unknown operation 'nope'"):
        engine.rerun("default", "plain", {"nope": "def nope():\n    pass\n"})
    record = engine.get("default", "plain")
    assert [job.attempt for job in record.jobs] == [1, 1, 1]
    # without edits a re-run only runs what did not succeed: here, nothing, and it says so
    with pytest.raises(Conflict, match="nothing to re-run in 'plain': every operation succeeded"):
        engine.rerun("default", "plain")
    record = engine.wait("default", "plain", timeout=WAIT)
    assert [job.attempt for job in record.jobs] == [1, 1, 1] and record.status == "success"


SNAPSHOT_CELL = '''
VERSION = "original"

def reported(gate: str = ""):
    import os, time
    deadline = time.time() + 60
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.02)
    return VERSION
'''


def test_non_debug_execution_runs_its_snapshot(engine, tmp_path) -> None:
    import linecache

    namespace: dict[str, Any] = {"__name__": "__main__"}

    def define(code: str) -> None:
        filename = f"<cell {uuid.uuid4().hex[:8]}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        exec(compile(code, filename, "exec"), namespace)

    define(SNAPSHOT_CELL)
    gate = str(tmp_path / "gate")
    with Pipeline("snap") as p:
        operation(namespace["reported"])(gate=gate)
    ex = p.run(name="snap")
    define(SNAPSHOT_CELL.replace('"original"', '"edited"'))
    open(gate, "w").close()
    assert namespace["reported"](gate=gate) == "edited"  # the notebook now has the new version
    assert ex.wait(WAIT).status == "success"
    assert ex.result("reported") == "original"


def test_memory_storage(engine) -> None:
    ex = simple_pipeline("in_memory").run(name="mem", storage="memory", wait=True)
    assert ex.status == "success", ex.jobs
    assert ex.data["storage"]["backend"] == "memory"
    assert ex.result("total") == 15
    assert ex.result("parity", "evens") == [0, 2, 4]
    location = ex.jobs["parity"]["outputs"][0]["location"]
    assert location.startswith("/pipelines/") and not os.path.exists(location)
    assert not os.path.exists(os.path.join(engine.context.storage_root, "default", "mem"))


def test_execution_wait_after_a_rerun(engine) -> None:
    ex = chain_pipeline().run(name="again", debug=True, wait=True)
    assert ex.status == "success"
    ex.rerun(_mid_edited_namespace()["mid"])
    assert ex.wait(WAIT).status == "success"
    assert ex.result("down") == 300


def test_listing_pages_newest_first_with_a_cursor(engine) -> None:
    p = simple_pipeline("paged")
    names = [engine.submit(p, "page").name for _ in range(7)]
    for name in names:
        engine.wait("default", name, timeout=WAIT)
    seen, cursor = [], None
    while True:
        page = engine.page(limit=3, before=cursor)
        assert len(page["executions"]) <= 3
        seen += [e["name"] for e in page["executions"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(names))  # every one once, newest first
    assert engine.page(pipeline="paged", limit=100)["next"] is None
    assert engine.page(project="elsewhere")["executions"] == []
    from jupyter_pipelines.client import EmbeddedApi

    assert [e["name"] for e in EmbeddedApi(engine).executions(limit=2)] == list(reversed(names))  # all pages


def test_params_override_attributes_and_are_part_of_the_commit(engine) -> None:
    p = simple_pipeline("params")
    plain = p.run(name="plain", wait=True)
    tuned = p.run(name="tuned", params={"numbers.n": 10}, wait=True)
    assert (plain.result("total"), tuned.result("total")) == (15, 45)
    assert tuned.data["params"] == {"numbers.n": 10} and plain.data["params"] == {}
    assert tuned.data["commit"] != plain.data["commit"]
    snapshot = engine.snapshot("default", "tuned")
    assert snapshot.nodes["numbers"].attributes["n"] == 10
    changed = engine.diff("default", "plain", "tuned")["operations"]["changed"]
    assert [(c["node"], c["attributes"]) for c in changed] == [("numbers", {"n": [6, 10]})]
    with pytest.raises(BadRequest, match="attribute 'n' of 'numbers' must be int"):
        p.run(name="bad", params={"numbers.n": "ten"})
    with pytest.raises(BadRequest, match="has no attribute 'm'"):
        p.run(name="bad", params={"numbers.m": 1})


def test_rerun_by_name_takes_the_current_definition_in_the_callers_namespace(engine) -> None:
    ex = chain_pipeline().run(name="by-name", debug=True, wait=True)
    assert ex.result("down") == 30
    namespace = _mid_edited_namespace()  # a notebook where `mid` was redefined (as an operation) since
    namespace["mid"] = operation(namespace["mid"])
    exec("ex.rerun('mid')", {**namespace, "ex": ex})
    record = engine.wait("default", "by-name", timeout=WAIT)
    assert record.status == "success" and [job.attempt for job in record.jobs] == [1, 2, 2]
    assert ex.result("down") == 300
    with pytest.raises(BadRequest, match="no operation named 'nowhere'"):
        ex.rerun("nowhere")
