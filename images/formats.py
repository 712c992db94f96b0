"""The output formats a served image can take: PNG (with our text chunks), WebP or JPEG at a quality.

No Gradio, no HTTP: bytes in, bytes out, run in a worker thread.
"""

from __future__ import annotations

import io

from PIL import Image

FORMATS = ("png", "webp", "jpeg")
MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
DEFAULT_COMPRESSION = 100  # OpenAI's default: the least lossy


def encode(image: Image.Image | bytes, fmt: str = "png", compression: int = DEFAULT_COMPRESSION) -> bytes:
    """``image`` (pixels, or encoded bytes) as ``fmt``; ``compression`` 0–100 is the quality of webp and jpeg.

    PNG bytes given for PNG are returned as they are, so text chunks already in them stay.
    """
    if fmt not in FORMATS:
        raise ValueError(f"output format {fmt!r} is not one of {', '.join(FORMATS)}")
    if isinstance(image, bytes):
        if fmt == "png" and image.startswith(b"\x89PNG\r\n\x1a\n"):
            return image
        image = Image.open(io.BytesIO(image))
        image.load()
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG")
    elif fmt == "webp":
        # 100 is WebP's lossless mode, as OpenAI's "0–100, 100 least compressed" implies.
        image.convert("RGB").save(buf, format="WEBP", quality=compression, lossless=compression >= 100)
    else:
        image.convert("RGB").save(buf, format="JPEG", quality=max(1, compression), optimize=True)
    return buf.getvalue()
