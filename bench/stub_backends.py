"""Two in-process backends that answer after a fixed latency with a given PNG: a run's shape without a network."""

from __future__ import annotations

import asyncio
import time

from backends import Backend, BackendRun, GenerationRequest, ImageOutcome, RunContext
from backends.imaging import decode_image


class StubBackend(Backend):
    """Sleeps ``latency`` seconds, then returns ``num_images`` copies of one decoded PNG (seed+i each)."""

    def __init__(self, backend_id: str, latency: float, png: bytes) -> None:
        self.id, self.label = backend_id, backend_id.title()
        self.latency, self.image = latency, decode_image(png)

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        start = time.perf_counter()
        await asyncio.sleep(self.latency)
        outcomes = [
            ImageOutcome(i, request.image_seed(i), image=self.image, latency_s=self.latency)
            for i in range(request.num_images)
        ]
        return BackendRun(self.id, self.label, outcomes, wall_s=time.perf_counter() - start)

    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        return {"width": request.width, "height": request.height}, [f"{request.width}×{request.height}"]


def stub_backends(latency: float, png: bytes) -> list[Backend]:
    return [StubBackend("fireworks", latency, png), StubBackend("aiml", latency * 1.2, png)]
