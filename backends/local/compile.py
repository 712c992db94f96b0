"""Compiling the transformer's repeated blocks once per block kind, for every size and batch a visitor can ask for.

Just-in-time (`torch.compile`) on a workstation; ahead-of-time (AOTInductor, through the
`spaces` helpers) on ZeroGPU, where torch.compile is not supported.

One graph per block kind, compiled by one warm-up call. Three things made dynamo recompile
(the H200 log in issue 14, reproduced on the CPU: 6 graphs in the old warm-up):
- the batch: dynamo always specializes size 1, and torchao's FP8 path and torch's own
  `_scaled_mm` checks tell per-tensor from row-wise scales by `scale.numel() == 1`, so a
  dynamic batch still splits into a batch-1 graph and a batch-≥2 graph. So the compiled
  block only ever sees one image: a batch runs as a loop of batch-1 calls. At FLUX sizes
  one image is already a GEMM with M ≥ 1000 tokens, so batching buys little on a GPU;
- the token count: marked dynamic on the block inputs before each call (the image tokens
  and the rotary tables), so the first size's count is not baked in;
- strides: slices and torch.cat give inputs whose strides differ between sizes, and
  strides are guarded; the inputs are made contiguous first.
The marking runs outside the compiled region (a wrapper around it, not a forward pre-hook:
`Module.compile` traces hooks, and `mark_dynamic` refuses to be traced).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backends.local.settings import MAX_SEQUENCE_LENGTH

WARM_UP_SHAPES = ((512, 512, 1),)  # (width, height, images): one call compiles both block kinds
BLOCK_INPUTS = ("hidden_states", "encoder_hidden_states", "temb")


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


def one_image_inputs(kwargs: dict[str, Any], i: int) -> dict[str, Any]:
    """Image ``i``'s block inputs, contiguous, with the token dimensions marked dynamic."""
    import torch

    one = dict(kwargs)
    for name in BLOCK_INPUTS:
        one[name] = kwargs[name][i : i + 1].contiguous()
    torch._dynamo.maybe_mark_dynamic(one["hidden_states"], 1)  # image tokens (the double block's input)
    rotary = kwargs.get("image_rotary_emb")
    if rotary is not None:  # (cos, sin), one row per text + image token, shared by the batch
        rotary = tuple(r.contiguous() for r in rotary)
        for r in rotary:
            torch._dynamo.maybe_mark_dynamic(r, 0)
        one["image_rotary_emb"] = rotary
    return one


def block_kinds(transformer: Any) -> list[list[Any]]:
    """The repeated blocks, one list per class (double-stream, single-stream)."""
    return [list(transformer.transformer_blocks), list(transformer.single_transformer_blocks)]


def compile_repeated_blocks(transformer: Any, report: Callable[[str], None] = lambda m: None) -> None:
    """Regional torch.compile of every block, run one image at a time with dynamic tokens.

    Each block's ``_compiled_call_impl`` (what ``Module.compile`` sets; clearing it restores
    eager) becomes a wrapper that prepares the inputs outside the compiled region. All blocks
    of a kind share their forward's code, so dynamo compiles a kind once for all of them.
    ``report`` hears when a kind is first compiled: that is where the minutes go on a GPU.
    """
    import torch

    kinds = block_kinds(transformer)
    started: set[int] = set()
    for k, blocks in enumerate(kinds):
        name = type(blocks[0]).__name__ if blocks else ""
        for block in blocks:
            compiled = torch.compile(block._call_impl, fullgraph=True)

            def call(*args: Any, _compiled=compiled, _k=k, _name=name, **kwargs: Any) -> Any:
                if args:  # diffusers passes block inputs by keyword; anything else runs as it came
                    return _compiled(*args, **kwargs)
                if _k not in started:
                    started.add(_k)
                    report(f"compiling block kind {_k + 1}/{len(kinds)} ({_name})")
                outs = [_compiled(**one_image_inputs(kwargs, i)) for i in range(kwargs["hidden_states"].shape[0])]
                return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))

            block._compiled_call_impl = call


def compile_blocks(
    pipe: Any, grad_mode: Callable[[], Any], ahead_of_time: bool = False, report: Callable[[str], None] = lambda m: None
) -> None:
    """Regional compile (about 10× faster to compile than the whole model, same speed-up), warmed up.

    Just in time with torch.compile, or ahead of time (aot.py) on ZeroGPU and for FLUX_COMPILE=aot.
    """
    if ahead_of_time:
        from backends.local import aot
        from backends.local.zerogpu import on_zerogpu

        (aot.aot_compile_blocks_on_zerogpu if on_zerogpu() else aot.aot_compile_blocks)(pipe, grad_mode)
        warm_up(pipe, grad_mode, shapes=WARM_UP_SHAPES[:1])  # loads the compiled code once, off the clock
        return
    compile_repeated_blocks(pipe.transformer, report)
    warm_up(pipe, grad_mode)
