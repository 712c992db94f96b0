"""One image, one file: a run of N images leaves N image files on disk (plus thumbnails), whichever door
it came through, while the history's bound and the library's Delete keep working (issue 23)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import gradio
from gradio_client import Client
from PIL import Image

from bench.stub_backends import StubBackend
from library import Library, LibraryConfig
from runs.history import History
from runs.keeper import Keeper
from runs.session import Session
from tests.test_bytes import fake_page
from tests.test_library_app import serve
from ui.page import handlers as events


def a_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 90, 10)).save(buf, format="PNG")
    return buf.getvalue()


def image_files(*roots: Path) -> dict[int, list[Path]]:
    """The run's image files under ``roots``, by inode (a hard link is the same file). The page's
    contact sheet (comparison-*.png) is an export of its own, not one of the run's images."""
    found: dict[int, list[Path]] = {}
    for root in roots:
        for path in root.rglob("*.png"):
            if not path.name.startswith("comparison-"):
                found.setdefault(path.stat().st_ino, []).append(path)
    return found


def test_a_page_run_of_4_images_leaves_4_files_and_eviction_and_delete_touch_only_their_names(tmp_path, monkeypatch):
    monkeypatch.setattr(gradio, "Warning", lambda *a, **k: None)  # the handlers warn through gr.Warning
    backends = {b: StubBackend(b, 0.01, a_png()) for b in ("fireworks", "aiml")}
    ctx = events.Context(page=fake_page(list(backends)), backends=backends)
    lib = Library(tmp_path / "lib")
    sess = Session(History(root=tmp_path / "history"))
    sess.keeper = Keeper(lib)
    form = ["a fox", list(backends), "1:1", 512, 512, 4, 3.5, 7, 2, True, "", "", ""]

    async def page_run() -> list[dict]:
        return [update async for update in events.on_generate(ctx, sess, *form)]

    asyncio.run(page_run())
    rows = lib.search("local", limit=10)
    assert len(rows) == 4 and all(r.status == "ok" for r in rows)
    files = image_files(tmp_path / "lib", tmp_path / "history")
    assert len(files) == 4  # one file per image: the history's entries are links to the library's files
    assert not list((tmp_path / "lib").rglob("*.webp"))  # thumbnails: made when the Library first shows them
    library_inodes = {lib.path_of(r).stat().st_ino for r in rows}
    assert {e.path.stat().st_ino for e in sess.history.entries} <= library_inodes
    # The history's bound evicts an entry's link only: the library's file stays.
    sess.history.limit = 3
    oldest = sess.history.entries[-1].path
    sess.history.add(Image.new("RGB", (8, 8)), "one more", {"backend": "fireworks", "seed": 1})
    assert len(sess.history.entries) == 3 and not oldest.exists()
    assert all(lib.path_of(r).exists() for r in rows)
    # Delete in the library removes the image everywhere (issue 24: a deleted image is revoked at once,
    # the history's link too), and no other image's name.
    shown = sess.history.entries[1]  # [0] is the one just added
    row = next(r for r in rows if lib.path_of(r).stat().st_ino == shown.path.stat().st_ino)
    assert lib.delete("local", row.id) is not None
    assert not lib.path_of(row).exists() and not shown.path.exists()
    assert all(lib.path_of(r).exists() for r in rows if r.id != row.id)
    # With no library, the history writes its one file per image.
    bare = Session(History(root=tmp_path / "bare"))
    asyncio.run(_collect(events.on_generate(ctx, bare, *form)))
    assert len(image_files(tmp_path / "bare")) == 4


async def _collect(updates) -> list:
    return [u async for u in updates]


def test_generate_of_4_images_leaves_4_files_and_gradio_copies_none(fireworks, aiml, tmp_path, monkeypatch):
    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))  # this app's own cache, so other tests' files are not counted
    config = LibraryConfig(dir=tmp_path / "lib")
    demo, url = serve(fireworks, aiml, config)
    try:
        client = Client(url, verbose=False, download_files=False)  # the server's paths, not client copies
        gallery, records = client.predict(
            prompt="a copper kettle", backends=["fireworks", "aiml"], seed=11, num_images=2,
            aspect_ratio="Custom", width=256, height=256, api_name="/generate",
        )  # fmt: skip
        assert [r["status"] for r in records] == ["ok"] * 4 and len(gallery) == 4
        files = image_files(config.dir, cache)
        assert len(files) == 4, {ino: [str(p) for p in paths] for ino, paths in files.items()}
        # What /generate returns is its link in Gradio's cache, served as it is (no copy made on the way out).
        served = {Path(item["image"]["path"]).stat().st_ino for item in gallery}
        library = Library(config.dir)
        assert served == {library.path_of(r).stat().st_ino for r in library.search("local", limit=10)}
        assert not list(config.dir.rglob("*.webp"))  # none until the Library shows them
    finally:
        demo.close()
