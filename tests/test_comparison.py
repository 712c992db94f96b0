"""Side-by-side comparison in the browser: streaming columns, isolated failures, export, scoreboard."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from images.contact_sheet import PAD, SHEET_KEY, TILE
from runs.scoreboard import COLUMNS
from tests.conftest import app_settings, launch
from tests.helpers import generate, open_app, set_number, tick, wait_done

pytestmark = [pytest.mark.browser, pytest.mark.local]
SLOW = 120_000  # ms: a bound on waits for a state, long enough for a loaded machine


def scoreboard(page) -> dict[str, list[str]]:
    """Backend → [runs, ok, failed, filtered], read from the rendered table."""
    board = page.locator("#scoreboard")
    board.scroll_into_view_if_needed()
    expect(board).to_contain_text("Fireworks")
    cells = [c.strip() for c in board.inner_text().split("\n") if c.strip()]
    body = cells[cells.index(COLUMNS[-1]) + 1 :]
    rows = [body[i : i + len(COLUMNS)] for i in range(0, len(body), len(COLUMNS))]
    return {r[0]: r[1:5] for r in rows}


class Hold:
    """Stands in for a fake's request handling: every request waits until ``released``, counted on arrival."""

    def __init__(self, fake) -> None:
        self.real = fake.common_faults
        self.arrived = 0
        self.lock = threading.Lock()
        self.released = threading.Event()

    def __call__(self, h) -> bool:
        with self.lock:
            self.arrived += 1
        self.released.wait(300)  # a bound only, so a failed test never leaves a server thread behind
        return self.real(h)


def until(condition, what: str, timeout_s: float = 60.0) -> None:
    """Wait for a state of the fakes (the page's own state is waited on with expect)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def patient_app(fireworks, aiml, tiny_model):
    # The fakes hold their replies for as long as the test needs: no read timeout may end them first.
    running = launch(app_settings(fireworks, aiml, tiny_model, http_read_timeout_s=300.0))
    yield running
    running.demo.close()


def test_columns_stream_in_and_the_run_takes_the_slowest_not_the_sum(page, patient_app, fireworks, aiml, monkeypatch):
    fw, am = Hold(fireworks), Hold(aiml)
    monkeypatch.setattr(fireworks, "common_faults", fw)
    monkeypatch.setattr(aiml, "common_faults", am)
    open_app(page, patient_app.url)
    tick(page, "Local FP8", "Fireworks", "AI/ML API")
    set_number(page, "width", 256)
    set_number(page, "height", 256)
    try:
        generate(page, "streaming columns")
        # Both hosted requests are in flight at once, neither waiting for the other, so a run takes
        # as long as its slowest backend, not the sum; and the local GPU job finishes beside them.
        until(lambda: fw.arrived == 1 and am.arrived == 1, "both hosted requests in flight together", SLOW / 1000)
        expect(page.locator("#col-local")).to_contain_text("1/1 image(s)", timeout=SLOW)
        expect(page.locator("#col-fireworks")).to_contain_text("Running ·", timeout=SLOW)
        # Fireworks answers and is shown while AI/ML is still working.
        fw.released.set()
        expect(page.locator("#col-fireworks")).to_contain_text("1/1 image(s)", timeout=SLOW)
        expect(page.locator("#col-aiml")).to_contain_text("Running ·", timeout=SLOW)
        am.released.set()
        wait_done(page, timeout=SLOW)
        expect(page.locator("#col-aiml")).to_contain_text("1/1 image(s)", timeout=SLOW)
    finally:
        fw.released.set()
        am.released.set()


def test_a_failure_stays_in_its_column_and_export_and_scoreboard_match(page, app, fireworks):
    open_app(page, app.url)
    tick(page, "Local FP8", "Fireworks", "AI/ML API")
    set_number(page, "width", 256)
    set_number(page, "height", 256)
    set_number(page, "seed", 606)
    generate(page, "all three, all fine")
    wait_done(page)

    fireworks.mode = "500"
    generate(page, "fireworks breaks")
    wait_done(page)
    expect(page.locator("#col-fireworks")).to_contain_text("Fireworks failed upstream (HTTP 500")
    expect(page.locator("#col-fireworks")).to_contain_text("no image")
    for other in ("#col-aiml", "#col-local"):
        expect(page.locator(other)).to_contain_text("1/1 image(s)")
        expect(page.locator(other)).not_to_contain_text("failed")

    # Contact sheet: one labelled tile per backend, the failed one included.
    page.get_by_text("Export this comparison").click()
    href = page.locator("#sheet-file a").first.get_attribute("href")
    sheet = Image.open(io.BytesIO(page.request.get(href).body()))
    labels = json.loads(sheet.info[SHEET_KEY])["tiles"]
    assert [label.split(" · ")[0] for label in labels] == ["Local FP8", "Fireworks", "AI/ML API"]
    assert "failed" in labels[1] and "seed 606" in labels[0]
    assert sheet.width == PAD + 3 * (TILE + PAD)
    record = json.loads(page.request.get(page.locator("#json-file a").first.get_attribute("href")).body())
    assert [b["backend"] for b in record["backends"]] and len(record["images"]) == 3
    assert {i["backend"]: i["status"] for i in record["images"]} == {
        "local": "ok",
        "fireworks": "upstream",
        "aiml": "ok",
    }

    # Scoreboard: two runs each; Fireworks one image ok, one failed.
    assert scoreboard(page) == {
        "Local FP8": ["2", "2", "0", "0"],
        "Fireworks": ["2", "1", "1", "0"],
        "AI/ML API": ["2", "2", "0", "0"],
    }


def test_same_size_everywhere_gives_every_column_the_same_pixels(page, app, aiml, fireworks):
    open_app(page, app.url)
    tick(page, "Fireworks", "AI/ML API")
    set_number(page, "width", 1280)
    set_number(page, "height", 720)
    expect(page.locator("#ratio input")).to_have_value("Custom")
    page.locator("#same-size input").check()
    expect(page.locator("#ratio input")).to_have_value("16:9")
    expect(page.locator("#width input[type=number]")).to_have_value("1344")
    generate(page, "same pixels")
    wait_done(page)
    assert aiml.requests[0]["body"]["image_size"] == {"width": 1344, "height": 768}
    expect(page.locator("#col-aiml")).to_contain_text("1344×768 returned")
    expect(page.locator("#col-fireworks")).to_contain_text("1344×768 → aspect ratio 16:9 → 1344×768 returned")


def test_local_progress_and_cancel(page, app):
    local = app.backends["local"]
    open_app(page, app.url)
    tick(page, "Local FP8")
    set_number(page, "width", 256)
    set_number(page, "height", 256)
    generate(page, "load it first")
    wait_done(page)

    transformer = local.loaded.pipe.transformer
    real_forward = transformer.forward

    def slow_forward(*args, **kwargs):
        time.sleep(0.4)  # makes a step long enough for a person (or a test) to press Cancel
        return real_forward(*args, **kwargs)

    transformer.forward = slow_forward
    try:
        set_number(page, "steps", 12)
        generate(page, "slow enough to cancel")
        expect(page.locator("#col-local")).to_contain_text(re.compile(r"step [2-9]/12"))
        page.click("#cancel-btn")
        expect(page.locator("#col-local")).to_contain_text("cancelled in", timeout=15_000)  # not "failed"
        expect(page.locator("#col-local")).not_to_contain_text("failed")
        wait_done(page)
    finally:
        transformer.forward = real_forward
    set_number(page, "steps", 2)
    generate(page, "and the next run works")
    wait_done(page)
    expect(page.locator("#col-local")).to_contain_text("1/1 image(s)")
