"""Shared fixtures: every test gets its own engine home and an embedded engine."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jupyter_pipelines import client
from jupyter_pipelines.client import EmbeddedApi
from jupyter_pipelines.engine import ExecutionManager


@pytest.fixture(autouse=True)
def pipelines_home(tmp_path, monkeypatch) -> Iterator[str]:
    """A private engine home per test; no Jupyter server is looked for."""
    home = str(tmp_path / "home")
    monkeypatch.setenv("JUPYTER_PIPELINES_HOME", home)
    monkeypatch.setenv("JUPYTER_PIPELINES_EMBEDDED", "1")
    yield home
    client.use(None)  # type: ignore[arg-type]  # the next connect() starts afresh


@pytest.fixture
def make_engine(pipelines_home) -> Iterator[Callable[..., ExecutionManager]]:
    """``make_engine(workers=1)``: an engine on the test's home that Pipeline.run uses; closed at teardown."""
    engines: list[ExecutionManager] = []

    def make(**options: Any) -> ExecutionManager:
        manager = ExecutionManager(pipelines_home, **options)
        engines.append(manager)
        client.use(EmbeddedApi(manager))
        return manager

    yield make
    for manager in reversed(engines):
        manager.close()


@pytest.fixture
def engine(make_engine) -> ExecutionManager:
    """The default engine (workers = the cores)."""
    return make_engine()
