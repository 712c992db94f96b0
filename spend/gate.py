"""The ASGI gate in front of Gradio: every request passes it once, whatever the door (spend/routes.py).

- Who the visitor is (spend/visitors.py), worked out once and put in ``scope["state"]["visitor"]``.
- Each door's body bound, checked against Content-Length up front and counted as the body streams in: the
  request is refused (413) at the first byte past it, before anything parses it. A body that is still
  arriving after ``body_timeout_s`` is refused (408).
- Per-visitor upload rate (UPLOADS_PER_MIN) on every door that takes files: /upload and /process_recording.
- With APP_AUTH, MCP answers only a logged-in browser or HTTP Basic credentials, like every other route.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from spend.ratelimit import RateLimiter
from spend.routes import UPLOADS, Door, door_for
from spend.visitors import Visitor, visitor_from_scope

log = logging.getLogger(__name__)


class _Scope:
    """Enough of a request for the Basic check: its headers."""

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


BODY_TIMEOUT_S = 30.0
DEFAULT_UPLOAD_BYTES = 10 * 1024 * 1024  # ui.theme's MAX_UPLOAD when MAX_UPLOAD_MB is unset


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class _Body:
    """``receive``, counted: past ``bound`` bytes or the deadline the app is told the client left."""

    def __init__(self, receive: Any, bound: int, deadline: float) -> None:
        self._receive, self.bound, self.deadline = receive, bound, deadline
        self.read = 0
        self.done = False
        self.refusal: _Refusal | None = None

    async def receive(self) -> dict:
        if self.refusal is not None:
            return {"type": "http.disconnect"}
        if self.done:  # the body is in: from here on the app only waits for a disconnect
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), max(0.0, self.deadline - time.monotonic()))
        except TimeoutError:
            self.refusal = _Refusal(408, "The request body did not arrive in time.")
            return {"type": "http.disconnect"}
        if message.get("type") == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.bound:
                self.refusal = _Refusal(413, f"Request too large: this route takes at most {self.bound:,} bytes.")
                return {"type": "http.disconnect"}
            self.done = not message.get("more_body", False)
        return message


class GateMiddleware:
    """ASGI middleware: the visitor, each door's body bound and deadline, the upload rate, MCP behind APP_AUTH."""

    def __init__(
        self,
        app: Any,
        proxy_hops: int = 0,
        uploads_per_min: int = 0,
        auth: Sequence[tuple[str, str]] | None = None,
        upload_bytes: int = DEFAULT_UPLOAD_BYTES,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.proxy_hops = proxy_hops
        self.uploads = RateLimiter(uploads_per_min)
        self.auth = list(auth or [])
        self.upload_bytes = upload_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Send) -> None:
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        door = door_for(path, method)
        visitor = visitor_from_scope(scope, self.proxy_hops)
        scope.setdefault("state", {})["visitor"] = visitor
        try:
            self._check(scope, door, visitor)
        except _Refusal as refusal:
            log.info("refused %s %s: %s", method, door.path, refusal.message)
            return await _refuse(send, refusal)
        body = _Body(receive, door.bound(self.upload_bytes), time.monotonic() + self.body_timeout_s)
        started = False

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if body.refusal is not None and not started:
                return  # the app's answer to a body it could not read: ours goes instead
            started = True
            await send(message)

        try:
            await self.app(scope, body.receive, guarded_send)
        except Exception:
            if body.refusal is None:
                raise
        if body.refusal is not None and not started:
            log.info("refused %s %s after %d bytes: %s", method, door.path, body.read, body.refusal.message)
            await _refuse(send, body.refusal)

    def _check(self, scope: dict, door: Door, visitor: Visitor) -> None:
        """What can be refused before a byte of the body is read: MCP's login, the declared size, the rate."""
        if self.auth and door.path.startswith("/gradio_api/mcp"):
            request = _Scope(scope)
            if not (_basic_ok(request, self.auth) or _cookie_ok(scope, request.headers)):
                raise _Refusal(401, "Log in: this app needs APP_AUTH credentials.")
        declared = _content_length(scope)
        if declared is not None and declared > door.bound(self.upload_bytes):
            raise _Refusal(413, f"Request too large: this route takes at most {door.bound(self.upload_bytes):,} bytes.")
        if door.rate == UPLOADS and scope.get("method") == "POST" and self.uploads.enabled:
            wait = self.uploads.take(visitor.who, 1)
            if wait:
                raise _Refusal(
                    429,
                    f"Too many uploads: {self.uploads.per_minute} a minute per visitor; retry in {math.ceil(wait)} s.",
                )


def _content_length(scope: dict) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, refusal: _Refusal) -> None:
    headers: list[tuple[bytes, bytes]] = [(b"connection", b"close")]
    if refusal.status == 401:
        headers.append((b"www-authenticate", b'Basic realm="FLUX playground MCP"'))
    if refusal.status == 429:
        wait = refusal.message.rsplit("retry in ", 1)[-1].split(" ")[0]
        headers.append((b"retry-after", wait.encode()))
    await _answer(send, refusal.status, refusal.message, headers)


def gate_app_kwargs(
    proxy_hops: int,
    uploads_per_min: int,
    auth: Sequence[tuple[str, str]] | None = None,
    upload_bytes: int = DEFAULT_UPLOAD_BYTES,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> dict[str, Any]:
    """launch(app_kwargs=...) that installs GateMiddleware."""
    from starlette.middleware import Middleware

    gate = Middleware(
        GateMiddleware,
        proxy_hops=proxy_hops,
        uploads_per_min=uploads_per_min,
        auth=auth,
        upload_bytes=upload_bytes,
        body_timeout_s=body_timeout_s,
    )
    return {"middleware": [gate]}
