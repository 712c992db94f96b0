"""Throughput of the Ray Serve application (serving/cluster.py) on this machine: 1 and 2 replicas (4 with
--replicas 1,2,4), the tiny random FLUX model on the CPU, one thread a replica, concurrent official-client
calls; images/s and p50/p95 latency, the first partial image's share of a streamed call, and with
--cache-check the time to ready of a replica started cold and again with the same FLUX_COMPILE_CACHE.

    python -m bench.bench_cluster                      # one JSON line per figure, and bench/results/
    python -m bench.bench_cluster --cache-check

Each replica count is its own ``serve run`` (as the README starts it), stopped before the next.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-cluster-key-0a1b2c3d4e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_run(args: list[str], env: dict[str, str], log: Path, ready_limit_s: float = 300) -> Iterator[str]:
    """``serve run serving.cluster:app ARGS`` (its own local Ray), until every replica is loaded; yields its URL."""
    port = _free_port()
    cli = Path(sys.executable).with_name("serve")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(cli), "run", "--address", "local", "serving.cluster:app", *args, f"port={port}"],
            cwd=ROOT,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_limit_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve run exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready in {ready_limit_s:.0f} s:\n{log.read_text()[-3000:]}")
            if b"is ready at" in log.read_bytes():  # Serve says so once every replica has started
                break
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)  # serve run shuts the app and its local Ray down on Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _call(url: str, body: dict) -> float:
    started = time.perf_counter()
    reply = httpx.post(
        f"{url}/v1/images/generations", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=300
    )
    reply.raise_for_status()
    return time.perf_counter() - started


def load(url: str, calls: int, concurrency: int, body: dict) -> dict:
    """``calls`` calls, ``concurrency`` at a time: images/s over the whole, and each call's latency."""
    _call(url, {**body, "seed": 1})  # one call each way first, outside the timing
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(lambda i: _call(url, {**body, "seed": 100 + i}), range(calls)))
    wall = time.perf_counter() - started
    return {
        "images_per_s": round(calls / wall, 3),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 3),
        "calls": calls,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
    }


def first_partial_share(url: str, body: dict) -> dict:
    """One streamed call: when its first partial image arrived, as a share of when the completed one did."""
    started = time.perf_counter()
    first = None
    body = {**body, "stream": True, "partial_images": 2, "seed": 3}
    with httpx.stream(
        "POST", f"{url}/v1/images/generations", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=300
    ) as reply:
        for line in reply.iter_lines():
            if line == "event: image_generation.partial_image" and first is None:
                first = time.perf_counter() - started
            if line == "event: image_generation.completed":
                done = time.perf_counter() - started
    return {"first_partial_s": round(first, 3), "completed_s": round(done, 3), "share": round(first / done, 3)}


def throughput(replica_counts: list[int], env: dict[str, str], body: dict, calls: int, out: list[dict]) -> None:
    for n in replica_counts:
        with tempfile.TemporaryDirectory() as tmp, serve_run([f"replicas={n}"], env, Path(tmp) / "serve.log") as url:
            row = {"bench": "cluster", "replicas": n, **load(url, calls, 2 * n, body)}
            row["stream"] = first_partial_share(url, body)
            print(json.dumps(row), flush=True)
            out.append(row)
    base = next((r["images_per_s"] for r in out if r.get("replicas") == 1), None)
    for row in out:
        if base and row.get("replicas"):
            row["speedup"] = round(row["images_per_s"] / base, 2)


def cache_check(env: dict[str, str], out: list[dict]) -> None:
    """A replica's time to ready with an empty shared compile cache, then again with the cache it filled."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
        env = {**env, "FLUX_COMPILE": "on", "FLUX_FP8_MATMUL": "on", "FLUX_COMPILE_CACHE": cache}
        for label in ("cold", "warm cache"):
            with serve_run(["replicas=1"], env, Path(tmp) / "serve.log") as url:
                health = httpx.get(f"{url}/health", timeout=30).json()
            row = {"bench": "compile-cache", "start": label, "ready_s": health["ready_s"], "status": health["status"]}
            print(json.dumps(row), flush=True)
            out.append(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a FLUX folder (default: build the tiny random one)")
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cache-check", action="store_true", help="only the shared compile cache's ready times")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cluster-cpu-tiny.jsonl"))
    args = parser.parse_args()
    if args.model is None:
        from bench.random_flux import build_random_flux

        args.model = str(build_random_flux(Path(tempfile.mkdtemp(prefix="tiny-flux-")) / "model"))
    env = {"FLUX_MODEL": args.model, "FLUX_DEVICE": "cpu", "OPENAI_SERVE_KEY": KEY, "LIBRARY_DIR": "off"}
    body = {"prompt": "a lighthouse at dusk", "size": args.size, "num_inference_steps": args.steps}
    out: list[dict] = []
    if args.cache_check:
        cache_check(env, out)
    else:
        throughput([int(n) for n in args.replicas.split(",")], env, body, args.calls, out)
    with open(args.out, "a") as f:
        for row in out:
            stamp = {"at": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
            f.write(json.dumps({**row, **stamp}) + "\n")


if __name__ == "__main__":
    main()
