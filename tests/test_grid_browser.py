"""The X/Y grid in the page, in Chromium: build one and see its labels, image and history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import open_app, set_number, tick

pytestmark = pytest.mark.browser


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.locator(f"#{elem_id}").get_by_role("option", name=option, exact=True).click()


def test_a_seed_by_backend_grid_in_the_page(page, app, fireworks, aiml):
    open_app(page, app.url)
    page.fill("#prompt textarea", "a lighthouse on a cliff")
    tick(page, "Fireworks")
    set_number(page, "width", 256)
    page.get_by_text("X/Y grid").click()
    choose(page, "grid-x-axis", "Seed")
    page.fill("#grid-x-values textarea, #grid-x-values input", "11-13")
    choose(page, "grid-y-axis", "Backend")
    page.fill("#grid-y-values textarea, #grid-y-values input", "fireworks, aiml")
    page.click("#grid-btn")
    summary = page.locator("#grid-summary")
    expect(summary).to_contain_text("6/6 cell(s)", timeout=60_000)
    expect(summary).to_contain_text("Seed × Backend")
    header = summary.locator("th")
    expect(header).to_have_text(["Backend \\ Seed", "11", "12", "13"])
    rows = summary.locator("tbody tr")
    expect(rows.nth(0)).to_contain_text("Fireworks")
    expect(rows.nth(0).locator("td").nth(2)).to_contain_text(re.compile(r"ok · [\d.]+ s · \$0\.0014"))
    expect(rows.nth(1)).to_contain_text("AI/ML API")
    expect(rows.nth(1).locator("td").nth(3)).to_contain_text("ok")
    expect(rows.nth(1).locator("td").nth(3)).to_contain_text("price not set")
    expect(summary).to_contain_text("est. cost $0.0042")  # three Fireworks cells at 4 steps; AI/ML price not set
    expect(page.locator("#grid-image img")).to_be_visible()
    # The cells are counted in the scoreboard, with their cost beside the latency.
    expect(page.locator("#scoreboard")).to_contain_text("$0.0042")
    # Every cell went to the history with its own seed.
    history = page.locator("#history")
    for caption in ("Fireworks · seed 11", "Fireworks · seed 13", "AI/ML API · seed 12"):
        expect(history).to_contain_text(caption)


def test_a_bad_grid_gets_a_warning_and_nothing_is_sent(page, app, fireworks):
    open_app(page, app.url)
    page.fill("#prompt textarea", "a lighthouse on a cliff")
    tick(page, "Fireworks")
    page.get_by_text("X/Y grid").click()
    page.fill("#grid-x-values textarea, #grid-x-values input", "1-5")
    choose(page, "grid-y-axis", "Steps")
    page.fill("#grid-y-values textarea, #grid-y-values input", "1-4")
    page.click("#grid-btn")
    expect(page.get_by_text("20 cells is too many: the limit is 16")).to_be_visible()
    assert fireworks.requests == []
