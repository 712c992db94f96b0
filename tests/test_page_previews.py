"""Local's newest step on the page while a run goes (issue 26): a small preview above the step bar, gone at the end."""

from __future__ import annotations

import base64
import io
import re
import threading

import pytest
import torch
from PIL import Image
from playwright.sync_api import expect

from backends.local.preview import StepUpdate
from runs.session import Session
from tests.helpers import generate, open_app, tick, wait_done
from ui.page import previews
from ui.page.previews import StepPreviews


class _Local(previews.LocalBackend):
    """A Local backend that is never loaded: watch() only looks at what kind of backend runs."""

    def __init__(self) -> None:  # no settings, no model
        pass


def packed(height: int, width: int, batch: int = 1, channels: int = 16) -> torch.Tensor:
    """FLUX's packed latents for an image of height×width (VAE scale 8): (batch, h/16·w/16, channels·4)."""
    return torch.randn(batch, (height // 16) * (width // 16), channels * 4, generator=torch.Generator().manual_seed(1))


def decoded(tag_html: str) -> list[Image.Image]:
    found = re.findall(r"data:image/webp;base64,([^\"]+)", tag_html)
    return [Image.open(io.BytesIO(base64.b64decode(d))) for d in found]


def test_the_newest_step_is_drawn_at_latent_resolution_once_per_step_and_let_go_at_the_end():
    shown, sess = StepPreviews(), Session()
    listener = shown.watch(sess, [_Local()])
    assert listener is not None
    assert shown.html(sess, "local") == ""  # nothing before the first step
    listener(StepUpdate(1, 4, packed(256, 384, batch=2), height=256, width=384))
    first = shown.html(sess, "local")
    images = decoded(first)
    assert [im.size for im in images] == [(48, 32), (48, 32)]  # one per image of the batch, 1/8 of each side
    assert 'alt="Preview of image 2, step 1 of 4"' in first
    assert shown.html(sess, "fireworks") == ""  # the steps are Local's only
    assert shown.html(sess, "local") is first  # a redraw of the same step is not made again
    listener(StepUpdate(2, 4, packed(256, 384, batch=2) * 2, height=256, width=384))
    assert "step 2 of 4" in shown.html(sess, "local")
    # A new run replaces the watch: the old run's late step lands where nobody looks.
    newer = shown.watch(sess, [_Local()])
    listener(StepUpdate(3, 4, packed(256, 384), height=256, width=384))
    assert shown.html(sess, "local") == ""
    newer(StepUpdate(1, 4, packed(256, 384), height=256, width=384))
    assert "step 1 of 4" in shown.html(sess, "local")
    shown.forget(sess)
    assert shown.html(sess, "local") == ""


def test_no_local_backend_in_the_run_means_no_listener():
    assert StepPreviews().watch(Session(), []) is None


@pytest.mark.browser
def test_the_local_column_shows_its_newest_step_while_it_runs_and_not_after(desktop, app, monkeypatch):
    # The run is held after its first step until the page has shown the preview: the test waits on the
    # page, and the run cannot end before the page had its chance to draw (a tiny model's run takes ms).
    shown_on_page = threading.Event()
    remember = previews._Watch.remember

    def held(watch, update):
        remember(watch, update)
        if update.step == 1:
            shown_on_page.wait(timeout=60)

    monkeypatch.setattr(previews._Watch, "remember", held)
    try:
        open_app(desktop, app.url)
        tick(desktop, "Local FP8")
        generate(desktop, "a preview of each step")
        preview = desktop.locator("#colstatus-local img.step-preview")
        expect(preview).to_be_visible(timeout=60_000)
        expect(preview).to_have_attribute("src", re.compile(r"^data:image/webp;base64,"))
        expect(preview).to_have_attribute("alt", "Preview of image 1, step 1 of 4")
        # Above the step bar, in the Local column.
        bar = desktop.locator("#colstatus-local .stepbar")
        expect(bar).to_be_visible()
        assert preview.bounding_box()["y"] < bar.bounding_box()["y"]
    finally:
        shown_on_page.set()
    wait_done(desktop, timeout=60_000)
    expect(desktop.locator("#colstatus-local")).to_contain_text(re.compile(r"done in [\d.]+ s"))
    expect(desktop.locator("#col-local img.step-preview")).to_have_count(0)
    expect(desktop.locator("#col-local .thumbnail-item img")).to_have_count(1)  # the final image took its place
