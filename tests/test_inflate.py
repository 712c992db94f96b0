"""The PNG check's inflate, with ISA-L (python-isal) and with zlib when isal is missing: the same bounds and the
same errors either way (backends/imaging.py)."""

from __future__ import annotations

import struct
import zlib

import pytest

from backends import imaging
from backends.errors import NotAnImage
from backends.imaging import read_image
from tests.test_pngmeta import chunk, chunks, corrupt_idat_stream, png_bytes


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """Each test once with ISA-L and once as if isal were not installed."""
    if request.param == "isal":
        from isal import isal_zlib

        assert imaging.inflate_lib is isal_zlib  # installed (requirements.txt): the check uses it
    else:
        monkeypatch.setattr(imaging, "inflate_lib", zlib)
    return request.param


def with_idat(png: bytes, data: bytes) -> bytes:
    """``png`` with its image data replaced by ``data`` (one IDAT, valid CRCs)."""
    out, done = png[:8], False
    for kind, body in chunks(png):
        if kind == b"IDAT":
            if not done:
                out += chunk(b"IDAT", data)
                done = True
            continue
        out += chunk(kind, body)
    return out


def raw_rows(png: bytes) -> bytes:
    return zlib.decompress(b"".join(body for kind, body in chunks(png) if kind == b"IDAT"))


def test_a_good_png_passes_either_way(inflater):
    png = png_bytes(size=(64, 48))
    assert read_image(png).size == (64, 48)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (corrupt_idat_stream, "does not inflate"),
        (lambda p: with_idat(p, zlib.compress(raw_rows(p))[:-30]), "truncated"),
        (lambda p: with_idat(p, zlib.compress(raw_rows(p) + bytes(5000))), "longer than its size"),
        (lambda p: with_idat(p, zlib.compress(raw_rows(p)[:-10])), "truncated"),
        (lambda p: with_idat(p, zlib.compress(raw_rows(p))[:-4] + struct.pack(">I", 1)), "does not inflate"),
    ],
    ids=["flipped-byte", "cut-stream", "bomb", "short-data", "bad-adler32"],
)
def test_damaged_image_data_is_refused_with_the_same_error_either_way(inflater, damage, words):
    with pytest.raises(NotAnImage, match=words):
        read_image(damage(png_bytes(size=(64, 48))))


def test_a_bomb_stops_at_the_expected_size_either_way(inflater):
    # 64×48 RGB needs 9,264 bytes; a stream inflating to 50 MB stops after one step, not at its end.
    png = png_bytes(size=(64, 48))
    bomb = with_idat(png, zlib.compress(bytes(50_000_000), 9))
    with pytest.raises(NotAnImage, match="longer than its size"):
        read_image(bomb)
