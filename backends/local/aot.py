"""Ahead-of-time (AOTInductor) compilation of the transformer's repeated blocks, as ZeroGPU needs.

ZeroGPU cannot run `torch.compile` (each call is a short-lived GPU process), but it can run
code compiled ahead of time (huggingface/blog zerogpu-aoti.md). We compile regionally: one
block of each class is exported with `torch.export` (dynamic batch and image tokens), compiled
once, and every block of that class runs the compiled code with its own weights. FP8-matmul
weights (torchao Float8Tensors) are exported as their plain tensors (data and scale).

Off ZeroGPU the same code compiles with `torch._inductor` directly (FLUX_COMPILE=aot, and the
tests, on the CPU). On ZeroGPU the `spaces` helpers compile inside a GPU call and carry the
compiled code and weights across ZeroGPU's processes; that last step is not testable here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.local.settings import MAX_SEQUENCE_LENGTH

MIN_TOKENS, MAX_TOKENS = 16, 9216  # 64² to 1536² images, in 16-pixel patches
MAX_BATCH = 4
CAPTURE_SHAPE = (384, 640, 2)  # a batch of 2: an example batch of 1 would be specialized


def block_lists(transformer: Any) -> list[Any]:
    return [transformer.transformer_blocks, transformer.single_transformer_blocks]


def capture_block_inputs(pipe: Any, grad_mode: Callable[[], Any]) -> list[tuple[tuple, dict]]:
    """Each block class's real (args, kwargs), from one short pipeline call."""
    import torch

    captured: dict[int, tuple[tuple, dict]] = {}
    hooks = []
    for i, blocks in enumerate(block_lists(pipe.transformer)):

        def hook(module, args, kwargs, i=i):
            captured.setdefault(i, (args, kwargs))

        hooks.append(blocks[0].register_forward_pre_hook(hook, with_kwargs=True))
    width, height, images = CAPTURE_SHAPE
    try:
        with grad_mode():
            pipe(
                "capture",
                width=width,
                height=height,
                num_images_per_prompt=images,
                num_inference_steps=1,
                max_sequence_length=MAX_SEQUENCE_LENGTH,
                generator=[torch.Generator("cpu").manual_seed(i) for i in range(images)],
                output_type="latent",
            )
    finally:
        for h in hooks:
            h.remove()
    return [captured[i] for i in range(len(hooks))]


def export_block(block: Any, args: tuple, kwargs: dict) -> Any:
    """`torch.export` of one block, dynamic in batch (1–4) and image tokens (64² to 1536²)."""
    import torch
    from torch.export import Dim

    batch = Dim("batch", min=1, max=MAX_BATCH)
    tokens = Dim("image_tokens", min=MIN_TOKENS, max=MAX_TOKENS)
    rotary = tokens + MAX_SEQUENCE_LENGTH  # the rotary tables cover text and image tokens
    shapes = {
        "hidden_states": {0: batch, 1: tokens},
        "encoder_hidden_states": {0: batch},
        "temb": {0: batch},
        "image_rotary_emb": ({0: rotary}, {0: rotary}),
        "joint_attention_kwargs": {},
    }
    with torch.no_grad():
        return torch.export.export(block, args=args, kwargs=kwargs, dynamic_shapes={k: shapes[k] for k in kwargs})


def block_weights(block: Any) -> dict[str, Any]:
    """The block's weights under the names the exported program uses (Float8Tensors unwrapped)."""
    from torch._functorch._aot_autograd.subclass_parametrization import unwrap_tensor_subclass_parameters

    unwrap_tensor_subclass_parameters(block)
    return block.state_dict()


def _run_with(compiled: Any) -> Callable:
    def forward(*args, **kwargs):
        return compiled(*args, **kwargs)

    return forward


def aot_compile_blocks(pipe: Any, grad_mode: Callable[[], Any], workdir: Path | None = None) -> int:
    """Compile each block class ahead of time with torch._inductor and apply it to every block; returns blocks."""
    import torch

    workdir = Path(workdir or tempfile.mkdtemp(prefix="flux-aoti-"))
    applied = 0
    inputs = capture_block_inputs(pipe, grad_mode)
    for blocks, (args, kwargs) in zip(block_lists(pipe.transformer), inputs, strict=True):
        program = export_block(blocks[0], args, kwargs)
        package = torch._inductor.aoti_compile_and_package(
            program,
            package_path=str(workdir / f"{type(blocks[0]).__name__}.pt2"),
            inductor_configs={"aot_inductor.package_constants_in_so": False},  # weights come per block
        )
        for block in blocks:
            compiled = torch._inductor.aoti_load_package(package)
            weights = block_weights(block)
            # user_managed: the compiled code reads the block's own tensors; no second copy.
            compiled.load_constants(
                {name: weights[name] for name in compiled.get_constant_fqns()},
                check_full_update=True,
                user_managed=True,
            )
            block.forward = _run_with(compiled)
            applied += 1
    return applied


def aot_compile_blocks_on_zerogpu(pipe: Any, grad_mode: Callable[[], Any]) -> int:
    """The same regional AoT through the `spaces` helpers, compiling inside one long GPU call at start-up."""
    import spaces
    from spaces.zero.torch.aoti import ZeroGPUCompiledModel, ZeroGPUWeights

    @spaces.GPU(duration=1500)  # the longest a start-up call may take
    def compile_on_gpu() -> list[Any]:
        inputs = capture_block_inputs(pipe, grad_mode)
        return [
            spaces.aoti_compile(export_block(blocks[0], args, kwargs))
            for blocks, (args, kwargs) in zip(block_lists(pipe.transformer), inputs, strict=True)
        ]

    applied = 0
    for blocks, compiled in zip(block_lists(pipe.transformer), compile_on_gpu(), strict=True):
        for block in blocks:
            weights = ZeroGPUWeights(block_weights(block))
            spaces.aoti_apply(ZeroGPUCompiledModel(compiled.archive_file, weights), block)
            applied += 1
    return applied
