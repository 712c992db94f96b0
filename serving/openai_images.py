"""The Local backend served over the OpenAI images API: one set of rules for every door.

``POST /v1/images/generations``, ``GET /v1/models`` and ``GET /v1/images/files/{name}``, for the official
``openai`` client, Open WebUI, LangChain, n8n. Off unless OPENAI_SERVE_KEY is set, and refused on a Space
(SPACE_ID set) unless ALLOW_OPENAI_SERVE=1. Every call goes through a Local backend object (its one GPU
thread, its lock, its cancel rules), via ``backends.runner.run_backends``.

``ImagesService`` is framework-neutral: authorize → admit (parse, validate, the queue limit) → generate →
a ``Reply`` (JSON, bytes or server-sent events). ``starlette_response`` and the ``*_endpoint`` functions
turn a Starlette request into a call and a ``Reply`` into a response; both doors use them: the in-app
routes (``launch(app_kwargs={"routes": ...})``, before Gradio's own) and the Ray Serve ingress
(serving/cluster.py, FastAPI, which takes Starlette requests and responses as they are).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from backends import errors as e
from backends.openai_wire import ServedCall, error_body, served_call
from backends.runner import run_backends
from backends.types import Backend, BackendRun, GenerationRequest, ImageOutcome, InvalidRequest
from images.formats import DEFAULT_COMPRESSION, FORMATS, MEDIA_TYPES, encode
from images.pngmeta import png_with_params
from runs.records import image_params
from serving.openai_stream import MAX_PARTIAL_IMAGES, stream_run

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


class UrlImages:
    """The newest images asked for as URLs, under unguessable names, for an hour at most."""

    def __init__(self, limit: int = KEPT_URL_IMAGES, ttl_s: float = URL_IMAGE_TTL_S) -> None:
        self.limit, self.ttl_s = limit, ttl_s
        self._items: OrderedDict[str, tuple[float, str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, data: bytes, media_type: str = "image/png") -> str:
        name = secrets.token_urlsafe(24)
        with self._lock:
            self._items[name] = (time.monotonic(), media_type, data)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return name

    def get(self, name: str) -> tuple[str, bytes] | None:
        """(media type, bytes), or None when unknown or expired."""
        with self._lock:
            item = self._items.get(name)
        if item is None or time.monotonic() - item[0] > self.ttl_s:
            return None
        return item[1], item[2]


@dataclass
class Reply:
    """What a door sends back, whatever its framework: JSON, bytes, or a stream of server-sent events."""

    status: int = 200
    body: dict | None = None
    content: bytes | None = None
    media_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: AsyncIterator[bytes] | None = None


def error_reply(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None) -> Reply:
    """OpenAI's error shape with its status."""
    return Reply(status, error_body(message, kind, code), headers=headers or {})


def _failure(run: BackendRun) -> Reply:
    """Every image failed: the first error, OpenAI-shaped (no key can be in it: Local uses none)."""
    err = next((o.error for o in run.outcomes if o.error is not None), None) or e.UpstreamError("no image")
    if isinstance(err, e.OutOfMemory):
        return error_reply(503, f"out of GPU memory: {err.detail}", "server_error", "out_of_memory")
    if isinstance(err, e.Unavailable):
        return error_reply(503, f"the local GPU backend is unavailable: {err.detail}", "server_error", "unavailable")
    if isinstance(err, e.Cancelled):
        return error_reply(503, "cancelled", "server_error", "cancelled")
    return error_reply(500, f"generation failed ({err.kind}): {err.detail}", "server_error", err.kind)


@dataclass(frozen=True)
class Asked:
    """A validated call: the request and how to answer it (format, quality, streaming)."""

    call: ServedCall
    output_format: str = "png"
    compression: int = DEFAULT_COMPRESSION
    stream: bool = False
    partial_images: int = 0

    @property
    def request(self) -> GenerationRequest:
        return self.call.request

    @property
    def size(self) -> str:
        return f"{self.request.width}x{self.request.height}"


def _whole(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} {repr(value)[:40]} must be a whole number from {low} to {high}")
    return value


#: Fields that shape the reply, not the image: read here, not by ``served_call``.
REPLY_FIELDS = ("stream", "partial_images", "output_format", "output_compression")


def parse_call(body: object) -> Asked:
    """A JSON body → ``Asked``; InvalidRequest names the wrong field. The request itself is validated by
    ``served_call`` (the one validation of every door); the reply's own fields are read here."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    rest = {k: v for k, v in body.items() if k not in REPLY_FIELDS}
    output_format = body.get("output_format") or "png"
    if output_format not in FORMATS:
        raise InvalidRequest(f"output_format {str(output_format)[:40]!r} must be one of {', '.join(FORMATS)}")
    compression = _whole(body, "output_compression", DEFAULT_COMPRESSION, 0, 100)
    partial_images = _whole(body, "partial_images", 0, 0, MAX_PARTIAL_IMAGES)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be true or false")
    call = served_call(rest)
    if stream and (call.request.num_images != 1 or call.response_format != "b64_json"):
        raise InvalidRequest("stream: true takes n=1 and response_format b64_json")
    return Asked(call, output_format, compression, stream, partial_images)


class ImagesService:
    """The rules of the OpenAI images door over one Local backend and one key, framework-neutral."""

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

    def authorized(self, authorization: str | None) -> bool:
        """The bearer key, compared in constant time."""
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._key)

    def refused(self) -> Reply:
        return error_reply(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    def models(self, authorization: str | None) -> Reply:
        if not self.authorized(authorization):
            return self.refused()
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "flux-playground"}
        return Reply(body={"object": "list", "data": [model]})

    def file(self, name: str) -> Reply:
        kept = self.url_images.get(name)
        if kept is None:
            return error_reply(404, "no such image (they are kept for an hour)", "invalid_request_error", "not_found")
        return Reply(content=kept[1], media_type=kept[0], headers={"Cache-Control": "private, max-age=3600"})

    def admit(self, authorization: str | None, raw: bytes) -> Asked | Reply:
        """Authorize, parse and validate, and apply the queue limit: the call to run, or the refusal."""
        if not self.authorized(authorization):
            return self.refused()
        try:
            asked = parse_call(json.loads(raw))
        except ValueError as err:  # InvalidRequest is a ValueError; so is a body that is not JSON
            message = str(err) if isinstance(err, InvalidRequest) else "the body is not JSON"
            return error_reply(400, message, "invalid_request_error")
        # Page runs and served calls share the one GPU queue: both count.
        ahead = max(self._waiting, getattr(self.local, "pending_jobs", 0))
        if ahead >= self.max_waiting:
            message = f"the GPU queue is full ({ahead} jobs ahead); retry in {RETRY_AFTER_S} s"
            return error_reply(429, message, "requests", "queue_full", {"Retry-After": str(RETRY_AFTER_S)})
        # seed 0: one drawn, as on the page
        return replace(asked, call=replace(asked.call, request=asked.request.with_seed()))

    async def generate(self, asked: Asked, base_url: str, is_disconnected: Callable[[], Awaitable[bool]]) -> Reply:
        """Run an admitted call and answer it: all images at once, or streamed."""
        if asked.stream:
            return Reply(events=self._stream(asked, is_disconnected), media_type="text/event-stream")
        run = await self._counted_run(asked.request, is_disconnected)
        await self._keep(asked.request, run)
        made = [o for o in run.outcomes if o.image is not None]
        if not made:
            return _failure(run)
        data = [await self._item(o, asked, base_url) for o in made]
        return Reply(body={"created": int(time.time()), "data": data, "output_format": asked.output_format})

    async def _stream(self, asked: Asked, is_disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
        async def finish(run: BackendRun) -> bytes | dict:
            await self._keep(asked.request, run)
            made = next((o for o in run.outcomes if o.image is not None), None)
            return await self._encoded(made, asked) if made else _failure(run).body

        async for chunk in stream_run(
            lambda: self._counted_run(asked.request, is_disconnected),
            asked.request.num_inference_steps,
            asked.partial_images,
            asked.size,
            asked.output_format,
            asked.compression,
            finish,
        ):
            yield chunk

    async def _counted_run(self, req: GenerationRequest, is_disconnected: Callable[[], Awaitable[bool]]) -> BackendRun:
        self._waiting += 1
        try:
            return await self._run(req, is_disconnected)
        finally:
            self._waiting -= 1

    async def _run(self, req: GenerationRequest, is_disconnected: Callable[[], Awaitable[bool]]) -> BackendRun:
        """One Local run through the shared runner; the GPU job is cancelled if the client goes away."""
        cancel = threading.Event()

        async def watch() -> None:
            while not await is_disconnected():
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

    async def _keep(self, req: GenerationRequest, run: BackendRun) -> None:
        if self.on_served_run is None:
            return
        try:
            await self.on_served_run(req, run)
        except Exception:  # the caller still gets its images
            log.exception("keeping the served images failed")

    async def _encoded(self, outcome: ImageOutcome, asked: Asked) -> bytes:
        """The image in the asked format; a PNG carries our text chunks (prompt, seed, steps...)."""
        params = image_params(self.local, asked.request, outcome)

        def work() -> bytes:
            png = png_with_params(outcome.image, params)
            return encode(png, asked.output_format, asked.compression)

        return await asyncio.to_thread(work)

    async def _item(self, outcome: ImageOutcome, asked: Asked, base_url: str) -> dict:
        """One ``data`` entry."""
        data = await self._encoded(outcome, asked)
        item: dict = {"seed": outcome.seed, "revised_prompt": asked.request.prompt}
        if asked.call.response_format == "url":
            name = self.url_images.put(data, MEDIA_TYPES[asked.output_format])
            item["url"] = f"{base_url.rstrip('/')}/v1/images/files/{name}"
        else:
            item["b64_json"] = base64.b64encode(data).decode()
        return item


# --- the Starlette side, shared by the in-app routes and the Ray Serve ingress --------------------
def starlette_response(reply: Reply) -> Response:
    """A ``Reply`` as a Starlette (so also FastAPI) response."""
    if reply.events is not None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **reply.headers}
        return StreamingResponse(reply.events, media_type="text/event-stream", headers=headers)
    if reply.content is not None:
        return Response(reply.content, status_code=reply.status, media_type=reply.media_type, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


async def generations_endpoint(service: ImagesService, request: Request) -> Response:
    """``POST /v1/images/generations``."""
    admitted = service.admit(request.headers.get("authorization"), await request.body())
    if isinstance(admitted, Reply):
        return starlette_response(admitted)
    return starlette_response(await service.generate(admitted, str(request.base_url), request.is_disconnected))


async def models_endpoint(service: ImagesService, request: Request) -> Response:
    """``GET /v1/models``."""
    return starlette_response(service.models(request.headers.get("authorization")))


async def file_endpoint(service: ImagesService, request: Request) -> Response:
    """``GET /v1/images/files/{name}``: an image asked for as a URL (the name is the secret)."""
    return starlette_response(service.file(request.path_params["name"]))


class OpenAIImagesServer(ImagesService):
    """The service as the app's own Starlette routes."""

    def routes(self) -> list[BaseRoute]:
        """For ``launch(app_kwargs={"routes": ...})``."""

        def bound(endpoint: Callable[[ImagesService, Request], Awaitable[Response]]):
            async def route(request: Request) -> Response:
                return await endpoint(self, request)

            return route

        return [
            Route("/v1/images/generations", bound(generations_endpoint), methods=["POST"]),
            Route("/v1/models", bound(models_endpoint), methods=["GET"]),
            Route("/v1/images/files/{name}", bound(file_endpoint), methods=["GET"]),
        ]


def launch_options(
    backends: Mapping[str, Backend], settings: ServeSettings, on_served_run: ServedRunHook | None = None
) -> dict:
    """``launch()`` keywords adding the routes for ``backends["local"]``; none when OPENAI_SERVE_KEY is unset."""
    if not settings.key or "local" not in backends:
        return {}
    server = OpenAIImagesServer(backends["local"], settings.key, settings.max_waiting, on_served_run)
    return {"app_kwargs": {"routes": server.routes()}}
