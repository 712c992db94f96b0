"""Loading FLUX.1 [schnell] with the right precision, offload and compile for this GPU.

Everything that touches torch or diffusers is imported inside functions, so the app
starts fast and a machine without them still serves the hosted backends.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.errors import Unavailable
from backends.local.settings import MAX_SEQUENCE_LENGTH, LocalSettings

log = logging.getLogger(__name__)

GIB = 1024**3
FP8_MATMUL_CAPABILITY = (8, 9)  # Ada, Hopper, Blackwell have FP8 tensor cores
# Free VRAM needed at 1024² to run without offload / with model offload (weights + activations).
VRAM_NEEDS_GIB = {"fp8": (22, 14), "bf16": (38, 27)}
FP8_STORAGE_SKIP = ("x_embedder", "context_embedder", "time_text_embed", "norm_out", "^proj_out$")
REQUIRED_COMPONENTS = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


@dataclass
class LoadedPipeline:
    """A ready pipeline and the facts the status line and the benchmark report."""

    pipe: Any
    device: str
    device_name: str
    precision: str
    path: str  # which precision path is active, and why
    offload: str
    compiled: bool
    timings: dict[str, float]


def is_local_path(model: str) -> bool:
    """Whether FLUX_MODEL names a directory rather than a hub id like `org/name`."""
    return model.startswith(("/", ".", "~")) or os.path.isdir(model) or model.count("/") != 1


def check_model_dir(model: str) -> Path:
    """The model directory, or Unavailable naming the path and exactly what is missing."""
    path = Path(model).expanduser()
    if not path.is_dir():
        raise Unavailable(f"model directory {path} does not exist (FLUX_MODEL)")
    index = path / "model_index.json"
    if not index.is_file():
        raise Unavailable(f"{path} is not a diffusers model: model_index.json is missing")
    try:
        listed = json.loads(index.read_text())
    except ValueError as err:
        raise Unavailable(f"{index} is not valid JSON: {err}") from err
    missing = [c for c in REQUIRED_COMPONENTS if c not in listed or not (path / c).is_dir()]
    if missing:
        raise Unavailable(f"{path} is incomplete: missing {', '.join(missing)}")
    empty = [
        c
        for c in ("transformer", "vae", "text_encoder", "text_encoder_2")
        if not any((path / c).glob("*.safetensors")) and not any((path / c).glob("*.bin"))
    ]
    if empty:
        raise Unavailable(f"{path} is incomplete: no weights in {', '.join(empty)}")
    return path


def pick_device(settings: LocalSettings) -> str:
    """`cuda` if there is a GPU, `cpu` only when asked for explicitly; else Unavailable."""
    import torch

    if settings.device == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if settings.device == "cuda":
        raise Unavailable("FLUX_DEVICE=cuda but no CUDA GPU is visible")
    raise Unavailable("no CUDA GPU found (set FLUX_DEVICE=cpu to run on the CPU, very slowly)")


def choose_offload(precision: str, free_bytes: int) -> str:
    """The lightest offload that fits the free VRAM at 1024²."""
    none_gib, model_gib = VRAM_NEEDS_GIB[precision]
    if free_bytes >= none_gib * GIB:
        return "none"
    if free_bytes >= model_gib * GIB:
        return "model"
    return "sequential"


def next_offload(offload: str) -> str | None:
    """The setting to suggest after running out of memory with ``offload``."""
    return {"none": "model", "model": "sequential"}.get(offload)


def _gpu_facts() -> tuple[str, tuple[int, int], int]:
    import torch

    from backends.local.zerogpu import ZEROGPU_FACTS, on_zerogpu

    if on_zerogpu():  # no GPU is attached at start-up; ZeroGPU lends an H200 slice per call
        return ZEROGPU_FACTS

    name = torch.cuda.get_device_name()
    capability = torch.cuda.get_device_capability()
    free, _ = torch.cuda.mem_get_info()
    return name, capability, free


def _fp8_plan(device: str, capability: tuple[int, int] | None) -> tuple[bool, str]:
    """Whether to run FP8 matmuls, and the status line's reason."""
    if device == "cpu":
        return False, "fp8 storage, upcast per layer (CPU)"
    if capability >= FP8_MATMUL_CAPABILITY:
        return True, f"fp8 matmuls (torchao row-wise, compute capability {capability[0]}.{capability[1]})"
    return False, (
        f"fp8 storage, bf16 compute (compute capability {capability[0]}.{capability[1]} has no FP8 matmuls; needs 8.9+)"
    )


def load_pipeline(settings: LocalSettings, report: Callable[[str], None] = lambda m: None) -> LoadedPipeline:
    """Load, quantize, place and (optionally) compile the pipeline. Raises Unavailable on any failure."""
    device = pick_device(settings)
    source: str | Path = settings.model
    if is_local_path(settings.model):
        source = check_model_dir(settings.model)
    try:
        import torch
        from diffusers import FluxPipeline
    except ImportError as err:
        raise Unavailable(f"a package is missing: {err.name} (pip install -r requirements.txt)") from err

    report(f"loading {settings.model}")
    started = time.perf_counter()
    try:
        pipe = FluxPipeline.from_pretrained(source, dtype=torch.bfloat16)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise Unavailable(f"could not load {settings.model}: {_first_line(err)}") from err
    load_s = time.perf_counter() - started
    try:
        loaded = prepare_pipeline(pipe, settings, device, report)
    except Exception as err:
        # Out of memory while placing, a compile error, a missing torchao...: say so, and don't
        # reload on every request (sticky) until the settings change.
        detail = f"{type(err).__name__}: {_first_line(err)}"
        hint = " (try FLUX_OFFLOAD=model or sequential)" if "out of memory" in detail.lower() else ""
        raise Unavailable(f"could not prepare {settings.model}: {detail}{hint}", sticky=True) from None
    loaded.timings = {"load_s": load_s, **loaded.timings}
    return loaded


def _first_line(err: BaseException) -> str:
    """An exception's message, short enough for a status line (some messages are empty)."""
    return (str(err).splitlines() or [""])[0][:300]


def quantize_transformer_fp8(transformer: Any, device: str) -> None:
    """FP8 dynamic activation + FP8 weight quantization, row-wise scales (torchao), in place, on ``device``.

    One block at a time: the peak is the FP8 model plus one bf16 block, so a 24 GB card never
    holds the 24 GB bf16 transformer, and torchao's quantization kernels see GPU tensors.
    """
    import torch
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    for child in transformer.children():
        parts = list(child) if isinstance(child, torch.nn.ModuleList) else [child]
        for part in parts:
            part.to(device)
            quantize_(part, config)
    transformer.to(device)


def store_t5_in_fp8(text_encoder: Any) -> None:
    """T5-XXL is 9.5 GB in bf16; FP8 storage cuts it to ~5.7 GB on every GPU.

    `wo` stays bf16 because transformers' T5 casts its input to wo's weight dtype (fp8
    would break the matmul); the tied embedding stays bf16 because lookups can't upcast.
    """
    import torch
    from diffusers.hooks import apply_layerwise_casting

    apply_layerwise_casting(
        text_encoder,
        storage_dtype=torch.float8_e4m3fn,
        compute_dtype=torch.bfloat16,
        skip_modules_pattern=("norm", "relative_attention_bias", "shared", "embed_tokens", r"\.wo$"),
    )


def prepare_pipeline(
    pipe: Any,
    settings: LocalSettings,
    device: str,
    report: Callable[[str], None] = lambda m: None,
    warm_size: tuple[int, int] = (1024, 1024),
) -> LoadedPipeline:
    """Apply precision, offload and compile to a bf16 pipeline (from disk, or random for the benchmark)."""
    import torch

    capability, free, device_name = None, 0, "CPU"
    if device == "cuda":
        device_name, capability, free = _gpu_facts()
    fp8_matmul, path = (False, "bf16 reference") if settings.precision == "bf16" else _fp8_plan(device, capability)
    offload = "none" if device == "cpu" else settings.offload
    if offload == "auto":
        offload = choose_offload(settings.precision, free)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if settings.precision == "fp8":
        report("converting weights to FP8")
        if fp8_matmul:
            quantize_transformer_fp8(pipe.transformer, device)
            if offload != "none":
                pipe.transformer.to("cpu")  # offload hooks expect to start from the CPU
        else:
            # Every linear in the 57 blocks, adaLN modulation included (~3B of the 12B parameters;
            # diffusers' default pattern would keep those in bf16). Embedders and output stay bf16.
            # (enable_layerwise_casting would add Flux's "norm" pattern back, hence the hook directly.)
            from diffusers.hooks import apply_layerwise_casting

            apply_layerwise_casting(
                pipe.transformer,
                storage_dtype=torch.float8_e4m3fn,
                compute_dtype=torch.bfloat16,
                skip_modules_pattern=FP8_STORAGE_SKIP,
            )
        store_t5_in_fp8(pipe.text_encoder_2)
    timings["quantize_s"] = time.perf_counter() - started

    report(f"placing the model ({offload} offload)")
    if device == "cpu" or offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload()
    else:
        pipe.enable_sequential_cpu_offload()
    pipe.set_progress_bar_config(disable=True)

    loaded = LoadedPipeline(pipe, device, device_name, settings.precision, path, offload, False, timings)
    if settings.compile and settings.precision == "fp8" and not fp8_matmul:
        # Per-layer upcasting swaps weights inside forward, which torch.compile cannot trace.
        loaded.path += "; compile skipped (needs FP8 matmuls)"
    elif settings.compile and offload == "sequential":
        # accelerate's per-layer hooks are compiler-disabled, so a fullgraph compile cannot trace them.
        loaded.path += "; compile skipped (sequential offload)"
    elif settings.compile:
        report("compiling the transformer blocks and warming up")
        started = time.perf_counter()
        pipe.transformer.compile_repeated_blocks(fullgraph=True)
        warm_up(loaded, *warm_size)
        timings["compile_s"] = time.perf_counter() - started
        loaded.compiled = True
    return loaded


def warm_up(loaded: LoadedPipeline, width: int = 1024, height: int = 1024, steps: int = 4) -> None:
    """One throwaway run at the default size, so compilation happens now and not on a visitor's image."""
    import torch

    # Under inference_mode, as real requests run: a no_grad warm-up would recompile on the first visitor.
    with torch.inference_mode():
        loaded.pipe(
            "warm-up",
            width=width,
            height=height,
            num_inference_steps=steps,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
            generator=torch.Generator("cpu").manual_seed(0),
            output_type="pil",
        )
