"""Benchmark the Local FP8 backend's configurations on FLUX.1 [schnell] with random weights.

Builds the full-size architecture (transformer, T5-XXL, CLIP-L, VAE) on the GPU, so
nothing is downloaded, and runs each mode through the backend's own `prepare_pipeline`.
Latency is end to end, prompt to PIL image, warm, with a new prompt every run.

    python -m bench.bench_local                      # GPU, full size, 1024², 4 steps, 10 runs
    python -m bench.bench_local --size tiny --device cpu --runs 3 --modes bf16-eager,fp8-eager
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import platform
import re
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from backends.local.loader import prepare_pipeline
from backends.local.settings import MAX_SEQUENCE_LENGTH, LocalSettings
from bench.random_flux import make_random_pipeline

MODES = {
    "bf16-eager": {"precision": "bf16", "offload": "none", "compile": False},
    "fp8-eager": {"precision": "fp8", "offload": "none", "compile": False},
    "fp8-compile": {"precision": "fp8", "offload": "none", "compile": True},
    "fp8-offload": {"precision": "fp8", "offload": "model", "compile": False},
}
PROMPTS = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a red fox in fresh snow at golden hour, 35mm photo",
]
GIB = 1024**3


def psnr(a, b) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def generate(pipe, prompt: str, width: int, height: int, steps: int, seed: int):
    return pipe(
        prompt,
        width=width,
        height=height,
        num_inference_steps=steps,
        max_sequence_length=MAX_SEQUENCE_LENGTH,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="pil",
    ).images[0]


def run_mode(name: str, args: argparse.Namespace, reference) -> tuple[dict, object]:
    cfg = MODES[name]
    cuda = args.device == "cuda"
    if cfg["offload"] != "none" and not cuda:
        return {"mode": name, "skipped": "offload needs a CUDA GPU"}, None
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    # Offload modes start on the CPU, as a user's would; the rest are built straight on the device.
    build_on = args.device if cfg["offload"] == "none" else "cpu"
    pipe = make_random_pipeline(args.size, torch.bfloat16, build_on)
    build_s = time.perf_counter() - started
    settings = LocalSettings(model="random", device=args.device, **cfg)
    loaded = prepare_pipeline(pipe, settings, args.device, warm_size=(args.width, args.height))
    for i in range(args.warmup):
        generate(loaded.pipe, f"warm-up {i}", args.width, args.height, args.steps, i)
    # Precision check at a fixed seed and prompt, against the bf16 reference.
    check = generate(loaded.pipe, PROMPTS[0], args.width, args.height, args.steps, 0)
    latencies = []
    for i in range(args.runs):
        prompt = f"{PROMPTS[i % len(PROMPTS)]}, variation {i}"  # new prompt: no text-encoder cache hits
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        generate(loaded.pipe, prompt, args.width, args.height, args.steps, 1000 + i)
        latencies.append(time.perf_counter() - t0)
    ordered = sorted(latencies)
    result = {
        "mode": name,
        "offload": loaded.offload,
        "width": args.width,
        "height": args.height,
        "steps": args.steps,
        "latency_s_median": round(statistics.median(latencies), 4),
        "latency_s_p90": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 4),
        "peak_vram_gib": round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda else None,
        "n": len(latencies),
        "path": loaded.path,
        "build_s": round(build_s, 2),
        "quantize_s": round(loaded.timings.get("quantize_s", 0.0), 2),
        "compile_s": round(loaded.timings["compile_s"], 2) if "compile_s" in loaded.timings else None,
        "psnr_vs_bf16_db": None if reference is None else round(psnr(check, reference), 2),
    }
    del loaded, pipe
    return result, check


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def markdown(report: dict) -> str:
    lines = [
        f"# Local backend benchmark: {report['gpu']} ({report['date']})",
        "",
        f"Random-weight FLUX.1 [schnell] ({report['size']} architecture). Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "",
        "| mode | offload | size | steps | median s | p90 s | peak VRAM GiB | n | quantize s | compile s "
        "| PSNR vs bf16 dB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        if "skipped" in r:
            lines.append(f"| {r['mode']} | skipped: {r['skipped']} |||||||||")
            continue
        lines.append(
            f"| {r['mode']} | {r['offload']} | {r['width']}×{r['height']} | {r['steps']} | {r['latency_s_median']} "
            f"| {r['latency_s_p90']} | {r['peak_vram_gib']} | {r['n']} | {r['quantize_s']} | {r['compile_s']} "
            f"| {r['psnr_vs_bf16_db']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    import diffusers
    import transformers

    gpu = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({platform.machine()})"
    versions = {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }
    try:
        import torchao

        versions["torchao"] = torchao.__version__
    except ImportError:
        pass
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    # bf16 first: it is the baseline and the precision reference for the fp8 modes.
    modes.sort(key=lambda m: m != "bf16-eager")
    runs, reference = [], None
    for mode in modes:
        print(f"[bench] {mode} …", flush=True)
        result, image = run_mode(mode, args, reference)
        if mode == "bf16-eager":
            reference = image
        print(f"[bench] {json.dumps(result)}", flush=True)
        runs.append(result)
    report = {
        "gpu": gpu,
        "date": dt.date.today().isoformat(),
        "size": args.size,
        "versions": versions,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = slug(gpu) + ("" if args.size == "full" else f"-{args.size}")
    path = args.out / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(report))
    print(f"[bench] wrote {path}")
    return path


if __name__ == "__main__":
    main()
