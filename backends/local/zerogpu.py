"""Hugging Face ZeroGPU: run the GPU call under `@spaces.GPU` with a duration fitted to the job.

Whether this is ZeroGPU is a setting (SPACES_ZERO_GPU, read by config.load), handed over once at start-up
by ``configure`` (app.create_app), before launch: `spaces` wants every GPU function decorated by then.
Elsewhere this is a no-op, and `spaces` is never imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from backends.types import GenerationRequest

F = TypeVar("F", bound=Callable)

BASE_S = 10  # text encoders, VAE and transfer
PER_STEP_S_1MP = 0.6  # bf16 on ZeroGPU hardware, with headroom
MAX_S = 120
# What ZeroGPU lends (an H200 slice), for the start-up load when no GPU is attached yet.
ZEROGPU_FACTS = ("ZeroGPU (H200)", (9, 0), 70 * 1024**3)


_zerogpu = False  # set by configure()


def configure(zerogpu: bool) -> None:
    """Say whether this is ZeroGPU (settings.zerogpu); GPU functions made earlier are (un)decorated now."""
    global _zerogpu
    _zerogpu = zerogpu
    for call in _GPU_CALLS:
        call.bind()


def on_zerogpu() -> bool:
    return _zerogpu


def gpu_duration_s(request: GenerationRequest) -> int:
    """Seconds to reserve: grows with pixels, steps and images, so short jobs don't burn quota."""
    megapixels = request.width * request.height / 1024**2
    work = PER_STEP_S_1MP * megapixels * request.num_inference_steps * request.num_images
    return int(min(MAX_S, BASE_S + work))


def _duration(loaded: object, request: GenerationRequest, *rest: object) -> int:
    # spaces calls this with the GPU function's own arguments, on every call.
    return gpu_duration_s(request)


class _GpuCall:
    """``fn``, or ``fn`` under `spaces.GPU` once configure(True) has run; decorated once, not per call
    (`spaces.GPU` caches what it wraps)."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.call = fn
        self.bind()

    def bind(self) -> None:
        if not _zerogpu:
            self.call = self.fn
        elif self.call is self.fn:
            import spaces  # only on Spaces, where it is installed and patches CUDA

            self.call = spaces.GPU(self.fn, duration=_duration)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)


_GPU_CALLS: list[_GpuCall] = []


def on_gpu(fn: F) -> F:
    """``fn(loaded, request, ...)`` under `spaces.GPU` with a per-call duration on ZeroGPU; ``fn`` elsewhere.

    Modules call this at import, before the settings are read: the decoration follows configure().
    """
    call = _GpuCall(fn)
    _GPU_CALLS.append(call)
    return cast(F, call)
