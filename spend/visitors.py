"""Who a request comes from, worked out once per request by the gate and carried to the handlers.

- A visitor signed in with Hugging Face (Gradio's session cookie) or through APP_AUTH is their account.
- Anyone else is the address the trusted proxy saw: the entry ``proxy_hops`` places from the right of
  X-Forwarded-For (as werkzeug's ``ProxyFix(x_for=1)``); the first entries are whatever the client wrote.
- A caller without a browser (MCP, a script) also gets a library scope of its own: the hash of the bearer
  token it passes, else (MCP, whose tool calls all share one Gradio client) the hash of its address.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MCP_USER_HEADER = "x-gradio-user"  # Gradio's MCP server sends each tool call with "x-gradio-user: mcp"


@dataclass(frozen=True)
class Visitor:
    """``who`` counts allowances ("account:<name>" or "addr:<address>"); ``scope`` keys a browserless library."""

    who: str
    signed_in: bool = False
    scope: str | None = None

    @property
    def account(self) -> str | None:
        return self.who.removeprefix("account:") if self.signed_in else None


def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict or Gradio's ``Obj`` (gr.Request turns dicts into it; its own .get looks deeper)."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return vars(obj).get(key) if hasattr(obj, "__dict__") else None


def account_in_session(session: Any) -> str | None:
    """The Hugging Face username in a Gradio session (``oauth_info`` as gradio/oauth.py stores it), if unexpired."""
    info = _field(session, "oauth_info") if session is not None else None
    if info is None:
        return None
    expires_at = _field(info, "expires_at")
    if isinstance(expires_at, int | float) and (expires_at or math.inf) < time.time():
        return None
    user = _field(_field(info, "userinfo"), "preferred_username")
    return str(user) if user else None


def forwarded_address(entries: list[str], socket_host: str | None, proxy_hops: int) -> str:
    """The address ``proxy_hops`` from the right of X-Forwarded-For, else the socket's."""
    if proxy_hops > 0 and len(entries) >= proxy_hops:
        return entries[-proxy_hops]
    return socket_host or "unknown"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def caller_scope(headers: Mapping[str, str], address: str) -> str | None:
    """A browserless caller's own library scope: its bearer token's hash, else for MCP its address's hash."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return f"key-{_digest(token.strip())}"
    if (headers.get(MCP_USER_HEADER) or "").lower() == "mcp":
        return f"addr-{_digest(address)}"
    return None


def visitor_from_scope(scope: dict, proxy_hops: int) -> Visitor:
    """The visitor behind an ASGI HTTP scope (the session cookie already read by SessionMiddleware, if any)."""
    headers: dict[str, str] = {}
    forwarded: list[str] = []
    for raw_key, raw_value in scope.get("headers", []):
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[key] = value
        if key == "x-forwarded-for":
            forwarded += [e.strip() for e in value.split(",") if e.strip()]
    address = forwarded_address(forwarded, (scope.get("client") or (None, 0))[0], proxy_hops)
    account = account_in_session(scope.get("session")) or _app_auth_user(scope, headers)
    if account:
        return Visitor(f"account:{account}", True, None)
    return Visitor(f"addr:{address}", False, caller_scope(headers, address))


def _app_auth_user(scope: dict, headers: Mapping[str, str]) -> str | None:
    """The APP_AUTH user of Gradio's login cookie (the app keeps its tokens), if any."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if not tokens or not cookie_id:
        return None
    cookies = dict(part.strip().partition("=")[::2] for part in headers.get("cookie", "").split(";") if "=" in part)
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    user = tokens.get(token) if token else None
    return str(user) if user else None


def gate_visitor(request: object) -> Visitor | None:
    """The Visitor the gate put on this request (a Starlette request or gr.Request), or None without the gate."""
    try:
        state = getattr(request, "state", None)
    except Exception:  # gr.Request without a request behind it
        return None
    visitor = getattr(state, "visitor", None) if state is not None else None
    return visitor if isinstance(visitor, Visitor) else None
