"""Every backend served over the OpenAI images API: one set of rules for every door.

``POST /v1/images/generations``, ``GET /v1/models`` and ``GET /v1/images/files/{name}``, for the official
``openai`` client, Open WebUI, LangChain, n8n. Off unless OPENAI_SERVE_KEY is set, and refused on a Space
(SPACE_ID set) unless ALLOW_OPENAI_SERVE=1. ``model`` names the backend (``local``, ``fireworks``, ``aiml``
or a configured endpoint's id; ``flux.1-schnell`` or none: Local where there is one). Every call goes through
the backend object (Local's one GPU thread, its lock, its cancel rules) via ``backends.runner.run_backends``,
draws on the page's allowance and ledger (spend.allowance), is redacted as the page is (runs.result) and is
kept in the library (the ``on_served_run`` hook, runs.keeper): outside Gradio's queue, so a scripted call
pays for no polling, no SSE and no file route.

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
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from backends import errors as e
from backends.openai_wire import ServedCall, error_body, served_call
from backends.runner import run_backends
from backends.types import Backend, BackendRun, GenerationRequest, ImageOutcome, InvalidRequest
from images.formats import DEFAULT_COMPRESSION, FORMATS, MEDIA_TYPES, encode
from images.pngmeta import png_with_params
from runs.result import BackendResult
from serving.openai_stream import MAX_PARTIAL_IMAGES, stream_run

if TYPE_CHECKING:  # spend.allowance reads config, which reads ServeSettings from here
    from spend.allowance import Allowance, Ticket

log = logging.getLogger(__name__)

MODEL_ID = "flux.1-schnell"
MAX_WAITING = 4  # GPU jobs queued or running beyond which a served call gets 429 at once
RETRY_AFTER_S = 5
KEPT_URL_IMAGES = 64  # response_format=url: the newest images kept in memory, served once asked for
URL_IMAGE_TTL_S = 3600

#: Where each served run is handed on (the image library connects here): (request, the run, a
#: ``runs.result.BackendResult`` made once with the server's keys redacted).
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


#: A failed upstream's kind → (HTTP status, OpenAI error type) for the caller.
FAILURE_STATUS = {
    "bad_request": (400, "invalid_request_error"),
    "content_filtered": (400, "invalid_request_error"),
    "rate_limited": (429, "requests"),
    "missing_key": (503, "server_error"),
    "rejected_key": (503, "server_error"),
    "timeout": (504, "server_error"),
}


def _failure(run: BackendRun) -> Reply:
    """Every image failed: the first error, OpenAI-shaped. A ``BackendResult``'s records carry the page's
    message (the backend named, what to do, every key redacted); a bare run (Local, no key) its detail."""
    index, err = next(
        ((i, o.error) for i, o in enumerate(run.outcomes) if o.error is not None), (0, e.UpstreamError("no image"))
    )
    if isinstance(err, e.OutOfMemory):
        return error_reply(503, f"out of GPU memory: {err.detail}", "server_error", "out_of_memory")
    if isinstance(err, e.Unavailable) and run.backend == "local":
        return error_reply(503, f"the local GPU backend is unavailable: {err.detail}", "server_error", "unavailable")
    if isinstance(err, e.Cancelled):
        return error_reply(503, "cancelled", "server_error", "cancelled")
    records = getattr(run, "records", None)
    if records and index < len(records) and records[index].get("error"):
        status, kind = FAILURE_STATUS.get(err.kind, (502, "server_error"))
        return error_reply(status, records[index]["error"], kind, err.kind)
    return error_reply(500, f"generation failed ({err.kind}): {err.detail}", "server_error", err.kind)


@dataclass(frozen=True)
class Asked:
    """A validated call: the request and how to answer it (format, quality, streaming)."""

    call: ServedCall
    output_format: str = "png"
    compression: int = DEFAULT_COMPRESSION
    stream: bool = False
    partial_images: int = 0
    model: str | None = None  # the backend asked for, as given
    backend: str = "local"  # the backend that runs it (set by ``admit``)
    ticket: Ticket | None = field(default=None, compare=False)  # what it took of the allowance

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
REPLY_FIELDS = ("stream", "partial_images", "output_format", "output_compression", "model")


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
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("model must be a string naming a backend")
    call = served_call(rest)
    if stream and (call.request.num_images != 1 or call.response_format != "b64_json"):
        raise InvalidRequest("stream: true takes n=1 and response_format b64_json")
    return Asked(call, output_format, compression, stream, partial_images, model or None)


class ImagesService:
    """The rules of the OpenAI images door over the server's backends and one key, framework-neutral.

    ``backends`` is id → Backend (the app's, in display order), or one Local backend (a cluster replica).
    ``allowance`` is the page's own (per-visitor images a minute and a day, the daily budget): a hosted
    call draws on it as a /generate call does; ``secrets`` are the server's keys, redacted from what an
    upstream echoes back.
    """

    def __init__(
        self,
        backends: Backend | Mapping[str, Backend],
        key: str,
        max_waiting: int = MAX_WAITING,
        on_served_run: ServedRunHook | None = None,
        allowance: Allowance | None = None,
        secrets: Sequence[str | None] = (),
    ) -> None:
        self.backends: dict[str, Backend] = dict(backends) if isinstance(backends, Mapping) else {"local": backends}
        self.local = self.backends.get("local")
        self._key = key.encode()
        self.max_waiting = max_waiting
        #: THE hook point for the image library: called once per served run, before the reply goes.
        self.on_served_run = on_served_run
        self.allowance = allowance
        self.secrets = tuple(secrets)
        self.url_images = UrlImages()
        self._waiting = 0  # served Local calls running or queued; touched only on the event loop

    def authorized(self, authorization: str | None) -> bool:
        """The bearer key, compared in constant time."""
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._key)

    def refused(self) -> Reply:
        return error_reply(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    def backend_for(self, model: str | None) -> str | None:
        """The backend id ``model`` names; none or ``flux.1-schnell``: Local where there is one, else the first."""
        if model in (None, MODEL_ID):
            return "local" if "local" in self.backends else next(iter(self.backends), None)
        return model if model in self.backends else None

    def models(self, authorization: str | None) -> Reply:
        """Every backend, by the id ``model`` takes."""
        if not self.authorized(authorization):
            return self.refused()
        owner = "flux-playground"
        data = [{"id": bid, "object": "model", "created": 0, "owned_by": owner} for bid in self.backends]
        return Reply(body={"object": "list", "data": data})

    def file(self, name: str) -> Reply:
        kept = self.url_images.get(name)
        if kept is None:
            return error_reply(404, "no such image (they are kept for an hour)", "invalid_request_error", "not_found")
        return Reply(content=kept[1], media_type=kept[0], headers={"Cache-Control": "private, max-age=3600"})

    def admit(self, authorization: str | None, raw: bytes, client: object = None) -> Asked | Reply:
        """Authorize, parse and validate, name the backend, apply the GPU queue limit and take the allowance
        (``client``: the request, for spend.allowance.visitor_of): the call to run, or the refusal.
        An admitted call holds a ticket: ``generate`` settles it."""
        if not self.authorized(authorization):
            return self.refused()
        try:
            asked = parse_call(json.loads(raw))
        except ValueError as err:  # InvalidRequest is a ValueError; so is a body that is not JSON
            message = str(err) if isinstance(err, InvalidRequest) else "the body is not JSON"
            return error_reply(400, message, "invalid_request_error")
        backend_id = self.backend_for(asked.model)
        if backend_id is None:
            names = ", ".join(self.backends)
            message = f"model {asked.model[:40]!r} is unknown; use one of {names}"
            return error_reply(400, message, "invalid_request_error", "model_not_found")
        if backend_id == "local":
            # Page runs and served calls share the one GPU queue: both count.
            ahead = max(self._waiting, getattr(self.local, "pending_jobs", 0))
            if ahead >= self.max_waiting:
                message = f"the GPU queue is full ({ahead} jobs ahead); retry in {RETRY_AFTER_S} s"
                return error_reply(429, message, "requests", "queue_full", {"Retry-After": str(RETRY_AFTER_S)})
        req = asked.request.with_seed()  # seed 0: one drawn, as on the page
        ticket = None
        if self.allowance is not None:
            from spend.allowance import Refused, plan_spend  # here: config imports this module

            items = [(self.backends[backend_id], req.num_inference_steps)] * req.num_images
            try:
                ticket = self.allowance.take(client, plan_spend(items, {}), "this call")
            except Refused as refusal:
                log.info("refused a served call: %s", refusal.message)
                retry = {"Retry-After": str(math.ceil(refusal.retry_after_s))} if refusal.retry_after_s else {}
                return error_reply(429, refusal.message, "requests", "rate_limit_exceeded", retry)
        return replace(asked, call=replace(asked.call, request=req), backend=backend_id, ticket=ticket)

    def _settle(self, asked: Asked, runs: Sequence[BackendResult]) -> None:
        if self.allowance is not None and asked.ticket is not None:
            self.allowance.settle(asked.ticket, runs)

    async def generate(self, asked: Asked, base_url: str, is_disconnected: Callable[[], Awaitable[bool]]) -> Reply:
        """Run an admitted call and answer it: all images at once, or streamed."""
        if asked.stream:
            return Reply(events=self._stream(asked, is_disconnected), media_type="text/event-stream")
        result = None
        try:
            result = await self._counted_run(asked, is_disconnected)
        finally:
            self._settle(asked, [result] if result is not None else [])
        await self._keep(asked.request, result)
        made = [(o, p) for o, p in zip(result.outcomes, result.params, strict=True) if o.image is not None]
        if not made:
            return _failure(result)
        data = await asyncio.gather(*(self._item(o, p, asked, base_url) for o, p in made))
        body = {"created": int(time.time()), "data": list(data), "output_format": asked.output_format}
        # Megabytes of base64 to serialize: in a worker thread, not on the event loop serving the others.
        content = await asyncio.to_thread(lambda: json.dumps(body, separators=(",", ":")).encode())
        return Reply(content=content, media_type="application/json")

    async def _stream(self, asked: Asked, is_disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
        async def finish(result: BackendResult) -> bytes | dict:
            await self._keep(asked.request, result)
            made = next(((o, p) for o, p in zip(result.outcomes, result.params, strict=True) if o.image), None)
            return await self._encoded(*made, asked) if made else _failure(result).body

        async def start() -> BackendResult:
            result = None
            try:
                result = await self._counted_run(asked, is_disconnected)
                return result
            finally:
                self._settle(asked, [result] if result is not None else [])

        async for chunk in stream_run(
            start,
            asked.request.num_inference_steps,
            asked.partial_images,
            asked.size,
            asked.output_format,
            asked.compression,
            finish,
        ):
            yield chunk

    async def _counted_run(self, asked: Asked, is_disconnected: Callable[[], Awaitable[bool]]) -> BackendResult:
        local = asked.backend == "local"
        self._waiting += local
        try:
            run = await self._run(asked, is_disconnected)
        finally:
            self._waiting -= local
        # Made once: records, PNG params and messages (the backend named, keys redacted) for every use below.
        return BackendResult.of(self.backends[asked.backend], asked.request, run, self.secrets)

    async def _run(self, asked: Asked, is_disconnected: Callable[[], Awaitable[bool]]) -> BackendRun:
        """One run through the shared runner; it is cancelled if the client goes away."""
        cancel = threading.Event()

        async def watch() -> None:
            while not await is_disconnected():
                await asyncio.sleep(0.5)
            cancel.set()

        watcher = asyncio.create_task(watch())
        try:
            async for event in run_backends(asked.request, [self.backends[asked.backend]], cancel=cancel):
                if isinstance(event, BackendRun):
                    return event
        finally:
            watcher.cancel()
        raise AssertionError("run_backends ends with the backend's run")

    async def _keep(self, req: GenerationRequest, result: BackendResult) -> None:
        if self.on_served_run is None:
            return
        try:
            await self.on_served_run(req, result)
        except Exception:  # the caller still gets its images
            log.exception("keeping the served images failed")

    async def _encoded(self, outcome: ImageOutcome, params: dict, asked: Asked) -> bytes:
        """The image in the asked format; a PNG carries our text chunks (prompt, seed, steps...): the upstream's
        checked bytes with chunks added, never decoded for PNG."""

        def work() -> bytes:
            png = png_with_params(outcome.image, params)
            return encode(png, asked.output_format, asked.compression)

        return await asyncio.to_thread(work)

    async def _item(self, outcome: ImageOutcome, params: dict, asked: Asked, base_url: str) -> dict:
        """One ``data`` entry."""
        item: dict = {"seed": outcome.seed, "revised_prompt": asked.request.prompt}
        if asked.call.response_format == "url":
            data = await self._encoded(outcome, params, asked)
            name = self.url_images.put(data, MEDIA_TYPES[asked.output_format])
            item["url"] = f"{base_url.rstrip('/')}/v1/images/files/{name}"
        else:  # base64 of megabytes: in the worker thread too, off the event loop

            def work() -> str:
                data = encode(png_with_params(outcome.image, params), asked.output_format, asked.compression)
                return base64.b64encode(data).decode()

            item["b64_json"] = await asyncio.to_thread(work)
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
    admitted = service.admit(request.headers.get("authorization"), await request.body(), request)
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
    backends: Mapping[str, Backend],
    settings: ServeSettings,
    on_served_run: ServedRunHook | None = None,
    allowance: Allowance | None = None,
    secrets: Sequence[str | None] = (),
) -> dict:
    """``launch()`` keywords adding the routes for every backend; none when OPENAI_SERVE_KEY is unset."""
    if not settings.key or not backends:
        return {}
    server = OpenAIImagesServer(backends, settings.key, settings.max_waiting, on_served_run, allowance, secrets)
    return {"app_kwargs": {"routes": server.routes()}}
