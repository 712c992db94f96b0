"""One labelled PNG for an X/Y grid: axis titles and values, a captioned image per cell.

Failed cells are drawn as grey placeholders that say why, so the grid keeps its shape.
The grid's parameters go into a PNG text chunk, so the file says what it shows.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from backends.errors import NotAnImage
from backends.imaging import EncodedImage, StoredImage

CELL = 384  # longest side of a cell's image: 4 columns stay under 2,000 px wide
PAD = 14
CAPTION_H = 50  # two caption lines
HEADER_H = 40  # column values
ROW_LABEL_W = 170
BG, FG, MUTED, FAIL_BG, RULE = (255, 255, 255), (20, 20, 20), (95, 95, 95), (232, 232, 232), (200, 200, 200)
GRID_KEY = "flux-playground-grid"


@dataclass(frozen=True)
class GridCell:
    column: int
    row: int
    caption: str  # "Fireworks · seed 42"
    detail: str  # "4 steps · 0.84 s · $0.0014"
    image: Image.Image | EncodedImage | StoredImage | None = None  # decoded only when drawn
    error: str | None = None  # why there is no image


def _pixels(cell: GridCell) -> tuple[Image.Image | None, str | None]:
    """The cell's decoded pixels (decoding them now), or why there are none."""
    if cell.image is None or isinstance(cell.image, Image.Image):
        return cell.image, cell.error
    try:
        return cell.image.decode(), None
    except NotAnImage as err:
        return None, str(err)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def _clip(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _fit(image: Image.Image) -> Image.Image:
    scale = CELL / max(image.size)
    return image.convert("RGB").resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def grid_sheet(
    prompt: str,
    x_title: str,
    x_labels: list[str],
    y_title: str | None,
    y_labels: list[str],
    cells: list[GridCell],
) -> Image.Image:
    """The grid: title lines, a header row of x values, then a row per y value with its label."""
    rows = max(1, len(y_labels))
    cols = len(x_labels)
    title_font, head_font, cap_font, small = _font(22), _font(19), _font(16), _font(14)
    title_lines = textwrap.wrap(prompt, width=40 + 30 * cols)[:2] or [""]
    axes_line = f"Columns: {x_title}" + (f"   Rows: {y_title}" if y_title else "")
    title_h = PAD + 30 * len(title_lines) + 28 + PAD
    left = ROW_LABEL_W if y_title else PAD
    cell_w, cell_h = CELL + PAD, CELL + CAPTION_H + PAD
    width = left + cols * cell_w + PAD
    height = title_h + HEADER_H + rows * cell_h + PAD
    sheet = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(sheet)
    draw.multiline_text((PAD, PAD), "\n".join(title_lines), fill=FG, font=title_font, spacing=8)
    draw.text((PAD, PAD + 30 * len(title_lines) + 4), axes_line, fill=MUTED, font=head_font)
    top = title_h + HEADER_H
    for c, label in enumerate(x_labels):
        x = left + c * cell_w
        text = _clip(draw, f"{x_title}: {label}", head_font, CELL)
        draw.text((x + (CELL - draw.textlength(text, font=head_font)) / 2, title_h + 8), text, fill=FG, font=head_font)
    for r, label in enumerate(y_labels if y_title else []):
        y = top + r * cell_h
        lines = textwrap.wrap(f"{y_title}: {label}", width=16)[:4]
        draw.multiline_text((PAD, y + CELL / 2 - 12 * len(lines)), "\n".join(lines), fill=FG, font=head_font)
        if r:
            draw.line([(PAD, y - PAD // 2), (width - PAD, y - PAD // 2)], fill=RULE, width=1)
    for cell in cells:
        x, y = left + cell.column * cell_w, top + cell.row * cell_h
        pixels, error = _pixels(cell)
        if pixels is not None:
            img = _fit(pixels)
            sheet.paste(img, (x + (CELL - img.width) // 2, y + (CELL - img.height) // 2))
        else:
            draw.rectangle([x, y, x + CELL, y + CELL], fill=FAIL_BG, outline=RULE)
            draw.text((x + PAD, y + PAD), "failed", fill=FG, font=head_font)
            wrapped = "\n".join(textwrap.wrap(error or "no image", width=40)[:10])
            draw.multiline_text((x + PAD, y + PAD + 30), wrapped, fill=MUTED, font=small, spacing=4)
        draw.text((x, y + CELL + 6), _clip(draw, cell.caption, cap_font, CELL), fill=FG, font=cap_font)
        draw.text((x, y + CELL + 27), _clip(draw, cell.detail, small, CELL), fill=MUTED, font=small)
    return sheet


def save_grid(sheet: Image.Image, path: Path, params: dict) -> Path:
    """Write the grid as PNG with ``params`` (the grid's settings and cells) in a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text(GRID_KEY, json.dumps(params))
    sheet.save(path, format="PNG", pnginfo=info)
    return path
