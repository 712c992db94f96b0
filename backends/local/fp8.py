"""FP8 for FLUX: torchao FP8 matmuls (row-wise) for Ada/Hopper/Blackwell, FP8 storage for the rest.

The FP8-matmul path follows torchao's own FLUX recipe (benchmarks/quantization/
eval_accuracy_and_perf_of_flux.py): quantize the transformer's linears, except the
embedders, the last two layers (`norm_out.linear`, `proj_out`) and small linears. Those
layers are tiny in FLOPs, sensitive in accuracy, and (the timestep/pooled embedders)
run GEMMs with M = batch size, which some CUDA versions reject for row-wise FP8.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

RECIPE_MIN_SIDE = 1024  # torchao's recipe keeps linears with a side under 1024 in bf16
# Layer-wise FP8 storage (no FP8 matmuls) keeps the same layers in bf16.
FP8_STORAGE_SKIP = ("x_embedder", "context_embedder", "time_text_embed", "norm_out", "^proj_out$")
# T5: `wo` stays bf16 because transformers' T5 casts its input to wo's weight dtype (fp8 would
# break the matmul); the tied embedding stays bf16 because lookups can't upcast.
T5_STORAGE_SKIP = ("norm", "relative_attention_bias", "shared", "embed_tokens", r"\.wo$")


def recipe_keeps_in_bf16(fqn: str, weight_shape: tuple[int, ...], model_width: int) -> bool:
    """Whether torchao's FLUX recipe leaves this linear in bf16.

    "Small" is a side under 1024, or under the model's own width for models narrower than
    that (the tests' tiny FLUX), so a narrow test model still exercises FP8 matmuls in
    every block while the full model gets exactly the recipe.
    """
    min_side = min(RECIPE_MIN_SIDE, model_width)
    return (
        "embed" in fqn
        or fqn in ("norm_out.linear", "proj_out")
        or weight_shape[0] < min_side
        or weight_shape[1] < min_side
    )


def transformer_width(transformer: Any) -> int:
    cfg = transformer.config
    return int(cfg.num_attention_heads * cfg.attention_head_dim)


def fp8_matmul_plan(transformer: Any) -> tuple[list[str], list[str]]:
    """(linears to quantize, linears the recipe keeps in bf16), by fully qualified name."""
    import torch

    width = transformer_width(transformer)
    quantize, keep = [], []
    for fqn, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear):
            target = keep if recipe_keeps_in_bf16(fqn, tuple(module.weight.shape), width) else quantize
            target.append(fqn)
    return quantize, keep


@contextlib.contextmanager
def hardware_gate_open() -> Iterator[None]:
    """Let torchao quantize for FP8 matmuls where it refuses to: the CPU (torch has CPU `_scaled_mm`).

    torchao checks for CUDA compute capability 8.9+ in one function; everything after it runs
    the same code on the CPU. Only used when FLUX_FP8_MATMUL=on asks for that path off a GPU.
    """
    from unittest import mock

    import torchao.quantization.quant_api as quant_api

    with mock.patch.object(quant_api, "_check_hardware_support", lambda granularities: None):
        yield


def quantize_transformer_fp8(transformer: Any, device: str, home: str, open_gate: bool = False) -> tuple[int, int]:
    """FP8 dynamic activation + FP8 weight, row-wise scales (torchao), in place.

    Returns (linears that really hold Float8Tensor weights now, linears the recipe asked for):
    torchao silently leaves a linear alone when its sides are not multiples of 16.

    One top-level child at a time: each goes to ``device`` (torchao's kernels want the tensors
    where they will run), is quantized, and goes back to ``home``. With ``home="cpu"`` (offload)
    the GPU never holds more than one bf16 block, so a 12 GB card can quantize the 12B model.
    """
    import torch
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, FqnToConfig, PerRow, quantize_

    targets, _ = fp8_matmul_plan(transformer)
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    gate = hardware_gate_open() if open_gate else contextlib.nullcontext()
    with gate, torch.no_grad():  # no_grad, not inference_mode: Float8Tensors must stay movable
        for name, child in transformer.named_children():
            parts = (
                [(f"{name}.{i}", block) for i, block in enumerate(child)]
                if isinstance(child, torch.nn.ModuleList)
                else [(name, child)]
            )
            for prefix, part in parts:
                inside = [t for t in targets if t == prefix or t.startswith(prefix + ".")]
                mine = {t[len(prefix) + 1 :] or "": config for t in inside}
                if not mine:
                    continue
                part.to(device)
                if "" in mine:  # the part is itself a target linear
                    quantize_(part, config)
                else:
                    quantize_(part, FqnToConfig(fqn_to_config=mine), filter_fn=None)
                part.to(home)
    transformer.to(home)
    return count_fp8_linears(transformer)[0], len(targets)


def _store_in_fp8(module: Any, skip: tuple[str, ...]) -> None:
    import torch
    from diffusers.hooks import apply_layerwise_casting

    # The hook directly: enable_layerwise_casting would add the model's own skip patterns back
    # (Flux's "norm"), which keep the ~3B adaLN-modulation parameters in bf16.
    apply_layerwise_casting(
        module, storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16, skip_modules_pattern=skip
    )


def store_transformer_in_fp8(transformer: Any) -> None:
    """FP8 storage, bf16 compute, for GPUs without FP8 matmuls: the memory saving alone.

    Every linear in the 57 blocks, adaLN modulation included; embedders and output stay bf16.
    """
    _store_in_fp8(transformer, FP8_STORAGE_SKIP)


def store_t5_in_fp8(text_encoder: Any) -> None:
    """T5-XXL is 9.5 GB in bf16; FP8 storage cuts it to about 5.9 GB on every GPU."""
    _store_in_fp8(text_encoder, T5_STORAGE_SKIP)


def count_fp8_linears(module: Any) -> tuple[int, int]:
    """(linears whose weight is a torchao Float8Tensor, all linears)."""
    import torch
    from torchao.quantization import Float8Tensor

    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    return sum(isinstance(m.weight, Float8Tensor) for m in linears), len(linears)
