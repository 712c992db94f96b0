"""Helpers shared by the tests (and scripts/ that drive the page): plain functions, no fixtures.

Fixtures live in tests/conftest.py. Nothing here is product code: the product never imports it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from pathlib import Path

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from PIL import Image
from playwright.sync_api import expect

from backends import GenerationRequest, RunContext
from backends.redact import base64_forms
from images.grid_sheet import GRID_KEY
from images.pngmeta import png_with_params


# --- images ---------------------------------------------------------------------------------
def png(width: int = 8, height: int = 6, color: object = (10, 20, 30), params: dict | None = None) -> bytes:
    """A small PNG as an encoder writes it; with ``params``, the file the app saves (its text chunks in)."""
    image = Image.new("RGB", (width, height), color)
    if params:
        return png_with_params(image, params)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def read_grid_params(path: str | Path) -> dict | None:
    """The settings a saved grid sheet carries in its text chunk (nothing in the app reads them back)."""
    with Image.open(path) as img:
        raw = img.info.get(GRID_KEY)
    return json.loads(raw) if raw else None


# --- backends -------------------------------------------------------------------------------
def gen(backend, ctx: RunContext | None = None, **kw):
    """One generate call on ``backend`` (a red fox, 256×192, seed 7 unless ``kw`` says otherwise)."""
    base = dict(prompt="a red fox", width=256, height=192, seed=7)
    base.update(kw)
    return asyncio.run(backend.generate(GenerationRequest(**base), ctx or RunContext()))


def posts(fake) -> list[dict]:
    """The POSTs a fake server was sent (image downloads are GETs), dropped ones included."""
    return [r for r in fake.requests if r["method"] == "POST"]


class Waits:
    """An injected sleep: records the wait it was given and returns at once."""

    def __init__(self) -> None:
        self.given: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.given.append(seconds)


class Clock:
    """An injected clock that moves only when a test sets ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def leaks(text: str, key: str) -> list[str]:
    """Any 8 characters of ``key`` (any case) or 12 of a base64 form of it, found in ``text``."""
    low, found = text.lower(), []
    found += [key[i : i + 8] for i in range(len(key) - 7) if key.lower()[i : i + 8] in low]
    found += [f[i : i + 12] for f in base64_forms(key) for i in range(len(f) - 11) if f[i : i + 12] in text]
    return found


# --- MCP ------------------------------------------------------------------------------------
async def call(url: str, name: str | None = None, progress: bool = False, **arguments):
    """List the app's MCP tools, and call ``name`` if given; returns (tools, result)."""
    async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            result = None
            if name:

                async def on_progress(done, total, message):
                    pass

                kw = {"progress_callback": on_progress} if progress else {}
                result = await session.call_tool(name, arguments, **kw)
            return tools, result


def images(result) -> list[Image.Image]:
    """The images of an MCP tool result."""
    return [Image.open(io.BytesIO(base64.b64decode(c.data))) for c in result.content if c.type == "image"]


def texts(result) -> list[str]:
    """The texts of an MCP tool result."""
    return [c.text for c in result.content if c.type == "text"]


# --- the page in a browser (Playwright's sync API) ------------------------------------------
def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    expect(page.locator("#backend-status")).to_contain_text("Fireworks")


def tick(page, *labels: str) -> None:
    """Tick exactly these backends."""
    group = page.locator("#backends")
    for label in ("Local FP8", "Fireworks", "AI/ML API"):
        box = group.get_by_label(label, exact=True)
        if (label in labels) != box.is_checked():
            box.click()


def set_number(page, elem_id: str, value) -> None:
    """Type a value; for width and height, wait for the size handler's reply, so none lands later."""
    field = page.locator(f"#{elem_id} input[type=number]").first
    if elem_id not in ("width", "height") or field.input_value() == str(value):
        field.fill(str(value))
        field.press("Enter")
        return
    with page.expect_response(lambda r: r.url.endswith("/gradio_api/run/predict"), timeout=30_000):
        field.fill(str(value))
    field.press("Enter")


def runs_done(page) -> int:
    match = re.search(r"Run (\d+) ·", page.locator("#run-summary").inner_text())
    return int(match.group(1)) if match else 0


def generate(page, prompt: str) -> None:
    """Start a run; wait_done then waits for this run, not the one before."""
    page.fill("#prompt textarea", prompt)
    page.evaluate("n => window.__expected_run = n", runs_done(page) + 1)
    page.click("#generate-btn")


def wait_done(page, timeout=30_000) -> None:
    expected = page.evaluate("() => window.__expected_run || 1")
    expect(page.locator("#run-summary")).to_contain_text(f"Run {expected} ·", timeout=timeout)
    expect(page.locator("#run-summary")).to_contain_text("run wall time")
