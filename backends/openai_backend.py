"""A backend for any endpoint that speaks the OpenAI images API, one per OPENAI_IMAGE_BACKENDS entry."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from backends import openai_wire as wire
from backends.aiml import AimlBackend
from backends.hosted import HostedBackend, Upstream, reply_json
from backends.http import RetryPolicy
from backends.openai_config import OpenAIEndpoint
from backends.types import BackendStatus, GenerationRequest
from backends.urlguard import UrlPolicy

PATH = "/images/generations"


class OpenAICompatBackend(HostedBackend):
    """One configured endpoint: one call per image with seed+i (where it takes seeds), under the shared
    caps, whole-call deadline, retries and redaction; image URLs are fetched through the URL guard."""

    def __init__(
        self,
        endpoint: OpenAIEndpoint,
        client: httpx.AsyncClient,
        api_key: str | None,
        retry: RetryPolicy | None = None,
        *,
        url_policy: UrlPolicy | None = None,
        **kwargs,
    ) -> None:
        super().__init__(client, endpoint.base_url, api_key, retry, **kwargs)
        self.endpoint = endpoint
        # Per instance: each entry is its own backend, with no code of its own.
        self.id = endpoint.id
        self.label = endpoint.label
        self.key_env = endpoint.key_env
        self.honours_guidance = "guidance_scale" in endpoint.extras
        self.url_policy = url_policy or UrlPolicy()
        self._cdn_client: httpx.AsyncClient | None = None

    # The AI/ML backend's URL download, reused as is: same-origin URLs on the shared client, others
    # only over https to public addresses (checked on connect), every redirect hop checked, capped.
    cdn_client = AimlBackend.cdn_client
    fetch_image = AimlBackend.fetch_image
    image_from = AimlBackend.image_from

    def resolve_key(self, session_key: str | None) -> str:
        if self.key_env is None:
            return ""  # an endpoint configured without a key takes none
        return super().resolve_key(session_key)

    def status(self, keys: Mapping[str, str] | None = None) -> BackendStatus:
        if self.key_env is None:
            return BackendStatus(True, "ready (this endpoint takes no key)")  # no address: visitors see this
        return super().status(keys)

    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        return wire.describe(self.endpoint, request)

    async def generate_one(self, request: GenerationRequest, index: int, api_key: str) -> Upstream:
        body = wire.request_body(self.endpoint, request, index)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        ref = wire.parse_reply(reply_json(await self.post(PATH, body, headers), f"the {self.label} endpoint"))
        image = await self.image_from(ref.b64, ref.url, f"{self.label} reply")
        # The seed it used is the one sent: the protocol reports none.
        return Upstream(image, body.get("seed"))
