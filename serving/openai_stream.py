"""OpenAI-shaped image streaming: ``image_generation.partial_image`` events from a run's intermediate steps,
then ``image_generation.completed``. Framework-neutral: it yields the bytes of server-sent events.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from PIL import Image

from backends.local.preview import StepUpdate, listen_steps
from backends.types import BackendRun
from images.formats import encode

MAX_PARTIAL_IMAGES = 3


def preview_steps(total: int, partial_images: int) -> list[int]:
    """Which finished steps (1-based) send a partial image: the first one, then evenly up to the last but one.

    The first step comes first, so the first preview arrives early (1/total of the denoising); the final
    step is never a preview (the completed image follows it). Fewer steps than asked: one per step.
    """
    last = total - 1
    if partial_images <= 0 or last < 1:
        return []
    if partial_images == 1 or last == 1:
        return [1]
    wanted = min(partial_images, last)
    return sorted({1 + round(i * (last - 1) / (wanted - 1)) for i in range(wanted)})


def sse(event: str, data: dict) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _event_fields(kind: str, size: str, output_format: str) -> dict:
    return {
        "type": kind,
        "created_at": int(time.time()),
        "size": size,
        "output_format": output_format,
        "quality": "auto",
        "background": "opaque",
    }


async def stream_run(
    start: Callable[[], Awaitable[BackendRun]],
    total_steps: int,
    partial_images: int,
    size: str,
    output_format: str,
    compression: int,
    finish: Callable[[BackendRun], Awaitable[bytes | dict]],
) -> AsyncIterator[bytes]:
    """Run ``start()`` with a step listener; yield a partial image for each chosen step, then what ``finish`` says.

    ``finish(run)`` returns the completed image's bytes, or an OpenAI error body (sent as an ``error`` event,
    which the official client raises as ``APIError``).
    """
    loop = asyncio.get_running_loop()
    previews: asyncio.Queue[Image.Image] = asyncio.Queue()
    chosen = set(preview_steps(total_steps, partial_images))

    def on_step(update: StepUpdate) -> None:  # the GPU thread: project, then hand over
        if update.step in chosen:
            loop.call_soon_threadsafe(previews.put_nowait, update.previews()[0])

    with listen_steps(on_step):
        task = asyncio.create_task(start())  # the task copies the context, listener included
    try:
        index = 0
        while True:
            getter = asyncio.create_task(previews.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                if previews.empty():
                    break
                continue
            data = await asyncio.to_thread(encode, getter.result(), output_format, compression)
            fields = _event_fields("image_generation.partial_image", size, output_format)
            fields.update(b64_json=base64.b64encode(data).decode(), partial_image_index=index)
            yield sse("image_generation.partial_image", fields)
            index += 1
        run = task.result()
    finally:
        task.cancel()  # the client went away mid-stream: the run stops after its current step
    result = await finish(run)
    if isinstance(result, dict):
        yield sse("error", result)
        return
    fields = _event_fields("image_generation.completed", size, output_format)
    fields.update(b64_json=base64.b64encode(result).decode(), usage=USAGE)
    yield sse("image_generation.completed", fields)


#: The shape OpenAI's client expects; a diffusion model reads no tokens, so every count is 0.
USAGE = {
    "input_tokens": 0,
    "output_tokens": 0,
    "total_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
}
