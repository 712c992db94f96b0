"""The memory model: exact weights from the full-size configs (meta device), estimated activations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.local.loader import plan
from backends.local.memory import (
    GB,
    GIB,
    RUNTIME_OVERHEAD,
    choose_offload,
    parameter_count,
    predict_peak_bytes,
    readme_table,
    weight_bytes,
)
from backends.local.settings import LocalSettings


def test_weights_match_the_published_sizes():
    assert parameter_count("transformer") / 1e9 == pytest.approx(11.89, abs=0.01)
    assert weight_bytes("bf16")["transformer"] / GB == pytest.approx(23.8, abs=0.05)
    assert weight_bytes("fp8-matmul")["transformer"] / GB == pytest.approx(11.9, abs=0.1)
    assert weight_bytes("fp8-storage")["transformer"] / GB == pytest.approx(11.9, abs=0.1)
    assert parameter_count("text_encoder_2") / 1e9 == pytest.approx(4.76, abs=0.01)
    assert weight_bytes("bf16")["text_encoder_2"] / GB == pytest.approx(9.5, abs=0.05)
    # T5 in FP8 storage, with `wo` and the (tied, counted once) embedding left in bf16.
    assert weight_bytes("fp8-storage")["text_encoder_2"] / GB == pytest.approx(5.9, abs=0.05)


def test_the_peak_matches_public_and_observed_figures():
    # bf16 at 1024², one image, no offload: about 34 GB (performance.md).
    assert (predict_peak_bytes("bf16", "none") - RUNTIME_OVERHEAD) / GB == pytest.approx(34, abs=1.5)
    # FP8, 4 images at 1 MP, no offload: the unsliced VAE peaked near 23 GiB; sliced it stays near 19.
    assert predict_peak_bytes("fp8-matmul", "none", batch=4, compiled=True) / GIB < 21
    # Model offload holds one component at a time; sequential only a layer.
    assert predict_peak_bytes("fp8-matmul", "model") < predict_peak_bytes("fp8-matmul", "none") / 1.4
    assert predict_peak_bytes("fp8-matmul", "sequential") < 4 * GIB


@pytest.mark.parametrize(
    ("card_gib", "mode", "size", "offload"),
    [
        (80, "fp8-matmul", (1024, 1024, 1), "none"),
        (23, "fp8-matmul", (1024, 1024, 1), "none"),  # a 24 GB card
        (23, "fp8-matmul", (1536, 1536, 4), "model"),  # ...asked for 4 big images first
        (15, "fp8-matmul", (1024, 1024, 1), "model"),  # a 16 GB card
        (11, "fp8-matmul", (1024, 1024, 1), "sequential"),  # a 12 GB card
        (23, "bf16", (1024, 1024, 1), "sequential"),
    ],
)
def test_auto_offload_fits_the_request_that_loads_the_model(card_gib, mode, size, offload):
    assert choose_offload(mode, card_gib * GIB, *size) == offload
    settings = LocalSettings(precision="bf16" if mode == "bf16" else "fp8")
    assert plan(settings, "cuda", (8, 9), card_gib * GIB, size).offload == offload


def test_the_readme_table_is_the_memory_models():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme_table()
    assert table in readme, "README's card table is stale: paste `python -m backends.local.memory`'s table"
    assert re.search(r"\| 24 GB \| fp8-matmul \| none \|", table)
