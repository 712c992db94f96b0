"""What the two hosted backends share: keys, one call per image, and fan-out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import httpx
from PIL import Image

from backends.errors import BackendError, MissingKey, UpstreamError
from backends.http import RetryPolicy
from backends.types import Backend, BackendRun, BackendStatus, GenerationRequest, ImageOutcome, RunContext

log = logging.getLogger(__name__)


class HostedBackend(Backend):
    """A backend behind an HTTP API that makes one image per call.

    Each image is its own call with seed+i, so every image's tag is a seed that
    remakes exactly that image.
    """

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, api_key: str | None, retry: RetryPolicy | None = None
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._env_key = api_key or None
        self.retry = retry or RetryPolicy()

    def resolve_key(self, session_key: str | None) -> str:
        """The key to use: one pasted for this session wins over the environment's."""
        key = (session_key or "").strip() or self._env_key
        if not key:
            raise MissingKey(f"no API key: set {self.key_env} or paste a key under 'API keys'")
        return key

    def status(self, keys: Mapping[str, str] | None = None) -> BackendStatus:
        if ((keys or {}).get(self.id) or "").strip():
            return BackendStatus(True, "ready (key pasted for this session)")
        if self._env_key:
            return BackendStatus(True, f"ready (key from {self.key_env})")
        return BackendStatus(False, f"needs a key: set {self.key_env} or paste one under 'API keys'")

    async def generate_one(
        self, request: GenerationRequest, index: int, api_key: str
    ) -> tuple[Image.Image, int, float | None]:
        """One image for ``request.image_seed(index)``: the image, the seed the API reports, server time."""
        raise NotImplementedError

    async def _one(self, request: GenerationRequest, index: int, key: str) -> tuple[ImageOutcome, float | None]:
        started = time.perf_counter()
        try:
            image, seed, server_s = await self.generate_one(request, index, key)
        except BackendError as err:
            return ImageOutcome(index, request.image_seed(index), error=err), None
        except Exception as err:  # an odd reply must not take this run's other images with it
            log.warning("%s: unexpected %s for image %d", self.label, type(err).__name__, index)
            error = UpstreamError(f"unreadable reply ({type(err).__name__})")
            return ImageOutcome(index, request.image_seed(index), error=error), None
        latency = time.perf_counter() - started
        return ImageOutcome(index, seed, image=image, latency_s=latency), server_s

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        key = self.resolve_key(ctx.api_key)
        received, notes = self.describe(request)
        results = await asyncio.gather(*(self._one(request, i, key) for i in range(request.num_images)))
        server_times = [s for _, s in results if s is not None]
        return BackendRun(
            backend=self.id,
            label=self.label,
            outcomes=[o for o, _ in results],
            server_s=max(server_times) if server_times else None,
            received=received,
            notes=notes,
        )
