"""README promises of the library, through the store on disk and /library over HTTP (not the tab's layout,
which is being reworked): issue 29, items 16–22."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from library import ImageRow, Library, LibraryConfig, schema
from library import files as library_files
from library.store import NotSaved
from tests import helpers
from tests.test_library_app import serve


def row(prompt: str = "a red fox in the snow", seed: int = 1, **kw) -> ImageRow:
    values = dict(backend="fireworks", width=64, height=64, num_inference_steps=4, guidance_scale=3.5, status="ok")
    values.update(kw)
    return ImageRow(prompt=prompt, seed=seed, **values)


def png() -> bytes:
    return helpers.png(64, 64, (200, 40, 40))


# --- item 16: anonymous images younger than the TTL stay ----------------------------------------
def test_anonymous_images_hours_or_days_old_survive_a_7_day_ttl(tmp_path):
    lib = Library(tmp_path, LibraryConfig(dir=tmp_path, on_space=True, ttl_days=7))
    now = time.time()
    for seed, age_s in ((1, 3 * 3600), (2, 6 * 86400), (3, 8 * 86400)):
        lib.save_image(row(seed=seed, owner="anon:a", created_at=now - age_s), png())
    lib.expire()
    assert sorted(r.seed for r in lib.search(None)) == [1, 2]  # 3 hours and 6 days old stay; 8 days old went


# --- item 17: a library outside the system temp folder hands out its files --------------------------
@pytest.fixture
def outside_temp() -> Path:
    """A library folder as /data/flux-library is on a Space: not under the system's temp folder."""
    where = Path(tempfile.mkdtemp(prefix=".flux-library-test-", dir=Path.home()))
    assert not where.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_a_library_outside_the_temp_folder_hands_out_its_files(fireworks, aiml, outside_temp):
    config = LibraryConfig(dir=outside_temp, on_space=True)
    demo, url = serve(fireworks, aiml, config)
    try:
        c = Client(url, verbose=False, download_files=False)
        c.predict(
            prompt="a harbour at night", backends=["fireworks"], seed=21, aspect_ratio="Custom",
            width=128, height=128, api_name="/generate",
        )  # fmt: skip
        gallery, records = c.predict(query="harbour", api_name="/library")
        assert [r["seed"] for r in records] == [21]
        served = httpx.get(gallery[0]["image"]["url"])
        assert served.status_code == 200
        assert served.content == (outside_temp / records[0]["file"]).read_bytes()
        assert httpx.get(f"{url}gradio_api/file={outside_temp / records[0]['file']}").status_code in (403, 404)
    finally:
        demo.close()


# --- item 18: a SQLite without FTS5: LIKE search, the library still on -------------------------------
def test_without_fts5_the_library_opens_and_searches_with_like(tmp_path, monkeypatch, capsys):
    from app import open_library

    monkeypatch.setattr(schema, "FTS", "CREATE VIRTUAL TABLE images_fts USING no_fts5_in_this_sqlite(prompt);")
    lib = open_library(LibraryConfig(dir=tmp_path))
    assert lib is not None and lib.fts is False
    lib.save_image(row("a lighthouse at dusk", seed=1), png())
    lib.save_image(row("a red fox", seed=2), png())
    assert [r.seed for r in lib.search("local", query="lightho dusk")] == [1]  # every word, prefixes too


# --- item 19: WAL ---------------------------------------------------------------------------------
def test_the_database_is_in_wal_mode(tmp_path):
    lib = Library.open(LibraryConfig(dir=tmp_path))
    lib.save_image(row(), png())
    with sqlite3.connect(tmp_path / "library.sqlite3") as conn:  # journal_mode=WAL is kept in the file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- item 20: delete takes the PNG and its thumbnail off the disk -----------------------------------
def test_delete_removes_the_png_and_its_thumbnail_from_disk(tmp_path):
    lib = Library(tmp_path)
    saved = lib.save_image(row(), png())
    path, thumb = lib.path_of(saved), lib.thumb(saved)
    assert path.is_file() and thumb.is_file() and thumb == library_files.thumb_path(path)
    assert lib.delete("local", saved.id) is not None
    assert not path.exists() and not thumb.exists() and lib.get("local", saved.id) is None
    assert list(tmp_path.glob("*/*.png")) == [] and list(tmp_path.glob("*/*.webp")) == []


# --- item 21: a row that cannot be committed after its file was written: the file goes -----------------
def test_a_row_that_cannot_be_committed_leaves_no_file(tmp_path):
    lib = Library(tmp_path)
    with sqlite3.connect(tmp_path / "library.sqlite3") as conn:  # the database refuses every new row
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON images BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(NotSaved):
        lib.save_image(row(), png())
    assert [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("library.sqlite3")] == []


# --- item 22: more than one page ---------------------------------------------------------------------
def test_library_pages_are_48_newest_first_and_the_next_page_follows(fireworks, aiml, tmp_path):
    config = LibraryConfig(dir=tmp_path / "lib")
    lib = Library(config.dir, config)
    start = time.time() - 1000
    for seed in range(50):
        lib.save_image(row(f"page test {seed}", seed=seed, created_at=start + seed), None)
    lib.close()
    demo, url = serve(fireworks, aiml, config)
    try:
        c = Client(url, verbose=False, download_files=False)
        _, first = c.predict(query="page", api_name="/library")
        _, second = c.predict(query="page", offset=48, api_name="/library")
        _, bigger = c.predict(query="page", limit=200, api_name="/library")
        with pytest.raises(Exception, match="limit must be a whole number from 1 to 200"):
            c.predict(query="page", limit=201, api_name="/library")
    finally:
        demo.close()
    assert [r["seed"] for r in first] == list(range(49, 1, -1))  # 48, newest first
    assert [r["seed"] for r in second] == [1, 0]
    assert [r["seed"] for r in bigger] == list(range(49, -1, -1))
