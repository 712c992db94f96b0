"""Every door the running app serves, in one table: what a request may carry, what it does, whom it charges.

spend/gate.py applies it to every request (body bound, rate class); tests/test_routes.py walks the app's real
routes and fails on any the table does not name; the README's "Deploying publicly" table is made from it.
Paths are Starlette path templates; a trailing slash is the same door.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

KB = 1024
MB = 1024 * KB
NO_BODY = 0  # a GET: nothing to read; a body is refused
EVENT_BODY = 2 * MB  # an event's JSON: the form's values and file references, never file bytes
SMALL_BODY = 64 * KB

# What a door does (``makes``): the gate counts the ones that make something per visitor.
SESSION, UPLOAD, SEARCH, SPEND, READ, AUTH = "session", "upload", "search", "spend", "read", "auth"
# Rate classes: which per-visitor limit the gate applies (None: none at the door; spending is counted per image
# by spend.allowance wherever a run is made, and a session where the load event makes it: ui/sessions.py).
UPLOADS = "uploads"


@dataclass(frozen=True)
class Door:
    """One route: its methods, the most body bytes it may carry (None: the upload cap), what it does, who pays."""

    path: str
    methods: frozenset[str]
    body: int | None
    makes: str
    charges: str = "nobody"
    rate: str | None = None
    note: str = ""

    def bound(self, upload_bytes: int) -> int:
        """The body bound in bytes; uploads carry the upload cap plus room for the multipart framing."""
        return upload_bytes + SMALL_BODY if self.body is None else self.body


def _door(path: str, methods: str, body: int | None, makes: str, **kw: str | None) -> Door:
    return Door(path, frozenset(methods.split()), body, makes, **kw)  # type: ignore[arg-type]


_EVENT = dict(charges="visitor (allowance)", note="runs an event: spends per image, a load event makes a session")
DOORS: tuple[Door, ...] = (
    # The page and its static parts.
    _door("/", "GET HEAD", NO_BODY, READ, note="the page"),
    _door("/config", "GET", NO_BODY, READ),
    _door("/gradio_api/info", "GET", NO_BODY, READ),
    _door("/gradio_api/openapi.json", "GET", NO_BODY, READ),
    _door("/openapi.json", "GET HEAD", NO_BODY, READ),
    _door("/gradio_api/deep_link", "GET", NO_BODY, READ),
    _door("/svelte/{path:path}", "GET", NO_BODY, READ),
    _door("/static/{path:path}", "GET", NO_BODY, READ),
    _door("/assets/{path:path}", "GET", NO_BODY, READ),
    _door("/favicon.ico", "GET", NO_BODY, READ),
    _door("/theme.css", "GET", NO_BODY, READ),
    _door("/gradio_api/theme.css", "GET", NO_BODY, READ),
    _door("/robots.txt", "GET", NO_BODY, READ),
    _door("/manifest.json", "GET", NO_BODY, READ),
    _door("/pwa_icon", "GET", NO_BODY, READ),
    _door("/pwa_icon/{size}", "GET", NO_BODY, READ),
    _door("/gradio_api/custom_component/{id}/{environment}/{type}/{file_name}", "GET", NO_BODY, READ),
    _door("/gradio_api/startup-events", "GET", NO_BODY, READ),
    _door("/gradio_api/app_id", "GET", NO_BODY, READ),
    _door("/gradio_api/dev/reload", "GET", NO_BODY, READ),
    _door("/monitoring", "GET", NO_BODY, READ, note="Gradio's analytics key check"),
    _door("/monitoring/summary", "GET", NO_BODY, READ),
    _door("/monitoring/{key}", "GET", NO_BODY, READ),
    # Files: served images (unguessable names), Gradio's proxy for Spaces' own files.
    _door("/gradio_api/file={path_or_url:path}", "GET HEAD", NO_BODY, READ),
    _door("/gradio_api/file/{path:path}", "GET", NO_BODY, READ),
    _door("/gradio_api/proxy={url_path:path}", "GET HEAD", NO_BODY, READ),
    # Events: the page's runs, load events, /generate, /grid, /library; the queue.
    _door("/gradio_api/queue/join", "POST", EVENT_BODY, SPEND, **_EVENT),
    _door("/gradio_api/queue/data", "GET", NO_BODY, READ, note="the queue's event stream"),
    _door("/gradio_api/queue/status", "GET", NO_BODY, READ),
    _door("/gradio_api/run/{api_name}", "POST", EVENT_BODY, SESSION, **_EVENT),
    _door("/gradio_api/api/{api_name}", "POST", EVENT_BODY, SPEND, **_EVENT),
    _door("/gradio_api/call/{api_name}", "POST", EVENT_BODY, SPEND, **_EVENT),
    _door("/gradio_api/call/v2/{api_name}", "POST", EVENT_BODY, SPEND, **_EVENT),
    _door("/gradio_api/call/{api_name}/{event_id}", "GET", NO_BODY, READ),
    _door("/gradio_api/call/v2/{api_name}/{event_id}", "GET", NO_BODY, READ),
    _door("/gradio_api/cancel", "POST", SMALL_BODY, READ),
    _door("/gradio_api/reset", "POST", SMALL_BODY, READ),
    _door("/gradio_api/heartbeat/{session_hash}", "GET", NO_BODY, READ),
    _door("/gradio_api/stream/{event_id}", "POST", EVENT_BODY, READ, note="streamed inputs (none on this page)"),
    _door("/gradio_api/stream/{event_id}/close", "POST", SMALL_BODY, READ),
    _door("/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist.m3u8", "GET", NO_BODY, READ),
    _door("/gradio_api/stream/{session_hash}/{run}/{component_id}/{segment_id}.{ext}", "GET", NO_BODY, READ),
    _door("/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist-file", "GET", NO_BODY, READ),
    _door("/gradio_api/runs", "GET", NO_BODY, READ),
    _door("/gradio_api/run-history/connect", "POST", SMALL_BODY, READ),
    _door("/gradio_api/run-history/buckets", "GET", NO_BODY, READ),
    _door("/gradio_api/run-history/records", "GET", NO_BODY, READ),
    _door("/gradio_api/run-history/records/{endpoint}/{record_id}/assets/{asset_id}", "GET", NO_BODY, READ),
    # Uploads: one file each (ui/api/queue.py), counted per visitor.
    _door("/gradio_api/upload", "POST", None, UPLOAD, rate=UPLOADS, note="one file, at most MAX_UPLOAD_MB"),
    _door("/gradio_api/upload_progress", "GET", NO_BODY, READ),
    _door("/gradio_api/process_recording", "POST", None, UPLOAD, rate=UPLOADS, note="an upload by another name"),
    _door("/gradio_api/component_server", "POST", SMALL_BODY, READ, note="no component here uses it"),
    # Gradio's vibe editor (off unless launched in vibe mode).
    _door("/gradio_api/vibe-edit", "POST", SMALL_BODY, READ),
    _door("/gradio_api/undo-vibe-edit", "POST", SMALL_BODY, READ),
    _door("/gradio_api/vibe-code", "GET POST", SMALL_BODY, READ),
    _door("/gradio_api/vibe-starter-queries", "POST", SMALL_BODY, READ),
    # Sign-in: APP_AUTH's login form; Sign in with Hugging Face.
    _door("/login", "POST", 4 * KB, AUTH),
    _door("/logout", "GET", NO_BODY, AUTH),
    _door("/login/huggingface", "GET", NO_BODY, AUTH),
    _door("/login/callback", "GET", NO_BODY, AUTH),
    _door("/gradio_api/login_check", "GET", NO_BODY, AUTH),
    _door("/gradio_api/token", "GET", NO_BODY, AUTH),
    _door("/gradio_api/user", "GET", NO_BODY, AUTH),
    # MCP: the tools call /generate and /grid through Gradio's own client (the caller's headers go along).
    _door("/gradio_api/mcp", "GET POST DELETE", 256 * KB, SPEND, charges="visitor (allowance)", note="MCP tools"),
    _door("/gradio_api/mcp/schema", "GET HEAD", NO_BODY, READ),
    _door("/gradio_api/mcp/sse", "GET HEAD", NO_BODY, READ),
    _door("/gradio_api/mcp/messages", "GET POST", 256 * KB, SPEND, charges="visitor (allowance)"),
    # The OpenAI images route (OPENAI_SERVE_KEY): the Local GPU, for holders of the key.
    _door("/v1/images/generations", "POST", 1 * MB, SPEND, charges="OPENAI_SERVE_KEY holder (Local GPU)"),
    _door("/v1/models", "GET HEAD", NO_BODY, READ),
    _door("/v1/images/files/{name}", "GET HEAD", NO_BODY, READ),
)
# Any other path (a 404, a method the route does not take): nothing worth reading.
UNKNOWN = Door("(any other)", frozenset(), SMALL_BODY, READ, note="answered 404/405 by the app")


def _regex(template: str) -> re.Pattern[str]:
    out, at = "", 0
    for match in re.finditer(r"\{(\w+)(:path)?\}", template):
        out += re.escape(template[at : match.start()]) + (".*" if match.group(2) else "[^/]+")
        at = match.end()
    return re.compile(out + re.escape(template[at:]))


@cache
def _table() -> tuple[tuple[re.Pattern[str], Door], ...]:
    # Literal paths before templates, so "/gradio_api/call/v2/x" is never read as "/gradio_api/call/{api_name}/…".
    ordered = sorted(DOORS, key=lambda d: ("{" in d.path, -len(d.path)))
    return tuple((_regex(d.path), d) for d in ordered)


def door_for(path: str, method: str | None = None) -> Door:
    """The door serving ``method`` on ``path`` (a request's, or a route's template), else UNKNOWN."""
    if path != "/":
        path = path.rstrip("/")
    if path.startswith("/gradio_api/mcp/") and path not in ("/gradio_api/mcp/schema", "/gradio_api/mcp/sse"):
        path = "/gradio_api/mcp/messages" if path.startswith("/gradio_api/mcp/messages") else "/gradio_api/mcp"
    for regex, door in _table():
        if regex.fullmatch(path) and (method is None or method in door.methods or method == "OPTIONS"):
            return door
    return UNKNOWN


def _size(n: int | None) -> str:
    if n is None:
        return "`MAX_UPLOAD_MB` + 64 KB"
    if n == 0:
        return "none"
    return f"{n // MB} MB" if n % MB == 0 else f"{n // KB} KB"


def markdown_table() -> str:
    """The doors as the README's "Deploying publicly" lists them (tests/test_routes.py keeps the two equal)."""
    rows = ["| Door | Methods | Body at most | Does | Charges | Per-visitor limit |", "|---|---|---|---|---|---|"]
    for d in DOORS:
        limit = "`UPLOADS_PER_MIN`" if d.rate == UPLOADS else ""
        if d.makes == SESSION:
            limit = "`SESSIONS_PER_MIN` (load events)"
        methods = " ".join(sorted(d.methods))
        does = d.makes + (f": {d.note}" if d.note else "")
        rows.append(f"| `{d.path}` | {methods} | {_size(d.body)} | {does} | {d.charges} | {limit} |")
    return "\n".join(rows) + "\n"
