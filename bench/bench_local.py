"""Benchmark the Local FP8 backend's modes on FLUX.1 [schnell] with random weights, as the app runs them.

Each mode runs in its own process (no allocator or compile state leaks between modes) and
its result is appended to ``<out>/<device>.jsonl`` as soon as it is done. The random pipeline
is built in bf16 on the GPU (random init of 17B parameters on the CPU takes minutes; on an
H200 about 33 s) and moved to the CPU, as `from_pretrained` leaves it, then goes through the
backend's own `prepare_pipeline` (quantize block by block, place, compile and warm up) and
runs under the backend's grad mode. Prepare time (quantize + place + compile + warm-up) is
printed beside latency: on a GPU it is what a visitor waits for on first use. GPU peaks are
reset after the build, and reported twice: while preparing, and while generating.

    python -m bench.bench_local                      # GPU, full size, 1024², 4 steps, bf16/fp8-storage/fp8-compile
    python -m bench.bench_local --modes all          # every mode, eager FP8 matmuls and offload too
    python -m bench.bench_local --size tiny --device cpu --runs 2 --width 256 --height 256
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from backends.local.loader import inference_context, prepare_pipeline
from backends.local.settings import MAX_SEQUENCE_LENGTH, LocalSettings
from bench.random_flux import make_random_pipeline

MODES = {
    "bf16": dict(precision="bf16", compile="off"),
    "bf16-compile": dict(precision="bf16", compile="on"),
    "fp8-storage": dict(precision="fp8", fp8_matmul="off", compile="off"),
    "fp8-matmul": dict(precision="fp8", fp8_matmul="on", compile="off"),
    "fp8-compile": dict(precision="fp8", fp8_matmul="on", compile="on"),
    "fp8-model-offload": dict(precision="fp8", fp8_matmul="on", compile="off", offload="model"),
}
PROMPTS = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a red fox in fresh snow at golden hour, 35mm photo",
]
DEFAULT_MODES = "bf16,fp8-storage,fp8-compile"  # the reference, what older GPUs run, what newer ones run
GIB = 1024**3


def psnr(a, b) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Build modules directly in ``dtype``: no fp32 copy of 16B parameters on the way."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def generate(pipe, prompt: str, width: int, height: int, steps: int, seed: int, images: int = 1):
    with inference_context():
        return pipe(
            prompt,
            width=width,
            height=height,
            num_inference_steps=steps,
            num_images_per_prompt=images,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
            generator=[torch.Generator("cpu").manual_seed(seed + i) for i in range(images)],
            output_type="pil",
        ).images


def peaks(cuda: bool) -> dict:
    if not cuda:
        return {"allocated_gib": None, "reserved_gib": None}
    return {
        "allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 2),
        "reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 2),
    }


def timed(pipe, args, images: int, cuda: bool) -> dict:
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    latencies = []
    for i in range(args.runs):
        prompt = f"{PROMPTS[i % len(PROMPTS)]}, variation {i}"  # new prompt: no text-encoder cache hits
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        generate(pipe, prompt, args.width, args.height, args.steps, 1000 + i, images)
        if cuda:
            torch.cuda.synchronize()
        latencies.append(time.perf_counter() - t0)
    ordered = sorted(latencies)
    return {
        "latency_s_median": round(statistics.median(latencies), 4),
        "latency_s_p90": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 4),
        "n": len(latencies),
        **{f"peak_{k}": v for k, v in peaks(cuda).items()},
    }


def run_mode(name: str, args: argparse.Namespace) -> dict:
    """One mode, start to finish, in this process."""
    cuda = args.device == "cuda"
    started = time.perf_counter()
    with default_dtype(torch.bfloat16):
        pipe = make_random_pipeline(args.size, torch.bfloat16, args.device).to("cpu")  # as from_pretrained leaves it
    build_s = time.perf_counter() - started
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    settings = LocalSettings(
        model="random", device=args.device, compile_cache=args.compile_cache, **{"offload": "none", **MODES[name]}
    )
    started = time.perf_counter()
    loaded = prepare_pipeline(pipe, settings, args.device, lambda m: print(f"[bench] {name}: {m}", flush=True))
    prepare_peak = peaks(cuda)
    for i in range(args.warmup):
        generate(loaded.pipe, f"warm-up {i}", args.width, args.height, args.steps, i)
    prepare_s = time.perf_counter() - started  # what the first visitor waits for, beyond loading weights
    # A fixed prompt and seed, compared with the bf16 mode's image by the parent process.
    check = generate(loaded.pipe, PROMPTS[0], args.width, args.height, args.steps, 0)[0]
    check_path = args.out / f"check-{name}.png"
    check.save(check_path)
    result = {
        "mode": name,
        "device": "GPU" if cuda else "CPU (figures are CPU figures, not GPU ones)",
        "precision": loaded.mode,
        "compiled": loaded.compiled,
        "offload": loaded.offload,
        "path": loaded.path,
        "width": args.width,
        "height": args.height,
        "steps": args.steps,
        "build_s": round(build_s, 2),
        "quantize_s": round(loaded.timings.get("quantize_s", 0.0), 2),
        "compile_s": round(loaded.timings["compile_s"], 2) if "compile_s" in loaded.timings else None,
        "prepare_s": round(prepare_s, 2),
        "compile_cache": loaded.cache,
        "prepare_peak": prepare_peak,
        "batch1": timed(loaded.pipe, args, 1, cuda),
        "batch4": timed(loaded.pipe, args, 4, cuda) if args.batch4 else None,
        "check_image": check_path.name,
    }
    return result


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def markdown(header: dict, runs: list[dict]) -> str:
    lines = [
        f"# Local backend benchmark: {header['gpu']} ({header['date']})",
        "",
        f"Random-weight FLUX.1 [schnell] ({header['size']} architecture), {header['device_note']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in header["versions"].items()),
        "",
        "| mode | precision | compiled | offload | size | steps | b1 median s | b1 p90 s | b4 median s "
        "| peak alloc / reserved GiB (b1) | prepare peak GiB | quantize s | compile s | prepare s | PSNR vs bf16 dB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['mode']} | failed: {r['error']} ||||||||||||||")
            continue
        b1, b4 = r["batch1"], r["batch4"] or {}
        lines.append(
            f"| {r['mode']} | {r['precision']} | {r['compiled']} | {r['offload']} | {r['width']}×{r['height']} "
            f"| {r['steps']} | {b1['latency_s_median']} | {b1['latency_s_p90']} | {b4.get('latency_s_median')} "
            f"| {b1['peak_allocated_gib']} / {b1['peak_reserved_gib']} | {r['prepare_peak']['allocated_gib']} "
            f"| {r['quantize_s']} | {r['compile_s']} | {r.get('prepare_s')} | {r.get('psnr_vs_bf16_db')} |"
        )
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--modes", default=DEFAULT_MODES, help=f"comma-separated, or all: {', '.join(MODES)}")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-batch4", dest="batch4", action="store_false", help="skip the 4-image runs")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--compile-cache", default="", help="FLUX_COMPILE_CACHE for the modes (off: a cold compile)")
    parser.add_argument("--one-mode", help=argparse.SUPPRESS)  # the child process's job
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one_mode:
        print(json.dumps(run_mode(args.one_mode, args)), flush=True)
        return args.out

    import diffusers
    import torchao
    import transformers

    gpu = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({platform.machine()})"
    name = slug(gpu) + ("" if args.size == "full" else f"-{args.size}")
    jsonl = args.out / f"{name}.jsonl"
    header = {
        "gpu": gpu,
        "date": dt.date.today().isoformat(),
        "size": args.size,
        "device_note": "GPU figures" if args.device == "cuda" else "CPU figures: they prove the paths run, not speed",
        "versions": {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "torchao": torchao.__version__,
        },
    }
    jsonl.write_text(json.dumps({"header": header}) + "\n")
    modes = list(MODES) if args.modes == "all" else [m.strip() for m in args.modes.split(",") if m.strip()]
    modes.sort(key=lambda m: m != "bf16")  # bf16 first: the precision reference
    child = [
        *("--size", args.size, "--device", args.device, "--steps", str(args.steps), "--runs", str(args.runs)),
        *("--width", str(args.width), "--height", str(args.height), "--warmup", str(args.warmup)),
        *(() if args.batch4 else ("--no-batch4",)),
        *("--compile-cache", args.compile_cache),
    ]
    runs = []
    for mode in modes:
        print(f"[bench] {mode} …", flush=True)
        cmd = [sys.executable, "-m", "bench.bench_local", *child, "--out", str(args.out), "--one-mode", mode]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode or not lines:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
            result = {"mode": mode, "error": tail}
        else:
            result = json.loads(lines[-1])
            ref = args.out / "check-bf16.png"
            if mode != "bf16" and ref.exists():
                from PIL import Image

                result["psnr_vs_bf16_db"] = round(
                    psnr(Image.open(ref), Image.open(args.out / result["check_image"])), 2
                )
        if "error" not in result:
            print(
                f"[bench] {mode}: prepare {result['prepare_s']} s (compile {result['compile_s']} s), "
                f"batch-1 median {result['batch1']['latency_s_median']} s",
                flush=True,
            )
        print(f"[bench] {json.dumps(result)}", flush=True)
        runs.append(result)
        with jsonl.open("a") as f:  # as it comes: a crash later loses nothing measured so far
            f.write(json.dumps(result) + "\n")
        (args.out / f"{name}.md").write_text(markdown(header, runs))
    print(f"[bench] wrote {jsonl}")
    return jsonl


if __name__ == "__main__":
    main()
