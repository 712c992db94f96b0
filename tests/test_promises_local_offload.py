"""Issue 29, item 30: sequential offload means no compile, whatever asks for one: bf16 with FLUX_COMPILE=on,
and FLUX_FP8_MATMUL=on (the FP8-auto 12 GB case is in test_local_plan.py). GPUs are faked, as there."""

from __future__ import annotations

import pytest

from backends.local import LocalSettings
from backends.local.loader import plan
from backends.local.memory import GB


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        (LocalSettings(precision="bf16", compile="on"), "bf16"),
        (LocalSettings(fp8_matmul="on", compile="on"), "fp8-matmul"),
        (LocalSettings(fp8_matmul="on"), "fp8-matmul"),
        (LocalSettings(precision="bf16", compile="on", offload="sequential"), "bf16"),
    ],
)
def test_sequential_offload_is_never_compiled_and_says_so(settings, mode):
    p = plan(settings, "cuda", (8, 9), int(12 * GB * 0.95), probe=True)  # a 12 GB Ada card
    assert (p.mode, p.offload, p.compile) == (mode, "sequential", False)
    if settings.compile == "on":
        assert "compile skipped (sequential offload)" in p.reason


def test_the_same_settings_compile_where_the_model_fits():
    """The cases above are skipped for the offload alone: with room to spare, they do compile."""
    p = plan(LocalSettings(precision="bf16", compile="on"), "cuda", (9, 0), int(80 * GB * 0.95), probe=True)
    assert (p.offload, p.compile) == ("none", True)
