"""The app's overhead on hosted backends, through /generate and through the page, against direct calls.

The loopback fakes (their own process) serve photo-like PNGs after a fixed latency; the app runs
in its own process against them, as it would in production. Each round measures, in turn:
- **direct**: the same 2 × n calls with httpx (bodies read, the AI/ML image URLs fetched);
- **/generate**: gradio_client with ``download_files=False`` (the answer's file URLs);
- **openai**: the OpenAI images route (``model`` fireworks and aiml at once, b64_json: images in hand);
- **page, history 0**: a fresh page (a new session) in Chromium, driven by Playwright, timed by
  the page itself from the click on Generate to the last of the 2 × n images shown (decoded);
- **page, history 96**: the same on a page whose history already holds 96 images.
It prints each round's ratios to direct with the machine's load average beside them, then the
ratios of medians with their goals: /generate ≤ 1.10; a page with a full history ≤ 1.15 and no
slower than an empty one.

    python -m bench.bench_hosted                      # 1024², 1 s latency, 2 × 4 images, 3 rounds
    python -m bench.bench_hosted --side 256 --latency 0.2 --rounds 1 --num-images 1 --no-page
    python -m bench.bench_hosted --profile prof.txt   # also py-spy the app during 10 /generate calls
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FW_PATH = "/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image"
KEY = "test-key"  # the fakes' default key
SERVE_KEY = "bench-serve-key-0123456789"  # the app's OpenAI images route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up in {timeout_s:.0f} s")


def start(args: argparse.Namespace) -> tuple[list[subprocess.Popen], str, str, str]:
    fw_port, aiml_port, app_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    fakes = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--fireworks-port", str(fw_port), "--aiml-port", str(aiml_port)]
        + ["--delay", str(args.latency), "--photo", str(args.side)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    fw, aiml = f"http://127.0.0.1:{fw_port}", f"http://127.0.0.1:{aiml_port}"
    app_env = {
        **env,
        "FIREWORKS_BASE_URL": fw,
        "AIML_BASE_URL": aiml,
        "FIREWORKS_API_KEY": KEY,
        "AIML_API_KEY": KEY,
        "GRADIO_SERVER_PORT": str(app_port),
        "FLUX_DEVICE": "cpu",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OPENAI_SERVE_KEY": SERVE_KEY,
    }
    app = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=app_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    procs = [fakes, app]
    try:
        wait_http(fw + "/", fakes)
        app_url = f"http://127.0.0.1:{app_port}/"
        wait_http(app_url, app)
    except BaseException:
        stop(procs)
        raise
    return procs, fw, aiml, app_url


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def direct(fw: str, aiml: str, side: int, num_images: int, seed: int) -> float:
    """The same 2 × n calls the app makes, straight with httpx: wall seconds until every image's bytes are in."""
    auth = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=60) as client:

        async def fireworks(i: int) -> int:
            body = {"prompt": "p", "aspect_ratio": "1:1", "guidance_scale": 3.5, "num_inference_steps": 4}
            reply = await client.post(fw + FW_PATH, json={**body, "seed": seed + i}, headers=auth)
            reply.raise_for_status()
            return len(reply.content)

        async def aiml_one(i: int) -> int:
            body = {"model": "flux/schnell", "prompt": "p", "image_size": {"width": side, "height": side}}
            body |= {"num_inference_steps": 4, "seed": seed + i, "num_images": 1}
            reply = await client.post(aiml + "/images/generations", json=body, headers=auth)
            reply.raise_for_status()
            image = await client.get(reply.json()["images"][0]["url"])
            image.raise_for_status()
            return len(image.content)

        started = time.perf_counter()
        sizes = await asyncio.gather(*(f(i) for i in range(num_images) for f in (fireworks, aiml_one)))
        wall = time.perf_counter() - started
    assert all(sizes), "an empty image body"
    return wall


async def openai_route(app_url: str, side: int, num_images: int, seed: int) -> float:
    """The OpenAI images route for both hosted backends at once: wall seconds until every image's bytes are in."""
    import base64

    auth = {"Authorization": f"Bearer {SERVE_KEY}"}
    async with httpx.AsyncClient(timeout=120) as client:

        async def one(model: str) -> list[int]:
            body = {"model": model, "prompt": "p", "n": num_images, "size": f"{side}x{side}", "seed": seed}
            reply = await client.post(app_url.rstrip("/") + "/v1/images/generations", json=body, headers=auth)
            reply.raise_for_status()
            return [len(base64.b64decode(d["b64_json"])) for d in reply.json()["data"]]

        started = time.perf_counter()
        sizes = await asyncio.gather(one("fireworks"), one("aiml"))
        wall = time.perf_counter() - started
    assert all(s for part in sizes for s in part) and sum(map(len, sizes)) == 2 * num_images, sizes
    return wall


def cpu_s(pid: int) -> float:
    """The process's CPU seconds so far (user + system)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def idle_cpu_ms_per_s(pid: int, seconds: float = 10.0) -> float:
    """The app's CPU with no visitor, in ms a second, over ``seconds``."""
    before = cpu_s(pid)
    time.sleep(seconds)
    return (cpu_s(pid) - before) * 1000 / seconds


def through_app(client, side: int, num_images: int, seed: int) -> float:
    started = time.perf_counter()
    gallery, records = client.predict(
        prompt="p",
        backends=["fireworks", "aiml"],
        aspect_ratio="Custom",
        width=side,
        height=side,
        num_inference_steps=4,
        guidance_scale=3.5,
        seed=seed,
        num_images=num_images,
        api_name="/generate",
    )
    wall = time.perf_counter() - started
    ok = [r for r in records if r["status"] == "ok"]
    if len(ok) != 2 * num_images or len(gallery) != 2 * num_images:
        raise SystemExit(f"/generate returned {len(ok)} of {2 * num_images} images: {records}")
    return wall


# --- the page, through the browser's own client -----------------------------------------------
# Clicks Generate and resolves when every column shows n new images, decoded (complete, with a size).
TIME_RUN_JS = """async (n) => {
  const cols = ['#col-fireworks', '#col-aiml'];
  const imgs = c => [...document.querySelectorAll(c + ' img')];
  const old = new Set(cols.flatMap(imgs).map(i => i.src));
  const t0 = performance.now();
  document.querySelector('#generate-btn').click();
  return await new Promise((resolve, reject) => {
    const check = () => {
      const fresh = c => imgs(c).filter(i => !old.has(i.src) && i.complete && i.naturalWidth > 0);
      if (cols.every(c => new Set(fresh(c).map(i => i.src)).size >= n)) resolve((performance.now() - t0) / 1000);
      else if (performance.now() - t0 > 120000) reject(new Error('no images after 120 s'));
      else requestAnimationFrame(check);
    };
    check();
  });
}"""


def open_page(browser, app_url: str, side: int, num_images: int):
    """A fresh session: both hosted backends ticked, side × side, n images per backend."""
    page = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
    page.set_default_timeout(120_000)
    page.goto(app_url)
    page.wait_for_selector("#prompt textarea")
    page.locator("#backend-status").get_by_text("AI/ML API").first.wait_for()
    for label in ("Local FP8", "Fireworks", "AI/ML API"):
        box = page.locator("#backends").get_by_label(label, exact=True)
        if (label != "Local FP8") != box.is_checked():
            box.click()
    for elem_id, value in (("width", side), ("height", side), ("num-images", num_images)):
        field = page.locator(f"#{elem_id} input[type=number]").first
        field.fill(str(value))
        field.press("Enter")
    page.fill("#prompt textarea", "p")
    page.wait_for_timeout(500)  # the size handlers' replies land before the first run
    return page


def page_run(page, num_images: int) -> float:
    """One run timed by the page: click to the last image shown; then wait for the run to finish."""
    runs = page.evaluate("() => (document.querySelector('#run-summary')?.innerText.match(/Run (\\d+) ·/) || [0, 0])[1]")
    seconds = page.evaluate(TIME_RUN_JS, num_images)
    page.locator("#run-summary").get_by_text(f"Run {int(runs) + 1} ·").wait_for()  # the final event is in
    return seconds


def in_thread(fn, *args):
    """Run ``fn`` in a thread of its own: Playwright's sync API holds an event loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def load() -> float:
    return os.getloadavg()[0]


# --- profile --------------------------------------------------------------------------------
def profile(app_pid: int, client, args: argparse.Namespace, out: str, calls: int = 10) -> dict:
    """py-spy the app while it serves ``calls`` /generate calls; the share of samples decoding pixels."""
    spy = subprocess.Popen(  # without --idle: only threads on a CPU are sampled
        [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(app_pid), "--format", "raw"]
        + ["--rate", "200", "--output", out, "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)  # attached
    for i in range(calls):
        through_app(client, args.side, args.num_images, 5000 + 10 * i)
    spy.send_signal(signal.SIGINT)
    spy.wait(30)
    stacks = Path(out).read_text().splitlines() if Path(out).exists() else []
    found = {"busy": 0, "pixel_decode": 0, "png_validation": 0, "gradio_postprocess": 0, "history_writes": 0}
    for line in stacks:
        frames, _, count = line.rpartition(" ")
        n = int(count) if count.isdigit() else 0
        found["busy"] += n
        found["pixel_decode"] += n if "ImageFile.py" in frames or "decode_image" in frames else 0
        found["png_validation"] += n if "validate_png" in frames else 0
        found["gradio_postprocess"] += n if "move_files_to_cache" in frames or "postprocess" in frames else 0
        found["history_writes"] += n if "write_png" in frames else 0
    return found


# --- main -----------------------------------------------------------------------------------
def fill_history(page, num_images: int, target: int = 96) -> None:
    for _ in range(-(-target // (2 * num_images))):
        page_run(page, num_images)


def measure(args: argparse.Namespace, fw: str, aiml: str, app_url: str, browser, pid: int) -> dict[str, list]:
    """Warm up, then ``args.rounds`` interleaved rounds of every way; each figure with the load beside it,
    and the app's CPU seconds per run for /generate and the OpenAI route."""
    from gradio_client import Client

    client = Client(app_url, verbose=False, download_files=False)
    through_app(client, args.side, args.num_images, 1)  # warm-up: imports, first connections
    in_thread(asyncio.run, direct(fw, aiml, args.side, args.num_images, 1))
    full = None
    if browser is not None:
        full = open_page(browser, app_url, args.side, args.num_images)
        fill_history(full, args.num_images)
    in_thread(asyncio.run, openai_route(app_url, args.side, args.num_images, 1))
    rows: dict[str, list] = {"direct": [], "generate": [], "openai": [], "page_0": [], "page_96": [], "load": []}
    rows |= {"cpu_generate": [], "cpu_openai": [], "idle_ms_per_s": [idle_cpu_ms_per_s(pid, args.idle_s)]}
    for r in range(args.rounds):  # in turn, so drift on a shared machine hits each alike
        seed = 1000 + 10 * r
        rows["load"].append(load())
        rows["direct"].append(in_thread(asyncio.run, direct(fw, aiml, args.side, args.num_images, seed)))
        before = cpu_s(pid)
        rows["generate"].append(through_app(client, args.side, args.num_images, seed))
        rows["cpu_generate"].append(cpu_s(pid) - before)
        before = cpu_s(pid)
        rows["openai"].append(in_thread(asyncio.run, openai_route(app_url, args.side, args.num_images, seed)))
        rows["cpu_openai"].append(cpu_s(pid) - before)
        if browser is not None:
            empty = open_page(browser, app_url, args.side, args.num_images)
            rows["page_0"].append(page_run(empty, args.num_images))
            empty.context.close()
            rows["page_96"].append(page_run(full, args.num_images))
    return rows


def report(rows: dict[str, list], args: argparse.Namespace) -> dict:
    def ratio(key: str, i: int | None = None) -> float | None:
        if not rows[key]:
            return None
        if i is None:
            return round(statistics.median(rows[key]) / statistics.median(rows["direct"]), 3)
        return round(rows[key][i] / rows["direct"][i], 3)

    print(f"2 backends x {args.num_images} images, {args.side}x{args.side} photo-like PNG, {args.latency:g} s latency")
    for i in range(args.rounds):
        parts = [f"round {i + 1}: direct {rows['direct'][i]:.3f} s", f"/generate x{ratio('generate', i):.2f}"]
        parts.append(f"openai x{ratio('openai', i):.2f}")
        if rows["page_0"]:
            parts += [f"page h0 x{ratio('page_0', i):.2f}", f"page h96 x{ratio('page_96', i):.2f}"]
        print(" | ".join(parts) + f" | load {rows['load'][i]:.1f}")
    result = {k: [round(x, 3) for x in v] for k, v in rows.items()}
    result |= {f"ratio_{k}": ratio(k) for k in ("generate", "openai", "page_0", "page_96")}
    print(f"medians: direct {statistics.median(rows['direct']):.3f} s; loads {result['load']}")
    print(f"/generate / direct: {result['ratio_generate']:.2f} (goal <= 1.20)")
    print(f"OpenAI route / direct: {result['ratio_openai']:.2f} (goal <= 1.15)")
    images = 2 * args.num_images
    for key in ("cpu_generate", "cpu_openai"):
        run_ms = statistics.median(rows[key]) * 1000
        print(f"app CPU per run, {key[4:]}: {run_ms:.0f} ms ({run_ms / images:.1f} ms an image; goal <= 200 ms a run)")
    print(f"app CPU idle: {rows['idle_ms_per_s'][0]:.1f} ms a second (goal <= 20)")
    if rows["page_0"]:
        print(f"page, history 96 / direct: {result['ratio_page_96']:.2f} (goal <= 1.15)")
        print(
            f"page, history 96 / history 0: {result['ratio_page_96'] / result['ratio_page_0']:.2f} (goal <= 1.00); "
            f"page, history 0 / direct: {result['ratio_page_0']:.2f}"
        )
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=1024, help="image side in pixels (default 1024)")
    parser.add_argument("--latency", type=float, default=1.0, help="the fakes' latency per call, s (default 1)")
    parser.add_argument("--num-images", type=int, default=4, help="images per backend (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds each way (default 3)")
    parser.add_argument("--no-page", action="store_true", help="skip the browser (only /generate against direct)")
    parser.add_argument("--profile", metavar="PATH", help="py-spy the app over 10 /generate calls (raw stacks)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    parser.add_argument("--idle-s", type=float, default=10.0, help="seconds the idle CPU is measured over")
    args = parser.parse_args(argv)
    procs, fw, aiml, app_url = start(args)
    try:
        if args.no_page:
            rows = measure(args, fw, aiml, app_url, None, procs[1].pid)
        else:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                rows = measure(args, fw, aiml, app_url, browser, procs[1].pid)
                browser.close()
        result = report(rows, args)
        if args.profile:
            from gradio_client import Client

            found = profile(procs[1].pid, Client(app_url, verbose=False, download_files=False), args, args.profile)
            result["profile"] = found
            print(
                f"py-spy at 200 Hz, 10 /generate calls: {found['busy']} samples on a CPU; pixel decode "
                f"{found['pixel_decode']}, PNG validation {found['png_validation']}, Gradio post-processing "
                f"{found['gradio_postprocess']}, history writes {found['history_writes']}"
            )
    finally:
        stop(procs)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
