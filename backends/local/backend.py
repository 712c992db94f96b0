"""The Local FP8 backend: one shared pipeline, loaded on first use, one GPU job at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping

from PIL import Image

from backends.errors import BackendError, Cancelled, OutOfMemory, Unavailable
from backends.local.loader import LoadedPipeline, load_pipeline, next_offload, pick_device
from backends.local.settings import MAX_SEQUENCE_LENGTH, LocalSettings
from backends.local.zerogpu import gpu_task
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
    label = "Local FP8"
    honours_guidance = False

    def __init__(self, settings: LocalSettings | None = None) -> None:
        self.settings = settings or LocalSettings.from_env()
        self.loaded: LoadedPipeline | None = None
        self.load_error: BackendError | None = None
        self._gpu = threading.Lock()  # GPU work is serialized: concurrency 1, across all sessions
        self._loading = False

    # --- status and settings -------------------------------------------------------
    def status(self, keys: Mapping[str, str] | None = None) -> BackendStatus:
        if self.loaded:
            lp = self.loaded
            extra = f", {lp.offload} offload" if lp.offload != "none" else ""
            extra += ", compiled" if lp.compiled else ""
            return BackendStatus(True, f"ready on {lp.device_name}, {lp.precision}: {lp.path}{extra}")
        if self._loading:
            return BackendStatus(True, f"loading {self.settings.model}…")
        if self.load_error:
            return BackendStatus(False, f"unavailable: {self.load_error.detail}")
        try:
            pick_device(self.settings)
        except Unavailable as err:
            return BackendStatus(False, f"unavailable: {err.detail}")
        except ImportError:
            return BackendStatus(False, "unavailable: torch is not installed")
        return BackendStatus(True, f"loads {self.settings.model} on first use ({self.settings.precision})")

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

    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        received = {
            "width": request.width,
            "height": request.height,
            "num_inference_steps": request.num_inference_steps,
            "max_sequence_length": MAX_SEQUENCE_LENGTH,
            "precision": self.settings.precision,
            "seeds": [request.image_seed(i) for i in range(request.num_images)],
        }
        notes = [
            f"{request.width}×{request.height}, {request.num_inference_steps} steps, {self.settings.precision}",
            "guidance ignored (schnell)",
        ]
        return received, notes

    # --- running -------------------------------------------------------------------
    def ensure_loaded(self, report: Callable[[str], None] = lambda m: None) -> LoadedPipeline:
        """Load the shared pipeline once; callers must hold the GPU lock."""
        if self.loaded is None:
            self._loading = True
            try:
                self.loaded = load_pipeline(self.settings, report)
                self.load_error = None
            except BackendError as err:
                self.load_error = err
                raise
            finally:
                self._loading = False
        return self.loaded

    def _generate_sync(self, request: GenerationRequest, ctx: RunContext) -> list[Image.Image]:
        waited = not self._gpu.acquire(blocking=False)
        if waited:
            ctx.on_progress("waiting for the GPU (another job is running)", None)
            self._gpu.acquire()
        try:
            if ctx.is_cancelled():
                raise Cancelled("cancelled before it started")
            loaded = self.ensure_loaded(lambda m: ctx.on_progress(m, None))
            ctx.on_progress(f"step 0/{request.num_inference_steps}", 0.0)
            try:
                return gpu_task(request)(_denoise)(loaded, request, ctx)
            except BackendError:
                raise
            except Exception as err:
                if not _is_oom(err):
                    raise
                _release_memory()
                suggestion = next_offload(loaded.offload)
                fix = f"set FLUX_OFFLOAD={suggestion}" if suggestion else "use a smaller size or fewer images"
                raise OutOfMemory(
                    f"{request.width}×{request.height} × {request.num_images} image(s) ran out of GPU memory "
                    f"with {loaded.offload} offload; {fix}"
                ) from err
        finally:
            self._gpu.release()

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        received, notes = self.describe(request)
        started = time.perf_counter()
        images = await asyncio.to_thread(self._generate_sync, request, ctx)
        latency = time.perf_counter() - started
        outcomes = [
            ImageOutcome(i, request.image_seed(i), image=img, latency_s=latency) for i, img in enumerate(images)
        ]
        return BackendRun(self.id, self.label, outcomes, received=received, notes=notes)


def _denoise(loaded: LoadedPipeline, request: GenerationRequest, ctx: RunContext) -> list[Image.Image]:
    """The GPU part: one batched pipeline call, each image with its own CPU generator (seed+i)."""
    import torch

    total = request.num_inference_steps

    def on_step(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        ctx.on_progress(f"step {step + 1}/{total}", (step + 1) / total)
        if ctx.is_cancelled():
            pipe._interrupt = True  # diffusers stops the loop after this step
        return {}

    # CPU generators: the same seed gives the same noise whatever the device.
    generators = [torch.Generator("cpu").manual_seed(request.image_seed(i)) for i in range(request.num_images)]
    with torch.inference_mode():
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
