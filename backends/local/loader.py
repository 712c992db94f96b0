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
from backends.local.memory import choose_offload
from backends.local.settings import LocalSettings

log = logging.getLogger(__name__)

FP8_MATMUL_CAPABILITY = (8, 9)  # Ada, Hopper, Blackwell have FP8 tensor cores
REQUIRED_COMPONENTS = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


@dataclass
class LoadedPipeline:
    """A ready pipeline and the facts the status line and the benchmark report."""

    pipe: Any
    device: str
    device_name: str
    mode: str  # fp8-matmul, fp8-storage or bf16: what actually runs
    path: str  # the mode and why it was chosen, for the status line
    offload: str
    compiled: bool
    timings: dict[str, float]
    compile_kind: str = ""  # "jit" (torch.compile) or "aot" (AOTInductor), when compiled


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


@dataclass(frozen=True)
class Plan:
    """What will run: the precision mode, offload and compile, and why (for the status line)."""

    mode: str  # fp8-matmul, fp8-storage or bf16
    offload: str
    compile: bool
    reason: str
    aot: bool = False  # ahead-of-time (ZeroGPU, or FLUX_COMPILE=aot) rather than torch.compile


Size = tuple[int, int, int]  # width, height, images: the request the offload must fit
DEFAULT_SIZE: Size = (1024, 1024, 1)


def fit_size(size: Size | None) -> Size:
    """The request auto offload plans for: the one that loads the model, and never less than 1024², 1 image."""
    width, height, images = size or DEFAULT_SIZE
    if width * height < 1024 * 1024:
        width, height = 1024, 1024
    return width, height, images


def plan(
    settings: LocalSettings,
    device: str,
    capability: tuple[int, int] | None,
    free_bytes: int,
    size: Size | None = None,
) -> Plan:
    """Resolve the auto settings for this device; Unavailable when an explicit setting cannot run here."""
    from backends.local.zerogpu import on_zerogpu

    offload = settings.offload
    if device == "cpu" and offload == "auto":
        offload = "none"
    if device == "cpu" and offload == "sequential":
        # accelerate's per-layer hooks cannot offload to the device they execute on.
        raise Unavailable("FLUX_OFFLOAD=sequential needs a CUDA GPU (use none or model on the CPU)")
    # accelerate's per-layer hooks are compiler-disabled, so a fullgraph compile cannot trace them.
    can_compile = offload != "sequential"
    cc = f"compute capability {capability[0]}.{capability[1]}" if capability else "CPU"
    has_fp8_matmuls = device == "cuda" and capability is not None and capability >= FP8_MATMUL_CAPABILITY
    compile_wanted = settings.compile in ("on", "aot") or (settings.compile == "auto" and settings.precision == "fp8")

    if settings.precision == "bf16":
        mode, reason = "bf16", "bf16 reference"
        compile_wanted = settings.compile in ("on", "aot")
    elif settings.fp8_matmul == "on":
        if device == "cuda" and not has_fp8_matmuls:
            raise Unavailable(f"FLUX_FP8_MATMUL=on needs compute capability 8.9+; this GPU has {cc} (use auto or off)")
        mode, reason = "fp8-matmul", f"torchao row-wise FP8 matmuls (FLUX_FP8_MATMUL=on, {cc})"
    elif settings.fp8_matmul == "auto" and has_fp8_matmuls and compile_wanted and can_compile:
        mode, reason = "fp8-matmul", f"torchao row-wise FP8 matmuls, compiled ({cc})"
    else:
        mode = "fp8-storage"
        if settings.fp8_matmul == "off":
            why = "FLUX_FP8_MATMUL=off"
        elif not has_fp8_matmuls:
            why = f"{cc} has no FP8 matmuls; they need 8.9+"
        else:  # eager FP8 matmuls are slower than bf16 (bench/NOTES.md), so without compile: storage
            why = "FP8 matmuls only run compiled" + (" (FLUX_COMPILE=off)" if can_compile else " (sequential offload)")
        reason = f"fp8 storage, bf16 compute ({why})"

    compile = compile_wanted and can_compile and mode != "fp8-storage"
    if settings.compile in ("on", "aot") and not compile:
        why = "sequential offload" if not can_compile else "FP8 storage upcasts per layer"
        reason += f"; compile skipped ({why})"
    aot = compile and (settings.compile == "aot" or on_zerogpu())
    if aot:
        reason += "; compiled ahead of time" + (" (ZeroGPU)" if on_zerogpu() else "")
    if offload == "auto":
        offload = choose_offload(mode, free_bytes, *fit_size(size))
    return Plan(mode, offload, compile, reason, aot)


def load_pipeline(
    settings: LocalSettings, report: Callable[[str], None] = lambda m: None, size: Size | None = None
) -> LoadedPipeline:
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
        if not isinstance(source, Path) and _hub_unreachable(err):
            raise Unavailable(
                f"{settings.model} is not in the Hugging Face cache and the hub cannot be reached: "
                f"download it first (hf download {settings.model}) or set FLUX_MODEL to a diffusers directory"
            ) from None
        raise Unavailable(f"could not load {settings.model}: {_first_line(err)}") from err
    load_s = time.perf_counter() - started
    try:
        loaded = prepare_pipeline(pipe, settings, device, report, size)
    except Unavailable as err:  # a setting that cannot run here: same answer until it changes
        err.sticky = True
        raise
    except Exception as err:
        # Out of memory while placing, a compile error, a missing torchao...: say so, and don't
        # reload on every request (sticky) until the settings change.
        detail = f"{type(err).__name__}: {_first_line(err)}"
        hint = " (try FLUX_OFFLOAD=model or sequential)" if "out of memory" in detail.lower() else ""
        raise Unavailable(f"could not prepare {settings.model}: {detail}{hint}", sticky=True) from None
    loaded.timings = {"load_s": load_s, **loaded.timings}
    return loaded


def _hub_unreachable(err: BaseException) -> bool:
    """huggingface_hub's "not cached, and offline or no network" (its text varies by version)."""
    text = str(err).lower()
    return any(k in text for k in ("not fully cached", "offline", "couldn't connect", "cannot reach", "local cache"))


def _first_line(err: BaseException) -> str:
    """An exception's message, short enough for a status line (some messages are empty)."""
    return (str(err).splitlines() or [""])[0][:300]


def inference_context():
    """The grad mode every pipeline call runs under: warm-up, requests and the benchmark alike.

    ``no_grad``, not ``inference_mode``: torchao's Float8Tensors cannot be moved between devices
    under inference_mode (pytorch#149514, torchao#3487), which offload hooks do on every call; and
    compiled code warmed up under one mode recompiles under the other.
    """
    import torch

    return torch.no_grad()


def prepare_pipeline(
    pipe: Any,
    settings: LocalSettings,
    device: str,
    report: Callable[[str], None] = lambda m: None,
    size: Size | None = None,
) -> LoadedPipeline:
    """Apply precision, offload and compile to a bf16 pipeline (from disk, or random for the benchmark)."""
    from backends.local.compile import compile_blocks
    from backends.local.fp8 import quantize_transformer_fp8, store_t5_in_fp8, store_transformer_in_fp8

    capability, free, device_name = None, 0, "CPU"
    if device == "cuda":
        device_name, capability, free = _gpu_facts()
    p = plan(settings, device, capability, free, size)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if p.mode == "fp8-matmul":
        report("quantizing the transformer for FP8 matmuls")
        home = device if p.offload == "none" else "cpu"  # offload hooks expect to start from the CPU
        quantize_transformer_fp8(pipe.transformer, device, home, open_gate=device != "cuda")
    elif p.mode == "fp8-storage":
        report("converting weights to FP8 storage")
        store_transformer_in_fp8(pipe.transformer)
    if p.mode != "bf16":
        store_t5_in_fp8(pipe.text_encoder_2)
    timings["quantize_s"] = time.perf_counter() - started

    report(f"placing the model ({p.offload} offload)")
    if p.offload == "none":
        pipe.to(device)
    elif p.offload == "model":
        pipe.enable_model_cpu_offload(device=device)  # an explicit device: the CPU works too (tests)
    else:
        pipe.enable_sequential_cpu_offload(device=device)
    pipe.vae.enable_slicing()  # decode a batch one image at a time: 4 images cost one image's peak
    pipe.set_progress_bar_config(disable=True)

    loaded = LoadedPipeline(pipe, device, device_name, p.mode, p.reason, p.offload, False, timings)
    if p.compile:
        report("compiling the transformer blocks and warming up (a minute or two, once)")
        started = time.perf_counter()
        try:
            compile_blocks(pipe, inference_context, ahead_of_time=p.aot)
        except Exception as err:  # noqa: BLE001 - a compiler failure must not take the backend down
            # Slower, but it runs: JIT wrappers are dropped; AOT replaces a block only once compiled.
            log.warning("compile failed, running eager: %s", _first_line(err))
            for block in pipe.transformer.modules():
                if getattr(block, "_compiled_call_impl", None) is not None:
                    block._compiled_call_impl = None
            loaded.path += f"; compile failed ({type(err).__name__}: {_first_line(err)[:120]}), running eager"
        else:
            timings["compile_s"] = time.perf_counter() - started
            loaded.compiled, loaded.compile_kind = True, "aot" if p.aot else "jit"
    return loaded
