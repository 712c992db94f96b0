"""The lightbox acts on the image it shows: Reuse seed, Reuse settings, Download; the viewer follows it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import generate, open_app, set_number, tick, wait_done

pytestmark = pytest.mark.browser


def test_the_lightbox_reuses_and_downloads_the_image_it_shows_and_the_viewer_follows(page, app, fireworks):
    open_app(page, app.url)
    tick(page, "Fireworks")
    set_number(page, "width", 256)
    set_number(page, "height", 256)
    set_number(page, "seed", 500)
    set_number(page, "num-images", 2)
    generate(page, "a red fox")
    wait_done(page)
    set_number(page, "seed", 7)
    page.locator("#col-fireworks .thumbnail-item").first.click()
    box = page.locator("#lightbox")
    expect(box).to_be_visible()
    expect(box.locator(".lb-count")).to_have_text("1 of 2")
    page.keyboard.press("ArrowRight")  # browse to the second image: the buttons now act on it
    expect(box.locator("figcaption")).to_contain_text("seed 501")
    expect(box.locator(".lb-download")).to_have_attribute("href", re.compile(r"seed501-\w+\.png$"))
    box.get_by_role("button", name="Reuse seed").click()
    expect(page.locator("#seed input")).to_have_value("501")
    # Reuse settings from the lightbox: the form takes the shown image's size back from a changed one.
    set_number(page, "steps", 2)
    box.get_by_role("button", name="Reuse settings").click()
    expect(page.locator("#steps input[type=number]")).to_have_value("4")
    page.keyboard.press("Escape")
    expect(box).to_be_hidden()
    # The viewer follows the lightbox: the page's own Reuse and Download now act on seed 501.
    expect(page.locator("#viewer-caption")).to_contain_text("seed 501")
    expect(page.locator("#details")).to_contain_text("seed 501")
