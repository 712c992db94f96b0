"""The app's overhead on hosted backends: /generate against the same requests made directly with httpx.

The loopback fakes (their own process) serve photo-like PNGs after a fixed latency; the app
runs in its own process against them, as it would in production. One run measures each way
in turn, round after round, and prints the ratio of medians: wall time through /generate
(gradio_client; the answer's file URLs, as ``download_files=False`` gives them) over the
direct calls (httpx, bodies read, the AI/ML image URLs fetched). It also prints the ratio
with gradio_client's default of downloading every file afterwards (one after another, a
client-side cost). The goal is 1.10 or less at 2 backends × 4 images.

    python -m bench.bench_hosted                      # 1024², 1 s latency, 2 × 4 images, 5 rounds
    python -m bench.bench_hosted --side 256 --latency 0.2 --rounds 1 --num-images 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=1024, help="image side in pixels (default 1024)")
    parser.add_argument("--latency", type=float, default=1.0, help="the fakes' latency per call, s (default 1)")
    parser.add_argument("--num-images", type=int, default=4, help="images per backend (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds each way (default 5)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    from gradio_client import Client

    procs, fw, aiml, app_url = start(args)
    try:
        client = Client(app_url, verbose=False, download_files=False)
        downloading = Client(app_url, verbose=False)
        for c in (client, downloading):  # warm-up: imports, first connections
            through_app(c, args.side, args.num_images, 1)
        asyncio.run(direct(fw, aiml, args.side, args.num_images, 1))
        app_s, direct_s, download_s = [], [], []
        for r in range(args.rounds):  # in turn, so drift on a shared machine hits each alike
            seed = 1000 + 10 * r
            direct_s.append(asyncio.run(direct(fw, aiml, args.side, args.num_images, seed)))
            app_s.append(through_app(client, args.side, args.num_images, seed))
            download_s.append(through_app(downloading, args.side, args.num_images, seed + 5))
    finally:
        stop(procs)
    median_direct = statistics.median(direct_s)
    result = {
        "images": f"2 backends x {args.num_images} images, {args.side}x{args.side} photo-like PNG",
        "latency_s": args.latency,
        "rounds": args.rounds,
        "direct_s": [round(x, 3) for x in direct_s],
        "app_s": [round(x, 3) for x in app_s],
        "app_with_downloads_s": [round(x, 3) for x in download_s],
        "ratio": round(statistics.median(app_s) / median_direct, 3),
        "ratio_with_downloads": round(statistics.median(download_s) / median_direct, 3),
    }
    print(
        f"{result['images']}, {args.latency:g} s upstream latency, {args.rounds} rounds\n"
        f"direct httpx:                 median {median_direct:.3f} s  {result['direct_s']}\n"
        f"app /generate:                median {statistics.median(app_s):.3f} s  {result['app_s']}\n"
        f"app /generate, files fetched: median {statistics.median(download_s):.3f} s  "
        f"{result['app_with_downloads_s']}\n"
        f"ratio app/direct: {result['ratio']:.2f} (goal <= 1.10); "
        f"with gradio_client's downloads: {result['ratio_with_downloads']:.2f}"
    )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
