"""The Library tab in Chromium: find a run's images, see one large, reuse it, reopen its run,
delete it; on a phone too; and on a Space, one visitor's library is not another's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from library import LibraryConfig
from tests.helpers import generate, open_app, set_number, tick, wait_done
from tests.test_library_app import serve

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def library_app(fireworks, aiml, tmp_path_factory):
    demo, url = serve(fireworks, aiml, LibraryConfig(dir=tmp_path_factory.mktemp("lib")))
    yield url
    demo.close()


@pytest.fixture(scope="module")
def space_app(fireworks, aiml, tmp_path_factory):
    demo, url = serve(fireworks, aiml, LibraryConfig(dir=tmp_path_factory.mktemp("space"), on_space=True))
    yield url
    demo.close()


def open_library(page) -> None:
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#library-gallery")).to_be_visible()


def make_run(page, url: str, prompt: str, seed: int = 4242) -> None:
    open_app(page, url)
    tick(page, "Fireworks", "AI/ML API")
    if not page.locator("#seed input[type=number]").first.is_visible():  # folded away on a phone
        page.locator("#settings").get_by_text("Size, steps and seed").click()
    set_number(page, "width", 256)
    set_number(page, "height", 256)
    set_number(page, "seed", seed)
    generate(page, prompt)
    wait_done(page)


def test_library_tab_search_view_reuse_open_run_delete(browser, library_app):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    make_run(page, library_app, "a copper kettle on a stove")
    open_library(page)
    gallery = page.locator("#library-gallery")
    expect(gallery).to_contain_text("Fireworks · seed 4242")  # labels, as every other view names backends
    expect(gallery).to_contain_text("AI/ML API · seed 4242")
    page.fill("#library textarea, #library input[type=text]", "teapot")
    page.click("#library-search")
    expect(page.locator("#library-page-info")).to_contain_text("No image matches this search.")
    page.locator("#library textarea, #library input[type=text]").first.fill("kettle")
    page.click("#library-search")
    expect(page.locator("#library-page-info")).to_contain_text("1–2 of 2")
    ARTIFACTS.mkdir(exist_ok=True)
    gallery.locator(".thumbnail-item", has_text="Fireworks").first.click()
    details = page.locator("#library-detail")
    expect(details).to_contain_text(re.compile(r"Fireworks · seed \*?4242"))
    expect(details).to_contain_text("a copper kettle on a stove")
    page.screenshot(path=str(ARTIFACTS / "library-1440.png"), full_page=True)
    page.click("#library-open-run")
    run = page.locator("#library-run")
    expect(run).to_contain_text("Fireworks")
    expect(run).to_contain_text("AI/ML API")
    expect(run).to_contain_text("$0.0014")
    page.click("#library-reuse-seed")
    expect(page.locator("#seed input")).to_have_value("4242")
    open_library(page)
    page.click("#library-delete")
    page.click("#library-confirm")
    expect(page.locator("#library-page-info")).to_contain_text("1–1 of 1")
    expect(run).to_be_hidden()
    page.locator("#library-scoreboard").get_by_text("All-time scoreboard").click()
    board = page.locator("#library-scoreboard")
    expect(board.locator("tbody tr")).to_have_count(1)  # one image left of the run, after the delete
    expect(board).to_contain_text("price not set")  # the AI/ML API's price is not set: not "$0"
    expect(board.locator("canvas, svg").first).to_be_visible()  # the plot over time
    page.screenshot(path=str(ARTIFACTS / "library-scoreboard-1440.png"), full_page=True)
    context.close()


def test_library_tab_on_a_phone(browser, library_app):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    make_run(page, library_app, "a paper lantern at night")
    open_library(page)
    expect(page.locator("#library-gallery")).to_contain_text("seed 4242")
    # Thumbnails, not full PNGs: every image the gallery shows is a small WebP.
    sources = page.locator("#library-gallery img").evaluate_all("els => els.map(e => e.src)")
    assert sources and all(s.endswith(".webp") for s in sources), sources
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the Library scrolls sideways on a phone ({width} px)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "library-390.png"), full_page=True)
    context.close()


def test_space_visitors_see_only_their_own_library(browser, space_app):
    alice = browser.new_context(viewport={"width": 1440, "height": 900})
    page = alice.new_page()
    page.set_default_timeout(30_000)
    make_run(page, space_app, "alice's secret garden")
    page.reload()  # the same browser: her token is kept, so is her library
    open_app(page, space_app)
    open_library(page)
    expect(page.locator("#library-gallery")).to_contain_text("seed 4242")
    bob = browser.new_context(viewport={"width": 1440, "height": 900})
    other = bob.new_page()
    other.set_default_timeout(30_000)
    open_app(other, space_app)
    open_library(other)
    expect(other.locator("#library-page-info")).to_contain_text("Nothing here yet.")
    expect(other.locator("#library-gallery")).not_to_contain_text("seed 4242")
    alice.close()
    bob.close()


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)], ids=["1440", "390"])
def test_star_tag_restart_and_find_with_field_queries(browser, fireworks, aiml, tmp_path, viewport):
    """As a person would: make images, select two, star and tag them, restart, find them by fields."""
    config = LibraryConfig(dir=tmp_path / "lib")
    w, h = viewport
    demo, url = serve(fireworks, aiml, config)
    context = browser.new_context(viewport={"width": w, "height": h}, is_mobile=w < 800, has_touch=w < 800)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        make_run(page, url, "a striped cat on a roof")
        open_library(page)
        gallery = page.locator("#library-gallery")
        expect(gallery.locator(".thumbnail-item")).to_have_count(2)
        page.locator("#library-several input").check()
        gallery.locator(".thumbnail-item", has_text="Fireworks").click()
        expect(page.locator("#library-bulk-info")).to_contain_text("1 selected")
        page.locator("#library-bulk-tag input, #library-bulk-tag textarea").first.fill("cats")
        page.click("#library-bulk-addtag")
        page.click("#library-bulk-star")
        expect(gallery).to_contain_text("★ Fireworks · seed 4242")
    finally:
        demo.close()
    demo, url = serve(fireworks, aiml, config)  # a restart
    try:
        open_app(page, url)
        open_library(page)
        box = page.locator("#library-query input, #library-query textarea").first
        box.fill("tag:cats star:yes")
        box.press("Enter")
        expect(page.locator("#library-page-info")).to_contain_text("1–1 of 1")
        expect(gallery).to_contain_text("★ Fireworks · seed 4242")
        chips = page.locator("#library-chips")
        expect(chips).to_contain_text("tag:cats")
        box.fill("colour:red")
        box.press("Enter")
        expect(page.locator("#library-page-info")).to_contain_text("unknown field 'colour'")
        box.fill("cat backend:aiml star:no")
        box.press("Enter")
        expect(page.locator("#library-page-info")).to_contain_text("1–1 of 1")
        expect(page.locator("#library-chips")).to_contain_text("backend:aiml")
        page.locator("#library-chips label", has_text="backend:aiml").click()  # remove a chip
        expect(box).to_have_value("cat star:no")
        expect(page.locator("#library-page-info")).to_contain_text("1–1 of 1")
        box.fill("")
        box.press("Enter")
        expect(page.locator("#library-pager button").first).to_be_disabled()  # "← Newer" on the first page
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"library-find-{w}.png"), full_page=True)
    finally:
        context.close()
        demo.close()


def copy_link(page, thumb_text: str) -> str:
    """Show the thumbnail's image large and press "Copy link"; the link the page copied."""
    page.locator("#library-gallery .thumbnail-item", has_text=thumb_text).first.click()
    expect(page.locator("#library-detail")).to_contain_text(thumb_text.split(" · ")[0])
    page.click("#library-copy-link")
    field = page.locator("#library-link textarea, #library-link input").first
    expect(field).to_have_value(re.compile(r"\?image=\d+$"))
    return field.input_value()


def moved(link: str, url: str) -> str:
    """The link on the restarted app (a test's app gets a new port; a real one keeps its address)."""
    return url.rstrip("/") + "/" + link[link.index("?") :]


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)], ids=["1440", "390"])
def test_compare_two_runs_then_a_copied_link_after_a_restart(browser, fireworks, aiml, tmp_path, viewport):
    """As a person would: two runs, compare two images from different runs, copy a link, restart the
    app, open the link in a new browser: the image is shown, large, in the Library tab."""
    config = LibraryConfig(dir=tmp_path / "lib")
    w, h = viewport
    phone = {"is_mobile": True, "has_touch": True} if w < 800 else {}
    demo, url = serve(fireworks, aiml, config)
    context = browser.new_context(viewport={"width": w, "height": h}, **phone)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        make_run(page, url, "a red fox in the snow", seed=4242)
        make_run(page, url, "a red fox in the snow", seed=777)
        open_library(page)
        gallery = page.locator("#library-gallery")
        expect(gallery.locator(".thumbnail-item")).to_have_count(4)
        page.locator("#library-several input").check()
        gallery.locator(".thumbnail-item", has_text="Fireworks · seed 4242").click()
        gallery.locator(".thumbnail-item", has_text="AI/ML API · seed 777").click()
        expect(page.locator("#library-bulk-info")).to_contain_text("2 selected")
        page.click("#library-bulk-compare")
        table = page.locator("#library-compare-table")
        seed_row = table.get_by_role("row", name=re.compile(r"^seed ≠"))
        expect(seed_row).to_contain_text("4242")
        expect(seed_row).to_contain_text("777")
        expect(table.get_by_role("row", name=re.compile(r"^backend ≠"))).to_contain_text("AI/ML API")
        expect(table.locator("tr", has_text="run ≠")).to_be_visible()  # two runs
        expect(table).to_contain_text("Same in all:")  # steps, size, prompt: folded
        expect(page.locator("#library-compare-slider img").first).to_be_visible()  # the A/B slider for two
        expect(page.locator("#library-compare-gallery img")).to_have_count(2)
        for img in page.locator("#library-gallery img, #library-compare img").all():
            expect(img).to_have_js_property("complete", True)  # every thumbnail drawn, not blank
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"library-compare-{w}.png"), full_page=True)
        page.locator("#library").screenshot(path=str(ARTIFACTS / f"library-tab-{w}.png"))
        page.click("#library-compare-close")
        expect(page.locator("#library-compare")).to_be_hidden()
        page.locator("#library-several input").uncheck()
        link = copy_link(page, "AI/ML API · seed 777")
        assert page.evaluate("() => navigator.clipboard.readText()") == link
    finally:
        context.close()
        demo.close()
    demo, url = serve(fireworks, aiml, config)  # a restart: a new app over the same folder
    fresh = browser.new_context(viewport={"width": w, "height": h}, **phone)
    try:
        other = fresh.new_page()
        other.set_default_timeout(30_000)
        other.goto(moved(link, url))
        other.wait_for_selector("#library-detail")
        details = other.locator("#library-detail")
        expect(details).to_contain_text(re.compile(r"AI/ML API\*?\*? · seed \*?\*?777"))
        expect(other.locator("#library-detail img").first).to_be_visible()
        expect(other.get_by_role("tab", name="Library")).to_have_attribute("aria-selected", "true")
        other.goto(moved(link, url).replace("?image=", "?image=9"))  # no such image
        other.wait_for_selector("#library-detail")
        expect(other.locator("#library-detail")).to_contain_text("was not found")
    finally:
        fresh.close()
        demo.close()


def test_a_link_opens_only_for_its_owner_on_a_space(browser, space_app):
    """On a Space an image's link opens for the visitor who made it; another visitor gets "not found"."""
    alice = browser.new_context(viewport={"width": 1440, "height": 900})
    page = alice.new_page()
    page.set_default_timeout(30_000)
    make_run(page, space_app, "alice's private lighthouse", seed=5151)
    open_library(page)
    link = copy_link(page, "Fireworks · seed 5151")
    mine = alice.new_page()  # the same browser: her token, her library
    mine.set_default_timeout(30_000)
    mine.goto(link)
    mine.wait_for_selector("#library-detail")
    expect(mine.locator("#library-detail")).to_contain_text("lighthouse")
    bob = browser.new_context(viewport={"width": 1440, "height": 900})
    other = bob.new_page()
    other.set_default_timeout(30_000)
    other.goto(link)
    other.wait_for_selector("#library-detail")
    expect(other.locator("#library-detail")).to_contain_text("was not found")
    expect(other.locator("#library-detail")).not_to_contain_text("lighthouse")
    alice.close()
    bob.close()
