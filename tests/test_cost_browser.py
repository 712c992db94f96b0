"""Cost in the page: each column and the scoreboard show it wherever a latency appears."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import generate, open_app, tick, wait_done

pytestmark = pytest.mark.browser


def test_columns_and_scoreboard_show_estimated_cost(page, app):
    open_app(page, app.url)
    tick(page, "Fireworks", "AI/ML API")
    generate(page, "what does it cost")
    wait_done(page)
    expect(page.locator("#col-fireworks")).to_contain_text("est. cost: $0.0014/image · $0.0014 this run")
    expect(page.locator("#col-aiml")).to_contain_text("est. cost: unknown (no price set; set AIML_PRICE_PER_IMAGE)")
    board = page.locator("#scoreboard")
    expect(board).to_contain_text("Cost/image")
    expect(board).to_contain_text("$0.0014")
    expect(board).to_contain_text("price not set")
    expect(page.locator("#history")).to_contain_text(re.compile(r"Fireworks · seed \d+ · .* s · \$0\.0014"))
