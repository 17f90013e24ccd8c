"""SciServerFilesFileSystem against the loopback SciServer stand-in.

Self-contained: fixtures live here (tests/conftest.py belongs to the package lead).
"""

import hashlib
import os
import posixpath
import sys
import tracemalloc
import uuid

import fsspec
import pytest
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests
from fsspec.tests.abstract.put import AbstractPutTests

sys.path.insert(0, os.path.dirname(__file__))
from sciserver_standin import SciServerStandin  # noqa: E402

from jupyter_pipelines.storage.sciserver_fs import (  # noqa: E402
    SciServerFile,
    SciServerFilesFileSystem,
)

VOL = "Storage/alice/persistent"
MB = 2**20


@pytest.fixture(scope="module")
def standin():
    with SciServerStandin() as s:
        yield s


@pytest.fixture(scope="module", autouse=True)
def _register():
    fsspec.register_implementation("sciserver", SciServerFilesFileSystem, clobber=True)
    yield


def make_fs(standin, **kw):
    kw.setdefault("files_url", standin.files_url)
    kw.setdefault("login_url", standin.login_url)
    if "username" not in kw:
        kw.setdefault("token", standin.issue_token("alice"))
    return SciServerFilesFileSystem(skip_instance_cache=True, **kw)


@pytest.fixture
def sfs(standin):
    return make_fs(standin)


@pytest.fixture
def base(sfs):
    path = f"{VOL}/t-{uuid.uuid4().hex[:10]}"
    sfs.makedirs(path)
    yield path
    if sfs.exists(path):
        sfs.rm(path, recursive=True)


def _no_range_requests(standin):
    return not standin.requests_with_header("Range")


# ----------------------------------------------------------------- round trips


def test_pipe_cat_ls_info_exists_rm(sfs, base):
    sfs.pipe(f"{base}/a/b.txt", b"hello")
    assert sfs.cat(f"{base}/a/b.txt") == b"hello"
    assert sfs.cat_file(f"{base}/a/b.txt", start=1, end=3) == b"el"
    assert sfs.cat_file(f"{base}/a/b.txt", start=-2) == b"lo"
    assert sfs.ls(base, detail=False) == [f"{base}/a"]
    [entry] = sfs.ls(f"{base}/a")
    assert entry["name"] == f"{base}/a/b.txt" and entry["size"] == 5 and entry["type"] == "file"
    assert sfs.info(f"{base}/a")["type"] == "directory"
    assert sfs.info(f"{base}/a/b.txt")["size"] == 5
    assert sfs.ls(f"{base}/a/b.txt", detail=False) == [f"{base}/a/b.txt"]
    assert sfs.isfile(f"{base}/a/b.txt") and sfs.isdir(f"{base}/a")
    assert sfs.exists(f"{base}/a/b.txt") and not sfs.exists(f"{base}/a/nope")
    assert sfs.modified(f"{base}/a/b.txt") is not None
    assert sfs.created(f"{base}/a/b.txt") is not None
    sfs.rm(f"{base}/a/b.txt")
    assert not sfs.exists(f"{base}/a/b.txt")
    assert sfs.ls(f"{base}/a") == []


def test_protocol_urls_and_fsspec_open(standin, base):
    token = standin.issue_token("alice")
    opts = dict(files_url=standin.files_url, token=token)
    with fsspec.open(f"sciserver://{base}/u.txt", "w", **opts) as f:
        f.write("héllo")
    with fsspec.open(f"sciserver://{base}/u.txt", "r", **opts) as f:
        assert f.read() == "héllo"
    fs, path = fsspec.core.url_to_fs(f"sciserver:///{base}/u.txt", **opts)
    assert isinstance(fs, SciServerFilesFileSystem) and path == f"{base}/u.txt"
    assert fs.unstrip_protocol(path) == f"sciserver://{base}/u.txt"
    assert fsspec.get_filesystem_class("sciserver") is SciServerFilesFileSystem


def test_odd_names_are_quoted(sfs, base):
    path = f"{base}/with space/ünï#code?&.txt"
    sfs.pipe(path, b"x")
    assert sfs.cat(path) == b"x"
    assert sfs.ls(f"{base}/with space", detail=False) == [path]


def test_big_file_streams_in_chunks(standin, base):
    sfs = make_fs(standin, spool_max_size=4 * MB)
    path = f"{base}/big.bin"
    block = os.urandom(MB)
    want = hashlib.sha256()
    before = len(standin.requests)
    with sfs.open(path, "wb") as f:
        for i in range(20):
            chunk = bytes([i]) + block[1:]
            want.update(chunk)
            f.write(chunk)
        assert f._spool._rolled, "a 20 MB write must spill to disk, not stay in memory"
    puts = [r for r in standin.requests[before:] if r[0] == "PUT"]
    assert len(puts) == 1 and int(puts[0][2]["Content-Length"]) == 20 * MB
    assert sfs.size(path) == 20 * MB

    before = len(standin.requests)
    got = hashlib.sha256()
    tracemalloc.start()
    try:
        with sfs.open(path, "rb", block_size=MB) as f:
            assert isinstance(f, SciServerFile)
            while True:
                chunk = f.read(256 * 1024)
                if not chunk:
                    break
                got.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.hexdigest() == want.hexdigest()
    assert peak < 8 * MB, f"reading held {peak / MB:.1f} MB at once"
    gets = [r for r in standin.requests[before:] if r[0] == "GET" and "/api/file/" in r[1]]
    assert len(gets) == 1, "one streamed download, no per-block requests"
    assert _no_range_requests(standin)


def test_seek_forward_skips_and_backward_redownloads(standin, sfs, base):
    path = f"{base}/digits"
    data = bytes(range(256)) * 40
    sfs.pipe(path, data)
    before = len(standin.requests)
    with sfs.open(path, "rb", cache_type="none") as f:
        f.seek(1000)
        assert f.read(10) == data[1000:1010]
        f.seek(5000)
        assert f.read(5) == data[5000:5005]
        f.seek(3)
        assert f.read(4) == data[3:7]
        f.seek(-6, 2)
        assert f.read() == data[-6:]
    gets = [r for r in standin.requests[before:] if r[0] == "GET" and "/api/file/" in r[1]]
    assert len(gets) == 2  # the first download, and one more after seeking back
    assert _no_range_requests(standin)


def test_open_modes_exclusive_append_and_text(sfs, base):
    path = f"{base}/m.txt"
    with sfs.open(path, "xb") as f:
        f.write(b"one\n")
    with pytest.raises(FileExistsError):
        sfs.open(path, "xb")
    with sfs.open(path, "ab") as f:
        f.write(b"two\n")
    assert sfs.cat(path) == b"one\ntwo\n"
    with sfs.open(path, "r") as f:
        assert f.readlines() == ["one\n", "two\n"]
    sfs.pipe_file(path, b"new", mode="overwrite")
    with pytest.raises(FileExistsError):
        sfs.pipe_file(path, b"again", mode="create")
    assert sfs.cat(path) == b"new"


def test_failed_write_publishes_nothing(sfs, base):
    path = f"{base}/half.bin"
    with pytest.raises(RuntimeError):
        with sfs.open(path, "wb") as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert not sfs.exists(path)


def test_transaction_commits_on_exit(sfs, base):
    path = f"{base}/tx.bin"
    with sfs.transaction:
        with sfs.open(path, "wb") as f:
            f.write(b"later")
        assert not sfs.exists(path)
    assert sfs.cat(path) == b"later"


def test_makedirs_mkdir_rm(sfs, base):
    d = f"{base}/x/y/z"
    sfs.makedirs(d)
    assert sfs.isdir(d)
    with pytest.raises(FileExistsError):
        sfs.makedirs(d)
    sfs.makedirs(d, exist_ok=True)
    sfs.makedirs(VOL, exist_ok=True)
    with pytest.raises(FileExistsError):
        sfs.mkdir(d)
    with pytest.raises(FileNotFoundError):
        sfs.mkdir(f"{base}/nope/sub", create_parents=False)
    sfs.mkdir(f"{base}/x/flat", create_parents=False)
    sfs.pipe(f"{base}/x/f", b"1")
    with pytest.raises(FileExistsError):
        sfs.makedirs(f"{base}/x/f", exist_ok=True)
    with pytest.raises(OSError):
        sfs.rm(f"{base}/x")  # not empty, not recursive
    sfs.rmdir(f"{base}/x/flat")
    sfs.rm(f"{base}/x", recursive=True)
    assert not sfs.exists(f"{base}/x")
    with pytest.raises(FileNotFoundError):
        sfs.rm(f"{base}/x")
    with pytest.raises(PermissionError):
        sfs.rm(VOL, recursive=True)  # never deletes a whole user volume


def test_rm_glob_and_list(sfs, base):
    for n in ("a.txt", "b.txt", "c.csv"):
        sfs.pipe(f"{base}/{n}", b"-")
    sfs.rm(f"{base}/*.txt")
    assert sfs.ls(base, detail=False) == [f"{base}/c.csv"]
    sfs.rm([f"{base}/c.csv"])
    assert sfs.ls(base) == []


def test_copy_move_get_put(sfs, base, tmp_path):
    sfs.pipe(f"{base}/src/f1", b"11")
    sfs.pipe(f"{base}/src/sub/f2", b"22")
    sfs.cp_file(f"{base}/src/f1", f"{base}/copy1")
    assert sfs.cat(f"{base}/copy1") == b"11"
    sfs.copy(f"{base}/src", f"{base}/dst", recursive=True)
    assert sfs.cat(f"{base}/dst/sub/f2") == b"22"
    sfs.mv(f"{base}/copy1", f"{base}/moved")
    assert not sfs.exists(f"{base}/copy1") and sfs.cat(f"{base}/moved") == b"11"
    sfs.get(f"{base}/src", str(tmp_path / "local"), recursive=True)
    assert (tmp_path / "local" / "sub" / "f2").read_bytes() == b"22"
    (tmp_path / "up.txt").write_bytes(b"up")
    (tmp_path / "empty").write_bytes(b"")
    sfs.put(str(tmp_path / "up.txt"), f"{base}/up/up.txt")
    sfs.put(str(tmp_path / "empty"), f"{base}/up/empty")
    assert sfs.cat(f"{base}/up/up.txt") == b"up" and sfs.cat(f"{base}/up/empty") == b""
    assert sfs.find(f"{base}/up") == [f"{base}/up/empty", f"{base}/up/up.txt"]
    assert sfs.du(f"{base}/src") == 4


def test_listing_cache_is_off_by_default_and_invalidated_when_on(standin, base):
    a, b = make_fs(standin), make_fs(standin, use_listings_cache=True)
    b.ls(base)
    a.pipe(f"{base}/new", b"n")
    assert b.ls(base) == []  # b cached the empty listing
    b.invalidate_cache(base)
    assert b.ls(base, detail=False) == [f"{base}/new"]
    b.pipe(f"{base}/mine", b"m")  # own writes invalidate
    assert b.ls(base, detail=False) == [f"{base}/mine", f"{base}/new"]
    assert a.ls(base, detail=False) == [f"{base}/mine", f"{base}/new"]


def test_bad_paths(sfs):
    with pytest.raises(ValueError):
        sfs.ls("Storage/alice")
    with pytest.raises(ValueError):
        sfs.pipe("Storage/alice", b"x")


# ----------------------------------------------------------------- auth, errors


def test_login_with_username_and_password(standin, base):
    fs = make_fs(standin, username="alice", password="alice-password")
    assert fs._token is None  # lazy: no network until first use
    fs.pipe(f"{base}/by-login", b"ok")
    assert fs._token in standin.tokens and standin.tokens[fs._token] == "alice"
    assert fs.cat(f"{base}/by-login") == b"ok"
    login = [r for r in standin.requests if r[0] == "POST" and r[1].endswith("/keystone/v3/tokens")]
    assert login


def test_relogin_after_token_expiry(standin, base):
    fs = make_fs(standin, username="alice", password="alice-password")
    fs.pipe(f"{base}/r", b"1")
    old = fs._token
    standin.revoke_token(old)
    with fs.open(f"{base}/r2", "wb") as f:  # streamed body is re-sent after log-in
        f.write(b"2" * 1000)
    assert fs._token != old and fs.cat(f"{base}/r2") == b"2" * 1000


def test_wrong_password(standin):
    fs = make_fs(standin, username="alice", password="nope")
    with pytest.raises(PermissionError, match="alice"):
        fs.ls(VOL)


def test_wrong_or_missing_token(standin):
    fs = make_fs(standin, token="not-a-token")
    with pytest.raises(PermissionError, match="persistent/x"):
        fs.cat(f"{VOL}/x")
    with pytest.raises(PermissionError):
        fs.pipe(f"{VOL}/x", b"1")
    with pytest.raises(PermissionError):
        fs.ls(VOL)
    with pytest.raises(PermissionError, match="no token"):
        SciServerFilesFileSystem(files_url=standin.files_url, skip_instance_cache=True,
                                 token_file=os.devnull).ls(VOL)


def test_other_users_volume_is_forbidden(standin, sfs):
    bob = make_fs(standin, token=standin.issue_token("bob"))
    bob.pipe("Storage/bob/persistent/secret", b"s")
    with pytest.raises(PermissionError, match="Storage/bob/persistent/secret"):
        sfs.cat("Storage/bob/persistent/secret")
    with pytest.raises(PermissionError):
        sfs.pipe("Storage/bob/persistent/intrude", b"x")
    with pytest.raises(PermissionError):
        sfs.rm("Storage/bob/persistent/secret")
    with pytest.raises(PermissionError):
        sfs.ls("Storage/bob/persistent")
    bob.rm("Storage/bob/persistent/secret")


def test_missing_things(sfs, base):
    with pytest.raises(FileNotFoundError):
        sfs.cat(f"{base}/missing")
    with pytest.raises(FileNotFoundError):
        sfs.open(f"{base}/missing", "rb")
    with pytest.raises(FileNotFoundError):
        sfs.info(f"{base}/missing")
    with pytest.raises(FileNotFoundError):
        sfs.ls(f"{base}/missing/deeper")
    with pytest.raises(FileNotFoundError):
        sfs.rm_file(f"{base}/missing")
    with pytest.raises(FileNotFoundError):
        sfs.ls("Storage/alice/no-such-volume")
    assert not sfs.exists("Storage/alice/no-such-volume/x")


def test_production_error_style_is_mapped():
    """The real service answers 500 + {"error": msg}, and an empty 200 for a missing
    file; the filesystem must still raise the right exceptions."""
    with SciServerStandin(production_quirks=True) as s:
        fs = make_fs(s)
        fs.pipe(f"{VOL}/q/f", b"data")
        assert fs.cat(f"{VOL}/q/f") == b"data"
        with pytest.raises(FileNotFoundError):
            fs.cat(f"{VOL}/q/missing")
        with pytest.raises(FileNotFoundError):
            fs.open(f"{VOL}/q/missing", "rb")
        with pytest.raises(IsADirectoryError):
            fs.cat(f"{VOL}/q")
        with pytest.raises(FileExistsError):
            fs.pipe_file(f"{VOL}/q/f", b"x", mode="create")
        with pytest.raises(FileExistsError):
            fs.makedirs(f"{VOL}/q")
        with pytest.raises(FileNotFoundError):
            fs.rm(f"{VOL}/q/missing")
        with pytest.raises(PermissionError):
            fs.cat("Storage/bob/persistent/x")
        with pytest.raises(PermissionError):
            make_fs(s, token="bad").cat(f"{VOL}/q/f")
        assert fs.ls(f"{VOL}/q/f", detail=False) == [f"{VOL}/q/f"]


def test_pickle_round_trip(standin, base):
    import pickle

    fs = make_fs(standin, username="alice", password="alice-password")
    fs.pipe(f"{base}/p", b"pickled")
    fs2 = pickle.loads(pickle.dumps(fs))
    assert fs2.cat(f"{base}/p") == b"pickled"


# ------------------------------------------------- fsspec's abstract test suite


class SciServerFixtures(AbstractFixtures):
    """The fixtures fsspec.tests.abstract expects (see its __init__.py)."""

    @pytest.fixture(scope="class")
    def _standin(self):
        fsspec.register_implementation("sciserver", SciServerFilesFileSystem, clobber=True)
        with SciServerStandin() as s:
            yield s

    @pytest.fixture
    def fs(self, _standin):
        return make_fs(_standin)

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, fs):
        path = f"{VOL}/abstract-{uuid.uuid4().hex[:10]}"
        fs.makedirs(path)
        yield path
        if fs.exists(path):
            fs.rm(path, recursive=True)

    @pytest.fixture
    def supports_empty_directories(self):
        return True


class TestSciServerCopy(AbstractCopyTests, SciServerFixtures):
    pass


class TestSciServerGet(AbstractGetTests, SciServerFixtures):
    pass


class TestSciServerPut(AbstractPutTests, SciServerFixtures):
    pass


class TestSciServerOpen(AbstractOpenTests, SciServerFixtures):
    pass


class TestSciServerPipe(AbstractPipeTests, SciServerFixtures):
    pass
