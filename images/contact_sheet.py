"""One PNG that shows a comparison: the prompt, then one labelled tile per backend."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

TILE = 512  # longest side of a tile's image
PAD = 16
LABEL_H = 56
BG, FG, MUTED, FAIL_BG = (255, 255, 255), (20, 20, 20), (90, 90, 90), (236, 236, 236)


@dataclass(frozen=True)
class Tile:
    label: str  # "Fireworks · seed 42 · 1024×1024 · 0.84 s"
    image: Image.Image | None
    error: str | None = None


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def _fit(image: Image.Image) -> Image.Image:
    scale = TILE / max(image.size)
    return image.convert("RGB").resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def contact_sheet(prompt: str, tiles: list[Tile]) -> Image.Image:
    """Tiles side by side under the prompt, each with its label underneath."""
    title_lines = textwrap.wrap(prompt, width=max(40, 60 * len(tiles))) or [""]
    title_h = PAD + 26 * min(len(title_lines), 4) + PAD
    width = PAD + len(tiles) * (TILE + PAD)
    height = title_h + TILE + LABEL_H + PAD
    sheet = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(sheet)
    draw.multiline_text((PAD, PAD), "\n".join(title_lines[:4]), fill=FG, font=_font(20), spacing=6)
    for i, tile in enumerate(tiles):
        x = PAD + i * (TILE + PAD)
        if tile.image is not None:
            img = _fit(tile.image)
            sheet.paste(img, (x + (TILE - img.width) // 2, title_h + (TILE - img.height) // 2))
        else:
            draw.rectangle([x, title_h, x + TILE, title_h + TILE], fill=FAIL_BG)
            wrapped = "\n".join(textwrap.wrap(tile.error or "no image", width=44)[:8])
            draw.multiline_text((x + PAD, title_h + PAD), wrapped, fill=MUTED, font=_font(16), spacing=4)
        draw.text((x, title_h + TILE + 10), tile.label, fill=FG, font=_font(17))
    return sheet


SHEET_KEY = "flux-playground-comparison"


def sheet_pnginfo(prompt: str, tiles: list[Tile]) -> PngImagePlugin.PngInfo:
    """The sheet's prompt and tile labels as a PNG text chunk, so the file says what it shows."""
    import json

    info = PngImagePlugin.PngInfo()
    info.add_text(SHEET_KEY, json.dumps({"prompt": prompt, "tiles": [t.label for t in tiles]}))
    return info
