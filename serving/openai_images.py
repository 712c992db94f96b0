"""The Local backend served over the OpenAI images API, on the app's own port.

``POST /v1/images/generations`` and ``GET /v1/models``, for the official ``openai`` client, Open
WebUI, LangChain, n8n. Off unless OPENAI_SERVE_KEY is set, and refused on a Space (SPACE_ID set)
unless ALLOW_OPENAI_SERVE=1. Every call goes through the same Local backend object as page runs
(its one GPU thread, its lock, its cancel rules), via ``backends.runner.run_backends``.

The routes are plain Starlette routes handed to Gradio's FastAPI app through
``launch(app_kwargs={"routes": ...})``; they come before Gradio's own.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import io
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backends import errors as e
from backends.openai_wire import ServedCall, error_body, served_call
from backends.runner import run_backends
from backends.types import Backend, BackendRun, GenerationRequest, ImageOutcome, InvalidRequest

log = logging.getLogger(__name__)

MODEL_ID = "flux.1-schnell"
MAX_WAITING = 4  # GPU jobs queued or running beyond which a served call gets 429 at once
RETRY_AFTER_S = 5
KEPT_URL_IMAGES = 64  # response_format=url: the newest images kept in memory, served once asked for
URL_IMAGE_TTL_S = 3600

#: Where each served run is handed on (the image library connects here): (request, the Local run).
ServedRunHook = Callable[[GenerationRequest, BackendRun], Awaitable[None]]


@dataclass(frozen=True)
class ServeSettings:
    """OPENAI_SERVE_KEY (config.load checks it: long enough, and not on a Space unless allowed)."""

    key: str | None = field(default=None, repr=False)
    max_waiting: int = MAX_WAITING


def _error(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, kind, code), status_code=status, headers=headers)


class UrlImages:
    """The newest images asked for as URLs, under unguessable names, for an hour at most."""

    def __init__(self, limit: int = KEPT_URL_IMAGES, ttl_s: float = URL_IMAGE_TTL_S) -> None:
        self.limit, self.ttl_s = limit, ttl_s
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, png: bytes) -> str:
        name = secrets.token_urlsafe(24)
        with self._lock:
            self._items[name] = (time.monotonic(), png)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return name

    def get(self, name: str) -> bytes | None:
        with self._lock:
            item = self._items.get(name)
        if item is None or time.monotonic() - item[0] > self.ttl_s:
            return None
        return item[1]


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _failure(run: BackendRun) -> JSONResponse:
    """Every image failed: the first error, OpenAI-shaped (no key can be in it: Local uses none)."""
    err = next((o.error for o in run.outcomes if o.error is not None), None) or e.UpstreamError("no image")
    if isinstance(err, e.OutOfMemory):
        return _error(503, f"out of GPU memory: {err.detail}", "server_error", "out_of_memory")
    if isinstance(err, e.Unavailable):
        return _error(503, f"the local GPU backend is unavailable: {err.detail}", "server_error", "unavailable")
    if isinstance(err, e.Cancelled):
        return _error(503, "cancelled", "server_error", "cancelled")
    return _error(500, f"generation failed ({err.kind}): {err.detail}", "server_error", err.kind)


class OpenAIImagesServer:
    """The two routes, bound to one Local backend and one key."""

    def __init__(
        self,
        local: Backend,
        key: str,
        max_waiting: int = MAX_WAITING,
        on_served_run: ServedRunHook | None = None,
    ) -> None:
        self.local = local
        self._key = key.encode()
        self.max_waiting = max_waiting
        #: THE hook point for the image library: called once per served run, before the reply goes.
        self.on_served_run = on_served_run
        self.url_images = UrlImages()
        self._waiting = 0  # served calls running or queued; touched only on the event loop

    def routes(self) -> list[BaseRoute]:
        """For ``launch(app_kwargs={"routes": ...})``."""
        return [
            Route("/v1/images/generations", self.generations, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/images/files/{name}", self.file, methods=["GET"]),
        ]

    def authorized(self, request: Request) -> bool:
        """The bearer key, compared in constant time."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._key)

    def refused(self) -> JSONResponse:
        return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    async def models(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.refused()
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "flux-playground"}
        return JSONResponse({"object": "list", "data": [model]})

    async def file(self, request: Request) -> Response:
        png = self.url_images.get(request.path_params["name"])
        if png is None:
            return _error(404, "no such image (they are kept for an hour)", "invalid_request_error", "not_found")
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def generations(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.refused()
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        try:
            call = served_call(body)
        except InvalidRequest as err:
            return _error(400, str(err), "invalid_request_error")
        # Page runs and served calls share the one GPU queue: both count.
        ahead = max(self._waiting, getattr(self.local, "pending_jobs", 0))
        if ahead >= self.max_waiting:
            message = f"the GPU queue is full ({ahead} jobs ahead); retry in {RETRY_AFTER_S} s"
            return _error(429, message, "requests", "queue_full", {"Retry-After": str(RETRY_AFTER_S)})
        call = dataclasses.replace(call, request=call.request.with_seed())  # seed 0: one drawn, as on the page
        self._waiting += 1
        try:
            run = await self._run(call.request, request)
        finally:
            self._waiting -= 1
        if self.on_served_run is not None:
            try:
                await self.on_served_run(call.request, run)
            except Exception:  # the caller still gets its images
                log.exception("keeping the served images failed")
        made = [o for o in run.outcomes if o.image is not None]
        if not made:
            return _failure(run)
        data = [await self._item(o, call, request) for o in made]
        return JSONResponse({"created": int(time.time()), "data": data})

    async def _run(self, req: GenerationRequest, request: Request) -> BackendRun:
        """One Local run through the shared runner; the GPU job is cancelled if the client goes away."""
        cancel = threading.Event()

        async def watch() -> None:
            while not await request.is_disconnected():
                await asyncio.sleep(0.5)
            cancel.set()

        watcher = asyncio.create_task(watch())
        try:
            async for event in run_backends(req, [self.local], cancel=cancel):
                if isinstance(event, BackendRun):
                    return event
        finally:
            watcher.cancel()
        raise AssertionError("run_backends ends with the backend's run")

    async def _item(self, outcome: ImageOutcome, call: ServedCall, request: Request) -> dict:
        """One ``data`` entry."""
        png = outcome.encoded or await asyncio.to_thread(_png, outcome.image)
        item: dict = {"seed": outcome.seed, "revised_prompt": call.request.prompt}
        if call.response_format == "url":
            name = self.url_images.put(png)
            item["url"] = f"{str(request.base_url).rstrip('/')}/v1/images/files/{name}"
        else:
            item["b64_json"] = base64.b64encode(png).decode()
        return item


def launch_options(
    backends: Mapping[str, Backend], settings: ServeSettings, on_served_run: ServedRunHook | None = None
) -> dict:
    """``launch()`` keywords adding the routes for ``backends["local"]``; none when OPENAI_SERVE_KEY is unset."""
    if not settings.key or "local" not in backends:
        return {}
    server = OpenAIImagesServer(backends["local"], settings.key, settings.max_waiting, on_served_run)
    return {"app_kwargs": {"routes": server.routes()}}
