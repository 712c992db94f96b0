"""The page in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import generate, open_app, posts, set_number, tick, wait_done

pytestmark = pytest.mark.browser

SEED_CAPTION = re.compile(r"seed (\d+)")


def test_prompt_backend_generate_shows_the_seed_tagged_image(page, app):
    open_app(page, app.url)
    tick(page, "Fireworks")
    generate(page, "a lighthouse on a cliff")
    wait_done(page)
    column = page.locator("#col-fireworks")
    expect(column).to_contain_text("1/1 image(s)")
    expect(page.locator("#history")).to_contain_text(
        re.compile(r"Fireworks · seed \d+ · 1024×1024 · 4 steps · [\d.]+ s")
    )
    expect(page.locator("#col-aiml")).to_be_hidden()


def test_ctrl_enter_generates(page, app):
    open_app(page, app.url)
    tick(page, "AI/ML API")
    page.fill("#prompt textarea", "a cat holding a sign")
    page.evaluate("() => window.__expected_run = 1")
    page.locator("#prompt textarea").press("Control+Enter")
    wait_done(page)
    expect(page.locator("#history")).to_contain_text("AI/ML API · seed")


def test_reuse_seed_from_the_history(page, app, fireworks):
    open_app(page, app.url)
    tick(page, "Fireworks")
    generate(page, "a red fox")
    wait_done(page)
    caption = page.locator("#history").inner_text()
    seed = SEED_CAPTION.search(caption).group(1)
    page.locator("#history button.thumbnail-item, #history .thumbnail-item").first.click()
    page.keyboard.press("Escape")  # the click opened it full screen; it is selected underneath
    expect(page.locator("#lightbox")).to_be_hidden()
    expect(page.locator("#details")).to_contain_text(f"seed {seed}")
    page.click("#reuse-seed")
    expect(page.locator("#seed input")).to_have_value(seed)
    generate(page, "a red fox, again")
    wait_done(page)
    expect(page.locator("#run-summary")).to_contain_text(f"seed {seed}")
    assert fireworks.requests[-1]["body"]["seed"] == int(seed)


def test_two_backends_at_once(page, app, fireworks, aiml):
    open_app(page, app.url)
    tick(page, "Fireworks", "AI/ML API")
    set_number(page, "seed", 4242)
    generate(page, "two at once")
    wait_done(page)
    expect(page.locator("#col-fireworks")).to_contain_text("seed: 4242")
    expect(page.locator("#col-aiml")).to_contain_text("seed: 4242")
    history = page.locator("#history")
    expect(history).to_contain_text("Fireworks · seed 4242")
    expect(history).to_contain_text("AI/ML API · seed 4242")


def test_a_backend_without_key_is_not_ticked_warns_and_is_skipped_while_the_other_runs(
    page, app_without_aiml_key, aiml
):
    open_app(page, app_without_aiml_key.url)
    expect(page.locator("#backend-status")).to_contain_text("needs a key: set AIML_API_KEY")
    # The default ticks only what can run.
    expect(page.locator("#backends").get_by_label("Fireworks", exact=True)).to_be_checked()
    expect(page.locator("#backends").get_by_label("AI/ML API", exact=True)).not_to_be_checked()
    tick(page, "Fireworks", "AI/ML API")
    expect(page.locator(".toast-body").filter(has_text="AI/ML API cannot run: needs a key")).to_have_count(1)
    generate(page, "no key for one of them")
    wait_done(page)
    expect(page.locator("#col-aiml")).to_contain_text("Not run: needs a key: set AIML_API_KEY")
    expect(page.locator("#history")).to_contain_text("Fireworks · seed")
    assert [r for r in aiml.requests if r["path"].endswith("/images/generations")] == []


def test_a_key_pasted_for_the_session_is_used(page, app_without_aiml_key, aiml):
    from tests.conftest import AIML_KEY

    open_app(page, app_without_aiml_key.url)
    page.get_by_text("API keys (this browser session only)").click()
    page.get_by_label("AI/ML API key").fill(AIML_KEY)
    expect(page.locator("#backend-status")).to_contain_text("ready (key pasted for this session)")
    tick(page, "AI/ML API")
    generate(page, "my own key")
    wait_done(page)
    expect(page.locator("#history")).to_contain_text("AI/ML API · seed")
    assert AIML_KEY not in page.content()


def test_bad_input_gets_a_message_and_nothing_is_sent(page, app, fireworks):
    open_app(page, app.url)
    tick(page, "Fireworks")
    generate(page, "a good one first")
    wait_done(page)
    sent = len(fireworks.requests)
    page.fill("#prompt textarea", "   ")
    page.click("#generate-btn")
    expect(page.get_by_text("Nothing was sent: the prompt is empty")).to_be_visible()
    assert len(fireworks.requests) == sent
    # The last results stay as they were: no blanked or error-stamped outputs.
    expect(page.locator("#col-fireworks")).to_contain_text("1/1 image(s)")
    expect(page.locator("#run-summary")).to_contain_text("Run 1 ·")


def test_aspect_ratio_sets_the_size_and_moving_a_slider_makes_it_custom(page, app):
    open_app(page, app.url)
    page.locator("#ratio input").click()
    page.get_by_role("option", name="16:9", exact=True).click()
    expect(page.locator("#width input[type=number]")).to_have_value("1344")
    expect(page.locator("#height input[type=number]")).to_have_value("768")
    set_number(page, "width", 1280)
    expect(page.locator("#ratio input")).to_have_value("Custom")


def test_guidance_says_local_ignores_it_when_local_is_ticked(page, app):
    open_app(page, app.url)
    tick(page, "Fireworks")
    expect(page.get_by_text("Sent to Fireworks only")).to_be_visible()
    expect(page.get_by_text("FLUX.1 [schnell] is guidance-distilled")).to_have_count(0)
    tick(page, "Fireworks", "Local FP8")
    expect(page.get_by_text("Local FP8: no effect — FLUX.1 [schnell] is guidance-distilled.")).to_be_visible()


def test_dropping_a_png_restores_its_settings(page, app, tmp_path):
    from PIL import Image

    from images.pngmeta import save_png

    png = save_png(
        Image.new("RGB", (64, 64)),
        tmp_path / "made-here.png",
        {
            "prompt": "restored prompt",
            "backend": "aiml",
            "seed": 31337,
            "width": 832,
            "height": 1216,
            "aspect_ratio": "2:3",
            "num_inference_steps": 6,
            "guidance_scale": 2.0,
        },
    )
    open_app(page, app.url)
    tick(page, "Fireworks")
    page.get_by_text("Restore settings from a PNG").click()
    page.locator("#restore input[type=file]").set_input_files(str(png))
    expect(page.locator("#prompt textarea")).to_have_value("restored prompt")
    expect(page.locator("#seed input")).to_have_value("31337")
    expect(page.locator("#width input[type=number]")).to_have_value("832")
    expect(page.locator("#steps input[type=number]")).to_have_value("6")
    # The image's backend is ticked; what was ticked before stays ticked.
    expect(page.locator("#backends").get_by_label("AI/ML API", exact=True)).to_be_checked()
    expect(page.locator("#backends").get_by_label("Fireworks", exact=True)).to_be_checked()
    expect(page.locator("#backends").get_by_label("Local FP8", exact=True)).not_to_be_checked()


def test_every_session_shows_the_precision_the_shared_model_runs_with(page, app):
    local = app.backends["local"]
    local.reconfigure(precision="bf16")  # as if another visitor had switched it
    try:
        open_app(page, app.url)
        page.get_by_text("Local settings").click()
        expect(page.get_by_label("bf16", exact=True)).to_be_checked()
        expect(page.locator("#backend-status")).to_contain_text("Local bf16")
        # The backend's checkbox label follows the precision too.
        expect(page.locator("#backends").get_by_label("Local bf16", exact=True)).to_have_count(1)
        expect(page.locator("#backends").get_by_label("Local FP8", exact=True)).to_have_count(0)
    finally:
        local.reconfigure(precision="fp8")


def test_a_seed_typed_as_text_gets_a_warning_and_nothing_is_sent(page, app, fireworks):
    open_app(page, app.url)
    tick(page, "Fireworks")
    page.fill("#prompt textarea", "a red fox")
    seed = page.locator("#seed input")
    seed.fill("")
    seed.press_sequentially("1e")  # not a number: it must not quietly become a random seed
    # The browser holds "1e" as a bad number (Gradio may still be answering the "1" typed before it).
    page.wait_for_function("document.querySelector('#seed input').validity.badInput")
    page.click("#generate-btn")
    expect(page.get_by_text("Seed is not a whole number")).to_be_visible(timeout=30_000)
    assert posts(fireworks) == []
