"""bench/gpu_check.py's arithmetic (the physical floor) and its recompile sweep's bookkeeping, on the CPU.
The whole check runs on the CPU with ``python -m bench.gpu_check --dry-run`` (minutes; not in the suite)."""

from __future__ import annotations

import pytest

from bench import gpu_check

FLUX_1 = {"num_attention_heads": 24, "attention_head_dim": 128, "num_layers": 19, "num_single_layers": 38}


def test_the_floor_of_one_flux_image_is_about_278_tflop():
    assert gpu_check.transformer_flops(FLUX_1, 1024, 1024, 4) / 1e12 == pytest.approx(277.8, abs=0.1)
    # Twice the steps, twice the work; a wider image, more than proportionally more (attention is T²).
    assert gpu_check.transformer_flops(FLUX_1, 1024, 1024, 8) == 2 * gpu_check.transformer_flops(FLUX_1, 1024, 1024, 4)
    wide = gpu_check.transformer_flops(FLUX_1, 1536, 1024, 4) / gpu_check.transformer_flops(FLUX_1, 1024, 1024, 4)
    assert 1.5 < wide < 1.7


def test_the_sweep_lists_each_recompile_and_restores_the_stance(monkeypatch):
    stances, calls = [], []
    monkeypatch.setattr(gpu_check.torch.compiler, "set_stance", lambda s: stances.append(s))

    def fake_generate(pipe, prompt, width, height, steps, seed, batch):
        calls.append((width, height, batch))
        if (width, height, batch) == (1536 // 4, 640 // 4, 3):
            raise RuntimeError("Detected recompile when torch.compile stance is 'fail_on_recompile'\nguard ...")

    monkeypatch.setattr(gpu_check, "generate", fake_generate)
    result = gpu_check.recompile_sweep(object(), 4, cuda=False)
    assert len(calls) == 44 and {b for _, _, b in calls} == {1, 2, 3, 4}
    assert result["ran"] == 43
    assert result["recompiled"] == [
        {"ratio": "21:9", "batch": 3, "error": "Detected recompile when torch.compile stance is 'fail_on_recompile'"}
    ]
    assert stances == ["fail_on_recompile", "default"]
