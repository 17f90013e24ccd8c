"""Browser-test plumbing: a real JupyterLab on a loopback port, driven by headless Chromium.

Fixtures (reused by every module of ``tests/browser``):

``jupyterlab`` (session)
    A JupyterLab server started as a subprocess on a free loopback port with a random token, an
    isolated config/data/runtime dir and its own ``JUPYTER_PIPELINES_HOME``; its root is a copy of
    ``examples/``. Yields a :class:`LabServer` (``.url``, ``.token``, ``.root``, ``.session``,
    ``.api(path)``, ``.submit(pipeline)``, ``.wait_status(name)``). Log: ``test-artifacts/jupyterlab.log``.
``browser`` (session)
    Debian's Chromium (``/usr/bin/chromium`` or ``$JUPYTER_PIPELINES_CHROMIUM``) through Playwright,
    headless, with a throw-away profile and the flags that keep it off the network.
``browser_context``
    A fresh context (downloads accepted); on failure a screenshot of each of its pages is kept.
``open_lab``
    ``open_lab(path="lab")`` opens ``{url}{path}?token=…`` in the context and waits until the
    JupyterLab shell is restored; returns the Playwright ``Page``.
``page``
    ``open_lab()``: a page on JupyterLab's main view.

Helpers to import (``from .conftest import …``; ``tests/browser`` is a package): ``screenshot(page,
name, locator=None)`` saves ``test-artifacts/<name>.png``; ``wait_for_lab(page)`` after a reload;
``run_command(page, "jupyter-pipelines:open")`` runs a JupyterLab command (the app is exposed as
``window.jupyterapp``). On a failure, a full-page screenshot and the browser console are kept as
``test-artifacts/<test id>-failure-N.png`` and ``-console.log``. Outside pytest
(``benchmarks/bench_browser.py``), ``running_lab(base)`` is the ``jupyterlab`` fixture as a context
manager and ``launch_chromium(driver)`` the ``browser`` one.

The server extension is used as installed. The lab extension is the package's own build
(``jupyter_pipelines/labextension``, from ``cd labextension && jlpm build:prod``) when there is one:
it is linked into a private folder put first on ``JUPYTER_PATH``, so an older installed copy
never shadows the sources under test (nothing is written into site-packages); without a
build, the installed copy is used.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import jupyter_pipelines
from jupyter_pipelines.store.models import seconds_between

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("JUPYTER_PIPELINES_CHROMIUM", "/usr/bin/chromium")
LABEXTENSION_NAME = "jupyter-pipelines"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
]
FINAL = ("success", "failed", "canceled")
SERVER_START_TIMEOUT = 120


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install 'playwright>=1.45'; no browser download needed)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = _skip_reason()
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


def screenshot(page: Any, name: str, **options: Any) -> Path:
    """Save a PNG of the page (or of ``locator=…``'s element) under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{artifact_name(name)}.png"
    locator = options.pop("locator", None)
    (locator or page).screenshot(path=str(path), **options)
    return path


# -- the JupyterLab server ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _installed_labextension() -> Path | None:
    """Where JupyterLab already finds the lab extension, ignoring the (isolated) user data dir."""
    from jupyter_core.paths import ENV_JUPYTER_PATH, SYSTEM_JUPYTER_PATH

    extra = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    for base in [*extra, *ENV_JUPYTER_PATH, *SYSTEM_JUPYTER_PATH]:
        candidate = Path(base) / "labextensions" / LABEXTENSION_NAME / "package.json"
        if candidate.is_file():
            return candidate.parent
    return None


def _built_labextension() -> Path:
    return Path(jupyter_pipelines.__file__).resolve().parent / "labextension"


class LabServer:
    """A running JupyterLab: its URL and token, its root folder and a token-authenticated session."""

    def __init__(self, url: str, token: str, root: Path, home: Path, process: subprocess.Popen[bytes],
                 log: Path) -> None:
        self.url = url  # ends with "/"
        self.token = token
        self.root = root
        self.home = home
        self.process = process
        self.log = log
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def url_for(self, path: str) -> str:
        return path if re.match(r"https?://", path) else self.url + path.lstrip("/")

    def lab_url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url_for(path)}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", *, check: bool = True, **kwargs: Any) -> requests.Response:
        """``api("pipelines/api/executions", "POST", json=…)``: a request with the token; raises on 4xx/5xx."""
        kwargs.setdefault("timeout", 60)
        response = self.session.request(method, self.url_for(path), **kwargs)
        if check and response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    # -- pipeline helpers --------------------------------------------------------------------------
    def submit(self, pipeline: Any, name: str = "", **body: Any) -> dict[str, Any]:
        """POST executions with a ``Pipeline`` (or its dict); returns the execution (with its final name)."""
        data = pipeline if isinstance(pipeline, dict) else pipeline.to_dict()
        return self.api("pipelines/api/executions", "POST", json={"pipeline": data, "name": name, **body}).json()

    def execution(self, name: str, project: str | None = None) -> dict[str, Any]:
        params = {"project": project} if project else {}
        return self.api(f"pipelines/api/executions/{name}", params=params).json()

    def wait_status(self, name: str, statuses: Iterable[str] = FINAL, project: str | None = None,
                    timeout: float = 120, jobs: Callable[[list[dict[str, Any]]], bool] | None = None
                    ) -> dict[str, Any]:
        """Poll (test-side only) until the execution's status is one of ``statuses``."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        record: dict[str, Any] = {}
        while time.monotonic() < deadline:
            record = self.execution(name, project)
            if record.get("status") in wanted and (jobs is None or jobs(record.get("jobs") or [])):
                return record
            time.sleep(0.2)
        raise AssertionError(f"execution {name!r} did not reach {sorted(wanted)} in {timeout}s: {record}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {self.process.returncode}; see {self.log}")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


class LabUnavailable(RuntimeError):
    """The lab extension is neither built in the checkout nor installed."""


@pytest.fixture(scope="package")  # ends with tests/browser: Playwright holds an event loop
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    try:
        with running_lab(tmp_path_factory.mktemp("jupyterlab")) as server:
            yield server
    except LabUnavailable as error:
        pytest.skip(str(error))


@contextlib.contextmanager
def running_lab(base: Path, log_path: Path | None = None) -> Iterator[LabServer]:
    """A JupyterLab subprocess with its files under ``base`` (the fixture's; the benchmarks use it too)."""
    root = base / "root"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    home, config_dir, data_dir, runtime_dir = (base / d for d in ("pipelines", "config", "data", "runtime"))
    for folder in (home, config_dir, data_dir, runtime_dir):
        folder.mkdir()

    # the server extension: enabled by etc/jupyter when installed; enable it here too (idempotent)
    _write_json(config_dir / "jupyter_server_config.json",
                {"ServerApp": {"jpserver_extensions": {"jupyter_pipelines": True}}})
    # no news / update pop-ups over the panel, no network
    _write_json(config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
                / "notification.jupyterlab-settings", {"fetchNews": "false", "checkForUpdates": False})
    # the lab extension: the package's own build (jupyter_pipelines/labextension: the sources under test,
    # newer than an older install), linked into a folder put first on JUPYTER_PATH (in a virtual
    # environment jupyter_core reads sys.prefix before the user data dir); else as installed (pip install .)
    built = _built_labextension()
    jupyter_path = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if (built / "package.json").is_file():
        first = base / "jupyter-path"
        (first / "labextensions").mkdir(parents=True)
        (first / "labextensions" / LABEXTENSION_NAME).symlink_to(built, target_is_directory=True)
        jupyter_path.insert(0, str(first))
    elif _installed_labextension() is None:
        raise LabUnavailable(f"the lab extension is not built: no {built}/package.json "
                             "(cd labextension && jlpm install && jlpm build:prod)")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_PIPELINES_", "JPY_"))}
    if jupyter_path:
        env["JUPYTER_PATH"] = os.pathsep.join(jupyter_path)
    env.update(JUPYTER_PIPELINES_HOME=str(home), JUPYTER_CONFIG_DIR=str(config_dir),
               JUPYTER_DATA_DIR=str(data_dir), JUPYTER_RUNTIME_DIR=str(runtime_dir),
               IPYTHONDIR=str(base / "ipython"), PYTHONUNBUFFERED="1")
    token = secrets.token_hex(24)
    port = free_port()
    if log_path is None:
        ARTIFACTS.mkdir(exist_ok=True)
        log_path = ARTIFACTS / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_unauthenticated_access=False", "--ServerApp.open_browser=False",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.shutdown_no_activity_timeout=0",
    ]
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(command) + "\n").encode())
        log.flush()
        process = subprocess.Popen(command, cwd=str(root), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(f"http://127.0.0.1:{port}/", token, root, home, process, log_path)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            server.check_alive()
            try:
                if server.session.get(server.url_for("api/status"), timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not answer on {server.url} in {SERVER_START_TIMEOUT}s; "
                                     f"see {log_path}")
            time.sleep(0.25)
        # the server extension must be there, or every browser test would fail obscurely
        server.api("pipelines/api/backends")
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the job processes it started
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, if any
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# -- the browser --------------------------------------------------------------------------------
def launch_chromium(driver: Any) -> Any:
    """Debian's Chromium, never a downloaded one; a throw-away profile (Playwright's default temp dir)."""
    return driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@pytest.fixture(scope="package")  # ends with tests/browser: Playwright holds an event loop
def playwright_driver() -> Iterator[Any]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")  # ends with tests/browser: Playwright holds an event loop
def browser(playwright_driver: Any) -> Iterator[Any]:
    instance = launch_chromium(playwright_driver)
    yield instance
    instance.close()


@pytest.fixture
def browser_context(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900},
                                  locale="en-US", timezone_id="UTC")
    context.set_default_timeout(30_000)
    console: list[str] = []  # the browser's errors, kept next to the failure screenshot

    def watch(page: Any) -> None:
        page.on("console", lambda msg: console.append(f"console.{msg.type}: {msg.text}")
                if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))

    context.on("page", watch)
    context.browser_console = console  # type: ignore[attr-defined]
    yield context
    failed = any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
                 for when in ("setup", "call"))
    if failed:
        name = artifact_name(request.node.nodeid)
        for index, page in enumerate(context.pages):
            try:
                screenshot(page, f"{name}-failure-{index}", full_page=True)
            except Exception:  # noqa: BLE001, S110 - a closed page has nothing to show
                pass
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{name}-console.log").write_text("\n".join(console) + "\n")
    context.close()


def wait_for_lab(page: Any, timeout: float = 90_000) -> None:
    """Until JupyterLab's shell is attached and its layout restored (plugins activated)."""
    page.wait_for_selector("#jp-main-dock-panel", state="attached", timeout=timeout)
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=timeout)
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=timeout)


#: The side panel's element.
PANEL = "#jp-pipelines-panel"


def open_panel(page: Any) -> Any:
    """Open the side panel by its left-sidebar tab (unless it is already showing)."""
    panel = page.locator(PANEL)
    if not panel.is_visible():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="jp-pipelines-panel"]').click()
    panel.wait_for(state="visible")
    return panel


def run_command(page: Any, command: str, args: dict[str, Any] | None = None) -> Any:
    """Run a JupyterLab command (``window.jupyterapp.commands``) and return its JSON-able result."""
    return page.evaluate("([id, args]) => Promise.resolve(window.jupyterapp.commands.execute(id, args))"
                         ".then(r => (r === undefined || r === null || typeof r !== 'object') ? r : true)",
                         [command, args or {}])


@pytest.fixture
def open_lab(jupyterlab: LabServer, browser_context: Any) -> Callable[..., Any]:
    """``open_lab(path="lab", page=None)``: (re)open JupyterLab at ``path`` and wait until it is ready."""

    def open_(path: str = "lab", page: Any = None) -> Any:
        page = page or browser_context.new_page()
        page.goto(jupyterlab.lab_url(path), wait_until="domcontentloaded")
        wait_for_lab(page)
        return page

    return open_


@pytest.fixture
def page(open_lab: Callable[..., Any]) -> Any:
    return open_lab()


def assert_drawn_to_success(seen: dict[str, list[str]], record: dict[str, Any], ops: Iterable[str]) -> None:
    """The statuses a page drew for each operation of ``record`` ended in success, and one that ran for a
    second was drawn running.

    A page draws a state when React next renders, and React batches the changes that arrive before it
    does: an operation that ran for milliseconds (with its imports warm) may go from pending to success
    in one render when its two events arrive together, so only a longer one must have been drawn
    running (labextension/test/widget.spec.tsx shows the batching itself).
    """
    ran = {job["op"]: seconds_between(job.get("started"), job.get("ended")) or 0.0 for job in record["jobs"]}
    for op in ops:
        assert seen[op][-1] == "success" and not {"failed", "canceled", "skipped"} & set(seen[op]), (op, seen)
        if ran.get(op, 0.0) >= 1.0:
            assert "running" in seen[op], (op, ran, seen)
