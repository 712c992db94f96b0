"""A memory model of the local pipeline: predicted peak GPU memory per precision, offload, size and batch.

Weights are counted exactly from the real FLUX.1 [schnell] configs, built on the meta
device (no weights, no download), with each parameter at the bytes the chosen precision
stores it in. Activations are estimates calibrated on public figures (performance.md):
bf16 at 1024² peaks about 34 GB, four unsliced 1 MP images add about 6 GiB in VAE decode.

    python -m backends.local.memory      # the table the README shows
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

GB, GIB = 10**9, 1024**3
TEXT_TOKENS = 256
# Transformer activations per token and batch item, in units of width × 2 bytes (bf16):
# q/k/v, attention output, the 4× MLP and the single blocks' concat, with SDPA attention.
ACT_FACTOR = 24
FP8_EAGER_ACT_FACTOR = 2.7  # eager FP8 dynamic quantization keeps fp8 copies and scales (torchao#685)
VAE_BYTES_PER_MP = 1.5 * GIB  # decoder feature maps at 128–512 channels, upcast norms
TILE_MP = 1.0  # tiled decode works on 1024² tiles (the VAE's sample_size)
TILE_ABOVE_MP = 1.5  # the backend tiles the VAE above this size
RUNTIME_OVERHEAD = 1 * GIB  # CUDA context, cuBLAS workspace, allocator fragmentation
MODES = ("bf16", "fp8-storage", "fp8-matmul")


@functools.lru_cache(maxsize=1)
def _full_modules():
    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from backends.local.configs import FULL

    with torch.device("meta"):
        return {
            "transformer": FluxTransformer2DModel(**FULL["transformer"]),
            "text_encoder_2": T5EncoderModel(T5Config(**FULL["t5"])),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**FULL["clip"])),
            "vae": AutoencoderKL(**FULL["vae"]),
        }


def parameter_count(component: str) -> int:
    """Parameters of one component of the full-size pipeline."""
    return sum(p.numel() for p in _full_modules()[component].parameters())


def _bytes(module, fp8_linear: Iterable[str], fp8_pattern: str | None, scales: bool) -> int:
    """Bytes of ``module``'s parameters: linears named in ``fp8_linear`` (or matching ``fp8_pattern``) at 1 byte."""
    import torch

    chosen = set(fp8_linear)
    total, seen = 0, set()
    for fqn, sub in module.named_modules():
        own = [p for p in sub.parameters(recurse=False) if id(p) not in seen]  # tied weights count once
        seen.update(id(p) for p in own)
        in_fp8 = isinstance(sub, torch.nn.Linear) and (
            fqn in chosen or (fp8_pattern is not None and not re.search(fp8_pattern, fqn))
        )
        for p in own:
            total += p.numel() * (1 if in_fp8 else 2)
        if in_fp8 and scales:
            total += sub.out_features * 4  # one fp32 scale per output row
    return total


@functools.lru_cache(maxsize=8)
def weight_bytes(mode: str) -> dict[str, int]:
    """Bytes each component's weights take in ``mode`` (bf16, fp8-storage or fp8-matmul)."""
    from backends.local.fp8 import FP8_STORAGE_SKIP, T5_STORAGE_SKIP, fp8_matmul_plan

    m = _full_modules()
    if mode == "bf16":
        return {name: parameter_count(name) * 2 for name in m}
    if mode == "fp8-matmul":
        transformer = _bytes(m["transformer"], fp8_matmul_plan(m["transformer"])[0], None, scales=True)
    else:
        transformer = _bytes(m["transformer"], (), "|".join(FP8_STORAGE_SKIP), scales=False)
    return {
        "transformer": transformer,
        "text_encoder_2": _bytes(m["text_encoder_2"], (), "|".join(T5_STORAGE_SKIP), scales=False),
        "text_encoder": parameter_count("text_encoder") * 2,
        "vae": parameter_count("vae") * 2,
    }


def transformer_activation_bytes(mode: str, width: int, height: int, batch: int, compiled: bool) -> int:
    tokens = (width // 16) * (height // 16) + TEXT_TOKENS
    factor = ACT_FACTOR * (FP8_EAGER_ACT_FACTOR if mode == "fp8-matmul" and not compiled else 1)
    return int(batch * tokens * 3072 * 2 * factor)


def vae_activation_bytes(width: int, height: int, batch: int) -> int:
    """Decode is sliced (one image at a time) and tiled above TILE_ABOVE_MP, as the backend does."""
    mp = width * height / 2**20
    per_image = min(mp, TILE_MP) if mp > TILE_ABOVE_MP else mp
    output = batch * 3 * width * height * 4  # the decoded batch in fp32, before PIL conversion
    return int(per_image * VAE_BYTES_PER_MP) + output


def predict_peak_bytes(
    mode: str, offload: str, width: int = 1024, height: int = 1024, batch: int = 1, compiled: bool = False
) -> int:
    """Peak GPU memory (allocated, plus runtime overhead) for one request."""
    w = weight_bytes(mode)
    act = transformer_activation_bytes(mode, width, height, batch, compiled)
    vae = vae_activation_bytes(width, height, batch)
    if offload == "none":
        peak = sum(w.values()) + max(act, vae)
    elif offload == "model":  # one component on the GPU at a time
        peak = max(w["text_encoder_2"], w["transformer"] + act, w["vae"] + vae)
    else:  # sequential: one layer's weights at a time; the largest are the 3072×18432 adaLN linears
        peak = 3072 * 18432 * 2 + max(act, vae)
    return peak + RUNTIME_OVERHEAD


def choose_offload(mode: str, free_bytes: int, width: int = 1024, height: int = 1024, batch: int = 1) -> str:
    """The lightest offload whose predicted peak fits ``free_bytes`` for this size and batch."""
    for offload in ("none", "model"):
        if predict_peak_bytes(mode, offload, width, height, batch, compiled=mode == "fp8-matmul") <= free_bytes:
            return offload
    return "sequential"


def largest_batch(mode: str, offload: str, free_bytes: int, width: int, height: int) -> int:
    """How many images of this size fit at once (0 if not even one)."""
    compiled = mode == "fp8-matmul"
    fits = [b for b in range(1, 5) if predict_peak_bytes(mode, offload, width, height, b, compiled) <= free_bytes]
    return max(fits, default=0)


def readme_table(cards_gb: Iterable[int] = (24, 16, 12)) -> str:
    """What fits on common cards, per mode: the offload auto picks and the images per run at 1024² and 1536²."""
    rows = [
        "| card | mode | auto offload | predicted peak at 1024² | images at 1024² | images at 1536² |",
        "|---|---|---|---|---|---|",
    ]
    for card in cards_gb:
        free = int(card * GB * 0.95)  # what a desktop leaves free
        for mode in ("fp8-matmul", "fp8-storage", "bf16"):
            offload = choose_offload(mode, free)
            peak = predict_peak_bytes(mode, offload, compiled=mode == "fp8-matmul") / GIB
            n1 = largest_batch(mode, offload, free, 1024, 1024)
            n2 = largest_batch(mode, offload, free, 1536, 1536)
            rows.append(f"| {card} GB | {mode} | {offload} | {peak:.1f} GiB | {n1} | {n2} |")
    return "\n".join(rows)


if __name__ == "__main__":
    for name in ("transformer", "text_encoder_2", "text_encoder", "vae"):
        n = parameter_count(name)
        sizes = ", ".join(f"{mode} {weight_bytes(mode)[name] / GB:.2f} GB" for mode in MODES)
        print(f"{name}: {n / 1e9:.3f}B parameters; {sizes}")
    print()
    print(readme_table())
