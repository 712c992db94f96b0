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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.errors import Unavailable
from backends.local.memory import choose_offload
from backends.local.settings import LocalSettings

log = logging.getLogger(__name__)

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
    cache: dict[str, Any] = field(default_factory=dict)  # compile-cache hits and misses of this load, and its folder


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


def rowwise_fp8_probe() -> bool:
    """Whether this torch runs a row-wise FP8 ``_scaled_mm`` on this GPU: a 16×32 by 32×16 product, once, at load.

    The capability alone does not say it: torch builds before row-wise FP8 on sm_89 (pytorch
    144348/145676) and sm_120 (pytorch 161236, 192707) refuse it with "not supported".
    """
    import torch

    try:
        a = torch.ones(16, 32, device="cuda").to(torch.float8_e4m3fn)
        b = torch.ones(16, 32, device="cuda").to(torch.float8_e4m3fn).t()  # column-major, as _scaled_mm wants
        scale_a, scale_b = torch.ones(16, 1, device="cuda"), torch.ones(1, 16, device="cuda")
        out = torch._scaled_mm(a, b, scale_a=scale_a, scale_b=scale_b, out_dtype=torch.bfloat16)
        return bool(out[0, 0].item() == 32)
    except Exception as err:  # noqa: BLE001 - any refusal means "no row-wise FP8 here"
        log.info("row-wise FP8 probe failed: %s", _first_line(err))
        return False


def fp8_matmul_support(
    capability: tuple[int, int] | None, probe: bool | None, torch_version: str | None = None
) -> tuple[bool, str]:
    """Whether row-wise FP8 matmuls run here, and why, from a capability table and the probe.

    ``probe`` is :func:`rowwise_fp8_probe`'s answer, or None where it could not run (ZeroGPU
    attaches no GPU at start-up): then sm_89/sm_90 count on torch 2.7+, which has row-wise
    FP8 there, and anything else is not trusted.
    """
    if capability is None:
        return False, "no GPU: no FP8 matmuls"
    cc = f"sm_{capability[0]}{capability[1]}"
    if capability < (8, 9):
        return False, f"{cc} has no FP8 tensor cores (they need compute capability 8.9+)"
    if probe:
        return True, f"{cc}, row-wise FP8 probe passed"
    if probe is False:
        known = "pytorch#161236" if capability[0] == 12 else "torch 2.7+ has it on sm_89/sm_90"
        return False, f"{cc}: this torch's row-wise FP8 _scaled_mm failed the probe ({known})"
    if capability in ((8, 9), (9, 0)) and _version_at_least(torch_version, (2, 7)):
        return True, f"{cc}, torch {torch_version} has row-wise FP8"
    return False, f"{cc}: row-wise FP8 not probed"


def _version_at_least(version: str | None, wanted: tuple[int, int]) -> bool:
    if version is None:
        import torch

        version = torch.__version__
    parts = [int(p) for p in version.split("+")[0].split(".")[:2] if p.isdigit()]
    return tuple(parts) >= wanted


def _explicit_offload(settings: LocalSettings, device: str) -> str:
    """The offload setting, or "auto"; on the CPU auto is none, and sequential is refused."""
    if device == "cpu" and settings.offload == "auto":
        return "none"
    if device == "cpu" and settings.offload == "sequential":
        # accelerate's per-layer hooks cannot offload to the device they execute on.
        raise Unavailable("FLUX_OFFLOAD=sequential needs a CUDA GPU (use none or model on the CPU)")
    return settings.offload


def _storage_reason(settings: LocalSettings, fp8_ok: bool, fp8_why: str, sequential: bool) -> str:
    if settings.fp8_matmul == "off":
        why = "FLUX_FP8_MATMUL=off"
    elif not fp8_ok:
        why = fp8_why
    elif sequential:  # decided before compiling: per-layer hooks can't be compiled, eager FP8 matmuls lose
        why = "sequential offload: FP8 matmuls only run compiled, and per-layer offload can't be compiled"
    else:  # eager FP8 matmuls are slower than bf16 (bench/NOTES.md), so without compile: storage
        why = "FP8 matmuls only run compiled (FLUX_COMPILE=off)"
    return f"fp8 storage, bf16 compute ({why})"


def plan(
    settings: LocalSettings,
    device: str,
    capability: tuple[int, int] | None,
    free_bytes: int,
    size: Size | None = None,
    probe: bool | None = None,
) -> Plan:
    """Resolve the auto settings for this device; Unavailable when an explicit setting cannot run here.

    Offload is decided before compile: where it comes out sequential, nothing is compiled and
    FP8 is storage only (a 12 GB card), instead of compiling, failing and running eager.
    """
    from backends.local.zerogpu import on_zerogpu

    offload = _explicit_offload(settings, device)
    fp8_ok, fp8_why = fp8_matmul_support(capability, probe) if device == "cuda" else (False, "CPU")
    compile_wanted = settings.compile in ("on", "aot") or (settings.compile == "auto" and settings.precision == "fp8")

    if settings.precision == "bf16":
        mode, reason = "bf16", "bf16 reference"
        compile_wanted = settings.compile in ("on", "aot")
    elif settings.fp8_matmul == "on":
        if device == "cuda" and not fp8_ok:
            raise Unavailable(f"FLUX_FP8_MATMUL=on needs row-wise FP8 matmuls: {fp8_why} (use auto or off)")
        mode, reason = "fp8-matmul", f"torchao row-wise FP8 matmuls (FLUX_FP8_MATMUL=on, {fp8_why})"
    elif settings.fp8_matmul == "auto" and fp8_ok and compile_wanted and offload != "sequential":
        mode, reason = "fp8-matmul", f"torchao row-wise FP8 matmuls, compiled ({fp8_why})"
    else:
        mode, reason = "fp8-storage", _storage_reason(settings, fp8_ok, fp8_why, offload == "sequential")

    if offload == "auto":
        offload = choose_offload(mode, free_bytes, *fit_size(size))
        if offload == "sequential" and mode == "fp8-matmul" and settings.fp8_matmul == "auto":
            mode, reason = "fp8-storage", _storage_reason(settings, fp8_ok, fp8_why, sequential=True)
            offload = choose_offload(mode, free_bytes, *fit_size(size))

    compile = compile_wanted and offload != "sequential" and mode != "fp8-storage"
    if settings.compile in ("on", "aot") and not compile:
        why = "sequential offload" if offload == "sequential" else "FP8 storage upcasts per layer"
        reason += f"; compile skipped ({why})"
    aot = compile and (settings.compile == "aot" or on_zerogpu())
    if aot:
        reason += "; compiled ahead of time" + (" (ZeroGPU)" if on_zerogpu() else "")
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


def _quantize(pipe: Any, p: Plan, device: str, report: Callable[[str], None]) -> tuple[str, str]:
    """Apply the plan's precision; returns (mode, reason) as they turned out.

    FP8 matmuls are counted, not assumed: torchao silently skips linears whose sides are not
    multiples of 16, so a model where it quantized nothing runs FP8 storage and says so.
    """
    from backends.local.fp8 import quantize_transformer_fp8, store_t5_in_fp8, store_transformer_in_fp8

    mode, reason = p.mode, p.reason
    if p.mode == "fp8-matmul":
        report("quantizing the transformer for FP8 matmuls")
        home = device if p.offload == "none" else "cpu"  # offload hooks expect to start from the CPU
        quantized, planned = quantize_transformer_fp8(pipe.transformer, device, home, open_gate=device != "cuda")
        if quantized == 0:
            store_transformer_in_fp8(pipe.transformer)
            mode = "fp8-storage"
            reason = f"fp8 storage, bf16 compute (torchao quantized 0 of {planned} linears: sides not multiples of 16)"
        elif quantized < planned:
            reason += f"; {quantized} of {planned} linears quantized"
    elif p.mode == "fp8-storage":
        report("converting weights to FP8 storage")
        store_transformer_in_fp8(pipe.transformer)
    if p.mode != "bf16":
        store_t5_in_fp8(pipe.text_encoder_2)
    return mode, reason


def _place(pipe: Any, offload: str, device: str) -> None:
    if offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)  # an explicit device: the CPU works too (tests)
    else:
        pipe.enable_sequential_cpu_offload(device=device)
    pipe.vae.enable_slicing()  # decode a batch one image at a time: 4 images cost one image's peak
    pipe.set_progress_bar_config(disable=True)


def prepare_pipeline(
    pipe: Any,
    settings: LocalSettings,
    device: str,
    report: Callable[[str], None] = lambda m: None,
    size: Size | None = None,
) -> LoadedPipeline:
    """Apply precision, offload and compile to a bf16 pipeline (from disk, or random for the benchmark)."""
    capability, free, device_name, probe = None, 0, "CPU", None
    if device == "cuda":
        device_name, capability, free = _gpu_facts()
        if capability >= (8, 9) and settings.precision == "fp8" and settings.fp8_matmul != "off":
            from backends.local.zerogpu import on_zerogpu

            probe = None if on_zerogpu() else rowwise_fp8_probe()
    p = plan(settings, device, capability, free, size, probe)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    mode, reason = _quantize(pipe, p, device, report)
    timings["quantize_s"] = time.perf_counter() - started

    report(f"placing the model ({p.offload} offload)")
    _place(pipe, p.offload, device)
    loaded = LoadedPipeline(pipe, device, device_name, mode, reason, p.offload, False, timings)
    if p.compile and mode != "fp8-storage":
        _compile(loaded, settings, capability, p.aot, report)
    return loaded


def _compile(
    loaded: LoadedPipeline, settings: LocalSettings, capability: Any, aot: bool, report: Callable[[str], None]
) -> None:
    """Compile and warm up, with inductor's caches in the app's folder; a failure falls back to eager."""
    from backends.local.compile import compile_blocks
    from backends.local.compile_cache import cache_folder, cache_hits, use_cache_folder

    folder = cache_folder(settings.compile_cache, loaded.device_name, capability)
    cached = use_cache_folder(folder)
    report(
        "compiling the transformer blocks (2 kinds, once): "
        + ("reusing the compile cache, seconds" if cached else "no compile cache yet, a minute or more on a GPU")
    )
    before = cache_hits()
    started = time.perf_counter()
    try:
        compile_blocks(loaded.pipe, inference_context, ahead_of_time=aot, report=report)
    except Exception as err:  # noqa: BLE001 - a compiler failure must not take the backend down
        # Slower, but it runs: JIT wrappers are dropped; AOT replaces a block only once compiled.
        log.warning("compile failed, running eager: %s", _first_line(err))
        for block in loaded.pipe.transformer.modules():
            if getattr(block, "_compiled_call_impl", None) is not None:
                block._compiled_call_impl = None
        loaded.path += f"; compile failed ({type(err).__name__}: {_first_line(err)[:120]}), running eager"
        return
    loaded.timings["compile_s"] = time.perf_counter() - started
    loaded.compiled, loaded.compile_kind = True, "aot" if aot else "jit"
    after = cache_hits()
    loaded.cache = {k: after[k] - before[k] for k in after} | {"folder": str(folder) if folder else "off"}
