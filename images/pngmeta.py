"""Generation parameters in a PNG text chunk, written on save and read back on drop.

Saving writes a checked PNG's kept chunks as they are (views into the upstream's reply, see
backends.imaging) with our text chunks inserted before the first IDAT, where every reader
(Pillow's ``info`` included) finds them without decoding: one ``writelines``, no joined copy,
no re-encoding. Reading trusts nothing: a dropped file may be crafted, so it is parsed chunk
by chunk within small limits and never decoded as an image.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

from PIL import Image

from backends.imaging import PNG_SIGNATURE, EncodedImage, StoredImage, validate_png

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
MAX_READ_BYTES = 16 * 1024 * 1024  # a restore PNG is read at most this far (the upload cap is 10 MB)
MAX_TEXT_BYTES = 64 * 1024  # our chunk is a few hundred bytes; a bigger one is not ours


class BadPng(ValueError):
    """A file dropped on Restore that is not a readable playground PNG; the message says why."""


# --- writing --------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _itxt(key: str, text: str) -> bytes:
    # iTXt, uncompressed, UTF-8: prompts are not Latin-1.
    return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def text_chunks(params: dict) -> list[tuple[str, str]]:
    """Our two text chunks: the JSON of the whitelisted fields, and an A1111-style summary."""
    data = json.dumps({k: params[k] for k in FIELDS if k in params})
    summary = (
        f"{params.get('prompt', '')}\nSteps: {params.get('num_inference_steps')}, "
        f"Seed: {params.get('seed')}, Size: {params.get('width')}x{params.get('height')}, "
        f"Model: FLUX.1 [schnell] via {params.get('backend')}"
    )
    return [(CHUNK_KEY, data), ("parameters", summary)]


def write_png(image: EncodedImage, path: Path, params: dict) -> Path:
    """Write a checked PNG with ``params`` (whitelisted) in text chunks: one ``writelines`` of views, no copy."""
    with open(path, "wb") as f:
        f.writelines(image.parts([_itxt(key, text) for key, text in text_chunks(params)]))
    return path


def _encoded(image: Image.Image | EncodedImage | StoredImage) -> EncodedImage:
    """``image`` as checked PNG chunks: a saved file's are read back (checked when first written, so only
    the chunk structure again), pixels (a PIL image) are encoded at level 1."""
    if isinstance(image, StoredImage):
        return validate_png(image.data, "saved image", check_pixels=False)
    if not isinstance(image, EncodedImage):
        return EncodedImage.from_pil(image)
    return image


def save_png(image: Image.Image | EncodedImage | StoredImage, path: Path, params: dict) -> Path:
    """Write ``image`` as PNG with ``params`` in text chunks."""
    return write_png(_encoded(image), path, params)


def png_with_params(image: Image.Image | EncodedImage | StoredImage, params: dict) -> bytes:
    """``image`` as PNG bytes with ``params`` in text chunks: the same file ``save_png`` writes."""
    return b"".join(_encoded(image).parts([_itxt(key, text) for key, text in text_chunks(params)]))


# --- reading --------------------------------------------------------------------------------
def _text_of(kind: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt/zTXt/iTXt chunk, with decompression bounded; None if malformed."""
    key, sep, rest = data.partition(b"\0")
    if not sep or not 1 <= len(key) <= 79:
        return None
    try:
        keyword = key.decode("latin-1")
        if kind == b"tEXt":
            return keyword, rest.decode("latin-1")
        if kind == b"zTXt":
            return keyword, _inflate(rest[1:]).decode("latin-1")
        compressed, method = rest[:1], rest[1:2]
        _lang, _, rest = rest[2:].partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        if compressed == b"\1":
            if method != b"\0":
                return None
            text = _inflate(text)
        return keyword, text.decode("utf-8")
    except (UnicodeDecodeError, zlib.error, BadPng):
        return None


def _inflate(data: bytes) -> bytes:
    z = zlib.decompressobj()
    out = z.decompress(data, MAX_TEXT_BYTES + 1)
    if len(out) > MAX_TEXT_BYTES:
        raise BadPng("a text chunk inflates past its limit")  # a decompression bomb
    return out


def _find_text(data: bytes, wanted: str) -> str | None:
    """The last ``wanted`` text chunk in a PNG's bytes (the one we add comes last)."""
    if not data.startswith(PNG_SIGNATURE):
        raise BadPng("that file is not a PNG")
    found = None
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            break  # truncated: use what was read so far
        if kind in (b"tEXt", b"zTXt", b"iTXt") and length <= MAX_TEXT_BYTES + 1024:
            text = _text_of(kind, body)
            if text and text[0] == wanted:
                found = text[1]
        if kind == b"IEND":
            break
        pos += 12 + length
    return found


def _clean(data: dict) -> dict:
    """Only known fields of the right type; a crafted value is dropped, never passed on."""
    out: dict = {}
    for key in FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key in ("prompt", "backend", "aspect_ratio"):
            if isinstance(value, str) and len(value) <= 4000:
                out[key] = value
        elif key in ("seed", "width", "height", "num_inference_steps"):
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
                out[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = value
        elif value is None and key == "latency_s":
            out[key] = None
    return out


def read_params(path: str | Path) -> dict | None:
    """The parameters a playground PNG carries; None if it is a PNG that carries none.

    Raises BadPng (one message for the UI's one warning) for a file that is not a PNG,
    too big, or whose playground chunk is damaged. Never anything else for a bad file.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_READ_BYTES:
        raise BadPng(f"that file is over {MAX_READ_BYTES >> 20} MB")
    raw = _find_text(data, CHUNK_KEY)
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise BadPng("its playground settings are damaged") from err
    if not isinstance(parsed, dict):
        raise BadPng("its playground settings are damaged")
    cleaned = _clean(parsed)
    return cleaned or None
