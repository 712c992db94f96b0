"""Issue 29, item 29: a real (tiny, random) FLUX whose linears' sides are not multiples of 16: torchao
quantizes none of them, so Local runs FP8 storage and says "quantized 0 of N linears", instead of claiming
FP8 matmuls it does not run. The stubbed case is in test_local_plan.py; this one goes through torchao."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.local import LocalBackend, LocalSettings
from tests.helpers import gen

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory) -> Path:
    from bench import random_flux

    # Head dim 12 (two heads: 24 wide), so every attention and feed-forward linear has a side of 24.
    odd = {**random_flux.TINY["transformer"], "attention_head_dim": 12, "axes_dims_rope": (4, 4, 4)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(random_flux.TINY, "transformer", odd)
        return random_flux.build_random_flux(tmp_path_factory.mktemp("odd-flux") / "model")


def test_a_model_torchao_cannot_quantize_runs_fp8_storage_and_says_so(odd_model):
    backend = LocalBackend(LocalSettings(model=str(odd_model), device="cpu", fp8_matmul="on", compile="off"))
    run = gen(backend, num_images=1)
    assert [o.status for o in run.outcomes] == ["ok"]
    assert run.received["precision"] == "fp8-storage"
    message = backend.status().message
    found = re.search(r"torchao quantized 0 of (\d+) linears: sides not multiples of 16", message)
    assert found and int(found[1]) > 0, message
