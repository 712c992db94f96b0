"""What Local FP8 decides before loading anything: offload before compile, the FP8 capability table, where
weights are quantized and placed, and what a run is labelled with. GPUs are faked; nothing here needs one.
"""

from __future__ import annotations

import asyncio
import threading
import types

import pytest

from backends import GenerationRequest, RunContext
from backends import errors as e
from backends.local import LocalBackend, LocalSettings, aot, loader
from backends.local.loader import fp8_matmul_support, plan
from backends.local.memory import GB, GIB
from backends.sizes import MAX_SIDE


def free(card_gb: int) -> int:
    return int(card_gb * GB * 0.95)  # what a desktop leaves free


@pytest.mark.parametrize(
    ("card_gb", "mode", "offload", "compiled"),
    [
        (24, "fp8-matmul", "none", True),
        (16, "fp8-matmul", "model", True),
        # 12 GB: offload comes out sequential, decided before compile: no compile, FP8 storage.
        (12, "fp8-storage", "sequential", False),
    ],
)
def test_the_plan_on_an_ada_card_at_24_16_and_12_gb_free(card_gb, mode, offload, compiled):
    p = plan(LocalSettings(), "cuda", (8, 9), free(card_gb), probe=True)
    assert (p.mode, p.offload, p.compile) == (mode, offload, compiled)
    if card_gb == 12:
        assert "sequential offload: FP8 matmuls only run compiled" in p.reason


def test_auto_offload_plans_for_1024_even_when_the_first_request_is_512():
    """512² would fit with no offload in 19 GiB; the next 1024² request would not."""
    p = plan(LocalSettings(), "cuda", (9, 0), 19 * GIB, size=(512, 512, 1), probe=True)
    assert p.offload == "model"


@pytest.mark.parametrize(
    ("capability", "probe", "matmuls", "why"),
    [
        ((8, 6), None, False, "sm_86 has no FP8 tensor cores"),
        ((8, 9), True, True, "sm_89, row-wise FP8 probe passed"),
        ((8, 9), False, False, "sm_89: this torch's row-wise FP8 _scaled_mm failed the probe"),
        ((9, 0), None, True, "has row-wise FP8"),  # ZeroGPU: no GPU to probe at start-up
        ((10, 0), True, True, "sm_100, row-wise FP8 probe passed"),
        ((10, 0), None, False, "not probed"),
        ((12, 0), False, False, "sm_120: this torch's row-wise FP8 _scaled_mm failed the probe (pytorch#161236)"),
        ((12, 0), True, True, "sm_120, row-wise FP8 probe passed"),
    ],
)
def test_the_capability_table_and_the_probe_decide_fp8_matmuls(capability, probe, matmuls, why):
    ok, reason = fp8_matmul_support(capability, probe, "2.9.0")
    assert ok is matmuls and why in reason
    p = plan(LocalSettings(), "cuda", capability, 80 * GIB, probe=probe)
    assert p.mode == ("fp8-matmul" if matmuls else "fp8-storage") and why in p.reason


def test_row_wise_fp8_on_ada_and_hopper_needs_torch_2_7_when_not_probed():
    assert fp8_matmul_support((8, 9), None, "2.6.0+cu124")[0] is False
    assert fp8_matmul_support((8, 9), None, "2.7.1+cu128")[0] is True


def test_fp8_matmuls_forced_where_the_probe_failed_say_why():
    with pytest.raises(e.Unavailable, match="FLUX_FP8_MATMUL=on needs row-wise FP8 matmuls: sm_120: this torch"):
        plan(LocalSettings(fp8_matmul="on"), "cuda", (12, 0), 80 * GIB, probe=False)


def test_the_aot_token_bound_covers_1536_squared():
    assert aot.MAX_TOKENS >= (MAX_SIDE // 16) ** 2 == 9216


class FakeParts:
    """The pieces prepare_pipeline calls, recorded: a 'cuda' GPU without one."""

    def __init__(self, monkeypatch, card_gb: int, capability=(8, 9), probe=True, quantized=(494, 494)):
        import backends.local.fp8 as fp8

        self.calls: list[tuple] = []
        gpu = ("Fake Ada", capability, free(card_gb))
        monkeypatch.setattr(loader, "_gpu_facts", lambda: gpu)
        monkeypatch.setattr(loader, "rowwise_fp8_probe", lambda: probe)
        monkeypatch.setattr(fp8, "quantize_transformer_fp8", self.record("quantize", quantized))
        monkeypatch.setattr(fp8, "store_transformer_in_fp8", self.record("storage"))
        monkeypatch.setattr(fp8, "store_t5_in_fp8", self.record("t5"))
        monkeypatch.setattr(loader, "_place", self.record("place"))
        monkeypatch.setattr(loader, "_compile", self.record("compile"))

    def record(self, name, result=None):
        def fake(*args, **kwargs):
            self.calls.append((name, *args[1:], *kwargs.values()))
            return result

        return fake

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


def prepare(settings=None):
    pipe = types.SimpleNamespace(transformer=object(), text_encoder_2=object())
    return loader.prepare_pipeline(pipe, settings or LocalSettings(), "cuda")


def test_fp8_matmuls_are_quantized_on_the_gpu_and_kept_there_without_offload(monkeypatch):
    parts = FakeParts(monkeypatch, 24)
    loaded = prepare()
    assert parts.named("quantize") == [("quantize", "cuda", "cuda", False)]
    assert parts.named("place") == [("place", "none", "cuda")]
    assert len(parts.named("compile")) == 1 and loaded.mode == "fp8-matmul"


def test_with_model_offload_blocks_are_quantized_on_the_gpu_and_go_home_to_the_cpu(monkeypatch):
    parts = FakeParts(monkeypatch, 16)
    prepare()
    assert parts.named("quantize") == [("quantize", "cuda", "cpu", False)]
    assert parts.named("place") == [("place", "model", "cuda")]


def test_a_12_gb_ada_card_stores_fp8_offloads_per_layer_and_compiles_nothing(monkeypatch):
    parts = FakeParts(monkeypatch, 12)
    loaded = prepare()
    assert not parts.named("quantize") and not parts.named("compile")
    assert len(parts.named("storage")) == 1 and parts.named("place") == [("place", "sequential", "cuda")]
    assert loaded.mode == "fp8-storage" and "sequential offload" in loaded.path


def test_a_gpu_failing_the_probe_runs_fp8_storage_and_the_status_line_says_why(monkeypatch):
    FakeParts(monkeypatch, 24, capability=(12, 0), probe=False)
    loaded = prepare()
    assert loaded.mode == "fp8-storage" and "failed the probe" in loaded.path
    backend = LocalBackend(LocalSettings())
    backend.loaded = loaded
    assert "fp8-storage, not compiled: fp8 storage, bf16 compute (sm_120: this torch" in backend.status().message


def test_zero_linears_quantized_means_fp8_storage_not_fp8_matmul(monkeypatch):
    parts = FakeParts(monkeypatch, 24, quantized=(0, 34))
    loaded = prepare()
    assert loaded.mode == "fp8-storage" and "quantized 0 of 34 linears" in loaded.path
    assert len(parts.named("storage")) == 1 and not parts.named("compile")


def test_the_model_offload_target_is_the_execution_device():
    calls = []
    pipe = types.SimpleNamespace(
        enable_model_cpu_offload=lambda **kw: calls.append(("model", kw)),
        enable_sequential_cpu_offload=lambda **kw: calls.append(("sequential", kw)),
        vae=types.SimpleNamespace(enable_slicing=lambda: None),
        set_progress_bar_config=lambda **kw: None,
    )
    loader._place(pipe, "model", "cuda")
    loader._place(pipe, "sequential", "cuda")
    assert calls == [("model", {"device": "cuda"}), ("sequential", {"device": "cuda"})]


def test_a_run_is_labelled_with_the_pipeline_it_ran_on_even_if_settings_change_meanwhile(monkeypatch):
    """reconfigure() between the end of the GPU work and describe() used to caption a bf16 run "fp8"."""
    import backends.local.backend as local_backend

    backend = LocalBackend(LocalSettings(precision="bf16", device="cpu"))
    ran = loader.LoadedPipeline(None, "cpu", "CPU", "bf16", "bf16 reference", "none", False, {})
    done = threading.Event()

    def fake_load(settings, report, size):
        return ran

    def denoise(loaded, request, ctx, listener=None):
        return ["image"]

    monkeypatch.setattr(local_backend, "load_pipeline", fake_load)
    monkeypatch.setattr(local_backend, "_denoise_on_gpu", denoise)
    real_sync = backend._generate_sync

    def sync_then_reconfigure(*args):
        result = real_sync(*args)
        backend.reconfigure(precision="fp8")  # a visitor switches precision as the run ends
        done.set()
        return result

    monkeypatch.setattr(backend, "_generate_sync", sync_then_reconfigure)
    req = GenerationRequest("a fox", 256, 256, seed=1)
    run = asyncio.run(backend.generate(req, RunContext()))
    assert done.is_set() and backend.loaded is None
    assert run.received["precision"] == "bf16" and "bf16" in run.notes[0]


def test_the_status_line_says_what_first_use_costs_and_how_compiling_went(tiny_model):
    from backends.local.backend import _compile_note

    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu"))
    assert "first use: loading, then compiling 2 block kinds" in backend.status().message
    bf16 = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu", precision="bf16"))
    assert "compiling" not in bf16.status().message
    backend._loading, backend._stage = True, "compiling block kind 1/2 (FluxTransformerBlock)"
    assert backend.status().message.endswith(": compiling block kind 1/2 (FluxTransformerBlock)…")
    lp = loader.LoadedPipeline(None, "cuda", "GPU", "fp8-matmul", "", "none", True, {"compile_s": 14.2}, "jit")
    lp.cache = {"fxgraph_hit": 2, "autograd_hit": 2, "folder": "/c"}
    assert _compile_note(lp) == " in 14 s, from the compile cache"
    lp.cache = {"fxgraph_hit": 0, "autograd_hit": 0, "folder": "/c"}
    assert _compile_note(lp) == " in 14 s, compile cache filled"
    backend = LocalBackend(LocalSettings(model=str(tiny_model), device="cpu"))
    backend.loaded = lp
    assert "fp8-matmul, compiled (jit) in 14 s, compile cache filled: " in backend.status().message
