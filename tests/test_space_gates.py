"""Uploads, the API's share of the queue, and MCP behind APP_AUTH, on a public Space."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest

from config import PageOptions
from spend.gate import gate_app_kwargs
from tests.conftest import RunningApp, app_config, app_settings, free_port
from ui.api.endpoints import API_QUEUE_ID
from ui.api.queue import share_queue

PNG = b"\x89PNG" + b"\0" * 1000


def start(fireworks, aiml, tiny_model, **launch) -> RunningApp:
    from app import create_app
    from ui import LAUNCH_OPTIONS

    settings = app_settings(fireworks, aiml, tiny_model)
    app = create_app(app_config(settings, PageOptions(behind_proxy=True)))
    port = free_port()
    app.demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS, **launch
    )
    return RunningApp(f"http://127.0.0.1:{port}/", app.demo, app.backends, settings, app.live_sessions)


@pytest.fixture(scope="module")
def gated(fireworks, aiml, tiny_model) -> Iterator[RunningApp]:
    running = start(fireworks, aiml, tiny_model, mcp_server=True, app_kwargs=gate_app_kwargs(1, 2))
    yield running
    running.demo.close()


@pytest.fixture(scope="module")
def with_login(fireworks, aiml, tiny_model) -> Iterator[RunningApp]:
    pairs = [("ann", "s3cret")]
    running = start(fireworks, aiml, tiny_model, mcp_server=True, auth=pairs, app_kwargs=gate_app_kwargs(1, 0, pairs))
    yield running
    running.demo.close()


def upload(app: RunningApp, files: list, real: str = "198.51.100.20", forged: str = "203.0.113.1") -> httpx.Response:
    headers = {"X-Forwarded-For": f"{forged}, {real}"}
    return httpx.post(app.url + "gradio_api/upload", files=files, headers=headers)


def test_an_upload_request_carries_at_most_one_file(gated):
    two = upload(gated, [("files", ("a.png", PNG)), ("files", ("b.png", PNG))], real="198.51.100.21")
    assert two.status_code == 400 and "Too many files" in two.text
    assert upload(gated, [("files", ("a.png", PNG))], real="198.51.100.22").status_code == 200


def test_uploads_are_rate_limited_per_visitor_whatever_the_forged_entry(gated):
    assert [upload(gated, [("files", ("a.png", PNG))], forged=f"203.0.113.{i}").status_code for i in range(2)] == [
        200,
        200,
    ]
    third = upload(gated, [("files", ("a.png", PNG))], forged="203.0.113.99")
    assert third.status_code == 429 and "2 a minute per visitor" in third.text and third.headers["retry-after"]
    assert upload(gated, [("files", ("a.png", PNG))], real="198.51.100.23").status_code == 200  # someone else


MCP_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def test_mcp_is_behind_app_auth_like_every_other_route(with_login):
    url = with_login.url + "gradio_api/mcp/"
    headers = {"Accept": "application/json, text/event-stream"}
    anonymous = httpx.post(url, json=MCP_INIT, headers=headers)
    assert anonymous.status_code == 401
    logged_in = httpx.post(url, json=MCP_INIT, headers=headers, auth=("ann", "s3cret"))
    assert logged_in.status_code == 200 and "serverInfo" in logged_in.text
    assert httpx.post(url, json=MCP_INIT, headers=headers, auth=("ann", "wrong")).status_code == 401


def test_api_calls_may_hold_only_their_share_of_the_queue(app):
    demo = app.demo
    pushed = []

    async def original(body, request, username):
        pushed.append(body.fn_index)
        return True, "id", "success"

    queue = SimpleNamespace(push=original, event_queue_per_concurrency_id={})
    fake = SimpleNamespace(_queue=queue, fns=demo.fns)
    share_queue(fake, API_QUEUE_ID, max_waiting=2)
    api_fn = next(i for i, fn in demo.fns.items() if fn.concurrency_id == API_QUEUE_ID)
    page_fn = next(i for i, fn in demo.fns.items() if fn.concurrency_id == "generate")
    queue.event_queue_per_concurrency_id[API_QUEUE_ID] = SimpleNamespace(queue=["waiting", "waiting"])

    async def push(fn_index):
        return await queue.push(SimpleNamespace(fn_index=fn_index), None, None)

    refused = asyncio.run(push(api_fn))
    assert refused[0] is False and refused[2] == "queue_full" and "API's share" in refused[1]
    assert asyncio.run(push(page_fn))[0] is True  # the page still gets in
    queue.event_queue_per_concurrency_id[API_QUEUE_ID].queue.pop()
    assert asyncio.run(push(api_fn))[0] is True
    assert pushed == [page_fn, api_fn]
