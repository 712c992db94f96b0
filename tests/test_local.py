"""The Local FP8 backend on a tiny random FLUX pipeline, loaded from disk through the real path."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from backends import GenerationRequest, RunContext
from backends import errors as e
from backends.local import LocalBackend, LocalSettings
from backends.local.loader import check_model_dir
from backends.local.zerogpu import gpu_duration_s
from tests.helpers import gen

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def local(tiny_model) -> LocalBackend:
    return LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", precision="fp8"))


def pixels(run, i=0) -> np.ndarray:
    return np.asarray(run.outcomes[i].image.decode())


def test_image_size_matches_the_request(local):
    run = gen(local, width=320, height=192, num_images=2)
    assert [o.image.size for o in run.outcomes] == [(320, 192)] * 2
    assert [o.seed for o in run.outcomes] == [7, 8]


def test_same_seed_same_pixels_different_seed_different_pixels(local):
    a, b, c = gen(local, seed=11), gen(local, seed=11), gen(local, seed=12)
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(c))


def test_image_i_of_a_batch_is_the_image_of_seed_plus_i(local):
    batch = gen(local, seed=20, num_images=2)
    alone = gen(local, seed=21)
    # Same noise; batched bf16 kernels may round a few pixel values differently.
    diff = np.abs(pixels(batch, 1).astype(int) - pixels(alone).astype(int))
    assert diff.mean() < 0.5
    assert np.abs(pixels(batch, 0).astype(int) - pixels(alone).astype(int)).mean() > 5


def test_fp8_without_fp8_matmuls_stores_transformer_linears_and_t5_in_float8(local):
    gen(local)
    pipe = local.loaded.pipe
    blocks = [*pipe.transformer.transformer_blocks, *pipe.transformer.single_transformer_blocks]
    linears = [m for b in blocks for m in b.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.float8_e4m3fn for m in linears)
    t5_linears = [m for n, m in pipe.text_encoder_2.named_modules() if isinstance(m, torch.nn.Linear)]
    assert sum(m.weight.dtype == torch.float8_e4m3fn for m in t5_linears) > len(t5_linears) // 2
    assert local.status().message.startswith("ready on CPU, fp8-storage, not compiled")
    assert local.describe(GenerationRequest("x"))[0]["precision"] == "fp8-storage"


def test_bf16_mode_is_the_reference(tiny_model):
    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", precision="bf16"))
    gen(backend)
    assert backend.loaded.pipe.transformer.x_embedder.weight.dtype == torch.bfloat16
    assert "bf16 reference" in backend.status().message


def test_progress_is_reported_per_step(local):
    messages = []
    gen(local, num_inference_steps=3, ctx=RunContext(on_progress=lambda m, f: messages.append((m, f))))
    assert [m for m, _ in messages if m.startswith("step")] == ["step 0/3", "step 1/3", "step 2/3", "step 3/3"]


def test_cancel_stops_after_the_current_step(local):
    cancel = threading.Event()
    steps = []

    def on_progress(message, fraction):
        if message.startswith("step") and message != "step 0/6":
            steps.append(message)
            cancel.set()  # pressed during step 1

    with pytest.raises(e.Cancelled):
        gen(local, num_inference_steps=6, ctx=RunContext(on_progress=on_progress, is_cancelled=cancel.is_set))
    assert steps == ["step 1/6"]
    assert gen(local).outcomes[0].status == "ok"  # and the next run works


def test_cancel_skips_the_decode_after_the_last_step_it_ran(local, monkeypatch):
    gen(local)  # loaded
    decodes = []
    vae = local.loaded.pipe.vae
    real_decode = vae.decode
    monkeypatch.setattr(vae, "decode", lambda *a, **kw: decodes.append(1) or real_decode(*a, **kw))
    cancel = threading.Event()

    def on_progress(message, fraction):
        if message == "step 1/4":
            cancel.set()

    with pytest.raises(e.Cancelled):
        gen(local, num_inference_steps=4, ctx=RunContext(on_progress=on_progress, is_cancelled=cancel.is_set))
    assert decodes == []  # on a CPU the decode of a large image takes seconds: none for a cancelled run
    assert gen(local).outcomes[0].status == "ok" and decodes == [1]


def test_out_of_memory_is_reported_and_the_next_call_works(local, monkeypatch):
    gen(local)
    pipe_cls = type(local.loaded.pipe)
    real_call = pipe_cls.__call__

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(pipe_cls, "__call__", oom)
    with pytest.raises(e.OutOfMemory, match=r"256×192 × 1 image\(s\) ran out of GPU memory"):
        gen(local)
    monkeypatch.setattr(pipe_cls, "__call__", real_call)
    assert gen(local).outcomes[0].status == "ok"


def test_no_gpu_means_unavailable_unless_cpu_is_asked_for(tiny_model):
    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="auto"))
    status = backend.status()
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert not status.ready and "no CUDA GPU" in status.message and "FLUX_DEVICE=cpu" in status.message
    with pytest.raises(e.Unavailable, match="no CUDA GPU"):
        gen(backend)


def test_missing_or_broken_model_directory_names_the_path_and_what_is_missing(tmp_path, tiny_model):
    with pytest.raises(e.Unavailable, match=f"{tmp_path / 'nope'} does not exist"):
        check_model_dir(str(tmp_path / "nope"))
    with pytest.raises(e.Unavailable, match="model_index.json is missing"):
        check_model_dir(str(tmp_path))
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    shutil.rmtree(broken / "vae")
    backend = LocalBackend(LocalSettings(model=str(broken), device="cpu"))
    with pytest.raises(e.Unavailable, match=r"broken is incomplete: missing vae"):
        gen(backend)
    assert "missing vae" in backend.status().message


def test_zerogpu_duration_grows_with_the_job():
    small = gpu_duration_s(GenerationRequest("x", 512, 512, num_inference_steps=1))
    big = gpu_duration_s(GenerationRequest("x", 1536, 1536, num_inference_steps=12, num_images=4))
    assert 10 <= small < big <= 120


def test_gpu_work_is_serialized_across_concurrent_runs(local):
    import asyncio

    log = []

    def ctx(name):
        return RunContext(on_progress=lambda m, f: log.append((name, m)))

    async def both():
        req = GenerationRequest("x", 128, 128, seed=1, num_inference_steps=3)
        await asyncio.gather(local.generate(req, ctx("a")), local.generate(req, ctx("b")))

    asyncio.run(both())
    steps = [name for name, m in log if m.startswith("step")]
    # One run's steps all come before the other's: never interleaved.
    assert steps in (["a"] * 4 + ["b"] * 4, ["b"] * 4 + ["a"] * 4)


def test_changing_precision_reloads_on_next_use(tiny_model):
    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", precision="fp8"))
    gen(backend)
    backend.reconfigure(precision="bf16")
    assert backend.loaded is None and "(bf16, " in backend.status().message
    gen(backend)
    assert backend.loaded.mode == "bf16"
    assert backend.label == "Local bf16"  # its runs are never filed under "Local FP8"
