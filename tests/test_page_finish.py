"""Issue 18 in a real browser: the plot, cancelled runs, the lightbox, the run bar, copy as code, reuse.

Every wait is for an element or a condition of the page; nothing sleeps.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_browser import generate, open_app, tick, wait_done
from tests.test_page import DESKTOP, PHONE, new_page

pytestmark = pytest.mark.browser


@pytest.fixture
def desktop(browser):
    context, page = new_page(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = new_page(browser, PHONE)
    yield page
    context.close()


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
