"""Where results land: a run keeps one row per image asked for, failed ones too, and a save that
fails still shows the images with one warning."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from backends import BackendRun, GenerationRequest, ImageOutcome
from backends.errors import RateLimited
from bench.stub_backends import StubBackend
from images.pngmeta import read_params
from library import Library
from library.store import NotSaved
from runs import keeper as library_hook
from runs.history import History
from runs.keeper import Keeper
from runs.session import Session


def a_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


class HalfFailing(StubBackend):
    """Image 0 made, image 1 refused upstream."""

    async def generate(self, request, ctx):
        run = await super().generate(request, ctx)
        failed = ImageOutcome(1, request.image_seed(1), error=RateLimited("slow down"))
        return BackendRun(run.backend, run.label, [run.outcomes[0], failed], wall_s=run.wall_s)


async def run(sess: Session, backends) -> None:
    request = GenerationRequest("a harbour at noon", width=64, height=64, seed=500, num_images=2)
    async for _ in sess.run(request, backends, {}, []):
        pass


def test_a_run_keeps_every_image_asked_for_with_its_run(tmp_path):
    lib = Library(tmp_path / "lib")
    sess = Session(history=History(root=tmp_path / "history"))
    sess.keeper = Keeper(lib)
    asyncio.run(run(sess, [StubBackend("fireworks", 0.01, a_png()), HalfFailing("aiml", 0.01, a_png())]))
    rows = lib.search("local", limit=10)
    assert sorted((r.backend, r.seed, r.status) for r in rows) == [
        ("aiml", 500, "ok"), ("aiml", 501, "rate_limited"), ("fireworks", 500, "ok"), ("fireworks", 501, "ok"),
    ]  # fmt: skip
    failed = next(r for r in rows if r.status != "ok")
    assert failed.path is None and failed.error
    assert len({r.run_id for r in rows}) == 1 and {r.session for r in rows} == {sess.keeper.session}
    run_row, images = lib.get_run("local", rows[0].run_id)
    assert set(run_row.meta) == {"fireworks", "aiml"} and len(images) == 4
    made = next(r for r in rows if r.backend == "fireworks" and r.seed == 501)
    assert read_params(lib.path_of(made))["seed"] == 501  # the download's chunks
    assert not list(lib.root.rglob("*.webp"))  # no thumbnail competes with a run: made when first viewed


def test_thumbnails_are_made_when_the_library_is_first_viewed_and_once(tmp_path, monkeypatch):
    from ui.library_tab import handlers as library_tab

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-cache"))
    lib = Library(tmp_path / "lib")
    sess = Session(history=History(root=tmp_path / "history"))
    sess.keeper = Keeper(lib)
    asyncio.run(run(sess, [StubBackend("fireworks", 0.01, a_png())]))
    assert not list(lib.root.rglob("*.webp"))  # the run is over and its client has its images: still none
    items, ids, *_ = library_tab.browse(lib, "local", "", None, "Any status", "Any time", 0)
    thumbs = sorted(lib.root.rglob("*.webp"))
    assert len(thumbs) == len(ids) == 2 and all(path.endswith(".webp") for path, _ in items)
    first = {p: p.stat().st_mtime_ns for p in thumbs}
    library_tab.browse(lib, "local", "", None, "Any status", "Any time", 0)  # seen again: the cached files
    assert {p: p.stat().st_mtime_ns for p in sorted(lib.root.rglob("*.webp"))} == first


def test_a_failed_save_still_shows_the_images_with_one_warning(tmp_path, monkeypatch):
    lib = Library(tmp_path / "lib")
    warnings: list[str] = []

    def full(row, png):
        raise NotSaved("the disk is full")

    monkeypatch.setattr(lib, "save_image", full)
    sess = Session(history=History(root=tmp_path / "history"))
    sess.keeper = Keeper(lib, notify=warnings.append)
    asyncio.run(run(sess, [StubBackend("fireworks", 0.01, a_png()), StubBackend("aiml", 0.01, a_png())]))
    assert len(sess.history.entries) == 4  # every image still shown
    assert len(warnings) == 1 and "not saved" in warnings[0] and "disk is full" in warnings[0]


def test_an_unexpected_error_in_the_library_never_breaks_a_run(tmp_path, monkeypatch):
    lib = Library(tmp_path / "lib")
    warnings: list[str] = []
    monkeypatch.setattr(library_hook, "image_rows", lambda *a: (_ for _ in ()).throw(RuntimeError("a bug")))
    sess = Session(history=History(root=tmp_path / "history"))
    sess.keeper = Keeper(lib, notify=warnings.append)
    asyncio.run(run(sess, [StubBackend("fireworks", 0.01, a_png())]))
    assert len(sess.history.entries) == 2 and len(warnings) == 1 and "RuntimeError" in warnings[0]
