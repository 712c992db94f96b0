"""Hostile upstreams seen through the running app: records, logs, exports and PNG chunks, not only successes."""

from __future__ import annotations

import json
import logging

import pytest
from gradio_client import Client
from PIL import Image

from images.pngmeta import CHUNK_KEY
from tests.conftest import AIML_KEY, FW_KEY

PASTED_FW_KEY = "pasted-fw-key-0a1b2c3d4e"


def generate(client: Client, **kw):
    args = dict(prompt="a lighthouse at dusk", backends=["fireworks", "aiml"], aspect_ratio="1:1", seed=321)
    args.update(kw)
    return client.predict(**args, api_name="/generate")


def image_path(item) -> str:
    return item["image"]["path"] if isinstance(item["image"], dict) else item["image"]


def png_text(path: str) -> str:
    with Image.open(path) as img:
        return json.dumps({k: str(v) for k, v in img.info.items()})


def test_an_echoed_key_is_redacted_in_failed_records_and_logs(client, fireworks, caplog):
    fireworks.mode = "echo_key"
    with caplog.at_level(logging.DEBUG):
        gallery, records = generate(client)
    by_backend = {r["backend"]: r for r in records}
    failed = by_backend["fireworks"]
    assert failed["status"] == "bad_request" and "Malformed credential" in failed["error"]
    assert "•••" in failed["error"]  # the key was there, and was redacted
    assert by_backend["aiml"]["status"] == "ok"
    blob = json.dumps(records) + json.dumps(gallery) + caplog.text
    blob += "".join(png_text(image_path(g)) for g in gallery)
    assert FW_KEY not in blob and AIML_KEY not in blob


def test_a_5_mb_error_reaches_records_cut(client, fireworks):
    fireworks.mode = "huge_error"
    _, records = generate(client, backends=["fireworks"])
    assert records[0]["status"] == "bad_request" and "bad request blah" in records[0]["error"]
    assert len(records[0]["error"]) < 600


def test_an_impossible_seed_keeps_both_backends_images(client, fireworks):
    fireworks.mode, fireworks.bad_seed_value = "bad_seed", 2**64 + 5
    gallery, records = generate(client)
    assert {r["backend"]: r["status"] for r in records} == {"fireworks": "ok", "aiml": "ok"}
    fw = next(r for r in records if r["backend"] == "fireworks")
    assert fw["seed"] == 321 and any("not a valid seed" in n for n in fw["notes"])
    assert len(gallery) == 2
    for item in gallery:
        with Image.open(image_path(item)) as img:
            assert json.loads(img.info[CHUNK_KEY])["seed"] == 321


def test_a_refused_request_sends_nothing_and_names_the_field(client, fireworks, aiml):
    # (How /generate's own components treat 1024.5 or "abc" is the endpoint's business; the
    # request type refuses them either way: see test_translations.)
    for kw, words in (({"prompt": "\x00"}, "no visible characters"), ({"prompt": " \x1b\u200b"}, "no visible")):
        with pytest.raises(Exception, match=words):
            generate(client, **kw)
    assert fireworks.requests == [] and aiml.requests == []


@pytest.mark.browser
def test_a_pasted_key_echoed_by_the_api_is_redacted_in_page_and_exports(page, app, fireworks):
    from playwright.sync_api import expect

    from tests.helpers import generate as start
    from tests.helpers import open_app, tick, wait_done

    fireworks.valid_key = PASTED_FW_KEY
    fireworks.mode = "echo_key"
    try:
        open_app(page, app.url)
        page.get_by_text("API keys (this browser session only)").click()
        page.get_by_label("Fireworks API key").fill(PASTED_FW_KEY)
        # AI/ML beside it makes an image, so Export is offered (a run with no image offers none).
        tick(page, "Fireworks", "AI/ML API")
        start(page, "echo my key")
        wait_done(page)
        expect(page.locator("#col-fireworks")).to_contain_text("Malformed credential")
        assert PASTED_FW_KEY not in page.content()
        assert [r["headers"]["Authorization"] for r in fireworks.requests] == [f"Bearer {PASTED_FW_KEY}"]
        page.get_by_text("Export this comparison").click()
        record = page.request.get(page.locator("#json-file a").first.get_attribute("href")).body()
        sheet = page.request.get(page.locator("#sheet-file a").first.get_attribute("href")).body()
        assert b"Malformed credential" in record
        assert PASTED_FW_KEY.encode() not in record and PASTED_FW_KEY.encode() not in sheet
    finally:
        fireworks.valid_key = FW_KEY
