"""Memory against visitors: the app's resident memory before, with N browser sessions open, and after they close.

Starts the fake APIs and the app on 127.0.0.1 (nothing else is contacted), opens ``--sessions`` browser tabs in
batches, each making one run of 2 backends × 2 images, closes them, and polls the app's RSS for up to
``--settle`` seconds. The goal (issue 16): 200 sessions add at most 200 MB, and memory returns within 2 minutes.

    python scripts/sessions_memory.py --sessions 200
    python scripts/sessions_memory.py --sessions 10 --batch 5     # a quick check
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_hosted import start, stop  # noqa: E402
from tests.helpers import generate, open_app, set_number, tick, wait_done  # noqa: E402

MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def one_batch(browser, url: str, n: int) -> None:
    """Open ``n`` tabs, make one 2 × 2 run in each, then close them all."""
    contexts = []
    for _ in range(n):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_app(page, url)
        tick(page, "Fireworks", "AI/ML API")
        set_number(page, "num-images", 2)
        generate(page, "a lighthouse at dusk")
        contexts.append((context, page))
    for _, page in contexts:
        wait_done(page, timeout=120_000)
    for context, _ in contexts:
        context.close()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200, help="browser sessions in all (default 200)")
    parser.add_argument("--batch", type=int, default=10, help="tabs open at once (default 10)")
    parser.add_argument("--settle", type=float, default=120, help="seconds to wait for memory to return")
    parser.add_argument("--side", type=int, default=1024, help="image side from the fakes (default 1024)")
    args = parser.parse_args(argv)
    if args.sessions > 400 or args.batch > 50:
        raise SystemExit("bounded on purpose: at most 400 sessions, 50 at once")
    from playwright.sync_api import sync_playwright

    procs, _, _, url = start(argparse.Namespace(side=args.side, latency=0.2))
    app_pid = procs[1].pid
    try:
        with sync_playwright() as pw:
            chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            one_batch(browser, url, 1)  # warm: the first run loads what every run needs
            before = rss_mb(app_pid)
            peak = before
            for done in range(0, args.sessions, args.batch):
                one_batch(browser, url, min(args.batch, args.sessions - done))
                now = rss_mb(app_pid)
                peak = max(peak, now)
                print(f"  {done + args.batch} sessions closed: {now:.0f} MB", flush=True)
            closed = time.monotonic()
            after = rss_mb(app_pid)
            while time.monotonic() - closed < args.settle and after - before > 200:
                time.sleep(5)
                after = rss_mb(app_pid)
            browser.close()
    finally:
        stop(procs)
    row = {"sessions": args.sessions, "before_mb": before, "peak_mb": peak, "after_mb": after}
    print(
        f"{args.sessions} sessions: {before:.0f} MB before, {peak:.0f} MB at most, {after:.0f} MB "
        f"{time.monotonic() - closed:.0f} s after they closed (+{after - before:.0f} MB)",
        flush=True,
    )
    return row


if __name__ == "__main__":
    result = main()
    sys.exit(0 if result["after_mb"] - result["before_mb"] <= 200 else 1)
