"""The Local FP8 backend: one shared pipeline, loaded on first use, one GPU job at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from backends.errors import BackendError, Cancelled, OutOfMemory, Unavailable
from backends.local.loader import LoadedPipeline, inference_context, load_pipeline, next_offload, pick_device
from backends.local.memory import TILE_ABOVE_MP
from backends.local.preview import StepListener, StepUpdate, step_listener
from backends.local.settings import MAX_SEQUENCE_LENGTH, LocalSettings
from backends.local.zerogpu import on_gpu
from backends.types import Backend, BackendRun, BackendStatus, GenerationRequest, ImageOutcome, RunContext

log = logging.getLogger(__name__)


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def _release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class LocalBackend(Backend):
    id = "local"
    honours_guidance = False

    @property
    def label(self) -> str:  # type: ignore[override]
        """Names the precision, so bf16 timings never sit in the "Local FP8" row or column."""
        return "Local FP8" if self.settings.precision == "fp8" else "Local bf16"

    def __init__(self, settings: LocalSettings | None = None) -> None:
        self.settings = settings or LocalSettings()
        self.loaded: LoadedPipeline | None = None
        self.load_error: BackendError | None = None
        # GPU work is serialized on one dedicated thread (concurrency 1 across all sessions), so jobs
        # waiting for it don't occupy the event loop's default executor, which httpx needs for DNS.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flux-gpu")
        self._jobs = 0  # submitted and not finished; touched only on the event loop
        self._gpu = threading.Lock()
        self._loading = False
        self._stage = "starting"  # the loader's latest progress message, for the status line

    @property
    def pending_jobs(self) -> int:
        """GPU jobs submitted and not finished (page runs and served calls alike)."""
        return self._jobs

    # --- status and settings -------------------------------------------------------
    def status(self, keys: Mapping[str, str] | None = None) -> BackendStatus:
        if self.loaded:
            lp = self.loaded
            extra = f", {lp.offload} offload" if lp.offload != "none" else ""
            compiled = f"compiled ({lp.compile_kind}){_compile_note(lp)}" if lp.compiled else "not compiled"
            return BackendStatus(True, f"ready on {lp.device_name}, {lp.mode}, {compiled}: {lp.path}{extra}")
        if self._loading:
            return BackendStatus(True, f"loading {self.settings.model}: {self._stage}…")
        if self.load_error:
            return BackendStatus(False, f"unavailable: {self.load_error.detail}")
        try:
            pick_device(self.settings)
        except Unavailable as err:
            return BackendStatus(False, f"unavailable: {err.detail}")
        except ImportError:
            return BackendStatus(False, "unavailable: torch is not installed")
        s = self.settings
        wants = f"{s.precision}, FP8 matmuls {s.fp8_matmul}, compile {s.compile}"
        return BackendStatus(True, f"loads {s.model} on first use ({wants}){_first_use_note(s)}")

    def reconfigure(self, **changes: object) -> None:
        """Change precision/offload/compile; the shared pipeline reloads on its next use."""
        new = dataclasses.replace(self.settings, **changes)
        if new == self.settings:
            return
        with self._gpu:
            self.settings = new
            self.loaded = None
            self.load_error = None
            _release_memory()

    def describe(self, request: GenerationRequest, loaded: LoadedPipeline | None = None) -> tuple[dict, list[str]]:
        """What ran: ``precision`` is fp8-matmul, fp8-storage or bf16, and ``compiled`` says if it was.

        ``loaded`` is the pipeline the run used, captured under the GPU lock: by the time the
        run is described, a settings change may already have dropped ``self.loaded``.
        """
        lp = loaded or self.loaded
        precision = lp.mode if lp else f"{self.settings.precision} (not loaded)"
        received = {
            "width": request.width,
            "height": request.height,
            "num_inference_steps": request.num_inference_steps,
            "max_sequence_length": MAX_SEQUENCE_LENGTH,
            "precision": precision,
            "compiled": bool(lp and lp.compiled),
            "compile": lp.compile_kind if lp and lp.compiled else "none",
            "offload": lp.offload if lp else self.settings.offload,
            "vae_tiling": uses_vae_tiling(request),
            "seeds": [request.image_seed(i) for i in range(request.num_images)],
        }
        compiled = f", compiled ({lp.compile_kind})" if lp and lp.compiled else ""
        notes = [
            f"{request.width}×{request.height}, {request.num_inference_steps} steps, {precision}{compiled}",
            "guidance ignored (schnell)",
        ]
        return received, notes

    # --- running -------------------------------------------------------------------
    def ensure_loaded(
        self, report: Callable[[str], None] = lambda m: None, request: GenerationRequest | None = None
    ) -> LoadedPipeline:
        """Load the shared pipeline once; runs on the GPU worker thread.

        A failure after the weights were read (out of memory while placing, a compile error)
        is remembered until the settings change, so each request doesn't reload ~33 GB to fail again.
        """
        if self.loaded is None:
            if self.load_error is not None and self.load_error.sticky:
                raise self.load_error
            self._loading = True
            try:
                size = (request.width, request.height, request.num_images) if request else None

                def tell(message: str) -> None:
                    self._stage = message
                    report(message)

                self.loaded = load_pipeline(self.settings, tell, size)
                self.load_error = None
            except BackendError as err:
                self.load_error = err
                raise
            finally:
                self._loading = False
        return self.loaded

    def _generate_sync(
        self, request: GenerationRequest, ctx: RunContext, queued_at: float, listener: StepListener | None = None
    ) -> tuple[list, dict, LoadedPipeline]:
        """Runs on the single GPU thread, so jobs are serialized without holding other threads."""
        timings = {"queue_s": time.perf_counter() - queued_at}
        with self._gpu:  # only contended by reconfigure()
            if ctx.is_cancelled():
                raise Cancelled("cancelled before it started")
            started = time.perf_counter()
            fresh = self.loaded is None
            loaded = self.ensure_loaded(lambda m: ctx.on_progress(m, None), request)
            if fresh:
                timings["load_s"] = time.perf_counter() - started
            if ctx.is_cancelled():  # pressed while the model loaded: no image starts
                raise Cancelled("cancelled before it started")
            ctx.on_progress(f"step 0/{request.num_inference_steps}", 0.0)
            message = None
            started = time.perf_counter()
            try:
                images = _denoise_on_gpu(loaded, request, ctx, listener)
            except BackendError:
                raise
            except Exception as err:
                if not _is_oom(err):
                    raise
                suggestion = next_offload(loaded.offload)
                fix = f"set FLUX_OFFLOAD={suggestion}" if suggestion else "use a smaller size or fewer images"
                message = (
                    f"{request.width}×{request.height} × {request.num_images} image(s) ran out of GPU memory "
                    f"with {loaded.offload} offload; {fix}"
                )
            if message is not None:
                # Outside the except block: the traceback (and the tensors its frames hold) is gone now.
                _release_memory()
                raise OutOfMemory(message)
            timings["gpu_s"] = time.perf_counter() - started
            return images, timings, loaded

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        if self._jobs:
            ctx.on_progress(f"waiting for the GPU ({self._jobs} job(s) ahead)", None)
        self._jobs += 1
        try:
            loop = asyncio.get_running_loop()
            # Read here, in the caller's task: run_in_executor does not carry the context to the GPU thread.
            listener = step_listener()
            images, timings, loaded = await loop.run_in_executor(
                self._executor, self._generate_sync, request, ctx, time.perf_counter(), listener
            )
        finally:
            self._jobs -= 1
        received, notes = self.describe(request, loaded)  # the settings it ran with, not the current ones
        if timings["queue_s"] >= 0.05:
            notes.append(f"waited {timings['queue_s']:.2f} s for the GPU")
        if "load_s" in timings:
            notes.append(f"first use: loaded the model in {timings['load_s']:.1f} s")
        # An image's latency is its GPU time; queueing and loading show in the notes and wall time.
        # ImageOutcome encodes each image as PNG once (~0.1 s a megapixel): off the event loop.
        outcomes = await asyncio.to_thread(
            lambda: [
                ImageOutcome(i, request.image_seed(i), image=img, latency_s=timings["gpu_s"])
                for i, img in enumerate(images)
            ]
        )
        return BackendRun(self.id, self.label, outcomes, received=received, notes=notes)


def _compile_note(lp: LoadedPipeline) -> str:
    """How long compiling took and whether the compile cache served it, e.g. " in 14 s, from the compile cache"."""
    note = f" in {lp.timings['compile_s']:.0f} s" if "compile_s" in lp.timings else ""
    hits = lp.cache.get("fxgraph_hit", 0) + lp.cache.get("autograd_hit", 0)
    if lp.compile_kind == "jit" and lp.cache.get("folder") not in (None, "off"):  # AoT packages don't use it
        note += ", from the compile cache" if hits else ", compile cache filled"
    return note


def _first_use_note(s: LocalSettings) -> str:
    """What the first use will cost, before anything is loaded: loading always, compiling where it is on."""
    if s.compile == "off" or (s.compile == "auto" and s.precision != "fp8"):
        return "; first use: loading (about a minute from a fast disk)"
    return (
        "; first use: loading, then compiling 2 block kinds if FP8 matmuls run (a minute or more on a GPU, "
        "seconds when the compile cache has them)"
    )


def uses_vae_tiling(request: GenerationRequest) -> bool:
    """Tiled VAE decode above about 1.5 MP: its peak stays that of a 1 MP tile (memory.py)."""
    return request.width * request.height > TILE_ABOVE_MP * 2**20


def _denoise(
    loaded: LoadedPipeline, request: GenerationRequest, ctx: RunContext, listener: StepListener | None = None
) -> list[Image.Image]:
    """The GPU part: one batched pipeline call, each image with its own CPU generator (seed+i).

    ``listener`` (backends/local/preview.py) gets every finished step with its latents.
    """
    import torch

    # Per request: tiles blend at their seams, so smaller images decode whole.
    vae = loaded.pipe.vae
    vae.enable_tiling() if uses_vae_tiling(request) else vae.disable_tiling()

    total = request.num_inference_steps

    def on_step(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        ctx.on_progress(f"step {step + 1}/{total}", (step + 1) / total)
        if listener is not None:
            update = StepUpdate(
                step + 1, total, callback_kwargs.get("latents"), request.height, request.width, pipe.vae_scale_factor
            )
            try:
                listener(update)
            except Exception:  # a watcher's failure never fails the run
                log.exception("a step listener failed")
        if ctx.is_cancelled():
            pipe._interrupt = True  # diffusers stops the loop after this step...
            raise Cancelled("cancelled after the current step")  # ...but would still decode: skip that too
        return {}

    # CPU generators: the same seed gives the same noise whatever the device.
    generators = [torch.Generator("cpu").manual_seed(request.image_seed(i)) for i in range(request.num_images)]
    with inference_context():
        result = loaded.pipe(
            request.prompt,
            width=request.width,
            height=request.height,
            num_inference_steps=total,
            guidance_scale=request.guidance_scale,
            num_images_per_prompt=request.num_images,
            generator=generators,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
            callback_on_step_end=on_step,
            output_type="pil",
        )
    if ctx.is_cancelled():
        raise Cancelled("cancelled after the current step")
    return list(result.images)


# Decorated once, with a duration computed per call: `spaces.GPU` caches what it wraps, so a
# per-request decorator would keep the first request's duration forever.
_denoise_on_gpu = on_gpu(_denoise)
