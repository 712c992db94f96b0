"""Regenerate the README screenshots: the app against the loopback fakes and the tiny local model.

python scripts/screenshots.py        # writes assets/screenshot.png and assets/comparison.png
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
from tests.test_browser import tick  # noqa: E402


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
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(app.url)
        page.wait_for_selector("#prompt textarea")
        tick(page, "Local FP8", "Fireworks", "AI/ML API")
        for run, (prompt, ratio) in enumerate(
            (
                ("a cat holding a sign that says hello world", "1:1"),
                ("a tiny astronaut hatching from an egg on the moon", "4:3"),
            ),
            start=1,
        ):
            page.locator("#ratio input").click()
            page.get_by_role("option", name=ratio, exact=True).click()
            page.fill("#prompt textarea", prompt)
            page.click("#generate-btn")
            page.wait_for_selector(f"#run-summary :text('Run {run} ·')", timeout=60_000)
        page.locator("#history .thumbnail-item").nth(1).click()
        page.keyboard.press("Escape")  # closes the preview; must not cancel anything
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ROOT / "assets" / "screenshot.png"), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        box = page.locator("#run-summary").bounding_box()
        cols = page.locator("#col-aiml").bounding_box()
        clip = {
            "x": box["x"] - 8,
            "y": box["y"] - 8,
            "width": cols["x"] + cols["width"] - box["x"] + 16,
            "height": cols["y"] + cols["height"] - box["y"] + 16,
        }
        page.screenshot(path=str(ROOT / "assets" / "comparison.png"), clip=clip, full_page=True)
        browser.close()
    app.demo.close()
    print("wrote assets/screenshot.png and assets/comparison.png")


if __name__ == "__main__":
    main()
