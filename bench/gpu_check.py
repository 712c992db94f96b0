"""The headline questions for a lent GPU, one JSON line per mode (bf16, fp8-storage, fp8-compile):

- warm latency at 1024², 4 steps, batch 1 (median of 5), and peak memory;
- prepare time (quantize + place + compile + warm-up) cold, and again in a new process with the same
  compile cache (a restart), with the time to the first image both times;
- after warm-up, under ``torch.compiler.set_stance("fail_on_recompile")``, every one of the 11 aspect ratios
  at its 1024-class size and batches 1–4 (one step each): any recompile is an error, and is listed;
- the fraction of the physical floor: the transformer's FLOPs per image over the GPU's dense FP8 rate,
  divided by the measured latency.

Each phase runs in its own process (a restart is a new process). ``--dry-run`` runs the same code on the
CPU with the tiny random model at a quarter of each side, so its Python is proven without a GPU.

    python -m bench.gpu_check --out bench/results             # on the GPU (bench/gpu_check.sh calls this)
    python -m bench.gpu_check --dry-run --modes bf16,fp8-compile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from backends.local.settings import MAX_SEQUENCE_LENGTH, LocalSettings
from backends.sizes import RATIO_SIZES
from bench.bench_local import MODES, default_dtype, generate, peaks

DEFAULT_MODES = "bf16,fp8-storage,fp8-compile"
#: Dense tensor rates (FLOP/s) by GPU name: FP8 where the GPU has it, else bf16 (the floor it can reach).
DENSE_RATES = {"H200": 1979e12, "H100": 1979e12, "B200": 4500e12, "L40S": 733e12, "L4": 242e12, "A100": 312e12}


def transformer_flops(config: dict, width: int, height: int, steps: int) -> float:
    """FLUX transformer FLOPs for one image: per layer 24·d²·T for the linears, 4·T²·d for attention.

    T is image tokens (one per 16×16 pixels) plus the 256 text tokens; d the hidden width. For FLUX.1 at
    1024², 4 steps this is about 278 TFLOP.
    """
    d = config["num_attention_heads"] * config["attention_head_dim"]
    layers = config["num_layers"] + config["num_single_layers"]
    tokens = (width // 16) * (height // 16) + MAX_SEQUENCE_LENGTH
    return steps * layers * (24 * d * d * tokens + 4 * tokens * tokens * d)


def dense_rate() -> tuple[str, float | None]:
    if not torch.cuda.is_available():
        return "CPU", None
    name = torch.cuda.get_device_name()
    return name, next((rate for key, rate in DENSE_RATES.items() if key in name), None)


def _sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def recompile_sweep(pipe, scale: int, cuda: bool) -> dict:
    """Every ratio × batch 1–4 at one step under fail_on_recompile; what ran and what recompiled."""
    failed = []
    ran = 0
    torch.compiler.set_stance("fail_on_recompile")
    try:
        for ratio, (width, height) in RATIO_SIZES.items():
            for batch in range(1, 5):
                try:
                    generate(pipe, "a sweep", width // scale, height // scale, 1, 7, batch)
                    ran += 1
                except Exception as err:  # the recompile error names the guard that failed
                    failed.append({"ratio": ratio, "batch": batch, "error": str(err).splitlines()[0][:300]})
    finally:
        torch.compiler.set_stance("default")
    _sync(cuda)
    return {"ran": ran, "recompiled": failed}


def child(args: argparse.Namespace) -> dict:
    """One process: build, prepare (timed), first image (timed); in the cold phase also sweep and time."""
    from backends.local.loader import prepare_pipeline
    from bench.random_flux import make_random_pipeline

    cuda = not args.dry_run
    device = "cuda" if cuda else "cpu"
    scale = 4 if args.dry_run else 1
    with default_dtype(torch.bfloat16):
        pipe = make_random_pipeline("tiny" if args.dry_run else "full", torch.bfloat16, device).to("cpu")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    modes = {"offload": "none", **MODES[args.mode]}
    settings = LocalSettings(model="random", device=device, compile_cache=args.cache, **modes)
    width, height = 1024 // scale, 1024 // scale
    started = time.perf_counter()
    loaded = prepare_pipeline(pipe, settings, device, lambda m: print(f"[gpu_check] {args.mode}: {m}", flush=True))
    prepare_s = time.perf_counter() - started
    generate(loaded.pipe, "the first image", width, height, 4, 1)
    _sync(cuda)
    out = {
        "prepare_s": round(prepare_s, 2),
        "first_image_s": round(time.perf_counter() - started, 2),
        "precision": loaded.mode,
        "compiled": loaded.compiled,
        "compile_cache": loaded.cache,
    }
    if args.phase != "cold":
        return out
    out["sweep"] = recompile_sweep(loaded.pipe, scale, cuda) if loaded.compiled else None
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    latencies = []
    for i in range(5):
        _sync(cuda)
        t0 = time.perf_counter()
        generate(loaded.pipe, f"a lighthouse, variation {i}", width, height, 4, 100 + i)
        _sync(cuda)
        latencies.append(time.perf_counter() - t0)
    out["warm_s"] = round(statistics.median(latencies), 4)
    out["peak"] = peaks(cuda)
    flops = transformer_flops(dict(loaded.pipe.transformer.config), width, height, 4)
    gpu, rate = dense_rate()
    out.update(gpu=gpu, tflop_per_image=round(flops / 1e12, 1))
    out["floor_s"] = round(flops / rate, 4) if rate else None
    out["floor_fraction"] = round(flops / rate / out["warm_s"], 3) if rate else None
    return out


def run_phase(mode: str, phase: str, cache: str, dry_run: bool) -> dict:
    """One phase in a fresh process; its last stdout line is the JSON result."""
    cmd = [sys.executable, "-m", "bench.gpu_check", "--child", mode, "--phase", phase, "--cache", cache]
    done = subprocess.run(cmd + (["--dry-run"] if dry_run else []), capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1][:500] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=DEFAULT_MODES)
    parser.add_argument("--dry-run", action="store_true", help="the CPU and the tiny model, a quarter of each side")
    parser.add_argument("--out", type=Path, default=None, help="append the lines to OUT/<gpu>-check.jsonl")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--phase", default="cold", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.mode = args.child
        print(json.dumps(child(args)), flush=True)
        return
    root = os.environ.get("FLUX_COMPILE_CACHE") or tempfile.mkdtemp(prefix="flux-check-")
    for mode in args.modes.split(","):
        cache = str(Path(root) / mode)  # each mode its own cache: a restart reads only what its cold run wrote
        cold = run_phase(mode, "cold", cache, args.dry_run)
        restart = run_phase(mode, "restart", cache, args.dry_run)
        line = {
            "check": "gpu" if not args.dry_run else "dry-run (CPU, tiny model: the code runs; figures mean nothing)",
            "mode": mode,
            **cold,
            "prepare_restart_s": restart.get("prepare_s"),
            "first_image_restart_s": restart.get("first_image_s"),
            "restart_cache": restart.get("compile_cache", restart.get("error")),
        }
        print(json.dumps(line), flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            name = "dry-run" if args.dry_run else line.get("gpu", "gpu").replace(" ", "-")
            with (args.out / f"{name}-check.jsonl").open("a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
