"""The page, round four (issue 28's minor items): what a run with no image leaves, phone tap targets, wide runs.

Every wait is for an element or a condition; nothing sleeps.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import DESKTOP
from tests.helpers import generate, open_app, tick, wait_done

pytestmark = pytest.mark.browser


def test_when_every_backend_fails_the_reasons_are_on_screen_and_nothing_empty_is_offered(desktop, app, fireworks, aiml):
    fireworks.mode = aiml.mode = "400"
    open_app(desktop, app.url)
    tick(desktop, "Fireworks", "AI/ML API")
    generate(desktop, "a run that makes nothing")
    wait_done(desktop)
    expect(desktop.locator("#viewer-caption")).to_contain_text("No image in this run")
    expect(desktop.locator("#viewer")).to_be_hidden()  # no 560 px of nothing above the reasons
    # Neither an A/B compare with empty pickers nor a contact sheet of nothing.
    expect(desktop.locator("#ab")).to_be_hidden()
    expect(desktop.locator("#export")).to_be_hidden()
    for col in ("#colstatus-fireworks", "#colstatus-aiml"):
        expect(desktop.locator(col)).to_contain_text("failed")
    desktop.evaluate("document.querySelector('#run-summary').scrollIntoView({block: 'start'})")
    reason = desktop.locator("#col-aiml .prose").first
    expect(reason).to_be_visible()
    box = reason.bounding_box()
    assert box is not None and box["y"] < DESKTOP["height"], box  # the reason, not below the fold
    # The next run that makes an image brings the viewer and the offers back.
    fireworks.mode = aiml.mode = "default"
    generate(desktop, "a run that makes one")
    wait_done(desktop)
    expect(desktop.locator("#viewer img")).to_be_visible()
    expect(desktop.locator("#ab")).to_be_visible()
    expect(desktop.locator("#export")).to_be_visible()


def test_phone_tap_targets_are_at_least_44_px(phone, app):
    open_app(phone, app.url)
    tick(phone, "Fireworks")
    generate(phone, "a phone run to act on")
    wait_done(phone)
    phone.locator("#col-fireworks .thumbnail-item").first.click()
    phone.keyboard.press("Escape")  # the lightbox the click opened
    targets = [phone.locator(f"#{b}") for b in ("reuse-seed", "reuse-settings", "download-png")]
    targets += [phone.locator(f"{g} .icon-button-wrapper button").first for g in ("#col-fireworks", "#viewer")]
    for target in targets:
        expect(target).to_be_visible()
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, (target, box)
