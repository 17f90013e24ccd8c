"""pytest-jupyter's server fixtures, for the tests of this folder only."""
from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403 - fixtures and hooks of pytest-jupyter


@pytest.fixture
def server_home(tmp_path):
    return tmp_path / "pipelines-home"


@pytest.fixture
def jp_server_config(server_home):
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_pipelines": True},
            "allow_unauthenticated_access": False,
        },
        "PipelinesApp": {"data_dir": str(server_home)},
    }


@pytest.fixture
def manager(jp_serverapp):
    return jp_serverapp.web_app.settings["pipelines_manager"]


@pytest.fixture
def api(jp_fetch):
    """``await api(method, path, body=None, **params)`` → (status, parsed JSON or text)."""

    async def call(method: str, path: str, body: Any = None, headers: dict | None = None, **params: str):
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "params": params, "headers": headers or {}}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        elif method in ("POST", "PUT"):
            kwargs["body"] = ""
        response = await jp_fetch("pipelines", "api", *path.split("/"), **kwargs)
        text = response.body.decode() if response.body else ""
        try:
            return response.code, json.loads(text) if text else None
        except ValueError:
            return response.code, text

    return call
