"""The gate in front of every door: the route table against the app's real routes, streamed body bounds,
slow bodies, uploads by any name, page loads per visitor, sign-in with Gradio's own cookie, MCP callers apart.

One app, launched as app.py launches it (launch_options: the gate merged in), with Sign in with Hugging Face
on (gradio/oauth.py's Space routes, its SessionMiddleware and secret), MCP, the OpenAI route and a library.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from itsdangerous import TimestampSigner
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from starlette.routing import Mount

from config import LaunchSettings, PageOptions, SessionLimits
from library import LibraryConfig
from serving.openai_images import ServeSettings
from spend.routes import UNKNOWN, door_for, markdown_table
from tests.conftest import RunningApp, app_config, app_settings, free_port
from tests.helpers import texts

OAUTH_SECRET = "test-oauth-secret"
MB = 1024 * 1024
PNG = b"\x89PNG" + b"\0" * 1000


@contextlib.contextmanager
def space_oauth() -> Iterator[None]:
    """What a Space with hf_oauth sets: SYSTEM=spaces and the OAUTH_* values gradio/oauth.py read at import."""
    import gradio.oauth as oauth

    names = {"OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": OAUTH_SECRET, "OAUTH_SCOPES": "openid profile"}
    names["OPENID_PROVIDER_URL"] = "http://127.0.0.1:9"  # never fetched: no test goes through the HF login
    saved = {n: getattr(oauth, n) for n in names}
    for name, value in names.items():
        setattr(oauth, name, value)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SYSTEM", "spaces")  # gradio.utils.get_space(): these two mark a Space
            env.setenv("SPACE_ID", "test/gate")
            yield
    finally:
        for name, value in saved.items():
            setattr(oauth, name, value)


@pytest.fixture(scope="module")
def gated(fireworks, aiml, tiny_model, tmp_path_factory) -> Iterator[RunningApp]:
    from app import create_app, launch_options

    settings = app_config(
        app_settings(fireworks, aiml, tiny_model),
        PageOptions(behind_proxy=True, rate_limit_per_min=1, rate_limit_signed_in=30, sign_in=True),
        library=LibraryConfig(dir=tmp_path_factory.mktemp("library"), on_space=True),
        sessions=SessionLimits(max_sessions=50, per_visitor=3, per_min=5),
        serving=ServeSettings(key="k" * 24),
        launch=LaunchSettings(uploads_per_min=2, body_timeout_s=3.0),
    )
    port = free_port()
    with space_oauth():
        app = create_app(settings)
        options = launch_options(app)
        app.demo.launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, mcp_server=True, **options
        )
    running = RunningApp(f"http://127.0.0.1:{port}/", app.demo, app.backends, settings.backends, app.live_sessions)
    running.library = app.library
    yield running
    app.demo.close()


def _routes(routes, prefix: str = "") -> Iterator[tuple[str, frozenset[str]]]:
    for route in routes:
        if isinstance(route, Mount):
            yield prefix + route.path, frozenset({"GET", "POST"})
            yield from _routes(getattr(route, "routes", []) or [], prefix + route.path)
        elif hasattr(route, "original_router"):  # FastAPI's included router (Gradio's /gradio_api routes)
            yield from _routes(route.original_router.routes, prefix)
        else:
            yield prefix + route.path, frozenset(getattr(route, "methods", None) or {"GET"})


def test_every_route_the_running_app_serves_is_in_the_route_table(gated):
    served = list(_routes(gated.demo.server_app.routes))
    assert len(served) > 60, served  # Gradio's routes, MCP's, OAuth's and the OpenAI route's
    missing = [
        f"{method} {path}"
        for path, methods in served
        for method in methods - {"HEAD"}
        if door_for(path, method) is UNKNOWN
    ]
    assert not missing, f"routes the table (spend/routes.py) does not name: {missing}"
    assert {"/login/huggingface", "/v1/images/generations", "/gradio_api/process_recording"} <= {p for p, _ in served}


def test_the_readme_lists_the_doors_as_the_route_table_has_them():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table() in readme, "README 'Deploying publicly' table differs from spend.routes.markdown_table()"


class PeakRss:
    """The process's peak resident memory above where it was at the start, sampled every few ms."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def grew_mb(self) -> float:
        return (self.peak - self.start) / MB


def chunks(total: int, first: bytes = b"", chunk: int = 256 * 1024) -> Iterator[bytes]:
    """``total`` bytes made as they are sent (the test holds none of them): ``first``, then JSON-ish filler."""
    yield first
    sent = len(first)
    block = b"[" * chunk
    while sent < total:
        yield block[: min(chunk, total - sent)]
        sent += chunk


def post_big(url: str, body: Iterator[bytes], declared: int | None = None, **headers: str) -> httpx.Response:
    if declared is not None:
        headers["Content-Length"] = str(declared)
    return httpx.post(url, content=body, headers={"X-Forwarded-For": "198.51.100.70", **headers}, timeout=120)


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
@pytest.mark.parametrize("door", ["gradio_api/queue/join", "gradio_api/call/v2/generate"])
def test_a_200_mb_json_body_is_refused_413_without_the_process_growing(gated, door, declared):
    size = 200 * MB
    with PeakRss() as rss:
        got = post_big(gated.url + door, chunks(size, b'{"data": ["'), size if declared else None)
    assert got.status_code == 413 and "at most" in got.json()["detail"], got.text[:300]
    assert rss.grew_mb < 24, f"{door}: the app grew by {rss.grew_mb:.0f} MB refusing a 200 MB body"


def multipart(boundary: str, field_bytes: int) -> Iterator[bytes]:
    """An upload: one small PNG, then a form field of ``field_bytes``, made as it is sent."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    yield head + PNG + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
    yield from chunks(field_bytes, chunk=512 * 1024)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_an_upload_with_a_300_mb_form_field_is_refused(gated):
    boundary = "gateboundary"
    with PeakRss() as rss:
        got = post_big(
            gated.url + "gradio_api/upload",
            multipart(boundary, 300 * MB),
            **{"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Forwarded-For": "198.51.100.71"},
        )
    assert got.status_code == 413, got.text[:300]
    assert rss.grew_mb < 32, f"the app grew by {rss.grew_mb:.0f} MB refusing a 300 MB form field"


def test_component_server_with_a_big_body_is_refused(gated):
    boundary = "compboundary"
    with PeakRss() as rss:
        got = post_big(
            gated.url + "gradio_api/component_server",
            multipart(boundary, 60 * 9 * MB),
            **{"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert got.status_code == 413, got.text[:300]
    assert rss.grew_mb < 24, f"the app grew by {rss.grew_mb:.0f} MB refusing a 540 MB component_server body"


def test_a_body_that_trickles_in_is_refused_408_at_the_deadline(gated):
    host, port = gated.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        head = f"POST /gradio_api/call/v2/generate HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b'{"data": [')  # and then nothing: the rest never comes
        started = time.monotonic()
        answer = sock.recv(4096).decode(errors="replace")
        waited = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 408") and "in time" in answer, answer[:300]
    assert waited < 30, f"the half-sent request was held {waited:.0f} s (BODY_TIMEOUT_S is 3 s)"


def test_process_recording_is_an_upload_counted_by_uploads_per_min(gated):
    who = {"X-Forwarded-For": "203.0.113.9, 198.51.100.72"}
    files = [("files", ("a.png", PNG, "image/png"))]
    first = [httpx.post(gated.url + "gradio_api/upload", files=files, headers=who).status_code for _ in range(2)]
    third = httpx.post(gated.url + "gradio_api/process_recording", files=files, headers=who)
    assert first == [200, 200]
    assert third.status_code == 429 and "2 a minute per visitor" in third.json()["detail"], third.text[:300]


def load_event(app: RunningApp) -> int:
    return next(i for i, fn in app.demo.fns.items() if getattr(fn.fn, "__name__", "") == "new_session")


def page_load(client: httpx.Client, app: RunningApp, address: str, session_hash: str) -> httpx.Response:
    body = {"data": [None], "fn_index": load_event(app), "session_hash": session_hash, "event_data": None}
    return client.post(app.url + "gradio_api/run/predict", json=body, headers={"X-Forwarded-For": address})


FLOOD = 300  # six times MAX_SESSIONS (50 here): enough to evict everyone if the flood could


def test_a_flood_of_page_loads_from_one_address_is_limited_and_never_evicts_another_visitor(gated):
    live = gated.live_sessions
    with httpx.Client(timeout=30) as client:
        ours = page_load(client, gated, "198.51.100.80", "visitor-b-1")
        assert ours.status_code == 200, ours.text[:300]
        ours_held = live.held_by("addr:198.51.100.80")
        before = len(live)
        started = time.monotonic()
        answers = [page_load(client, gated, "198.51.100.81", f"flood-{i}").status_code for i in range(FLOOD)]
        minutes = (time.monotonic() - started) / 60
    made = live.held_by("addr:198.51.100.81")
    allowed = 5 * (int(minutes) + 1)  # 5 a minute, in however many minutes the flood took on this machine
    assert answers.count(200) <= allowed, (
        f"{answers.count(200)} of {FLOOD} page loads made a session in {minutes:.1f} min"
    )
    assert made == 3, f"the flood holds {made} live sessions (3 per visitor allowed)"
    assert live.held_by("addr:198.51.100.80") == ours_held == 1, "the flood closed another visitor's session"
    assert len(live) == before + 3


def session_cookie(user: str) -> str:
    """Gradio's session cookie for a signed-in ``user``, signed as Starlette's SessionMiddleware signs it, with
    the secret gradio/oauth.py gives it (sha256 of OAUTH_CLIENT_SECRET + "-v4")."""
    secret = hashlib.sha256((OAUTH_SECRET + "-v4").encode()).hexdigest()
    info = {"oauth_info": {"userinfo": {"preferred_username": user}, "expires_at": time.time() + 3600}}
    data = base64.b64encode(json.dumps(info).encode())
    return TimestampSigner(secret).sign(data).decode()


def test_a_visitor_signed_in_with_gradios_cookie_gets_the_signed_in_rate_and_an_account_library(gated, fireworks):
    from gradio_client import Client

    headers = {"Cookie": f"session={session_cookie('ada')}", "X-Forwarded-For": "198.51.100.90"}
    client = Client(gated.url, headers=headers, verbose=False)
    made = 0
    for seed in range(1, 5):  # anonymous: 1 a minute; signed in: 30
        result = client.predict(f"a signed-in fox {seed}", backends=["fireworks"], seed=seed, api_name="/generate")
        made += sum(1 for r in result[1] if r.get("status") == "ok")
    assert made == 4, f"{made} of 4 images at the signed-in rate (30/min): the account was not recognised"
    owners = {row.owner for row in gated.library.search(None, limit=100) if "signed-in fox" in row.prompt}
    assert owners == {"hf:ada"}, owners


async def mcp_call(url: str, address: str, tool: str, **arguments):
    headers = {"X-Forwarded-For": f"10.0.0.1, {address}"}
    async with streamablehttp_client(url + "gradio_api/mcp/", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = [t.name for t in (await session.list_tools()).tools]  # on a Space: "<space>_generate"
            return await session.call_tool(next(n for n in names if n.endswith(tool)), arguments)


async def test_two_mcp_callers_from_different_addresses_see_separate_libraries(gated):
    made = await mcp_call(gated.url, "198.51.100.101", "generate", prompt="alpha lighthouse", backends=["fireworks"])
    assert not made.isError, texts(made)
    mine = await mcp_call(gated.url, "198.51.100.101", "library", query="lighthouse")
    theirs = await mcp_call(gated.url, "198.51.100.102", "library", query="lighthouse")
    assert "alpha lighthouse" in json.dumps(texts(mine)), texts(mine)
    assert "alpha lighthouse" not in json.dumps(texts(theirs)), "visitor B's library shows visitor A's prompt"
