"""The OpenAI images protocol, both ways, as pure functions (no network, no Gradio).

Outgoing (a configured endpoint): request → ``POST /images/generations`` body, and its reply →
where the image is. Only the fields an endpoint takes are sent (OpenAI itself answers 400
"Unrecognized request argument supplied: seed"); what was left out is said in ``received``.
Error replies in OpenAI's ``{"error": {"message", "type", "code"}}`` shape become the shared typed
errors through ``backends.http.error_for_status``.

Incoming (this app serving its Local backend): a body → ``GenerationRequest`` and the reply and
error bodies it answers with.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from backends.errors import NotAnImage, UpstreamError
from backends.openai_config import OpenAIEndpoint
from backends.sizes import CUSTOM, MAX_SIDE, MIN_SIDE, SIDE_STEP
from backends.types import GenerationRequest, InvalidRequest

NOT_SENT = {
    "seed": "this endpoint takes none; the image is not reproducible",
    "num_inference_steps": "this endpoint takes none; it uses its own step count",
    "guidance_scale": "this endpoint takes none",
}


# --- outgoing: a configured endpoint --------------------------------------------------------
def nearest_size(width: int, height: int, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The allowed size closest to W×H: shape first, then area (``sizes`` empty: W×H itself)."""
    if not sizes or (width, height) in sizes:
        return width, height

    def distance(size: tuple[int, int]) -> float:
        w, h = size
        shape = abs(math.log((w / h) / (width / height)))
        area = abs(math.log((w * h) / (width * height)))
        return shape + 0.25 * area

    return min(sizes, key=distance)


def request_body(endpoint: OpenAIEndpoint, request: GenerationRequest, index: int) -> dict:
    """The JSON body for image ``index``: one image per call, and only the fields the endpoint takes."""
    width, height = nearest_size(request.width, request.height, endpoint.sizes)
    body: dict = {
        "model": endpoint.model,
        "prompt": request.prompt,
        "n": 1,
        "size": f"{width}x{height}",
        "response_format": "b64_json",
    }
    if "seed" in endpoint.extras:
        body["seed"] = request.image_seed(index)
    if "num_inference_steps" in endpoint.extras:
        body["num_inference_steps"] = request.num_inference_steps
    if "guidance_scale" in endpoint.extras:
        body["guidance_scale"] = request.guidance_scale
    return body


def describe(endpoint: OpenAIEndpoint, request: GenerationRequest) -> tuple[dict, list[str]]:
    """What the endpoint receives for ``request`` (as data and as notes), and what it does not."""
    body = request_body(endpoint, request, 0)
    received = {k: v for k, v in body.items() if k not in ("prompt", "seed")}
    notes = []
    asked = f"{request.width}x{request.height}"
    if body["size"] != asked:
        received["size_requested"] = asked
        notes.append(f"{asked} → {body['size']}, the nearest size {endpoint.label} takes")
    if "seed" in body:
        received["seeds"] = [request.image_seed(i) for i in range(request.num_images)]
    not_sent = {name: why for name, why in NOT_SENT.items() if name not in endpoint.extras}
    if not_sent:
        received["not_sent"] = not_sent
        notes.extend(f"{name} not sent: {why}" for name, why in not_sent.items())
    return received, notes


@dataclass(frozen=True)
class ImageRef:
    """Where the one returned image is: inline base64, or a URL to fetch."""

    b64: str | None = None
    url: str | None = None


def parse_reply(data: object) -> ImageRef:
    """A 2xx body ``{"data": [{"b64_json": …} | {"url": …}]}`` → its first image."""
    if not isinstance(data, dict):
        raise UpstreamError("the reply is not a JSON object")
    items = data.get("data")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise NotAnImage("the reply holds no image (no data[0])")
    item = items[0]
    b64, url = item.get("b64_json"), item.get("url")
    if isinstance(b64, str) and b64:
        return ImageRef(b64=b64)
    if isinstance(url, str) and url:
        return ImageRef(url=url)
    raise NotAnImage("the reply's data[0] holds neither b64_json nor url")


# --- incoming: this app serving the protocol ------------------------------------------------
#: Fields OpenAI documents that change nothing here: accepted and ignored, so stock clients work.
IGNORED_FIELDS = (
    "model",
    "quality",
    "style",
    "user",
    "background",
    "moderation",
    "output_format",
    "output_compression",
)
SERVED_FIELDS = ("prompt", "n", "size", "response_format", "seed", "num_inference_steps", "guidance_scale")
RESPONSE_FORMATS = ("b64_json", "url")
DEFAULT_SIZE = (1024, 1024)
_WXH = re.compile(r"^(\d{1,5})x(\d{1,5})$")


@dataclass(frozen=True)
class ServedCall:
    """A validated incoming call: the request for the Local backend and how to answer it."""

    request: GenerationRequest
    response_format: str


def served_call(body: object) -> ServedCall:
    """An incoming body → the one request type, validated by it; InvalidRequest says which field is wrong."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    unknown = [k for k in body if k not in SERVED_FIELDS and k not in IGNORED_FIELDS]
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument supplied: {str(unknown[0])[:40]}")
    size = body.get("size") or "auto"
    if size == "auto":
        width, height = DEFAULT_SIZE
    elif isinstance(size, str) and (m := _WXH.match(size)):
        width, height = int(m.group(1)), int(m.group(2))
    else:
        raise InvalidRequest(
            f"size {str(size)[:40]!r} must be WxH, e.g. 1024x768 (sides {MIN_SIDE}–{MAX_SIDE} in steps of {SIDE_STEP})"
        )
    response_format = body.get("response_format") or "b64_json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequest(f"response_format {str(response_format)[:40]!r} must be b64_json or url")
    n = body.get("n", 1)
    seed = body.get("seed", 0)
    fields = dict(
        prompt=body.get("prompt", ""),
        width=width,
        height=height,
        num_images=1 if n is None else n,
        seed=0 if seed is None else seed,
        aspect_ratio=CUSTOM,
    )
    for name in ("num_inference_steps", "guidance_scale"):
        if body.get(name) is not None:
            fields[name] = body[name]
    request = GenerationRequest(**fields)  # the one validation: ranges, types, the 32 grid
    return ServedCall(request, response_format)


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
