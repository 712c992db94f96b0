"""Issue 18 in a real browser: the plot, cancelled runs, the lightbox, the run bar, copy as code, reuse.

Every wait is for an element or a condition of the page; nothing sleeps.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import DESKTOP, PHONE, new_page
from tests.helpers import generate, open_app, set_number, tick, wait_done

pytestmark = pytest.mark.browser


def bars(page):
    return page.locator("#score-plot g.mark-rect path")


def test_the_speed_plot_has_a_bar_for_every_backend_of_the_first_run(desktop, app, aiml):
    # AI/ML finishes well after Fireworks and is the tallest bar: its update used to change the axis
    # and the data at once, and the chart kept the old data (Fireworks alone).
    aiml.delay_s = 1.5
    open_app(desktop, app.url)
    tick(desktop, "Fireworks", "AI/ML API")
    generate(desktop, "two bars")
    wait_done(desktop)
    expect(desktop.locator("#scoreboard")).to_contain_text("AI/ML API")
    expect(bars(desktop)).to_have_count(2)


def lightbox(page):
    return page.locator("#lightbox")


def test_lightbox_opens_any_image_with_its_caption_and_goes_through_the_run_and_history(desktop, app):
    open_app(desktop, app.url)
    tick(desktop, "Fireworks", "AI/ML API")
    generate(desktop, "lightbox")
    wait_done(desktop)
    box, caption = lightbox(desktop), desktop.locator("#lightbox figcaption")
    # A column's thumbnail: the run's images, with the backend named in the caption.
    desktop.locator("#col-fireworks .thumbnail-item").first.click()
    expect(box).to_be_visible()
    expect(caption).to_contain_text(re.compile(r"^Fireworks · seed \d+"))
    expect(box.locator(".lb-count")).to_have_text("1 of 2")
    desktop.keyboard.press("ArrowRight")
    expect(caption).to_contain_text(re.compile(r"^AI/ML API · seed \d+"))
    desktop.keyboard.press("Escape")
    expect(box).to_be_hidden()
    # The history's thumbnail: the history's images; the large viewer too.
    desktop.locator("#history .thumbnail-item").nth(1).click()
    expect(box).to_be_visible()
    expect(box.locator(".lb-count")).to_have_text("2 of 2")
    desktop.keyboard.press("ArrowLeft")
    expect(box.locator(".lb-count")).to_have_text("1 of 2")
    box.locator(".lb-close").click()
    expect(box).to_be_hidden()
    desktop.locator("#viewer .image-frame img").click()
    expect(box).to_be_visible()
    expect(box.locator("img")).to_have_attribute("src", re.compile(r"\.png"))


def test_lightbox_on_a_phone_opens_from_the_history_and_has_buttons(phone, app):
    open_app(phone, app.url)
    tick(phone, "Fireworks", "AI/ML API")
    generate(phone, "phone lightbox")
    wait_done(phone)
    # The viewer is far above the history on a phone: the clicked image opens right where the finger is.
    phone.locator("#history .thumbnail-item").first.click()
    box = lightbox(phone)
    expect(box).to_be_visible()
    expect(box.locator("img")).to_be_in_viewport()
    box.locator(".lb-next").click()
    expect(box.locator(".lb-count")).to_have_text("2 of 2")
    box.locator(".lb-close").click()
    expect(box).to_be_hidden()


def test_a_dropdown_list_closes_when_the_focus_or_a_click_goes_elsewhere(desktop, app):
    open_app(desktop, app.url)
    desktop.locator("#ratio input").click()
    expect(desktop.get_by_role("listbox")).to_be_visible()
    desktop.keyboard.press("Tab")
    expect(desktop.get_by_role("listbox")).to_be_hidden()
    desktop.locator("#ratio input").click()
    expect(desktop.get_by_role("listbox")).to_be_visible()
    desktop.locator("#intro").click()
    expect(desktop.get_by_role("listbox")).to_be_hidden()
    # Choosing an option still works.
    desktop.locator("#ratio input").click()
    desktop.get_by_role("option", name="4:3", exact=True).click()
    expect(desktop.locator("#width input[type=number]")).to_have_value("1152")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_run_bar_stays_in_view_with_each_backends_state_and_cancels(browser, app, aiml, viewport):
    aiml.delay_s = 4.5  # under the tests' 6 s read timeout
    context, page = new_page(browser, viewport)
    try:
        open_app(page, app.url)
        bar = page.locator("#run-bar")
        expect(bar).to_be_hidden()
        tick(page, "Fireworks", "AI/ML API")
        generate(page, "a run to watch")
        expect(bar).to_be_visible()
        expect(bar.locator(".rb-backend.done")).to_contain_text("Fireworks: done in")
        expect(bar).to_contain_text(re.compile(r"Running · \d+\.\d s"))
        expect(bar).to_contain_text("AI/ML API:")
        page.mouse.wheel(0, 20_000)  # far down the page: the bar is still on screen, at the top
        page.wait_for_function("() => window.scrollY > 500")
        expect(bar).to_be_in_viewport()
        assert bar.bounding_box()["y"] == 0
        bar.get_by_role("button", name="Cancel the run (Esc)").click()
        wait_done(page)
        expect(bar).to_be_hidden()
        expect(page.locator("#colstatus-aiml")).to_contain_text("cancelled")
    finally:
        context.close()


def test_copy_as_code_follows_the_form(desktop, app):
    open_app(desktop, app.url)
    desktop.get_by_text("Copy as code").click()
    python = desktop.locator("#code-python")
    expect(python).to_contain_text('api_name="/generate"')
    expect(python).to_contain_text(app.url)  # the address this page was opened at
    desktop.fill("#prompt textarea", "a heron at dawn")
    expect(python).to_contain_text("prompt='a heron at dawn'")
    expect(desktop.locator("#code-curl")).to_contain_text('"a heron at dawn"')
    expect(desktop.locator("#copy-code button[aria-label=Copy]").first).to_be_visible()


def test_reuse_settings_says_what_changed_and_keeps_images_per_backend(desktop, app):
    open_app(desktop, app.url)
    tick(desktop, "Fireworks")
    set_number(desktop, "seed", 4242)
    generate(desktop, "reuse me")
    wait_done(desktop)
    set_number(desktop, "seed", 1)
    set_number(desktop, "num-images", 3)
    desktop.locator("#history .thumbnail-item").first.click()
    desktop.keyboard.press("Escape")  # the lightbox opened; the image is selected underneath
    expect(desktop.locator("#lightbox")).to_be_hidden()
    desktop.locator("#reuse-settings").click()
    expect(desktop.locator("[data-testid=toast-text]").filter(has_text="Settings reused: seed 4242")).to_have_count(1)
    expect(desktop.locator("#seed input")).to_have_value("4242")
    expect(desktop.locator("#num-images input[type=number]")).to_have_value("3")
    desktop.locator("#reuse-seed").click()
    expect(desktop.locator("[data-testid=toast-text]").filter(has_text="Seed set to 4242")).to_have_count(1)
