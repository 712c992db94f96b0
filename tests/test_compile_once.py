"""Compiled FP8 on the CPU: each block kind compiles once for every size and batch, and a restart reuses it.

Only the hardware gate is opened (torchao's FP8 check, through FLUX_FP8_MATMUL=on); inductor
compiles for the CPU what it would compile for a GPU. On a GPU each recompile costs tens of
seconds (issue 14: 7–44 s on an H200), so the counts here are what a visitor waits for there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from backends.local import LocalSettings
from backends.local.compile import block_kinds, warm_up
from backends.local.loader import inference_context, prepare_pipeline

pytestmark = pytest.mark.local

# 64 to 1536 on the 32 grid, batches 1 to 4, odd aspect ratios: what the page lets a visitor ask for.
REQUESTS = [(64, 64, 1), (1536, 1536, 1), (512, 768, 3), (1024, 1024, 4), (96, 1536, 2)]


def compiled_graph_count(transformer: Any) -> dict[str, int]:
    """Dynamo's cache entries on each block kind's forward: 1 each means compiled once, no recompile."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    return {
        type(blocks[0]).__name__: len(_debug_get_cache_entry_list(type(blocks[0]).forward.__code__))
        for blocks in block_kinds(transformer)
        if blocks
    }


def test_warm_up_and_five_request_shapes_compile_each_block_kind_once(tmp_path):
    import torch
    from torch._dynamo.utils import counters

    from bench.random_flux import make_random_pipeline

    torch._dynamo.reset()  # other tests' compiled blocks share these forward code objects
    settings = LocalSettings(device="cpu", fp8_matmul="on", compile="on", compile_cache=str(tmp_path))
    graphs_before = counters["stats"]["unique_graphs"]
    said: list[str] = []
    loaded = prepare_pipeline(make_random_pipeline("tiny"), settings, "cpu", said.append)
    assert loaded.compiled and loaded.mode == "fp8-matmul"
    # What the status line and the Local column show while the first use compiles.
    assert any("no compile cache yet" in m for m in said)
    assert "compiling block kind 1/2 (FluxTransformerBlock)" in said
    assert "compiling block kind 2/2 (FluxSingleTransformerBlock)" in said
    after_warm_up = compiled_graph_count(loaded.pipe.transformer)
    warm_up(loaded.pipe, inference_context, shapes=REQUESTS)
    after_requests = compiled_graph_count(loaded.pipe.transformer)
    print("graphs after warm-up", after_warm_up, "after 5 requests", after_requests)
    assert after_warm_up == {"FluxTransformerBlock": 1, "FluxSingleTransformerBlock": 1}
    assert after_requests == after_warm_up, "a request shape recompiled"
    assert counters["stats"]["unique_graphs"] - graphs_before <= 2


START = """
import json, sys, time
started = time.perf_counter()
from backends.local import LocalSettings
from backends.local.loader import prepare_pipeline
from bench.random_flux import make_random_pipeline
settings = LocalSettings(device="cpu", fp8_matmul="on", compile="on", compile_cache=sys.argv[1])
said = []
loaded = prepare_pipeline(make_random_pipeline("tiny"), settings, "cpu", said.append)
ready_s = time.perf_counter() - started
print("RESULT", json.dumps({"said": said, "compile_s": loaded.timings["compile_s"], "ready_s": ready_s,
                            "cache": loaded.cache, "compiled": loaded.compiled}))
"""


def _start(cache) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", START, str(cache)], capture_output=True, text=True, timeout=600, cwd="."
    ).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT"))[len("RESULT ") :])


def test_a_restart_reuses_the_compiled_blocks_from_the_apps_cache_folder(tmp_path):
    """Cold start, then a restart with the same FLUX_COMPILE_CACHE: inductor's cache serves both block kinds."""
    cold, restart = _start(tmp_path), _start(tmp_path)
    print(f"cold: compile {cold['compile_s']:.1f} s, ready {cold['ready_s']:.1f} s, cache {cold['cache']}")
    print(f"restart: compile {restart['compile_s']:.1f} s, ready {restart['ready_s']:.1f} s, cache {restart['cache']}")
    assert cold["compiled"] and restart["compiled"]
    assert cold["cache"]["fxgraph_hit"] == 0 and cold["cache"]["fxgraph_miss"] >= 2
    assert restart["cache"]["fxgraph_miss"] == 0 and restart["cache"]["fxgraph_hit"] >= 2
    assert any("reusing the compile cache" in m for m in restart["said"])
    assert (tmp_path / next(p.name for p in tmp_path.iterdir()) / "inductor").is_dir()
