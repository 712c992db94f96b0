"""Load on loopback: images asked for against images returned, at 8, 16, 32 and 64 concurrent sessions.

Starts the fake APIs and the app on 127.0.0.1 (nothing else is ever contacted), then for
each level opens that many gradio_client sessions at once; each makes ``--runs`` calls to
/generate (2 backends × ``--images``) one after another, and fetches every file in each
answer. An image counts as returned only when its record says ok and its file could be
fetched. Bounded in count (levels × sessions × runs) and in time (``--max-seconds`` in all;
calls still waiting then count as lost).

    python scripts/load.py                        # 8, 16, 32, 64 sessions × 2 runs × 2 × 2 images
    python scripts/load.py --levels 8 --runs 1
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.bench_hosted import start, stop  # noqa: E402

LOOPBACK = "127.0.0.1"


def file_url(app_url: str, item: dict) -> str:
    image = item["image"]
    url = image.get("url") if isinstance(image, dict) else None
    if not url:
        path = image["path"] if isinstance(image, dict) else image
        url = f"{app_url}gradio_api/file={path}"
    if urlsplit(url).hostname != LOOPBACK:
        raise SystemExit(f"refusing to fetch {url}: loopback only")
    return url


def session(app_url: str, runs: int, images: int, side: int, deadline: float) -> tuple[int, int, list[str]]:
    """One client session: (images asked for, images returned, problems)."""
    from gradio_client import Client

    asked = returned = 0
    problems: list[str] = []
    client = Client(app_url, verbose=False, download_files=False)
    with httpx.Client(timeout=30) as http:
        for run in range(runs):
            asked += 2 * images
            if time.monotonic() > deadline:
                problems.append("time limit reached before this call")
                continue
            try:
                gallery, records = client.predict(
                    prompt=f"load {threading.get_ident()} {run}",
                    backends=["fireworks", "aiml"],
                    aspect_ratio="Custom",
                    width=side,
                    height=side,
                    seed=0,
                    num_images=images,
                    api_name="/generate",
                )
            except Exception as err:  # a refused or failed call loses all its images
                problems.append(f"call failed: {type(err).__name__}: {str(err)[:120]}")
                continue
            ok = sum(r.get("status") == "ok" for r in records)
            problems += [f"{r['backend']}: {r['status']}: {r.get('error')}" for r in records if r.get("status") != "ok"]
            fetched = 0
            for item in gallery:
                reply = http.get(file_url(app_url, item))
                if reply.status_code == 200 and reply.content[:4] == b"\x89PNG":
                    fetched += 1
                else:
                    problems.append(f"file fetch: HTTP {reply.status_code}")
            returned += min(ok, fetched)
    return asked, returned, problems


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 16, 32, 64], help="concurrent sessions")
    parser.add_argument("--runs", type=int, default=2, help="calls per session (default 2)")
    parser.add_argument("--images", type=int, default=2, help="images per backend per call (default 2)")
    parser.add_argument("--side", type=int, default=256, help="image side (default 256, to keep the CPU free)")
    parser.add_argument("--latency", type=float, default=0.3, help="fake API latency, s (default 0.3)")
    parser.add_argument("--max-seconds", type=float, default=600, help="time limit for the whole run")
    args = parser.parse_args(argv)
    if max(args.levels) > 128 or args.runs > 10 or args.images > 4:
        raise SystemExit("bounded on purpose: at most 128 sessions, 10 runs, 4 images")
    deadline = time.monotonic() + args.max_seconds
    procs, _, _, app_url = start(argparse.Namespace(side=args.side, latency=args.latency))
    results = []
    try:
        for level in args.levels:
            started = time.perf_counter()
            with cf.ThreadPoolExecutor(level) as pool:
                futures = [
                    pool.submit(session, app_url, args.runs, args.images, args.side, deadline) for _ in range(level)
                ]
                parts = [f.result() for f in futures]
            asked = sum(p[0] for p in parts)
            returned = sum(p[1] for p in parts)
            problems = [msg for p in parts for msg in p[2]]
            row = {
                "sessions": level,
                "asked": asked,
                "returned": returned,
                "lost": asked - returned,
                "wall_s": round(time.perf_counter() - started, 1),
                "problems": sorted(set(problems))[:5],
            }
            results.append(row)
            print(
                f"{level:3d} sessions: {returned}/{asked} images returned, {asked - returned} lost, "
                f"{row['wall_s']} s" + (f"  problems: {row['problems']}" if problems else ""),
                flush=True,
            )
    finally:
        stop(procs)
    return results


if __name__ == "__main__":
    rows = main()
    sys.exit(1 if any(r["lost"] for r in rows) else 0)
