"""Hugging Face ZeroGPU: run the GPU call under `@spaces.GPU` with a duration fitted to the job.

Elsewhere (no SPACES_ZERO_GPU in the environment) this is a no-op, and `spaces` is
never imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from backends.types import GenerationRequest

F = TypeVar("F", bound=Callable)

BASE_S = 10  # text encoders, VAE and transfer
PER_STEP_S_1MP = 0.6  # bf16 on ZeroGPU hardware, with headroom
MAX_S = 120
# What ZeroGPU lends (an H200 slice), for the start-up load when no GPU is attached yet.
ZEROGPU_FACTS = ("ZeroGPU (H200)", (9, 0), 70 * 1024**3)


def on_zerogpu() -> bool:
    return bool(os.environ.get("SPACES_ZERO_GPU"))


def gpu_duration_s(request: GenerationRequest) -> int:
    """Seconds to reserve: grows with pixels, steps and images, so short jobs don't burn quota."""
    megapixels = request.width * request.height / 1024**2
    work = PER_STEP_S_1MP * megapixels * request.num_inference_steps * request.num_images
    return int(min(MAX_S, BASE_S + work))


def _duration(loaded: object, request: GenerationRequest, *rest: object) -> int:
    # spaces calls this with the GPU function's own arguments, on every call.
    return gpu_duration_s(request)


def on_gpu(fn: F) -> F:
    """``fn(loaded, request, ...)`` under `spaces.GPU` with a per-call duration on ZeroGPU; ``fn`` elsewhere."""
    if not on_zerogpu():
        return fn
    import spaces  # only on Spaces, where it is installed and patches CUDA

    return spaces.GPU(fn, duration=_duration)
