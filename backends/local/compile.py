"""Compiling the transformer's repeated blocks once, for every size and batch a visitor can ask for.

Just-in-time (`torch.compile`) on a workstation; ahead-of-time (AOTInductor, through the
`spaces` helpers) on ZeroGPU, where torch.compile is not supported.

Why three warm-up calls: dynamo compiles the first call with static shapes; the second,
with a different size and batch, marks the token and batch dimensions dynamic (batch ≥ 2,
because sizes 0 and 1 are always specialized); the third, at batch 1 and yet another size,
gives the batch-1 graph dynamic tokens. After that no size or batch recompiles, which the
tests check with dynamo's `error_on_recompile`. (`dynamic=True` from the start is not
better: duck sizing then unifies the image token count with the 256 text tokens whenever a
warm-up size has 256 image tokens, and any other size recompiles.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backends.local.settings import MAX_SEQUENCE_LENGTH

# (width, height, images): batch 1 static, then batch ≥ 2 and batch 1 with dynamic tokens.
WARM_UP_SHAPES = ((512, 512, 1), (384, 640, 2), (640, 384, 1))


def warm_up(pipe: Any, grad_mode: Callable[[], Any], shapes=WARM_UP_SHAPES, steps: int = 1) -> None:
    """Throwaway runs, so compilation happens now and not on a visitor's image."""
    import torch

    for width, height, images in shapes:
        with grad_mode():
            pipe(
                "warm-up",
                width=width,
                height=height,
                num_images_per_prompt=images,
                num_inference_steps=steps,
                max_sequence_length=MAX_SEQUENCE_LENGTH,
                generator=[torch.Generator("cpu").manual_seed(i) for i in range(images)],
                output_type="pil",
            )


def compile_blocks(pipe: Any, grad_mode: Callable[[], Any], ahead_of_time: bool = False) -> None:
    """Regional compile (about 10× faster to compile than the whole model, same speed-up), warmed up.

    Just in time with torch.compile, or ahead of time (aot.py) on ZeroGPU and for FLUX_COMPILE=aot.
    """
    if ahead_of_time:
        from backends.local import aot
        from backends.local.zerogpu import on_zerogpu

        (aot.aot_compile_blocks_on_zerogpu if on_zerogpu() else aot.aot_compile_blocks)(pipe, grad_mode)
        warm_up(pipe, grad_mode, shapes=WARM_UP_SHAPES[:1])  # loads the compiled code once, off the clock
        return
    pipe.transformer.compile_repeated_blocks(fullgraph=True)
    warm_up(pipe, grad_mode)
