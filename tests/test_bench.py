"""The benchmark harness runs every mode end to end on the CPU at a tiny size, one process per mode."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.local


def test_bench_runs_each_mode_in_its_own_process_and_appends_results(tmp_path):
    from bench.bench_local import main

    args = ["--size", "tiny", "--device", "cpu", "--runs", "2", "--warmup", "1", "--width", "128", "--height", "128"]
    modes = "bf16,fp8-matmul,fp8-model-offload"
    path = main([*args, "--steps", "2", "--modes", modes, "--out", str(tmp_path)])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header, runs = lines[0]["header"], {r["mode"]: r for r in lines[1:]}
    assert header["device_note"].startswith("CPU figures") and "torchao" in header["versions"]
    assert set(runs) == set(modes.split(","))
    assert all("error" not in r for r in runs.values()), runs
    assert runs["fp8-matmul"]["precision"] == "fp8-matmul" and runs["bf16"]["precision"] == "bf16"
    assert runs["fp8-model-offload"]["offload"] == "model"
    for run in runs.values():
        assert run["batch1"]["n"] == 2 and run["batch1"]["latency_s_median"] > 0
        assert run["batch4"]["n"] == 2
        assert run["prepare_s"] > 0  # quantize + place + compile + warm-up, beside the latency
    assert runs["fp8-matmul"]["psnr_vs_bf16_db"] > 20  # FP8 matmuls stay close to the bf16 reference
    assert path.with_suffix(".md").read_text().startswith("# Local backend benchmark")


def test_the_default_modes_and_the_one_script_gpu_check():
    import subprocess
    from pathlib import Path

    from bench.bench_local import parse

    assert parse([]).modes == "bf16,fp8-storage,fp8-compile"
    script = Path(__file__).parent.parent / "bench" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "--out bench/results" in text and "BUDGET_S:-450" in text  # 450 s + start-up: under 8 minutes
