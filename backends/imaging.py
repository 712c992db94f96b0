"""Turning reply bytes into images, trusting magic bytes rather than declared types."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

from backends.errors import NotAnImage

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"RIFF": "webp",  # checked further below
    b"GIF8": "gif",
}
MAX_PIXELS = 4096 * 4096  # far above any FLUX size; stops decompression bombs


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with, or None."""
    for magic, fmt in _MAGIC.items():
        if data.startswith(magic):
            if fmt == "webp" and data[8:12] != b"WEBP":
                return None
            return fmt
    return None


def decode_image(data: bytes, source: str = "reply") -> Image.Image:
    """Decode image bytes fully, or raise NotAnImage saying what came instead."""
    if sniff(data) is None:
        preview = data[:40].decode("utf-8", "replace").strip()
        raise NotAnImage(f"the {source} is not an image ({len(data)} bytes starting {preview!r})")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise NotAnImage(f"the {source} is {img.width}×{img.height}, larger than any FLUX image")
            img.load()
            return img.convert("RGB") if img.mode not in ("RGB", "RGBA") else img.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise NotAnImage(f"the {source} is a damaged image: {err}") from err


def decode_base64_image(text: str, source: str = "reply") -> Image.Image:
    """Decode base64 image text, with or without a ``data:image/...;base64,`` prefix."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as err:
        raise NotAnImage(f"the {source} has invalid base64 image data") from err
    return decode_image(data, source)
