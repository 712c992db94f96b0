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
#: Where a decoded PNG keeps the bytes it came from, so the history can save them as they are
#: (adding its text chunks) instead of re-encoding: ~0.16 s per 1024² image saved.
SOURCE_PNG = "flux-playground.source-png"


def source_png(image: Image.Image) -> bytes | None:
    """The PNG bytes ``image`` was decoded from, if it still has exactly their size."""
    data = image.info.get(SOURCE_PNG)
    if not isinstance(data, bytes) or len(data) < 24 or sniff(data) != "png":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return data if (width, height) == image.size else None  # a resized copy must be encoded anew


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
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise NotAnImage(f"the {source} is {img.width}×{img.height}, larger than any FLUX image")
        img.load()  # decodes every pixel: a damaged image fails here, not later in someone else's code
        out = img.convert("RGB") if img.mode not in ("RGB", "RGBA") else img  # no copy of 3 MB of pixels
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
        raise NotAnImage(f"the {source} is a damaged image: {err}") from err
    # Only the decoded pixels and our own key: nothing an upstream put in its text chunks.
    out.info = {SOURCE_PNG: bytes(data)} if sniff(data) == "png" else {}
    return out


def decode_base64_image(text: str, source: str = "reply") -> Image.Image:
    """Decode base64 image text, with or without a ``data:image/...;base64,`` prefix."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as err:
        raise NotAnImage(f"the {source} has invalid base64 image data") from err
    return decode_image(data, source)
