"""The app serving compiled FP8 matmuls on the CPU: every size and batch, no recompile, records say so.

This is what `FLUX_DEVICE=cpu FLUX_FP8_MATMUL=on FLUX_COMPILE=1 FLUX_MODEL=<tiny> python app.py`
runs, driven through /generate with gradio_client. The warm-up compiles at load (about
90 s on two CPU cores). Recompiles are counted as dynamo cache entries on the two block
classes' forward code: dynamo's `error_on_recompile` is not seen by the app's GPU thread.
"""

from __future__ import annotations

import pytest
from diffusers.models.transformers.transformer_flux import FluxSingleTransformerBlock, FluxTransformerBlock
from gradio_client import Client
from torch._dynamo.eval_frame import _debug_get_cache_entry_list

from backends.local import LocalSettings
from tests.conftest import app_settings, launch

pytestmark = pytest.mark.local

REQUESTS = [(256, 256, 1), (320, 192, 2), (192, 320, 1), (256, 256, 3)]


def compiled_graphs() -> int:
    return sum(
        len(_debug_get_cache_entry_list(b.forward.__code__)) for b in (FluxTransformerBlock, FluxSingleTransformerBlock)
    )


@pytest.fixture(scope="module")
def compiled_app(fireworks, aiml, tiny_model):
    local = LocalSettings(model=str(tiny_model), device="cpu", fp8_matmul="on", compile="on")
    running = launch(app_settings(fireworks, aiml, tiny_model, local=local))
    running.backends["local"].ensure_loaded()  # load, quantize, compile and warm up now
    yield running
    running.demo.close()


def test_compiled_fp8_matmuls_serve_every_size_and_batch_without_recompiling(compiled_app):
    loaded = compiled_app.backends["local"].loaded
    assert loaded.compiled and loaded.mode == "fp8-matmul"
    client = Client(compiled_app.url, verbose=False)
    after_warm_up = compiled_graphs()
    assert after_warm_up >= 2  # both block classes compiled
    for width, height, images in REQUESTS:
        gallery, records = client.predict(
            prompt="a red fox in the snow",
            backends=["local"],
            aspect_ratio="Custom",
            width=width,
            height=height,
            num_inference_steps=2,
            seed=11,
            num_images=images,
            api_name="/generate",
        )
        assert len(gallery) == images and len(records) == images
        for record in records:
            assert record["status"] == "ok", record
            assert record["received"]["precision"] == "fp8-matmul"
            assert record["received"]["compiled"] is True
            assert (record["width"], record["height"]) == (width, height)
        assert compiled_graphs() == after_warm_up, f"{width}×{height} ×{images} recompiled"
    assert "fp8-matmul, compiled (jit)" in compiled_app.backends["local"].status().message
