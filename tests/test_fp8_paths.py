"""The GPU code paths of Local FP8, run on the CPU: FP8 matmuls, offload, VAE slicing/tiling, ZeroGPU.

Only the hardware gates are opened (torchao's compute-capability check, through
FLUX_FP8_MATMUL=on); everything after them is the code a GPU runs. The tiny model's
linears all have sides that are multiples of 16, so torchao really quantizes them.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from backends import GenerationRequest
from backends import errors as e
from backends.local import LocalBackend, LocalSettings, zerogpu
from backends.local.fp8 import count_fp8_linears, fp8_matmul_plan, quantize_transformer_fp8
from backends.local.loader import inference_context, plan
from config import load
from tests.helpers import gen

pytestmark = pytest.mark.local
RECIPE_KEEPS = {
    "x_embedder",
    "context_embedder",
    "time_text_embed.timestep_embedder.linear_1",
    "time_text_embed.timestep_embedder.linear_2",
    "time_text_embed.text_embedder.linear_1",
    "time_text_embed.text_embedder.linear_2",
    "norm_out.linear",
    "proj_out",
}


@pytest.fixture(scope="module")
def matmul(tiny_model) -> LocalBackend:
    return LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", fp8_matmul="on", compile="off"))


def test_fp8_matmul_quantizes_every_linear_but_the_recipes_bf16_ones(matmul):
    run = gen(matmul, num_images=2)
    assert [o.status for o in run.outcomes] == ["ok", "ok"]
    transformer = matmul.loaded.pipe.transformer
    assert count_fp8_linears(transformer) == (20, 28)
    from torchao.quantization import Float8Tensor

    left = {n for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    left = {n for n in left if not isinstance(transformer.get_submodule(n).weight, Float8Tensor)}
    assert left == RECIPE_KEEPS
    assert run.received["precision"] == "fp8-matmul" and run.received["compiled"] is False
    assert matmul.status().message.startswith("ready on CPU, fp8-matmul, not compiled: torchao row-wise FP8 matmuls")


def test_fp8_matmul_images_stay_close_to_bf16(matmul, tiny_model):
    bf16 = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", precision="bf16"))
    a = np.asarray(gen(matmul, seed=5).outcomes[0].image.decode(), dtype=np.float64)
    b = np.asarray(gen(bf16, seed=5).outcomes[0].image.decode(), dtype=np.float64)
    psnr = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    assert psnr > 20


def test_the_full_size_transformer_keeps_exactly_torchaos_flux_recipe_in_bf16():
    from diffusers import FluxTransformer2DModel

    from backends.local.configs import FULL

    with torch.device("meta"):
        transformer = FluxTransformer2DModel(**FULL["transformer"])
    quantized, kept = fp8_matmul_plan(transformer)
    assert set(kept) == RECIPE_KEEPS
    assert len(quantized) + len(kept) == 502 and len(quantized) == 494


def test_quantizing_holds_one_block_on_the_device_at_a_time(monkeypatch):
    """With offload the home is the CPU: each block goes to the GPU, is quantized, and comes back."""
    from bench.random_flux import make_random_pipeline

    transformer = make_random_pipeline("tiny").transformer
    where: dict[int, str] = {}
    on_device_at_once = []
    real_to = torch.nn.Module.to

    def spy_to(self, *args, **kwargs):
        target = str(args[0]) if args else str(kwargs.get("device"))
        for m in self.modules():
            where[id(m)] = target
        blocks = [*transformer.transformer_blocks, *transformer.single_transformer_blocks]
        on_device_at_once.append(sum(where.get(id(b)) == "gpu" for b in blocks))
        return real_to(self, "cpu")  # the "gpu" is the CPU here

    import torchao.quantization as tq

    real_quantize, quantized_on = tq.quantize_, []

    def spy_quantize(module, *args, **kwargs):
        quantized_on.append(where.get(id(module)))
        return real_quantize(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", spy_to)
    monkeypatch.setattr(tq, "quantize_", spy_quantize)
    assert quantize_transformer_fp8(transformer, "gpu", "cpu", open_gate=True) == (20, 20)
    monkeypatch.undo()
    assert max(on_device_at_once) == 1
    assert quantized_on and set(quantized_on) == {"gpu"}  # torchao's kernels want the weights where they run
    assert where[id(transformer)] == "cpu"  # and home again afterwards
    assert count_fp8_linears(transformer) == (20, 28)


def test_weights_and_activations_get_row_wise_scales_not_one_per_tensor():
    from torchao.quantization import Float8Tensor, PerRow

    from bench.random_flux import make_random_pipeline

    transformer = make_random_pipeline("tiny").transformer
    quantize_transformer_fp8(transformer, "cpu", "cpu", open_gate=True)
    weights = [m.weight for m in transformer.modules() if isinstance(getattr(m, "weight", None), Float8Tensor)]
    assert len(weights) == 20
    for w in weights:
        assert tuple(w.scale.shape) == (w.shape[0], 1)  # one scale per output row
        assert isinstance(w.act_quant_kwargs.granularity, PerRow)  # and per token for activations


def test_model_offload_runs_fp8_matmuls_with_the_cpu_as_execution_device(tiny_model):
    backend = LocalBackend(
        LocalSettings(model=str(tiny_model), device="cpu", fp8_matmul="on", compile="off", offload="model")
    )
    run = gen(backend, num_images=2)
    assert [o.status for o in run.outcomes] == ["ok", "ok"]
    assert run.received["offload"] == "model" and run.received["precision"] == "fp8-matmul"
    assert count_fp8_linears(backend.loaded.pipe.transformer)[0] == 20


def _offloaded_transformer_call(grad_mode):
    """accelerate's sequential hooks on an FP8-matmul transformer: weights go to meta and back each call."""
    from accelerate import cpu_offload

    from bench.random_flux import make_random_pipeline

    transformer = make_random_pipeline("tiny").transformer
    quantize_transformer_fp8(transformer, "cpu", "cpu", open_gate=True)
    cpu_offload(transformer, execution_device=torch.device("cpu"))
    kwargs = dict(
        hidden_states=torch.randn(1, 64, 16, dtype=torch.bfloat16),
        encoder_hidden_states=torch.randn(1, 8, 32, dtype=torch.bfloat16),
        pooled_projections=torch.randn(1, 32, dtype=torch.bfloat16),
        timestep=torch.tensor([1.0]),
        img_ids=torch.zeros(64, 3),
        txt_ids=torch.zeros(8, 3),
    )
    with grad_mode():
        return transformer(**kwargs).sample


def test_sequential_offload_moves_fp8_weights_under_the_apps_grad_mode():
    assert _offloaded_transformer_call(inference_context).shape == (1, 64, 16)


def test_the_grad_mode_matters_inference_mode_breaks_offloaded_fp8_weights():
    """Why the app runs under no_grad (pytorch#149514, torchao#3487). If torch fixes it, drop this test."""
    with pytest.raises(Exception, match="Float8Tensor|storage|swap"):
        _offloaded_transformer_call(torch.inference_mode)


def test_sequential_offload_is_refused_on_the_cpu_with_a_reason(tiny_model):
    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", offload="sequential"))
    with pytest.raises(e.Unavailable, match="sequential needs a CUDA GPU"):
        gen(backend)


def test_vae_decodes_batches_in_slices_and_tiles_above_one_and_a_half_megapixels(matmul):
    gen(matmul)
    vae = matmul.loaded.pipe.vae
    assert vae.use_slicing and not vae.use_tiling
    run = gen(matmul, width=1280, height=1280, num_inference_steps=1)
    assert run.received["vae_tiling"] is True and vae.use_tiling
    assert run.outcomes[0].image.size == (1280, 1280)
    assert gen(matmul).received["vae_tiling"] is False and not vae.use_tiling


@pytest.mark.parametrize(
    ("settings", "capability", "mode", "compiled"),
    [
        (dict(), (8, 9), "fp8-matmul", True),  # Ada and newer: compiled FP8 matmuls by default
        (dict(compile="off"), (9, 0), "fp8-storage", False),  # eager FP8 matmuls are slower than bf16
        (dict(fp8_matmul="on", compile="off"), (9, 0), "fp8-matmul", False),
        (dict(), (8, 6), "fp8-storage", False),  # an RTX 3090: no FP8 matmuls
        (dict(fp8_matmul="off"), (9, 0), "fp8-storage", False),
        (dict(offload="sequential"), (9, 0), "fp8-storage", False),  # hooks can't be traced
        (dict(precision="bf16"), (9, 0), "bf16", False),
    ],
)
def test_the_plan_follows_hardware_and_settings(settings, capability, mode, compiled):
    p = plan(LocalSettings(**settings), "cuda", capability, 80 * 1024**3)
    assert (p.mode, p.compile) == (mode, compiled)


def test_fp8_matmuls_forced_on_an_old_gpu_say_why_they_cannot_run():
    with pytest.raises(e.Unavailable, match="FLUX_FP8_MATMUL=on needs row-wise FP8 matmuls: sm_86 has no FP8 tensor"):
        plan(LocalSettings(fp8_matmul="on"), "cuda", (8, 6), 24 * 1024**3)


def test_settings_read_fp8_matmul_and_compile_switches():
    s = load({"FLUX_FP8_MATMUL": "ON", "FLUX_COMPILE": "1"}).backends.local
    assert (s.fp8_matmul, s.compile) == ("on", "on")
    assert load({}).backends.local.compile == "auto"
    with pytest.raises(ValueError, match="FLUX_FP8_MATMUL='sometimes'"):
        load({"FLUX_FP8_MATMUL": "sometimes"})


def test_zerogpu_decorates_once_with_a_duration_computed_per_call(monkeypatch):
    calls = []

    def fake_gpu(fn, duration):
        calls.append(duration)
        return fn

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    monkeypatch.setattr(zerogpu, "_zerogpu", True)  # what configure(load(env).zerogpu) sets on ZeroGPU
    wrapped = zerogpu.on_gpu(lambda loaded, request, ctx: "ran")
    assert wrapped(None, GenerationRequest("x"), None) == "ran" and len(calls) == 1
    duration = calls[0]
    small, big = (
        GenerationRequest("x", 512, 512, num_inference_steps=1),
        GenerationRequest("x", 1536, 1536, 12, 0, 0, 4),
    )
    assert duration(None, small, None) == zerogpu.gpu_duration_s(small)
    assert duration(None, big, None) == zerogpu.gpu_duration_s(big) > duration(None, small, None)


def test_a_hub_id_that_is_not_cached_while_offline_says_what_to_do(tmp_path):
    code = (
        "import asyncio\n"
        "from backends import GenerationRequest, RunContext\n"
        "from backends.local import LocalBackend, LocalSettings\n"
        "b = LocalBackend(LocalSettings(device='cpu'))\n"
        "try:\n"
        "    asyncio.run(b.generate(GenerationRequest('x', 256, 256), RunContext()))\n"
        "except Exception as err:\n"
        "    print('ERROR:', err)\n"
    )
    env = {"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300).stdout
    line = next(x for x in out.splitlines() if x.startswith("ERROR:"))
    assert "black-forest-labs/FLUX.1-schnell is not in the Hugging Face cache and the hub cannot be reached" in line
    assert "hf download black-forest-labs/FLUX.1-schnell" in line and "FLUX_MODEL" in line


def test_a_compiler_failure_falls_back_to_eager_and_says_so(tiny_model, monkeypatch):
    import backends.local.compile as compile_module

    def broken(pipe, grad_mode, ahead_of_time=False, report=None):
        pipe.transformer.compile_repeated_blocks(fullgraph=True)  # wrappers in place, then the failure
        raise RuntimeError("inductor exploded\nlong traceback")

    monkeypatch.setattr(compile_module, "compile_blocks", broken)
    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", fp8_matmul="on", compile="on"))
    run = gen(backend)
    assert run.outcomes[0].status == "ok" and run.received["compiled"] is False
    assert "compile failed (RuntimeError: inductor exploded), running eager" in backend.status().message
    blocks = backend.loaded.pipe.transformer.transformer_blocks
    assert all(getattr(b, "_compiled_call_impl", None) is None for b in blocks)
