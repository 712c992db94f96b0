"""The library at scale: search, a page of thumbnails, the start-up reconcile, and what saving adds to a run.

Fills a library in a temporary folder with 100,000 rows (and a few hundred real 1024² PNGs), then
prints each figure beside its goal:
- search p95 over prompts (FTS5; and the LIKE fallback for comparison), goal ≤ 50 ms;
- a page of 48 thumbnails as the Library tab makes it (query, thumbnails, served copies), goal ≤ 200 ms;
- the start-up reconcile (rows against files), goal ≤ 2 s;
- the extra wall time saving adds to a run of 2 backends × 4 images (stub backends that answer
  after ``--latency`` seconds with photo-like 1024² PNGs, as the hosted fakes do), goal ≤ 5 %.

    python -m bench.bench_library                 # 100,000 rows, 300 files
    python -m bench.bench_library --rows 20000 --files 50 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from library import ImageRow, Library, LibraryConfig
from library.store import LOCAL_OWNER

WORDS = (
    "fox kettle lighthouse garden lantern whale boat castle forest river mountain city night dawn snow rain "
    "portrait robot dragon cat dog owl flower desert ocean bridge street market train ship cloud star moon"
).split()


def prompt(rng: random.Random) -> str:
    return "a " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


def fill(lib: Library, rows: int, files: int, png: bytes, rng: random.Random) -> None:
    """``rows`` rows, one every 5 minutes up to now, the newest ``files`` of them with a real PNG on disk."""
    now = time.time()
    with lib._write() as conn:
        for i in range(rows - files):
            lib._insert(conn, make_row(rng, now - (rows - i) * 300))
    for i in range(files):
        lib.save_image(make_row(rng, now - (files - i)), png)


def make_row(rng: random.Random, when: float) -> ImageRow:
    backend = rng.choice(["local", "fireworks", "aiml"])
    status = "ok" if rng.random() > 0.05 else "rate_limited"
    return ImageRow(
        prompt=prompt(rng), backend=backend, seed=rng.randint(1, 2**31 - 1), width=1024, height=1024,
        num_inference_steps=4, guidance_scale=3.5, status=status, latency_s=rng.uniform(0.3, 3.0),
        cost=0.0014, cost_unit="usd", created_at=when,
    )  # fmt: skip


def timed(fn, *args, **kw) -> float:
    start = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - start


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def bench_search(lib: Library, rng: random.Random, n: int = 200) -> tuple[float, float]:
    times = []
    for _ in range(n):
        query = " ".join(rng.sample(WORDS, rng.randint(1, 2)))
        times.append(
            timed(lambda q=query: (lib.search(LOCAL_OWNER, query=q), lib.count(LOCAL_OWNER, upto=10_001, query=q)))
        )
    return p95(times), statistics.median(times)


def bench_page(lib: Library) -> tuple[float, float]:
    from ui import library_access
    from ui.library_tab.handlers import browse

    cold = timed(browse, lib, LOCAL_OWNER, "", None, "Any status", "Any time", 0)  # thumbnails made now
    warm = []
    for _ in range(10):
        library_access._served.clear()  # each page as a new visitor's: every thumbnail linked into the cache
        warm.append(timed(browse, lib, LOCAL_OWNER, "", None, "Any status", "Any time", 0))
    return cold, statistics.median(warm)


async def run_once(keep: Library | None, latency: float, png: bytes) -> float:
    from backends import GenerationRequest
    from bench.stub_backends import stub_backends
    from runs.history import History
    from runs.keeper import Keeper
    from runs.session import Session

    with tempfile.TemporaryDirectory() as tmp:
        sess = Session(history=History(root=Path(tmp)))
        sess.keeper = Keeper(keep) if keep else None
        request = GenerationRequest("a lighthouse at dusk", seed=7, num_images=4)
        start = time.perf_counter()
        async for _ in sess.run(request, stub_backends(latency, png), {}, []):
            pass
        return time.perf_counter() - start


def bench_save(lib: Library, latency: float, png: bytes, rounds: int) -> tuple[float, float]:
    without, with_ = [], []
    for _ in range(rounds):  # alternated, so drift hits both alike
        without.append(asyncio.run(run_once(None, latency, png)))
        with_.append(asyncio.run(run_once(lib, latency, png)))  # thumbnails: made when first viewed
    return statistics.median(without), statistics.median(with_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each stub backend takes for its images")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from tests.fakes.servers import photo_like_png

    rng = random.Random(15)
    png = photo_like_png(1024, 1024, 1)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp) / "lib"
        lib = Library(root)
        t = timed(fill, lib, args.rows, args.files, png, rng)
        print(f"filled {lib.count(None):,} rows, {args.files} files ({len(png) / 1e6:.1f} MB each) in {t:.1f} s")
        lib.close()
        opened = time.perf_counter()
        lib = Library.open(LibraryConfig(dir=root))
        reconcile = time.perf_counter() - opened
        print(f"start-up reconcile: {reconcile * 1000:.0f} ms (goal ≤ 2000 ms): {lib.report.message()}")
        fts_p95, fts_med = bench_search(lib, rng)
        print(f"search p95: {fts_p95 * 1000:.1f} ms, median {fts_med * 1000:.1f} ms (FTS5; goal p95 ≤ 50 ms)")
        like = Library(root, fts=False)
        like_p95, like_med = bench_search(like, rng, 50)
        print(f"search p95 with the LIKE fallback: {like_p95 * 1000:.1f} ms, median {like_med * 1000:.1f} ms")
        cold, warm = bench_page(lib)
        print(f"page of 48 thumbnails: {warm * 1000:.0f} ms (goal ≤ 200 ms); the first time, making them: {cold:.2f} s")
        base, saved = bench_save(lib, args.latency, png, args.rounds)
        extra = (saved - base) / base * 100
        print(
            f"2 backends × 4 images at {args.latency:g} s: {base:.3f} s without saving, {saved:.3f} s with: "
            f"+{extra:.1f} % (goal ≤ 5 %)"
        )


if __name__ == "__main__":
    main()
