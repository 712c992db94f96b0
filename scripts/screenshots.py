"""Regenerate the README screenshots: the app against the loopback fakes and the tiny local model.

python scripts/screenshots.py        # writes assets/screenshot.png (1440×900) and assets/phone.png (390×844)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import AIML_KEY, CHROMIUM, CHROMIUM_ARGS, FW_KEY, app_settings, launch  # noqa: E402
from tests.fakes.servers import FakeAiml, FakeFireworks  # noqa: E402
from tests.helpers import tick  # noqa: E402


def run(page, prompt: str, number: int) -> None:
    page.fill("#prompt textarea", prompt)
    page.click("#generate-btn")
    page.wait_for_selector(f"#run-summary :text('Run {number} ·')", timeout=120_000)


def desktop(browser, url: str) -> None:
    """1440×900, what a person sees without scrolling after two runs on all three backends."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    tick(page, "Local FP8", "Fireworks", "AI/ML API")
    page.locator("#ratio input").click()
    page.get_by_role("option", name="4:3", exact=True).click()
    run(page, "a cat holding a sign that says hello world", 1)
    run(page, "a tiny astronaut hatching from an egg on the moon", 2)
    page.locator("#colgal-aiml .thumbnail-item").first.click()
    page.keyboard.press("Escape")  # closes the lightbox the click opened; cancels nothing
    page.wait_for_timeout(800)  # let the viewer's image paint
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ROOT / "assets" / "screenshot.png"))
    page.close()


def phone(browser, url: str) -> None:
    """390×844, after a run on all three backends: the result is on screen without scrolling by hand."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    tick(page, "Local FP8", "Fireworks", "AI/ML API")
    run(page, "a red fox in fresh snow at golden hour, 35mm photo", 1)
    page.wait_for_timeout(800)
    page.screenshot(path=str(ROOT / "assets" / "phone.png"))
    page.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    from bench.random_flux import build_random_flux

    fw, am = FakeFireworks(), FakeAiml()
    fw.valid_key, am.valid_key = FW_KEY, AIML_KEY
    fw.delay_s, am.delay_s = 0.6, 0.9  # roughly what the real services take
    fw.start()
    am.start()
    model = build_random_flux(Path(tempfile.mkdtemp()) / "tiny")
    app = launch(app_settings(fw, am, model))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", CHROMIUM), args=CHROMIUM_ARGS)
        desktop(browser, app.url)
        phone(browser, app.url)
        browser.close()
    app.demo.close()
    print("wrote assets/screenshot.png and assets/phone.png")


if __name__ == "__main__":
    main()
