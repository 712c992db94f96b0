"""Generation parameters in a PNG text chunk, written on save and read back on drop."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, PngImagePlugin

CHUNK_KEY = "flux-playground"
# Only these keys are written, so nothing else (keys, paths) can slip into a file.
FIELDS = (
    "prompt",
    "backend",
    "seed",
    "width",
    "height",
    "aspect_ratio",
    "num_inference_steps",
    "guidance_scale",
    "latency_s",
)


def save_png(image: Image.Image, path: Path, params: dict) -> Path:
    """Write ``image`` as PNG with ``params`` (whitelisted) in a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text(CHUNK_KEY, json.dumps({k: params[k] for k in FIELDS if k in params}))
    # A1111-style "parameters" too, so other tools show something readable.
    info.add_text(
        "parameters",
        f"{params.get('prompt', '')}\nSteps: {params.get('num_inference_steps')}, "
        f"Seed: {params.get('seed')}, Size: {params.get('width')}x{params.get('height')}, "
        f"Model: FLUX.1 [schnell] via {params.get('backend')}",
    )
    image.save(path, format="PNG", pnginfo=info)
    return path


def read_params(path: str | Path) -> dict | None:
    """The parameters a playground PNG carries, or None if it carries none."""
    try:
        with Image.open(path) as img:
            raw = img.info.get(CHUNK_KEY) if img.format == "PNG" else None
    except OSError:
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return {k: data[k] for k in FIELDS if k in data} if isinstance(data, dict) else None
