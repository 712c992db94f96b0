"""The X/Y grid in the page, in Chromium: build one and see its labels, image and history."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.helpers import open_app, posts, set_number, tick

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


def wait_until(check, timeout_s: float = 30.0) -> None:
    """Wait on server-side state (a fake's request log), polling it; fails if it never holds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.05)


def test_a_running_grid_shows_the_run_bar_and_esc_cancels_its_cells(page, app, fireworks):
    fireworks.delay_s = 20.0  # held: every cell is in flight when Esc is pressed
    open_app(page, app.url)
    page.fill("#prompt textarea", "a lighthouse on a cliff")
    tick(page, "Fireworks")
    set_number(page, "width", 256)
    page.get_by_text("X/Y grid").click()
    page.fill("#grid-x-values textarea, #grid-x-values input", "1-3")
    choose(page, "grid-y-axis", "(none)")
    page.click("#grid-btn")
    bar = page.locator("#run-bar")
    expect(bar).to_be_visible(timeout=30_000)
    expect(bar).to_contain_text("X/Y grid: 3 cell(s)")
    expect(page.locator("#cancel-btn")).to_be_enabled()
    expect(page.locator("#generate-btn")).to_be_disabled()
    wait_until(lambda: len(posts(fireworks)) == 3)
    page.keyboard.press("Escape")
    summary = page.locator("#grid-summary")
    expect(summary).to_contain_text("0/3 cell(s)", timeout=30_000)
    expect(summary.locator("tbody td").filter(has_text="cancelled")).to_have_count(3)
    expect(bar).to_be_hidden()
    expect(page.locator("#cancel-btn")).to_be_disabled()
    expect(page.locator("#generate-btn")).to_be_enabled()
    assert len(posts(fireworks)) == 3  # nothing more was sent: no retry, no further cell
