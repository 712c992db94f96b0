"""Field queries and marking at 100,000 rows (search + count up to 10,001, p95 of 100 each).

PYTHONPATH=. python bench/bench_library_query.py
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.bench_library import make_row, p95
from library import Library
from library.store import LOCAL_OWNER

QUERIES = [
    "seed:42", "backend:fireworks steps:>2", "fox backend:fireworks steps:>2 date:7d", "star:yes",
    "tag:cats backend:aiml", "ratio:16:9 cost:<0.002",
]  # fmt: skip


def p95_ms(lib: Library, query: str, n: int = 100) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        lib.search(LOCAL_OWNER, query=query)
        lib.count(LOCAL_OWNER, upto=10_001, query=query)
        times.append(time.perf_counter() - start)
    return p95(times) * 1000


def main(rows: int = 100_000) -> None:
    rng = random.Random(1)
    lib = Library(Path(tempfile.mkdtemp()))
    now = time.time()
    with lib._write() as conn:
        for i in range(rows):
            lib._insert(conn, make_row(rng, now - (rows - i) * 300))
    ids = [r[0] for r in lib._conn().execute("SELECT id FROM images ORDER BY random() LIMIT 1000")]
    start = time.perf_counter()
    lib.mark(LOCAL_OWNER, ids, star=True, add_tags=["cats"])
    print(f"star + tag 1,000 images: {(time.perf_counter() - start) * 1000:.0f} ms (goal 1,000)")
    for query in QUERIES:
        print(f"{query!r}: p95 {p95_ms(lib, query):.1f} ms (goal 50)")


if __name__ == "__main__":
    main()
