"""The scripting endpoint /generate, through gradio_client against the running app."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from images.pngmeta import CHUNK_KEY, read_params
from tests.conftest import AIML_KEY, FW_KEY


def generate(client: Client, **kw):
    args = dict(prompt="a lighthouse at dusk", backends=["fireworks", "aiml"], aspect_ratio="Custom", seed=0)
    args.update(kw)
    return client.predict(**args, api_name="/generate")


def test_both_hosted_backends_return_tagged_images_and_records(client):
    gallery, records = generate(client, aspect_ratio="4:3", seed=1000, num_images=2)
    assert len(gallery) == 4 and len(records) == 4
    captions = sorted(item["caption"] for item in gallery)
    assert captions[0].startswith("AI/ML API · seed 1000 · 1152×896 · 4 steps · ")
    assert any(c.startswith("Fireworks · seed 1001 · 1152×896 · 4 steps · ") for c in captions)
    # The estimated cost follows the latency in every caption.
    assert all(c.endswith(" s · $0.0014") for c in captions if c.startswith("Fireworks"))
    assert all(c.endswith(" s · price not set") for c in captions if c.startswith("AI/ML API"))
    fw = [r for r in records if r["backend"] == "fireworks"]
    assert [r["seed"] for r in fw] == [1000, 1001]
    assert {r["status"] for r in records} == {"ok"} and {r["error"] for r in records} == {None}
    assert fw[0]["received"]["aspect_ratio"] == "4:3"
    keys = {"backend", "seed", "width", "height", "num_inference_steps", "guidance_scale", "latency_s", "status"}
    assert keys <= set(records[0]) and "error" in records[0]
    # Estimated cost: Fireworks at 0.00035 USD a step; the AI/ML API's price is not set by default.
    assert [(r["cost_usd"], r["cost"]) for r in fw] == [(0.0014, "$0.0014")] * 2
    assert {r["cost"] for r in records if r["backend"] == "aiml"} == {"price not set"}


def test_seed_zero_draws_one_seed_shared_by_every_backend(client):
    _, records = generate(client, seed=0)
    assert len({r["seed"] for r in records}) == 1 and records[0]["seed"] >= 1


def test_gallery_pngs_carry_their_parameters(client):
    gallery, _ = generate(client, seed=77, backends=["fireworks"], width=512, height=512)
    path = gallery[0]["image"]["path"] if isinstance(gallery[0]["image"], dict) else gallery[0]["image"]
    params = read_params(path)
    assert params["seed"] == 77 and params["backend"] == "fireworks" and params["prompt"] == "a lighthouse at dusk"


def test_bad_input_is_refused_and_nothing_is_sent(client, fireworks, aiml):
    with pytest.raises(Exception, match="prompt is empty"):
        generate(client, prompt="  ")
    with pytest.raises(Exception, match="width 1000 is off the grid"):
        generate(client, width=1000)
    with pytest.raises(Exception, match="steps 20 is out of range"):
        generate(client, num_inference_steps=20)
    assert fireworks.requests == [] and aiml.requests == []


def test_one_backend_failing_leaves_the_others_images(client, fireworks):
    fireworks.mode = "400"
    gallery, records = generate(client, seed=5)
    by_backend = {r["backend"]: r for r in records}
    assert by_backend["aiml"]["status"] == "ok"
    assert by_backend["fireworks"]["status"] == "bad_request"
    assert "Fireworks rejected the request" in by_backend["fireworks"]["error"]
    assert "usage policy" in by_backend["fireworks"]["error"]
    assert [g["caption"].split(" · ")[0] for g in gallery] == ["AI/ML API"]


@pytest.mark.local
def test_local_runs_beside_a_hosted_backend(client):
    gallery, records = generate(client, backends=["local", "fireworks"], width=256, height=192, seed=9)
    by_backend = {r["backend"]: r for r in records}
    assert by_backend["local"]["status"] == "ok" and by_backend["fireworks"]["status"] == "ok"
    assert (by_backend["local"]["width"], by_backend["local"]["height"]) == (256, 192)
    assert by_backend["local"]["received"]["max_sequence_length"] == 256


@pytest.mark.local
def test_local_same_seed_same_pixels(client):
    def local_pixels(seed):
        gallery, _ = generate(client, backends=["local"], width=256, height=256, seed=seed)
        item = gallery[0]["image"]
        return np.asarray(Image.open(item["path"] if isinstance(item, dict) else item))

    assert np.array_equal(local_pixels(3), local_pixels(3))
    assert not np.array_equal(local_pixels(3), local_pixels(4))


@pytest.mark.local
def test_local_out_of_memory_is_reported_then_the_next_call_works(app, client, monkeypatch):
    import torch

    local = app.backends["local"]
    generate(client, backends=["local"], width=256, height=256)  # make sure it is loaded
    pipe_cls = type(local.loaded.pipe)

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with monkeypatch.context() as m:
        m.setattr(pipe_cls, "__call__", oom)
        _, records = generate(client, backends=["local"], width=512, height=512)
    assert records[0]["status"] == "out_of_memory"
    assert "512×512" in records[0]["error"] and "offload" in records[0]["error"]
    _, records = generate(client, backends=["local"], width=256, height=256)
    assert records[0]["status"] == "ok"


def test_keys_never_appear_in_the_page_config_or_api_answers(app, client):
    import httpx

    page = httpx.get(app.url).text + httpx.get(app.url + "config").text + json.dumps(client.view_api(print_info=False))
    gallery, records = generate(client, seed=11)
    blob = page + json.dumps(gallery) + json.dumps(records)
    for path in (g["image"]["path"] if isinstance(g["image"], dict) else g["image"] for g in gallery):
        with Image.open(path) as img:
            blob += json.dumps({k: str(v) for k, v in img.info.items()})
            assert CHUNK_KEY in img.info
    assert FW_KEY not in blob and AIML_KEY not in blob
