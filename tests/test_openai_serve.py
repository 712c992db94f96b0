"""Both directions through the running app: configured OpenAI-compatible endpoints beside a built-in
backend through /generate, and the Local backend (tiny model, CPU) served to the official openai client."""

from __future__ import annotations

import base64
import hmac
import io
import json

import httpx
import openai
import pytest
from gradio_client import Client
from PIL import Image

from backends.cost import Pricing
from backends.errors import OutOfMemory
from backends.openai_config import OpenAIEndpoint
from config import load
from serving import openai_images
from tests.conftest import FW_KEY, app_config, app_settings, free_port
from tests.fakes.openai_images import FakeOpenAIImages

SERVE_KEY = "serve-secret-3c4d5e6f7a8b"
ENGINE_KEY = "engine-secret-11aa22bb"
STRICT_KEY = "strict-secret-33cc44dd"


@pytest.fixture(scope="module")
def fakes():
    engine, strict = FakeOpenAIImages(label="engine"), FakeOpenAIImages(label="strict")
    engine.valid_key, strict.valid_key = ENGINE_KEY, STRICT_KEY
    engine.start(), strict.start()
    yield engine, strict
    engine.stop(), strict.stop()


@pytest.fixture(autouse=True)
def _reset(fakes):
    for fake in fakes:
        fake.reset()
    fakes[1].strict = True


@pytest.fixture(scope="module")
def served(fakes, fireworks, aiml, tiny_model, tmp_path_factory):
    """The app with two configured endpoints and the OpenAI images routes, its served runs kept in a library
    as main() keeps them; yields (url, backends, the runs the library kept: (request, seeds))."""
    from app import create_app
    from config import PageOptions
    from library import LibraryConfig
    from runs.keeper import served_run_keeper
    from ui import LAUNCH_OPTIONS

    engine, strict = fakes
    endpoints = (
        OpenAIEndpoint("engine", "Engine", engine.base_url, "flux", "ENGINE_KEY", extras=("seed",)),
        OpenAIEndpoint("strict", "Strict OpenAI", strict.base_url, "flux", "STRICT_KEY", price_per_image=0.002),
    )
    settings = app_settings(
        fireworks,
        aiml,
        tiny_model,
        openai_endpoints=endpoints,
        openai_keys={"engine": ENGINE_KEY, "strict": STRICT_KEY},
        pricing=Pricing(per_image={"strict": 0.002}),
    )
    app = create_app(app_config(settings, PageOptions(), library=LibraryConfig(dir=tmp_path_factory.mktemp("lib"))))
    demo, backends = app.demo, app.backends
    keep = served_run_keeper(app.library, backends["local"])
    hooked = _Kept()
    hooked.library = app.library

    async def hook(req, run):
        await keep(req, run)
        hooked.extend((req, o.seed) for o in run.outcomes)

    serve = openai_images.launch_options(backends, load({"OPENAI_SERVE_KEY": SERVE_KEY}).serving, hook)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        mcp_server=True,
        **LAUNCH_OPTIONS,
        **serve,
    )
    yield f"http://127.0.0.1:{port}", backends, hooked
    demo.close()


class _Kept(list):
    """(request, seed) for every image of a served run, after the library kept it."""

    library = None


def generate(url: str, **kw):
    args = dict(prompt="a lighthouse at dusk", aspect_ratio="Custom", width=512, height=512, seed=900)
    args.update(kw)
    return Client(url + "/", verbose=False).predict(**args, api_name="/generate")


def _pixels(b64: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").tobytes()


def oai(url: str, key: str = SERVE_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


# --- configured endpoints beside a built-in backend ----------------------------------------
def test_two_configured_endpoints_run_beside_fireworks_through_generate(served, fakes):
    url, backends, _ = served
    assert list(backends)[-2:] == ["engine", "strict"]
    gallery, records = generate(url, backends=["fireworks", "engine", "strict"], num_images=2)
    by = {}
    for r in records:
        by.setdefault(r["backend"], []).append(r)
    assert {b: [r["status"] for r in rs] for b, rs in by.items()} == {
        "fireworks": ["ok", "ok"],
        "engine": ["ok", "ok"],
        "strict": ["ok", "ok"],
    }
    assert [r["seed"] for r in by["engine"]] == [900, 901] == [r["seed"] for r in by["fireworks"]]
    engine, strict = fakes
    assert sorted(p["body"]["seed"] for p in engine.requests) == [900, 901]
    assert all("seed" not in p["body"] for p in strict.requests)  # strict would have refused it
    assert by["strict"][0]["received"]["not_sent"]["seed"].endswith("the image is not reproducible")
    assert [r["cost_usd"] for r in by["strict"]] == [0.002, 0.002]
    assert any(item["caption"].startswith("Strict OpenAI · ") for item in gallery)


def test_configured_endpoints_are_a_grid_axis(served, fakes):
    url, _, _ = served
    _, records = Client(url + "/", verbose=False).predict(
        prompt="a fox",
        x_axis="backend",
        x_values="engine, strict, fireworks",
        y_axis="seed",
        y_values="7-8",
        width=256,
        height=256,
        api_name="/grid",
    )
    cells = sorted((r["backend"], r["seed"], r["status"]) for r in records)
    assert cells == sorted((b, s, "ok") for b in ("engine", "strict", "fireworks") for s in (7, 8))
    assert sorted(p["body"]["seed"] for p in fakes[0].requests) == [7, 8]


def test_the_api_description_names_the_configured_endpoints(served):
    url, _, _ = served
    tools = {tool["name"]: tool for tool in httpx.get(f"{url}/gradio_api/mcp/schema").json()}
    assert '"aiml", "engine", "strict".' in json.dumps(tools["generate"], ensure_ascii=False).replace('\\"', '"')


def test_a_key_echoed_by_a_configured_endpoint_is_redacted(served, fakes):
    url, _, _ = served
    fakes[1].mode = "echo_key"
    gallery, records = generate(url, backends=["strict", "fireworks"])
    failed = next(r for r in records if r["backend"] == "strict")
    assert failed["status"] == "bad_request" and "Malformed credential" in failed["error"]
    assert "•••" in failed["error"]
    blob = json.dumps(records) + json.dumps(gallery)
    assert STRICT_KEY not in blob and FW_KEY not in blob


# --- the Local backend served over the protocol -----------------------------------------------
def test_the_openai_client_gets_seeded_local_images_with_the_right_key(served):
    url, _, hooked = served
    hooked.clear()
    result = oai(url).images.generate(
        model="flux.1-schnell", prompt="a red fox", n=2, size="128x96", extra_body={"seed": 5, "num_inference_steps": 1}
    )
    images = [Image.open(io.BytesIO(base64.b64decode(d.b64_json))) for d in result.data]
    assert [(im.format, im.size) for im in images] == [("PNG", (128, 96))] * 2
    assert [d.model_extra["seed"] for d in result.data] == [5, 6]
    assert [(req.width, req.num_inference_steps, seed) for req, seed in hooked] == [(128, 1, 5), (128, 1, 6)]
    rows = hooked.library.search(None, query="red fox")  # served images land in the library, as page runs do
    assert sorted((r.seed, r.width, r.height, r.status) for r in rows) == [(5, 128, 96, "ok"), (6, 128, 96, "ok")]
    assert all((hooked.library.root / r.path).is_file() for r in rows)
    again = oai(url).images.generate(
        prompt="a red fox", size="128x96", extra_body={"seed": 5, "num_inference_steps": 1}
    )
    assert _pixels(again.data[0].b64_json) == _pixels(result.data[0].b64_json)  # same seed, same pixels
    assert "Seed: 5" in images[0].text["parameters"]  # our PNG chunks ride along
    hooked.clear()
    drawn = oai(url).images.generate(prompt="a red fox", size="64x64", extra_body={"num_inference_steps": 1})
    assert [seed for req, seed in hooked] == [hooked[0][0].seed] == [drawn.data[0].model_extra["seed"]] != [0]


def test_a_wrong_or_missing_key_is_refused(served):
    url, _, _ = served
    with pytest.raises(openai.AuthenticationError) as caught:
        oai(url, key="not-the-key").images.generate(prompt="a red fox", size="64x64")
    assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"
    reply = httpx.post(f"{url}/v1/images/generations", json={"prompt": "a red fox"})
    assert reply.status_code == 401 and reply.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{url}/v1/models").status_code == 401


def test_the_key_is_compared_in_constant_time(served, monkeypatch):
    url, _, _ = served
    compared, real = [], hmac.compare_digest

    def recording(a, b):
        compared.append(True)
        return real(a, b)

    monkeypatch.setattr(openai_images.hmac, "compare_digest", recording)
    assert [m.id for m in oai(url).models.list()] == ["local", "fireworks", "aiml", "engine", "strict"]
    assert compared


@pytest.mark.parametrize(
    ("body", "words"),
    [({"size": "100x100"}, "off the grid"), ({"n": 9}, "1–4"), ({"seed": "five"}, "seed must be a whole number")],
)
def test_bad_fields_get_400_with_the_reason(served, body, words):
    url, _, _ = served
    with pytest.raises(openai.BadRequestError) as caught:
        oai(url).images.generate(
            prompt="a red fox",
            **{k: v for k, v in body.items() if k != "seed"},
            extra_body={"seed": body["seed"]} if "seed" in body else None,
        )
    assert words in caught.value.body["message"]


def test_url_replies_serve_the_png_from_the_app(served):
    url, _, _ = served
    result = oai(url).images.generate(prompt="a red fox", size="64x64", response_format="url", extra_body={"seed": 3})
    image_url = result.data[0].url
    assert image_url.startswith(f"{url}/v1/images/files/")
    got = httpx.get(image_url)
    assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (64, 64)
    assert httpx.get(f"{url}/v1/images/files/guessed").status_code == 404


def test_the_in_app_route_streams_latent_previews_then_the_image(served):
    url, _, hooked = served
    hooked.clear()
    events = list(
        oai(url).images.generate(
            prompt="a red fox",
            size="128x96",
            stream=True,
            partial_images=3,
            extra_body={"seed": 11, "num_inference_steps": 4},
        )
    )
    kinds = [ev.type for ev in events]
    assert kinds == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [ev.partial_image_index for ev in events[:3]] == [0, 1, 2]
    images = [Image.open(io.BytesIO(base64.b64decode(ev.b64_json))) for ev in events]
    # Previews at latent resolution (1/8 of each side), the completed image at full size with our chunks.
    assert [im.size for im in images] == [(16, 12)] * 3 + [(128, 96)]
    assert "Seed: 11" in images[-1].text["parameters"]
    assert [seed for _, seed in hooked] == [11]  # the library hook saw the streamed run too
    plain = oai(url).images.generate(
        prompt="a red fox", size="128x96", extra_body={"seed": 11, "num_inference_steps": 4}
    )
    assert _pixels(plain.data[0].b64_json) == images[-1].convert("RGB").tobytes()


@pytest.mark.parametrize(("fmt", "pil"), [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_the_in_app_route_answers_in_the_asked_format(served, fmt, pil):
    url, _, _ = served
    small, large = (
        oai(url).images.generate(
            prompt="a red fox",
            size="128x128",
            output_format=fmt,
            output_compression=quality,
            extra_body={"seed": 21, "num_inference_steps": 1},
        )
        for quality in (5, 95)
    )
    got = [base64.b64decode(r.data[0].b64_json) for r in (small, large)]
    assert [Image.open(io.BytesIO(b)).format for b in got] == [pil, pil]
    assert small.output_format == fmt
    if fmt != "png":  # compression is the quality of webp and jpeg; PNG is lossless either way
        assert len(got[0]) < len(got[1])
    else:
        assert _pixels(small.data[0].b64_json) == _pixels(large.data[0].b64_json)


def test_a_streamed_call_that_fails_ends_with_an_error_event(served, monkeypatch):
    url, backends, _ = served

    async def broken(request, ctx):
        raise OutOfMemory("no room")

    monkeypatch.setattr(backends["local"], "generate", broken)
    with pytest.raises(openai.APIError, match="out of GPU memory: no room"):
        list(oai(url).images.generate(prompt="a red fox", size="64x64", stream=True, partial_images=1))


def test_a_full_gpu_queue_answers_429_with_retry_after(served, monkeypatch):
    url, backends, _ = served
    monkeypatch.setattr(type(backends["local"]), "pending_jobs", property(lambda self: 4))
    reply = httpx.post(
        f"{url}/v1/images/generations",
        json={"prompt": "a red fox", "size": "64x64"},
        headers={"Authorization": f"Bearer {SERVE_KEY}"},
    )
    assert reply.status_code == 429 and reply.headers["retry-after"] == "5"
    assert reply.json()["error"]["code"] == "queue_full"


def test_serving_is_off_by_default_and_refused_on_a_space():
    assert load({}).serving.key is None
    assert openai_images.launch_options({"local": object()}, load({}).serving) == {}
    with pytest.raises(ValueError, match="ALLOW_OPENAI_SERVE=1"):
        load({"OPENAI_SERVE_KEY": SERVE_KEY, "SPACE_ID": "me/space"})
    allowed = load({"OPENAI_SERVE_KEY": SERVE_KEY, "SPACE_ID": "me/space", "ALLOW_OPENAI_SERVE": "1"})
    assert allowed.serving.key == SERVE_KEY and SERVE_KEY not in repr(allowed)
    with pytest.raises(ValueError, match="shorter than 16"):
        load({"OPENAI_SERVE_KEY": "short"})


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"OPENAI_IMAGE_BACKENDS": '[{"id": "x", "label": "X", "base_url": "gpu", "model": "m"}]'}, "entry 1 ('x')"),
        ({"OPENAI_SERVE_KEY": SERVE_KEY, "SPACE_ID": "me/space"}, "ALLOW_OPENAI_SERVE=1"),
    ],
)
def test_a_bad_setting_stops_the_app_with_one_line(env, words):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "OPENAI_SERVE_KEY", "OPENAI_IMAGE_BACKENDS")}
    done = subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port())],
        env={**clean, "FLUX_DEVICE": "cpu", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and words in done.stderr
    assert done.stderr.strip().startswith("Setting error: ") and SERVE_KEY not in done.stderr + done.stdout


@pytest.mark.browser
def test_a_key_pasted_for_a_configured_endpoint_is_used_and_never_shown(served, fakes, page):
    from playwright.sync_api import expect

    from tests.helpers import generate as press_generate
    from tests.helpers import open_app, tick, wait_done

    url, _, _ = served
    engine = fakes[0]
    pasted = "pasted-engine-key-9f8e7d6c"
    engine.valid_key, engine.mode = pasted, "echo_key"
    try:
        open_app(page, url + "/")
        page.get_by_text("API keys (this browser session only)").click()
        page.get_by_label("Engine API key").fill(pasted)
        expect(page.locator("#backend-status")).to_contain_text("Engine — ready (key pasted for this session)")
        tick(page)  # none of the built-in ones
        group = page.locator("#backends")
        for label, wanted in (("Engine", True), ("Strict OpenAI", False)):
            if group.get_by_label(label, exact=True).is_checked() != wanted:
                group.get_by_label(label, exact=True).click()
        press_generate(page, "echo my key")
        wait_done(page)
        expect(page.locator("#col-engine")).to_contain_text("Malformed credential")
        assert [r["headers"]["Authorization"] for r in engine.requests] == [f"Bearer {pasted}"]
        assert pasted not in page.content()
    finally:
        engine.valid_key = ENGINE_KEY
