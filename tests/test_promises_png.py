"""Issue 29, item 33: a reply whose PLTE or IEND chunk fails its CRC is refused by the PNG check,
which no inflate of the image data would notice (neither chunk holds image data)."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from backends.errors import NotAnImage
from backends.imaging import read_image


def palette_png() -> bytes:
    """A small palette PNG (IHDR, PLTE, IDAT, IEND), as an upstream could send."""
    out = io.BytesIO()
    Image.new("P", (16, 16), 3).save(out, "PNG")
    return out.getvalue()


def with_bad_crc(data: bytes, kind: bytes) -> bytes:
    """``data`` with the CRC of its ``kind`` chunk flipped in one bit, everything else intact."""
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] == kind:
            return data[: end - 1] + bytes([data[end - 1] ^ 1]) + data[end:]
        pos = end
    raise AssertionError(f"no {kind!r} chunk")


def test_the_palette_png_itself_is_read():
    assert read_image(palette_png()).size == (16, 16)  # the fixture is sound: only the CRC makes the difference below


@pytest.mark.parametrize("kind", [b"PLTE", b"IEND"])
def test_a_bad_crc_on_a_chunk_without_image_data_is_refused(kind):
    with pytest.raises(NotAnImage, match=f"its {kind.decode()} chunk fails its CRC"):
        read_image(with_bad_crc(palette_png(), kind))
