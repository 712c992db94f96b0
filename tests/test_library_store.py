"""The library's store on its own: migrations, search with and without FTS5, crash safety,
reconcile, a corrupt database, a full disk, many writers at once, and a Space's caps."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from library import ImageRow, Library, LibraryConfig
from library import files as library_files
from library.schema import VERSION, migrate
from library.store import NotSaved
from tests import helpers

ROOT = Path(__file__).resolve().parent.parent


def png(params: dict | None = None, side: int = 64) -> bytes:
    return helpers.png(side, side, (200, 40, 40), params)


def row(prompt: str = "a red fox in the snow", backend: str = "fireworks", seed: int = 1, **kw) -> ImageRow:
    values = dict(width=64, height=64, num_inference_steps=4, guidance_scale=3.5, status="ok")
    values.update(kw)
    return ImageRow(prompt=prompt, backend=backend, seed=seed, **values)


def integrity(root: Path) -> str:
    with sqlite3.connect(root / "library.sqlite3") as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_saved_image_is_a_file_with_its_row_and_a_thumbnail(tmp_path):
    lib = Library(tmp_path)
    saved = lib.save_image(row(seed=42), png({"prompt": "a red fox in the snow", "seed": 42}, side=600))
    path = lib.path_of(saved)
    assert path.read_bytes().startswith(b"\x89PNG") and path.name.startswith("flux-fireworks-seed42-")
    assert lib.get("local", saved.id).path == saved.path
    thumb = lib.thumb(saved)
    with Image.open(thumb) as img:
        assert img.format == "WEBP" and max(img.size) == library_files.THUMB_SIDE
    assert lib.thumb(saved) == thumb  # made once


def test_version_1_library_is_migrated_and_searchable(tmp_path):
    conn = sqlite3.connect(tmp_path / "library.sqlite3", isolation_level=None)
    migrate(conn, upto=1)
    conn.execute("INSERT INTO runs VALUES (1, ?, 'run', 'an old lighthouse', '{}')", (time.time(),))
    conn.execute(
        "INSERT INTO images(run_id, created_at, prompt, backend, seed, width, height, num_inference_steps,"
        " guidance_scale, status, cost, path) VALUES (1, ?, 'an old lighthouse', 'aiml', 9, 64, 64, 4, 3.5,"
        " 'ok', 0.003, NULL)",
        (time.time(),),
    )
    conn.close()
    lib = Library(tmp_path)
    assert lib._conn().execute("PRAGMA user_version").fetchone()[0] == VERSION == 3
    found = lib.search("local", query="lighthouse")
    assert [(r.seed, r.owner, r.cost, r.cost_unit) for r in found] == [(9, "local", 0.003, "usd")]
    assert lib.get_run("local", 1)[0].meta == {}


@pytest.mark.parametrize("fts", [True, False])
def test_search_words_prefixes_filters_and_odd_characters(tmp_path, fts):
    lib = Library(tmp_path, fts=fts)  # fts=False: the LIKE fallback, as where SQLite lacks FTS5
    assert lib.fts is fts
    lib.save_image(row("a red fox in the snow", "fireworks", 1), None)
    lib.save_image(row("foxes at 100% saturation", "aiml", 2), None)
    lib.save_image(row("a blue whale", "aiml", 3, status="rate_limited"), None)
    assert {r.seed for r in lib.search("local", query="fox")} == {1, 2}
    assert {r.seed for r in lib.search("local", query="fox snow")} == {1}
    assert {r.seed for r in lib.search("local", query="fox", backends=["aiml"])} == {2}
    assert {r.seed for r in lib.search("local", failed=True)} == {3}
    assert {r.seed for r in lib.search("local", query='"fox* (')} == {1, 2}  # FTS syntax is just text
    assert {r.seed for r in lib.search("local", query="x_")} == set()  # "_" is no LIKE wildcard
    assert [r.seed for r in lib.search("local")] == [3, 2, 1]  # newest first
    assert lib.search("someone-else") == []


def test_corrupt_database_is_moved_aside_and_its_files_listed_again(tmp_path):
    lib = Library(tmp_path)
    lib.save_image(row(seed=7), png({"prompt": "a red fox in the snow", "backend": "fireworks", "seed": 7}))
    lib.close()
    (tmp_path / "library.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'library.sqlite3'}{suffix}").unlink(missing_ok=True)
    lib = Library.open(LibraryConfig(dir=tmp_path))
    assert lib.report.moved_aside is not None and lib.report.moved_aside.exists()
    assert "moved aside" in lib.report.message() and lib.report.files_adopted == 1
    assert [r.seed for r in lib.search("local", query="fox")] == [7]


def test_reconcile_drops_rows_without_files_and_removes_leftovers(tmp_path):
    lib = Library(tmp_path)
    kept = lib.save_image(row(seed=1), png())
    gone = lib.save_image(row(seed=2), png())
    lib.thumb(gone)
    lib.path_of(gone).unlink()
    leftover = lib.path_of(kept).with_name("x.png.tmp-1234")
    leftover.write_bytes(b"half")
    report = Library.open(LibraryConfig(dir=tmp_path)).report
    assert (report.rows_dropped, report.files_adopted, report.leftovers_removed) == (1, 0, 2)
    assert [r.seed for r in Library(tmp_path).search("local")] == [1] and not leftover.exists()


def test_disk_full_leaves_nothing_half_written(tmp_path, monkeypatch):
    lib = Library(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(library_files.os, "fsync", full)
    with pytest.raises(NotSaved, match="disk is full"):
        lib.save_image(row(), png())
    assert lib.count("local") == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file() and "library.sqlite3" not in p.name] == []


def test_sixteen_writers_at_once_lose_nothing(tmp_path):
    shared = Library(tmp_path)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        lib = shared if n % 2 else Library(tmp_path)  # half share a Library, half open their own connection
        try:
            for i in range(10):
                lib.save_image(row(f"writer {n} image {i}", seed=n * 100 + i), png())
        except BaseException as err:  # "database is locked" would land here
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert shared.count("local") == 160 and integrity(tmp_path) == "ok"
    assert len(list(tmp_path.glob("*/*.png"))) == 160


WRITER = """
import io, sys
from PIL import Image
from library import ImageRow, Library
lib = Library(sys.argv[1])
buf = io.BytesIO(); Image.new("RGB", (256, 256), "red").save(buf, format="PNG")
i = 0
while True:
    lib.save_image(ImageRow(prompt="kill test", backend="fireworks", seed=i, width=256, height=256,
                            num_inference_steps=4, guidance_scale=3.5, status="ok"), buf.getvalue())
    i += 1
    if i == 20:
        print("saving", flush=True)
"""


def test_kill_9_mid_run_leaves_a_sound_library(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "saving"  # killed while it writes, not before
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lib = Library.open(LibraryConfig(dir=tmp_path))
    assert integrity(tmp_path) == "ok"
    rows = lib.search(None, limit=100_000)
    assert len(rows) >= 20 and all(lib.path_of(r).is_file() for r in rows)
    assert list(tmp_path.rglob(f"*{library_files.TMP_MARK}*")) == []
    assert len(list(tmp_path.glob("*/*.png"))) == len(rows)


def space(tmp_path, **kw) -> LibraryConfig:
    return LibraryConfig(dir=tmp_path, on_space=True, **kw)


def test_space_caps_remove_the_oldest_first(tmp_path):
    lib = Library(tmp_path, space(tmp_path, max_per_visitor=3))
    for seed in range(5):
        lib.save_image(row(seed=seed, owner="anon:a"), png())
    lib.save_image(row(seed=99, owner="hf:bea"), png())
    assert [r.seed for r in lib.search("anon:a")] == [4, 3, 2] and len(lib.search("hf:bea")) == 1
    assert len(list(tmp_path.glob("*/*.png"))) == 4  # the files went too
    size = lib.path_of(lib.search("hf:bea")[0]).stat().st_size
    small = Library(tmp_path, space(tmp_path, max_bytes=size * 2))
    small.save_image(row(seed=100, owner="hf:bea"), png())
    assert [r.seed for r in small.search(None)] == [100, 99]  # anyone's oldest went first


def test_space_anonymous_images_expire_signed_in_ones_stay(tmp_path):
    lib = Library(tmp_path, space(tmp_path, ttl_days=7))
    old = time.time() - 8 * 86400
    lib.save_image(row(seed=1, owner="anon:a", created_at=old), png())
    lib.save_image(row(seed=2, owner="hf:bea", created_at=old), png())
    lib.save_image(row(seed=3, owner="anon:a"), png())
    assert [r.seed for r in lib.search(None)] == [3, 2]  # the old anonymous one went at once
    lib.save_image(row(seed=4, owner="anon:b", created_at=old), png())
    assert lib.expire() == 1 and [r.seed for r in lib.search(None)] == [3, 2]


def test_stats_per_backend(tmp_path):
    lib = Library(tmp_path)
    for i, latency in enumerate([1.0, 2.0, 3.0, 4.0]):
        lib.save_image(row(seed=i, latency_s=latency, cost=0.0014, cost_unit="usd"), None)
    lib.save_image(row(seed=9, status="timeout"), None)
    lib.save_image(row(backend="local", seed=5, latency_s=0.5, cost=0.5, cost_unit="gpu_s"), None)
    stats = {s["backend"]: s for s in lib.stats("local")}
    fw = stats["fireworks"]
    # The median of an even count is the mean of the middle two (library.scoring, as the session's scoreboard).
    assert (fw["images"], fw["failures"], fw["p50_s"], fw["p95_s"]) == (4, 1, 2.5, 4.0)
    assert fw["usd"] == pytest.approx(0.0056) and stats["local"]["gpu_s"] == 0.5
    assert json.dumps(lib.daily("local"))  # the plot's rows are plain data
