"""Ahead-of-time compilation (what ZeroGPU runs), on the CPU with torch._inductor's AOTInductor.

The same capture, export and per-block apply as on ZeroGPU; only the compile call differs
(`spaces.aoti_compile` there, which refuses a CPU build of torch).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from backends.local import LocalBackend, LocalSettings, zerogpu
from tests.helpers import gen

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def backends(tiny_model):
    common = dict(model=str(tiny_model), device="cpu", fp8_matmul="on")
    return LocalBackend(LocalSettings(**common, compile="aot")), LocalBackend(LocalSettings(**common, compile="off"))


def test_aot_compiled_fp8_blocks_serve_any_size_and_batch_like_eager(backends):
    aot, eager = backends
    for width, height, images in [(256, 256, 1), (320, 192, 2), (192, 448, 3)]:
        shape = dict(width=width, height=height, num_inference_steps=2, seed=21, num_images=images)
        a, b = gen(aot, **shape), gen(eager, **shape)
        assert a.received["precision"] == "fp8-matmul" and a.received["compile"] == "aot"
        assert [o.image.size for o in a.outcomes] == [(width, height)] * images
        for x, y in zip(a.outcomes, b.outcomes, strict=True):
            diff = np.abs(np.asarray(x.image.decode(), dtype=int) - np.asarray(y.image.decode(), dtype=int))
            assert diff.mean() < 2  # compiled kernels round differently; the picture is the same
    blocks = [*aot.loaded.pipe.transformer.transformer_blocks, *aot.loaded.pipe.transformer.single_transformer_blocks]
    assert all(b.forward.__name__ == "forward" and b.forward.__qualname__.startswith("_run_with") for b in blocks)
    assert "compiled (aot)" in aot.status().message


def test_on_zerogpu_compiling_means_spaces_aot_inside_one_long_gpu_call(monkeypatch, tiny_model):
    """The ZeroGPU wiring, with a stand-in `spaces` that compiles with torch._inductor on the CPU."""
    import torch

    from backends.local import aot

    calls = {"gpu": [], "compile": 0, "apply": 0}

    def gpu(duration):
        calls["gpu"].append(duration)
        return lambda fn: fn

    def aoti_compile(program):
        calls["compile"] += 1
        return types.SimpleNamespace(archive_file=torch._inductor.aoti_compile_and_package(program))

    class CompiledModel:
        def __init__(self, archive, weights):
            self.model = torch._inductor.aoti_load_package(archive)
            self.model.load_constants(
                {n: weights.map[n] for n in self.model.get_constant_fqns()}, check_full_update=True, user_managed=True
            )

        def __call__(self, *args, **kwargs):
            return self.model(*args, **kwargs)

    def aoti_apply(compiled, block):
        calls["apply"] += 1
        block.forward = compiled

    fake = types.SimpleNamespace(GPU=gpu, aoti_compile=aoti_compile, aoti_apply=aoti_apply)
    zero = types.SimpleNamespace(
        ZeroGPUCompiledModel=CompiledModel, ZeroGPUWeights=lambda m: types.SimpleNamespace(map=m)
    )
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setitem(sys.modules, "spaces.zero.torch.aoti", zero)
    monkeypatch.setattr(zerogpu, "_zerogpu", True)  # what configure(load(env).zerogpu) sets on ZeroGPU
    from backends.local.loader import inference_context
    from bench.random_flux import make_random_pipeline

    pipe = make_random_pipeline("tiny")
    assert aot.aot_compile_blocks_on_zerogpu(pipe, inference_context) == 2
    assert calls == {"gpu": [1500], "compile": 2, "apply": 2}
    with inference_context():
        image = pipe("x", width=128, height=128, num_inference_steps=1, output_type="np").images[0]
    assert image.shape == (128, 128, 3)
