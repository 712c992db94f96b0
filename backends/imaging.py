"""Turning reply bytes into checked images, trusting magic bytes rather than declared types.

A PNG reply is validated without decoding a pixel: signature, IHDR size against the pixel
cap, every chunk's CRC, and an inflate of its image data (checked and thrown away, in the
caller's worker thread: the inflater releases the GIL). The inflate is ISA-L's (python-isal's
zlib-compatible ``isal_zlib``, about 4× zlib's speed) where it is installed, else zlib's. Only its
critical chunks are kept, as views into the reply, so nothing an upstream wrote in text, EXIF or
colour-profile chunks (an iCCP profile name, say) is ever served. Other formats are decoded and encoded as PNG once.
Pixels are decoded later, only where they are drawn on (contact and grid sheets).
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from backends.errors import NotAnImage

try:  # the same stream, bounds and checksums as zlib; about 4× faster on image data (issue 27)
    from isal import isal_zlib as inflate_lib
except ImportError:  # not installed: zlib, same results
    inflate_lib = zlib

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"RIFF": "webp",  # checked further below
    b"GIF8": "gif",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 4096 * 4096  # far above any FLUX size; stops decompression bombs
#: The chunks a served PNG keeps: the critical ones. Every ancillary chunk is dropped, since any
#: of them (tEXt, iTXt, eXIf, an iCCP profile's name) can carry what an upstream should not pass on.
KEPT_CHUNKS = (b"IHDR", b"PLTE", b"IDAT", b"IEND")
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20  # bytes of inflated data held at once while checking


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with, or None."""
    for magic, fmt in _MAGIC.items():
        if data.startswith(magic):
            if fmt == "webp" and data[8:12] != b"WEBP":
                return None
            return fmt
    return None


@dataclass(frozen=True, eq=False)
class EncodedImage:
    """A validated PNG, held as views of its kept chunks into the bytes it came in (no copy)."""

    chunks: tuple[memoryview, ...]  # IHDR first, IEND last, critical chunks only
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def parts(self, extra: Sequence[bytes] = ()) -> list[bytes | memoryview]:
        """The file as pieces for ``writelines``: ``extra`` chunks go just before the first IDAT."""
        out: list[bytes | memoryview] = [PNG_SIGNATURE]
        for chunk in self.chunks:
            if extra and chunk[4:8] == b"IDAT":
                out += extra
                extra = ()
            out.append(chunk)
        return out

    @property
    def data(self) -> bytes:
        """The PNG as one bytes object (a copy; writing uses ``parts`` instead)."""
        return b"".join(self.parts())

    def decode(self) -> Image.Image:
        """The pixels, decoded now (in the caller's thread): for drawing sheets, never for serving."""
        return decode_image(self.data, "image")

    @classmethod
    def from_pil(cls, image: Image.Image) -> EncodedImage:
        """Encode pixels we made (the local GPU's) once, at compress level 1: several times faster than the default."""
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        return validate_png(buf.getvalue(), "encoded image", check_pixels=False)


@dataclass(frozen=True)
class StoredImage:
    """An image already written to disk: its size and where it is, no bytes held (what sessions keep)."""

    path: Path
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def data(self) -> bytes:
        return Path(self.path).read_bytes()

    def decode(self) -> Image.Image:
        return decode_image(self.data, "saved image")


def _damaged(source: str, why: str) -> NotAnImage:
    return NotAnImage(f"the {source} is a damaged image: {why}")


def _raw_size(width: int, height: int, depth: int, channels: int, interlaced: bool) -> int:
    """Bytes the image data must inflate to: each row's filter byte plus its packed samples."""

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * channels * depth + 7) // 8)

    if not interlaced:
        return rows(width, height)
    return sum(
        rows((width - x0 + dx - 1) // dx if width > x0 else 0, (height - y0 + dy - 1) // dy if height > y0 else 0)
        for x0, y0, dx, dy in _ADAM7
    )


def _check_ihdr(body: memoryview, source: str) -> tuple[int, int, int, bool]:
    """(width, height, bytes the image data inflates to, needs a palette) from a valid IHDR, else NotAnImage."""
    if len(body) != 13:
        raise _damaged(source, "its header chunk has the wrong size")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not width or not height:
        raise _damaged(source, "it has no pixels")
    if width * height > MAX_PIXELS:
        raise NotAnImage(f"the {source} is {width}×{height}, larger than any FLUX image")
    if depth not in _DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise _damaged(source, "its header is invalid")
    return width, height, _raw_size(width, height, depth, _CHANNELS[colour], interlace == 1), colour == 3


def _check_inflates(idats: list[memoryview], expected: int, source: str) -> None:
    """Inflate the image data in steps (a bomb stops at ``expected``), checking its size and checksum.

    Chunk CRCs pass on a stream that was damaged before it was chunked; this catches that
    without building an image (~10 ms per 1024² image with zlib, ~3 ms with ISA-L, with the GIL released).
    """
    inflater = inflate_lib.decompressobj()
    total = 0
    try:
        for chunk in idats:
            pending: bytes | memoryview = chunk[8:-4]
            while pending and not inflater.eof:
                total += len(inflater.decompress(pending, _INFLATE_STEP))
                if total > expected:
                    raise _damaged(source, "its image data is longer than its size")
                pending = inflater.unconsumed_tail
        total += len(inflater.flush())
    except (zlib.error, inflate_lib.error) as err:
        raise _damaged(source, f"its image data does not inflate ({err})") from err
    if not inflater.eof or total != expected:
        raise _damaged(source, "its image data is truncated")


def validate_png(data: bytes, source: str = "reply", check_pixels: bool = True) -> EncodedImage:
    """Check a PNG's structure without decoding it; keep only its critical chunks. Raises NotAnImage.

    ``check_pixels`` also inflates the image data (skip it only for PNGs we encoded ourselves).
    """
    view = memoryview(data)
    if not data.startswith(PNG_SIGNATURE):
        raise NotAnImage(f"the {source} is not a PNG")
    pos, kept, idats, size = len(PNG_SIGNATURE), [], [], None
    last = b""
    while True:
        if pos + 12 > len(data):
            raise _damaged(source, "it ends before its last chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 2**31 - 1 or end > len(data) or not kind.isalpha():
            raise _damaged(source, "a chunk runs past the end of the file")
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:  # over type and body; releases the GIL
            raise _damaged(source, f"its {kind.decode('ascii')} chunk fails its CRC")
        if size is None and kind != b"IHDR":
            raise _damaged(source, "it does not start with a header chunk")
        if kind == b"IHDR":
            if size is not None:
                raise _damaged(source, "it has two header chunks")
            size = _check_ihdr(view[pos + 8 : end - 4], source)
        elif kind == b"IDAT" and idats and last != b"IDAT":
            raise _damaged(source, "its image data is split")
        elif kind[:1].isupper() and kind not in KEPT_CHUNKS:
            raise _damaged(source, f"it has an unknown critical chunk {kind!r}")
        if kind in KEPT_CHUNKS:
            kept.append(view[pos:end])
        if kind == b"IDAT":
            idats.append(view[pos:end])
        if kind == b"IEND":
            break
        last, pos = kind, end
    width, height, expected, needs_palette = size
    if not idats:
        raise _damaged(source, "it has no image data")
    if needs_palette and not any(c[4:8] == b"PLTE" for c in kept):
        raise _damaged(source, "its palette is missing")
    if check_pixels:
        _check_inflates(idats, expected, source)
    return EncodedImage(tuple(kept), width, height)


def _convert(data: bytes, source: str) -> EncodedImage:
    """A JPEG/WebP/GIF reply: size checked from its header, then decoded and stored as PNG once."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:  # read from the header, before any pixel
                raise NotAnImage(f"the {source} is {img.width}×{img.height}, larger than any FLUX image")
            img.load()
            pixels = img.convert("RGB") if img.mode not in ("RGB", "RGBA") else img
            return EncodedImage.from_pil(pixels)
    except Image.DecompressionBombError as err:  # Pillow's own cap, far above ours, checked on open
        raise NotAnImage(f"the {source} is larger than any FLUX image ({err})") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise _damaged(source, str(err)) from err


def read_image(data: bytes, source: str = "reply") -> EncodedImage:
    """Checked image bytes, ready to save and serve; raises NotAnImage saying what came instead.

    Blocking (tens of ms for a 1024² image): call it in a worker thread.
    """
    fmt = sniff(data)
    if fmt is None:
        preview = data[:40].decode("utf-8", "replace").strip()
        raise NotAnImage(f"the {source} is not an image ({len(data)} bytes starting {preview!r})")
    return validate_png(data, source) if fmt == "png" else _convert(data, source)


def _b64(text: str, source: str) -> bytes:
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as err:
        raise NotAnImage(f"the {source} has invalid base64 image data") from err


def read_base64_image(text: str, source: str = "reply") -> EncodedImage:
    """``read_image`` for base64 text, with or without a ``data:image/...;base64,`` prefix."""
    return read_image(_b64(text, source), source)


def decode_image(data: bytes, source: str = "reply") -> Image.Image:
    """Decode image bytes fully (every pixel), or raise NotAnImage: for drawing on, never on the serving path."""
    if sniff(data) is None:
        preview = data[:40].decode("utf-8", "replace").strip()
        raise NotAnImage(f"the {source} is not an image ({len(data)} bytes starting {preview!r})")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise NotAnImage(f"the {source} is {img.width}×{img.height}, larger than any FLUX image")
        img.load()  # a damaged image fails here, not later in someone else's code
        out = img.convert("RGB") if img.mode not in ("RGB", "RGBA") else img  # no copy of 3 MB of pixels
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
        raise _damaged(source, str(err)) from err
    out.info = {}  # nothing an upstream put in its text chunks
    return out
