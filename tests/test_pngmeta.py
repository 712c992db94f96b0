"""PNG chunks: upstream bytes kept as they are, our chunks added; crafted restore files handled."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from backends.errors import NotAnImage
from backends.imaging import StoredImage, decode_image, read_image, validate_png
from images.pngmeta import CHUNK_KEY, BadPng, png_with_params, read_params, save_png
from runs.history import History

PARAMS = {
    "prompt": "a fox — in snow",
    "backend": "fireworks",
    "seed": 5,
    "width": 64,
    "height": 48,
    "aspect_ratio": "Custom",
    "num_inference_steps": 4,
    "guidance_scale": 3.5,
    "latency_s": 0.5,
}


def png_bytes(text: dict | None = None, size=(64, 48)) -> bytes:
    img = Image.effect_noise(size, 40).convert("RGB")
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    out = io.BytesIO()
    img.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    n = len(data) if length is None else length
    return struct.pack(">I", n) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def crafted(*extra: bytes) -> bytes:
    """A valid tiny PNG with ``extra`` chunks before IEND."""
    base = png_bytes(size=(4, 4))
    iend = base.rindex(b"IEND") - 4
    return base[:iend] + b"".join(extra) + base[iend:]


def test_upstream_png_bytes_are_kept_and_our_chunks_added(tmp_path):
    upstream = png_bytes({"parameters": "upstream's own text", CHUNK_KEY: '{"seed": 999}'})
    image = read_image(upstream)
    path = save_png(image, tmp_path / "a.png", PARAMS)
    written = path.read_bytes()
    idat = lambda data: [d for k, d in chunks(data) if k == b"IDAT"]  # noqa: E731
    assert idat(written) == idat(upstream)  # the image data is copied, not re-encoded
    assert read_params(path) == PARAMS
    with Image.open(path) as img:
        assert img.info["parameters"].startswith("a fox — in snow") and "upstream's own text" not in json.dumps(
            img.info
        )
        assert list(img.convert("RGB").getdata()) == list(decode_image(upstream).getdata())


def test_images_without_upstream_png_are_encoded_at_level_1(tmp_path):
    image = Image.effect_noise((64, 48), 40).convert("RGB")
    path = save_png(image, tmp_path / "b.png", PARAMS)
    assert read_params(path) == PARAMS
    resized = decode_image(png_bytes()).resize((32, 24))  # not the upstream's pixels any more
    path = save_png(resized, tmp_path / "c.png", {**PARAMS, "width": 32, "height": 24})
    with Image.open(path) as img:
        assert img.size == (32, 24)


def test_history_saves_upstream_bytes(tmp_path):
    upstream = png_bytes()
    entry = History(root=tmp_path).add(read_image(upstream), "cap", PARAMS)
    assert [d for k, d in chunks(entry.path.read_bytes()) if k == b"IDAT"] == [
        d for k, d in chunks(upstream) if k == b"IDAT"
    ]


def with_chunk_before_idat(png: bytes, extra: bytes) -> bytes:
    at = png.index(b"IDAT") - 4
    return png[:at] + extra + png[at:]


def test_no_upstream_ancillary_chunk_is_ever_served(tmp_path):
    # An iCCP profile named after a key, and text chunks holding one: none may reach a served file.
    key = b"sk-upstream-key-4f9a"
    upstream = with_chunk_before_idat(png_bytes(), chunk(b"iCCP", key + b"\0\0" + zlib.compress(b"profile")))
    upstream = with_chunk_before_idat(upstream, chunk(b"tEXt", b"Comment\0" + key))
    upstream = with_chunk_before_idat(upstream, chunk(b"zzKY", key))  # unknown ancillary chunk
    image = read_image(upstream)
    path = History(root=tmp_path).add(image, "cap", PARAMS).path
    written = path.read_bytes()
    assert key not in written and key not in image.data
    assert [k for k, _ in chunks(written)] == [b"IHDR", b"iTXt", b"iTXt", b"IDAT", b"IEND"]
    assert read_params(path) == PARAMS


def corrupt_idat_stream(png: bytes) -> bytes:
    """The image data's zlib stream damaged (a byte in its middle flipped), its chunk CRC recomputed."""
    kinds = chunks(png)
    out = png[:8]
    for kind, body in kinds:
        if kind == b"IDAT":
            body = body[: len(body) // 2] + bytes([body[len(body) // 2] ^ 0xFF]) + body[len(body) // 2 + 1 :]
        out += chunk(kind, body)
    return out


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p[:33] + bytes([p[33] ^ 1]) + p[34:],  # a byte of the first IDAT: its CRC fails
        corrupt_idat_stream,  # CRCs pass, the zlib stream does not inflate (or fails its checksum)
        lambda p: p[:16] + struct.pack(">II", 5000, 5000) + p[24:],  # huge IHDR (its CRC fails too)
        lambda p: p[: p.index(b"IEND") - 4],  # no IEND
        lambda p: p[:8] + p[p.index(b"IDAT") - 4 :],  # no IHDR
        lambda p: p[:8] + chunk(b"IHDR", p[16:29][:9] + b"\3" + p[16:29][10:]) + p[33:],  # palette, but no PLTE
    ],
)
def test_damaged_pngs_are_refused_without_decoding(damage):
    with pytest.raises(NotAnImage, match="damaged|not a PNG|larger"):
        read_image(damage(png_bytes(size=(64, 48))))


def test_the_pixel_cap_is_read_from_the_header():
    ihdr = struct.pack(">IIBBBBB", 8192, 8192, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"")
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    with pytest.raises(NotAnImage, match="larger than any FLUX image"):
        validate_png(png)


def test_splicing_refuses_a_saved_file_that_is_not_a_png(tmp_path):
    for name, data in (("gif", b"GIF89a...."), ("no-iend", png_bytes()[:-12])):
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        with pytest.raises(NotAnImage):
            png_with_params(StoredImage(path, 64, 48), PARAMS)


def itxt(key: str, text: bytes, compressed: bool = False) -> bytes:
    body = zlib.compress(text) if compressed else text
    return chunk(b"iTXt", key.encode() + b"\0" + (b"\1\0" if compressed else b"\0\0") + b"\0\0" + body)


@pytest.mark.parametrize(
    "name, data",
    [
        ("bad json", crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b"\0{not json"))),
        ("deep json", crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b"\0" + b"[" * 50_000))),
        ("a list", crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b"\0[1, 2]"))),
        ("not a png", b"GIF89a" + b"\0" * 100),
        ("html", b"<html>hello</html>"),
    ],
)
def test_crafted_files_raise_one_typed_error(tmp_path, name, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(BadPng):
        read_params(path)


@pytest.mark.parametrize(
    "name, data",
    [
        ("huge declared chunk", crafted(chunk(b"tEXt", b"x", length=2**31 - 1))),
        ("zTXt bomb", crafted(chunk(b"zTXt", CHUNK_KEY.encode() + b"\0\0" + zlib.compress(b"{" + b" " * 50_000_000)))),
        ("iTXt bomb", crafted(itxt(CHUNK_KEY, b'{"seed": 1' + b" " * 50_000_000 + b"}", compressed=True))),
        ("truncated", crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b'\0{"seed": 1}'))[:40]),
        ("empty dict", crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b"\0{}"))),
        ("all wrong types", crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b'\0{"seed": "x", "width": 1.5e300}'))),
        ("bad utf-8 iTXt", crafted(itxt(CHUNK_KEY, b'{"seed": \xff}'))),
        ("no chunk", png_bytes()),
    ],
)
def test_crafted_files_without_usable_settings_give_none(tmp_path, name, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    assert read_params(path) is None


def test_wrong_types_are_dropped_field_by_field(tmp_path):
    bad = {**PARAMS, "seed": "5; rm -rf", "width": True, "guidance_scale": float("nan"), "api_key": "sk-1"}
    path = tmp_path / "x.png"
    path.write_bytes(crafted(chunk(b"tEXt", CHUNK_KEY.encode() + b"\0" + json.dumps(bad).encode())))
    got = read_params(path)
    assert "seed" not in got and "width" not in got and "guidance_scale" not in got and "api_key" not in got
    assert got["prompt"] == PARAMS["prompt"] and got["backend"] == "fireworks"


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_bytes() + b"\0" * (17 * 1024 * 1024))
    with pytest.raises(BadPng, match="over 16 MB"):
        read_params(path)


def test_a_missing_file_is_none(tmp_path):
    assert read_params(tmp_path / "nope.png") is None


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF"])
def test_other_formats_are_stored_as_png_once_with_their_size(fmt):
    out = io.BytesIO()
    Image.effect_noise((40, 24), 40).convert("RGB").save(out, format=fmt)
    image = read_image(out.getvalue())
    assert image.size == (40, 24) and image.data.startswith(b"\x89PNG")
    assert [k for k, _ in chunks(image.data)][0] == b"IHDR"


def test_a_jpeg_over_the_pixel_cap_is_refused_from_its_header():
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, format="JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    for side in (5000, 60000):  # over our cap; over Pillow's own too
        data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)  # height, width in the frame header
        with pytest.raises(NotAnImage, match="larger than any FLUX image"):
            read_image(bytes(data))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_every_valid_png_mode_passes_the_check(mode):
    out = io.BytesIO()
    Image.effect_noise((37, 23), 40).convert("RGB").convert(mode).save(out, format="PNG")
    assert read_image(out.getvalue()).size == (37, 23)


def test_an_interlaced_png_passes_the_check():
    """Adam7, 8-bit grey, 13×9: each pass's rows as the spec sizes them; Pillow decodes it too."""
    width, height = 13, 9
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b""
    for x0, y0, dx, dy in passes:
        w, h = len(range(x0, width, dx)), len(range(y0, height, dy))
        raw += b"".join(b"\0" + bytes(range(w)) for _ in range(h)) if w else b""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    assert decode_image(png).size == (width, height)
    assert read_image(png).size == (width, height)
    with pytest.raises(NotAnImage):  # one row short
        read_image(png.replace(chunk(b"IDAT", zlib.compress(raw)), chunk(b"IDAT", zlib.compress(raw[:-3]))))
