"""Keys never leak, in any shape: an upstream echoes a pasted key 14 ways, and every output is searched
for it (records, the page's column text, MCP's content, the JSON export, the log)."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest

from backends import GenerationRequest
from backends.aiml import AimlBackend
from backends.fireworks import PATH, FireworksBackend
from backends.redact import install_log_redaction
from runs.history import History
from runs.session import Session, column_text, export_run
from tests.helpers import leaks, png
from ui.api.mcp import flatten_for_mcp

KEY = "fw-Pasted-5c1e8a7b2d94f06e"
BASE = "https://api.upstream.test"


def b64_blob(offset: int, urlsafe: bool = False) -> str:
    raw = b"z" * offset + KEY.encode() + b"--tail"
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def reply(status: int, body: bytes, ctype: str, **headers: str) -> httpx.Response:
    """A streamed reply, as from the network (a Response made with content= counts as read already)."""
    return httpx.Response(status, stream=httpx.ByteStream(body), headers={"content-type": ctype, **headers})


def error(status: int, message: str) -> httpx.Response:
    return reply(status, json.dumps({"error": {"message": message}}).encode(), "application/json")


def image(**headers: str) -> httpx.Response:
    return reply(200, png(64, 64, "teal"), "image/png", **headers)


# Each shape: the Fireworks reply to the image POST.
SHAPES = {
    "error_whole": lambda: error(400, f"bad key {KEY}"),
    "error_upper": lambda: error(401, f"BAD KEY {KEY.upper()}"),
    "error_lower": lambda: error(401, f"bad key {KEY.lower()}"),
    "error_split_by_the_cut": lambda: error(400, "x" * 285 + KEY),
    "error_base64_0": lambda: error(400, b64_blob(0)),
    "error_base64_1": lambda: error(400, b64_blob(1)),
    "error_base64_2": lambda: error(400, "blob " + b64_blob(2)),
    "error_urlsafe_1": lambda: error(400, b64_blob(1, urlsafe=True)),
    "seed_header": lambda: image(seed=KEY),
    "seed_header_upper": lambda: image(seed=KEY.upper()),
    "finish_reason": lambda: image(**{"finish-reason": KEY}),
    "finish_reason_after_50": lambda: image(**{"finish-reason": "y" * 50 + KEY}),
    "not_an_image": lambda: reply(200, b"<html>" + b"k" * 14 + KEY.encode(), "text/html"),
}


def fireworks_with(shape: str) -> FireworksBackend:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith(PATH)
        return SHAPES[shape]()

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FireworksBackend(client, BASE, None)


def aiml_with_key_in_url() -> AimlBackend:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = {"data": [{"url": f"{BASE}/files/{KEY}/img.png"}]}
            return reply(201, json.dumps(body).encode(), "application/json")
        return image()

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AimlBackend(client, BASE, None)


async def every_output(backend, tmp_path, caplog) -> dict[str, str]:
    logging.getLogger("httpx").setLevel(logging.INFO)
    caplog.set_level(logging.INFO)
    install_log_redaction()  # the app does this at start-up
    sess = Session(history=History(root=tmp_path / "h"))
    request = GenerationRequest(prompt="a lighthouse", width=512, height=512, seed=5)
    secrets = ["", KEY]  # the session's secrets: the key was pasted
    state = None
    async for now, _ in sess.run(request, [backend], {backend.id: KEY}, secrets):
        state = now
    _, record_path = export_run(state, [backend], tmp_path / "export", secrets)
    return {
        "records": json.dumps(state.records),
        "column": column_text(backend, state, secrets),
        "mcp": json.dumps(flatten_for_mcp([[], state.records])),
        "export": record_path.read_text(),
        "log": "\n".join(r.getMessage() for r in caplog.records),
    }


@pytest.mark.parametrize("shape", [*SHAPES, "image_url_in_the_log"])
async def test_no_echo_shape_shows_the_key_anywhere(shape, tmp_path, caplog):
    backend = aiml_with_key_in_url() if shape == "image_url_in_the_log" else fireworks_with(shape)
    outputs = await every_output(backend, tmp_path, caplog)
    assert "StreamConsumed" not in outputs["records"]  # the shape reached the backend as a real reply
    if shape == "image_url_in_the_log":
        assert "HTTP Request: GET" in outputs["log"]  # the URL did reach the log, redacted
    for where, text in outputs.items():
        assert not leaks(text, KEY), f"{shape}: the key shows in {where}: {leaks(text, KEY)[:3]}"
    await backend.client.aclose()
