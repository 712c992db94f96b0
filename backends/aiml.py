"""AI/ML API `flux/schnell`: exact sizes, replies as URLs or base64, fetched with care."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from backends.errors import ContentFiltered, NotAnImage, UpstreamError
from backends.hosted import HostedBackend, Upstream, reply_json
from backends.http import SendTrace, fetch, make_client, send_with_retries
from backends.imaging import EncodedImage, read_base64_image, read_image
from backends.types import GenerationRequest
from backends.urlguard import PublicOnlyBackend, UrlPolicy

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
    seed: object  # as the API sent it; checked by the caller
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
        url = url if isinstance(url, str) else None
        b64 = b64 if isinstance(b64, str) else None
        filtered = bool(nsfw[i]) if isinstance(nsfw, list) and i < len(nsfw) else False
        refs.append(AimlImageRef(url=url or None, b64=b64 or None, filtered=filtered))
    if not refs:
        raise NotAnImage("the AI/ML API reply holds no image")
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    inference = timings.get("inference")
    server_s = float(inference) if isinstance(inference, int | float) and not isinstance(inference, bool) else None
    if server_s is not None and not 0 <= server_s < 1e6:
        server_s = None
    return AimlReply(images=refs, seed=data.get("seed"), server_s=server_s)


class AimlBackend(HostedBackend):
    id = "aiml"
    label = "AI/ML API"
    key_env = "AIML_API_KEY"
    honours_guidance = False

    def __init__(self, *args, safety_checker: bool = True, url_policy: UrlPolicy | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.safety_checker = safety_checker
        self.url_policy = url_policy or UrlPolicy()
        self._cdn_client: httpx.AsyncClient | None = None

    @property
    def cdn_client(self) -> httpx.AsyncClient:
        """The client for image URLs off the API's origin: it dials only addresses the policy allows."""
        if self._cdn_client is None:
            self._cdn_client = make_client(network_backend=PublicOnlyBackend(self.url_policy))
        return self._cdn_client

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

    async def fetch_image(self, url: str) -> EncodedImage:
        """Download one image URL: allowed URLs only (every redirect hop too), no key, size capped, bytes checked."""
        for _ in range(MAX_REDIRECTS + 1):
            same_origin = self.url_policy.check_url(url, self.base_url)
            client = self.client if same_origin else self.cdn_client

            async def send(trace: SendTrace, url: str = url, client: httpx.AsyncClient = client):
                return await fetch(client, "GET", url, trace=trace, limit=MAX_IMAGE_BYTES, what="the image download")

            reply = await send_with_retries(send, self.retry, self.sleep, accept_redirects=True)
            if reply.is_redirect:
                url = urljoin(url, reply.headers.get("location", ""))
                continue  # checked again at the top, like the first URL
            return await asyncio.to_thread(read_image, reply.content, "image at the returned URL")
        raise UpstreamError("too many redirects fetching the image")

    async def image_from(self, b64: str | None, url: str | None, source: str) -> EncodedImage:
        """The image a reply points at: inline base64 (or a ``data:`` URL), else a URL fetched with care."""
        if b64:
            return await asyncio.to_thread(read_base64_image, b64, source)
        if url and url.startswith("data:"):
            return await asyncio.to_thread(read_base64_image, url, source)
        if url:
            return await self.fetch_image(url)
        raise NotAnImage(f"the {source} holds neither a URL nor image data")

    async def generate_one(self, request: GenerationRequest, index: int, api_key: str) -> Upstream:
        body = aiml_body(request, index, self.safety_checker)
        reply = await self.post(PATH, body, {"Authorization": f"Bearer {api_key}"})
        parsed = parse_aiml_reply(reply_json(reply, "the AI/ML API"))
        ref = parsed.images[0]
        if ref.filtered:
            raise ContentFiltered("the AI/ML API's safety checker flagged the image")
        image = await self.image_from(ref.b64, ref.url, "AI/ML API reply")
        return Upstream(image, parsed.seed, parsed.server_s)
