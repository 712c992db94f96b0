"""/generate's images belong to their call: other callers' traffic never deletes them."""

from __future__ import annotations

import asyncio
import threading

from gradio_client import Client
from PIL import Image

from images.pngmeta import read_params


def test_a_slow_caller_keeps_its_images_while_others_make_300(app, fireworks, aiml):
    backend = app.backends["fireworks"]
    original = backend.generate
    entered, release = threading.Event(), threading.Event()

    async def held(request, ctx):
        # The slow caller's Fireworks image waits here until the others are done.
        entered.set()
        while not release.is_set():
            await asyncio.sleep(0.02)
        return await original(request, ctx)

    client = Client(app.url, verbose=False)
    small = dict(aspect_ratio="Custom", width=64, height=64)
    backend.generate = held
    try:
        slow = client.submit(prompt="slow", backends=["aiml", "fireworks"], seed=777, **small, api_name="/generate")
        assert entered.wait(30)
        backend.generate = original  # only the slow call is held
        made, calls = 0, 0
        while made < 300 and calls < 150:  # in waves of 10 calls, so a loaded machine doesn't time them out
            wave = [
                client.submit(
                    prompt="busy", backends=["aiml"], num_images=4, seed=1000 + calls + i, **small, api_name="/generate"
                )
                for i in range(10)
            ]
            calls += len(wave)
            made += sum(len(job.result(timeout=300)[0]) for job in wave)
        assert made >= 300  # more than the 256 images the old shared store kept
    finally:
        backend.generate = original
        release.set()
    gallery, records = slow.result(timeout=60)
    assert sorted(r["backend"] for r in records if r["status"] == "ok") == ["aiml", "fireworks"]
    assert len(gallery) == 2
    for item in gallery:
        path = item["image"]["path"] if isinstance(item["image"], dict) else item["image"]
        assert read_params(path)["seed"] == 777
        with Image.open(path) as img:
            img.load()
