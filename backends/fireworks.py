"""Fireworks `flux-1-schnell-fp8`: one image per call, sized by aspect ratio."""

from __future__ import annotations

import asyncio
import json

from backends.errors import ContentFiltered, NotAnImage, UpstreamError
from backends.hosted import HostedBackend, Upstream
from backends.imaging import EncodedImage, read_base64_image, read_image
from backends.redact import shown
from backends.sizes import nearest_ratio
from backends.types import GenerationRequest

DEFAULT_BASE_URL = "https://api.fireworks.ai/inference/v1"
PATH = "/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image"
ACCEPT = "image/png"  # lossless, so the gallery's PNGs hold what Fireworks made


def fireworks_body(request: GenerationRequest, index: int) -> dict:
    """The JSON body for image ``index``. Fireworks takes no size, so W×H becomes the nearest ratio."""
    return {
        "prompt": request.prompt,
        "aspect_ratio": nearest_ratio(request.width, request.height),
        "guidance_scale": request.guidance_scale,
        "num_inference_steps": request.num_inference_steps,
        "seed": request.image_seed(index),
    }


SUCCESS_REASONS = ("SUCCESS", "SUCCEEDED")


def _check_finish(reason: object) -> None:
    """Only a documented success gives an image; anything else (ERROR, PENDING, a number) is a failure."""
    if reason is None or reason == "":
        return  # older replies carry no reason: the image decides
    text = str(reason).strip().upper()
    if text == "CONTENT_FILTERED":
        raise ContentFiltered("Fireworks' safety check withheld the image")
    if text not in SUCCESS_REASONS:
        raise UpstreamError(f"Fireworks finished with {shown(repr(str(reason)), 60)}, not SUCCESS")


def parse_fireworks_reply(content_type: str, headers: dict[str, str], body: bytes) -> tuple[EncodedImage, object]:
    """A 200 reply (binary image or JSON) → (image, the seed Fireworks reports, unchecked: None if none).

    Raises on filtered, unknown finish reasons and non-images.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    content_type = content_type.split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as err:
            raise NotAnImage("Fireworks sent JSON that could not be read") from err
        if not isinstance(data, dict):
            raise NotAnImage("Fireworks' JSON reply is not an object")
        _check_finish(data.get("finishReason") or headers.get("finish-reason"))
        images = data.get("base64") or []
        if isinstance(images, str):
            images = [images]
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise NotAnImage("Fireworks' JSON reply holds no image")
        return read_base64_image(images[0], "Fireworks reply"), data.get("seed", headers.get("seed"))
    _check_finish(headers.get("finish-reason"))
    return read_image(body, "Fireworks reply"), headers.get("seed")


class FireworksBackend(HostedBackend):
    id = "fireworks"
    label = "Fireworks"
    key_env = "FIREWORKS_API_KEY"
    honours_guidance = True

    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        body = fireworks_body(request, 0)
        received = {k: v for k, v in body.items() if k != "prompt"}
        received["seeds"] = [request.image_seed(i) for i in range(request.num_images)]
        notes = [
            f"{request.width}×{request.height} → aspect ratio {body['aspect_ratio']}",
            f"guidance {request.guidance_scale:g} sent (schnell is guidance-distilled, so expect little effect)",
            f"{request.num_inference_steps} steps",
        ]
        return received, notes

    async def generate_one(self, request: GenerationRequest, index: int, api_key: str) -> Upstream:
        body = fireworks_body(request, index)
        reply = await self.post(PATH, body, {"Authorization": f"Bearer {api_key}", "Accept": ACCEPT})
        # Checking takes ~10 ms per 1024² PNG (CRCs and an inflate, no pixel decode): in a worker
        # thread (zlib releases the GIL), so the event loop keeps reading the other bodies meanwhile.
        ctype, reply_headers = reply.headers.get("content-type", ""), dict(reply.headers)
        image, seed = await asyncio.to_thread(parse_fireworks_reply, ctype, reply_headers, reply.content)
        return Upstream(image, seed)
