"""Figures and previews through a real Jupyter server (pytest-jupyter), auth on."""
from __future__ import annotations

import asyncio
import importlib.util
from urllib.parse import parse_qsl

import pytest
from test_api import wait_final
from tornado.httpclient import HTTPClientError

from jupyter_pipelines import Pipeline, operation
from jupyter_pipelines.client import RemoteApi
from jupyter_pipelines.errors import NotFound

pytestmark = pytest.mark.timeout(120)
PNG = b"\x89PNG\r\n\x1a\n"


@operation
def plots(points: int = 3):
    import matplotlib.pyplot as plt

    plt.plot(range(points))
    plt.show()
    plt.plot(range(points, 0, -1))
    plt.show()
    figure, axes = plt.subplots()
    axes.scatter([1, 2], [2, 1])
    return figure


@operation
def metrics():
    return {"accuracy": 0.91}


async def fetch(jp_fetch, url: str, **kwargs):
    """GET a server-relative URL as the API gives it (``pipelines/api/...?project=...``)."""
    path, _, query = url.partition("?")
    return await jp_fetch(*path.split("/"), params=dict(parse_qsl(query)), **kwargs)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
async def test_figures_are_listed_and_served_with_auth(api, jp_fetch, jp_serverapp, manager):
    with Pipeline("plots", project="figs") as p:
        plots(points=5)
    status, created = await api("POST", "executions", {"pipeline": p.to_dict(), "name": "drawn"})
    assert status == 201, created
    data = await wait_final(api, "drawn", project="figs")
    assert data["status"] == "success", data
    job = data["jobs"][0]
    assert job["figures"] == [{"index": n, "mime": "image/png",
                               "url": f"pipelines/api/executions/drawn/jobs/plots/figures/{n}?project=figs"}
                              for n in range(3)]
    bodies = []
    for figure in job["figures"]:
        response = await fetch(jp_fetch, figure["url"])
        assert response.code == 200 and response.headers["Content-Type"] == "image/png"
        assert response.body.startswith(PNG)
        bodies.append(response.body)
    assert len(set(bodies)) == 3
    assert bodies[2] == manager.figure("figs", "drawn", "plots", 2)[0]
    remote = RemoteApi(jp_serverapp.connection_url, jp_serverapp.identity_provider.token)  # the kernel's client
    assert await asyncio.to_thread(remote.figure, "figs", "drawn", "plots", 1) == bodies[1]
    with pytest.raises(NotFound, match="no figure 7"):
        await asyncio.to_thread(remote.figure, "figs", "drawn", "plots", 7)
    assert job["outputs"][0]["preview"]["kind"] == "image"
    with pytest.raises(HTTPClientError) as refused:
        await fetch(jp_fetch, job["figures"][0]["url"], headers={"Authorization": ""})
    assert refused.value.code == 403
    for url in ("pipelines/api/executions/drawn/jobs/plots/figures/3?project=figs",
                "pipelines/api/executions/drawn/jobs/plots/figures/x?project=figs",
                "pipelines/api/executions/drawn/jobs/nothing/figures/0?project=figs",
                "pipelines/api/executions/drawn/jobs/plots/figures/0"):  # another project
        with pytest.raises(HTTPClientError) as missing:
            await fetch(jp_fetch, url)
        assert missing.value.code == 404, url


async def test_previews_are_in_the_execution_and_unknown_figures_are_404(api, jp_fetch):
    with Pipeline("scores") as p:
        metrics()
    status, created = await api("POST", "executions", {"pipeline": p.to_dict(), "name": "scored"})
    assert status == 201, created
    data = await wait_final(api, "scored")
    assert data["status"] == "success", data
    job = data["jobs"][0]
    assert job["outputs"][0]["preview"] == {"kind": "value", "text": "{'accuracy': 0.91}"}
    assert job["figures"] == []
    status, body = await api("GET", "executions/scored/jobs/metrics/figures/0")
    assert status == 404 and "no figure 0" in body["message"]
    status, body = await api("GET", "executions/ghost/jobs/metrics/figures/0")
    assert status == 404 and "ghost" in body["message"]
    status, _ = await api("GET", "executions/scored/jobs/metrics/figures/0", headers={"Authorization": ""})
    assert status == 403
