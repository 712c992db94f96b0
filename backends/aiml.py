"""AI/ML API `flux/schnell`: exact sizes, replies as URLs or base64, fetched with care."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image

from backends.errors import ContentFiltered, NotAnImage, UpstreamError
from backends.hosted import HostedBackend
from backends.http import send_with_retries
from backends.imaging import decode_base64_image, decode_image
from backends.types import GenerationRequest

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
PATH = "/images/generations"
MODEL = "flux/schnell"
MAX_IMAGE_BYTES = 25 * 1024 * 1024
MAX_REDIRECTS = 3


def aiml_body(request: GenerationRequest, index: int, safety_checker: bool = True) -> dict:
    """The JSON body for image ``index``: one image per call, so its seed is exactly seed+index."""
    return {
        "model": MODEL,
        "prompt": request.prompt,
        "image_size": {"width": request.width, "height": request.height},
        "num_inference_steps": request.num_inference_steps,
        "seed": max(1, request.image_seed(index)),  # the API requires seed >= 1
        "num_images": 1,
        "enable_safety_checker": safety_checker,
    }


@dataclass(frozen=True)
class AimlImageRef:
    """Where one returned image is: a URL to fetch, or inline base64."""

    url: str | None
    b64: str | None
    filtered: bool


@dataclass(frozen=True)
class AimlReply:
    images: list[AimlImageRef]
    seed: int | None
    server_s: float | None


def parse_aiml_reply(data: object) -> AimlReply:
    """A 2xx JSON body in any documented shape (`images[]`, `data[]` or both) → image references."""
    if not isinstance(data, dict):
        raise UpstreamError("the AI/ML API sent a reply that is not a JSON object")
    items = data.get("images") or data.get("data") or []
    nsfw = data.get("has_nsfw_concepts") or []
    refs = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            continue
        url, b64 = item.get("url"), item.get("b64_json")
        filtered = bool(nsfw[i]) if i < len(nsfw) else False
        refs.append(AimlImageRef(url=url or None, b64=b64 or None, filtered=filtered))
    if not refs:
        raise NotAnImage("the AI/ML API reply holds no image")
    seed = data.get("seed")
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    inference = timings.get("inference")
    return AimlReply(
        images=refs,
        seed=int(seed) if isinstance(seed, int | float) else None,
        server_s=float(inference) if isinstance(inference, int | float) else None,
    )


def is_allowed_image_url(url: str, base_url: str) -> bool:
    """Fetch only over https, or from the API's own origin (so a local proxy or fake works)."""
    target, base = urlsplit(url), urlsplit(base_url)
    if target.scheme == "https" and target.hostname:
        return True
    return (target.scheme, target.netloc) == (base.scheme, base.netloc)


class AimlBackend(HostedBackend):
    id = "aiml"
    label = "AI/ML API"
    key_env = "AIML_API_KEY"
    honours_guidance = False

    def __init__(self, *args, safety_checker: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.safety_checker = safety_checker

    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        body = aiml_body(request, 0, self.safety_checker)
        received = {k: v for k, v in body.items() if k not in ("prompt", "seed")}
        received["seeds"] = [max(1, request.image_seed(i)) for i in range(request.num_images)]
        notes = [
            f"{request.width}×{request.height} sent as image_size",
            "no guidance parameter",
            f"{request.num_inference_steps} steps",
        ]
        return received, notes

    async def fetch_image(self, url: str) -> Image.Image:
        """Download one image URL: allowed origins only, no key sent, size capped, bytes checked."""
        for _ in range(MAX_REDIRECTS + 1):
            if not is_allowed_image_url(url, self.base_url):
                parts = urlsplit(url)
                raise NotAnImage(f"refused to fetch the image from {parts.scheme}://{parts.netloc} (not https)")
            body = bytearray()

            async def send(url: str = url, body: bytearray = body) -> httpx.Response:
                body.clear()
                async with self.client.stream("GET", url) as response:
                    if not response.is_success:
                        await response.aread()  # error bodies are small; error_for_status reads them
                        return response
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_IMAGE_BYTES:
                            raise NotAnImage(f"the image at the returned URL is over {MAX_IMAGE_BYTES >> 20} MB")
                return response

            response = await send_with_retries(send, self.retry, accept_redirects=True)
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                continue
            return decode_image(bytes(body), "image at the returned URL")
        raise UpstreamError("too many redirects fetching the image")

    async def generate_one(
        self, request: GenerationRequest, index: int, api_key: str
    ) -> tuple[Image.Image, int, float | None]:
        body = aiml_body(request, index, self.safety_checker)
        headers = {"Authorization": f"Bearer {api_key}"}

        async def send() -> httpx.Response:
            return await self.client.post(self.base_url + PATH, json=body, headers=headers)

        response = await send_with_retries(send, self.retry)
        try:
            data = response.json()
        except ValueError as err:
            raise UpstreamError("the AI/ML API sent a reply that is not JSON") from err
        reply = parse_aiml_reply(data)
        ref = reply.images[0]
        if ref.filtered:
            raise ContentFiltered("the AI/ML API's safety checker flagged the image")
        if ref.b64:
            image = decode_base64_image(ref.b64, "AI/ML API reply")
        elif ref.url and ref.url.startswith("data:"):
            image = decode_base64_image(ref.url, "AI/ML API reply")
        elif ref.url:
            image = await self.fetch_image(ref.url)
        else:
            raise NotAnImage("the AI/ML API reply holds neither a URL nor image data")
        return image, reply.seed or body["seed"], reply.server_s
