"""The ASGI gate in front of Gradio: the per-visitor upload rate, and MCP's login.

- Each visitor may upload UPLOADS_PER_MIN times a minute (one file each: ui/api/queue.py).
- With APP_AUTH, MCP answers only a logged-in browser or HTTP Basic credentials, like every other route.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from spend.allowance import visitor_of
from spend.ratelimit import RateLimiter

log = logging.getLogger(__name__)


class _Scope:
    """Enough of a request for spend.allowance.visitor_of: headers and the socket's address."""

    def __init__(self, scope: dict) -> None:
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client = scope.get("client") or ("unknown", 0)
        self.client = type("Client", (), {"host": client[0]})
        self.username = None


Send = Callable[[dict], Awaitable[None]]


async def _answer(send: Send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": message}).encode()
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*base, *headers]})
    await send({"type": "http.response.body", "body": body})


def _basic_ok(scope: _Scope, pairs: Sequence[tuple[str, str]]) -> bool:
    raw = scope.headers.get("authorization", "")
    if not raw.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(raw[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return (user, password) in pairs


def _cookie_ok(scope: dict, headers: dict[str, str]) -> bool:
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if not tokens or not cookie_id:
        return False
    cookies = dict(part.strip().partition("=")[::2] for part in headers.get("cookie", "").split(";") if "=" in part)
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return bool(token and tokens.get(token))


class GateMiddleware:
    """ASGI middleware: the per-visitor upload rate, and MCP behind APP_AUTH."""

    def __init__(
        self,
        app: Any,
        proxy_hops: int = 0,
        uploads_per_min: int = 0,
        auth: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.proxy_hops = proxy_hops
        self.uploads = RateLimiter(uploads_per_min)
        self.auth = list(auth or [])

    async def __call__(self, scope: dict, receive: Any, send: Send) -> None:
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if self.auth and "/gradio_api/mcp" in path:
            request = _Scope(scope)
            if not (_basic_ok(request, self.auth) or _cookie_ok(scope, request.headers)):
                log.info("refused an MCP request without login")
                challenge = [(b"www-authenticate", b'Basic realm="FLUX playground MCP"')]
                return await _answer(send, 401, "Log in: this app needs APP_AUTH credentials.", challenge)
        if scope.get("method") == "POST" and path.rstrip("/").endswith("/upload") and self.uploads.enabled:
            who, _ = visitor_of(_Scope(scope), self.proxy_hops)
            wait = self.uploads.take(who, 1)
            if wait:
                message = (
                    f"Too many uploads: {self.uploads.per_minute} a minute per visitor; retry in {math.ceil(wait)} s."
                )
                log.info("refused an upload: %s", message)
                return await _answer(send, 429, message, [(b"retry-after", str(math.ceil(wait)).encode())])
        return await self.app(scope, receive, send)


def gate_app_kwargs(
    proxy_hops: int, uploads_per_min: int, auth: Sequence[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """launch(app_kwargs=...) that installs GateMiddleware."""
    from starlette.middleware import Middleware

    gate = Middleware(GateMiddleware, proxy_hops=proxy_hops, uploads_per_min=uploads_per_min, auth=auth)
    return {"middleware": [gate]}
