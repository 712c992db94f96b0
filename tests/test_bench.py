"""The benchmark harness runs end to end on CPU at a tiny size and writes its report."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.local


def test_bench_runs_on_cpu_and_writes_json_and_markdown(tmp_path):
    from bench.bench_local import main

    path = main(
        [
            "--size",
            "tiny",
            "--device",
            "cpu",
            "--runs",
            "2",
            "--warmup",
            "1",
            "--width",
            "128",
            "--height",
            "128",
            "--out",
            str(tmp_path),
        ]
    )
    report = json.loads(path.read_text())
    assert {"gpu", "date", "versions", "runs"} <= set(report)
    modes = {r["mode"]: r for r in report["runs"]}
    assert set(modes) == {"bf16-eager", "fp8-eager", "fp8-compile", "fp8-offload"}
    assert modes["fp8-offload"]["skipped"] == "offload needs a CUDA GPU"
    for name in ("bf16-eager", "fp8-eager"):
        run = modes[name]
        keys = {
            "mode",
            "offload",
            "width",
            "height",
            "steps",
            "latency_s_median",
            "latency_s_p90",
            "peak_vram_gib",
            "n",
        }
        assert keys <= set(run) and run["n"] == 2 and run["latency_s_median"] > 0
    assert modes["fp8-eager"]["psnr_vs_bf16_db"] > 20  # fp8 storage stays close to the bf16 reference
    assert path.with_suffix(".md").read_text().startswith("# Local backend benchmark")
