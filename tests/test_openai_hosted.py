"""The OpenAI images route serving every backend (issue 27): the official ``openai`` client against the app
as main() launches it (app.launch_options), hosted backends answered by the loopback fakes, with the page's
allowance, redaction and library, outside Gradio's queue."""

from __future__ import annotations

import base64
import io
import json

import openai
import pytest
from PIL import Image

from config import PageOptions, load
from library import LibraryConfig
from tests.conftest import AIML_KEY, FW_KEY, app_config, app_settings, free_port

SERVE_KEY = "serve-secret-hosted-7a8b9c0d"
RATE = 4  # images a minute per visitor on the server's keys; each test is its own visitor (X-Forwarded-For)


@pytest.fixture(scope="module")
def served(fireworks, aiml, tiny_model, tmp_path_factory):
    """(url, App): the whole app with OPENAI_SERVE_KEY, one proxy hop trusted, a library on disk."""
    from app import create_app, launch_options

    options = PageOptions(rate_limit_per_min=RATE, proxy_hops=1)
    settings = app_config(
        app_settings(fireworks, aiml, tiny_model),
        options,
        library=LibraryConfig(dir=tmp_path_factory.mktemp("lib")),
        serving=load({"OPENAI_SERVE_KEY": SERVE_KEY}).serving,
    )
    app = create_app(settings)
    port = free_port()
    launch = launch_options(app)
    app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch)
    yield f"http://127.0.0.1:{port}", app
    app.demo.close()


def oai(url: str, visitor: str, key: str = SERVE_KEY) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60, default_headers={"X-Forwarded-For": visitor}
    )


def _png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


@pytest.mark.parametrize("model", ["fireworks", "aiml"])
def test_the_openai_client_gets_hosted_images_kept_in_the_library(served, fireworks, aiml, model):
    url, app = served
    fake = {"fireworks": fireworks, "aiml": aiml}[model]
    result = oai(url, f"10.0.0.{len(model)}").images.generate(
        model=model, prompt=f"a harbour by {model}", n=2, size="1024x1024", extra_body={"seed": 40}
    )
    images = [_png(d.b64_json) for d in result.data]
    assert [(im.format, im.size) for im in images] == [("PNG", (1024, 1024))] * 2
    assert [d.model_extra["seed"] for d in result.data] == [40, 41]
    assert "Seed: 40" in images[0].text["parameters"]  # our chunks on the upstream's bytes
    assert len(fake.requests) >= 2  # the upstream was called (AI/ML: its POST and the downloads)
    rows = app.library.search(None, query=f"harbour {model}")
    assert sorted((r.backend, r.seed, r.status) for r in rows) == [(model, 40, "ok"), (model, 41, "ok")]
    assert all((app.library.root / r.path).is_file() for r in rows)


def test_models_lists_every_backend_and_an_unknown_one_is_refused(served, fireworks):
    url, app = served
    assert [m.id for m in oai(url, "10.0.1.1").models.list()] == list(app.backends)
    assert {"local", "fireworks", "aiml"} <= set(app.backends)
    with pytest.raises(openai.BadRequestError) as caught:
        oai(url, "10.0.1.1").images.generate(model="dall-e-3", prompt="a fox", size="64x64")
    assert caught.value.body["code"] == "model_not_found" and "fireworks" in caught.value.body["message"]
    assert fireworks.requests == []


def test_the_page_allowance_refuses_before_anything_is_sent(served, fireworks):
    url, _ = served
    client = oai(url, "10.0.2.2")
    client.images.generate(model="fireworks", prompt="a fox", n=RATE - 1, size="256x256")
    sent = len(fireworks.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="fireworks", prompt="a fox", n=2, size="256x256")
    assert "Nothing was sent" in caught.value.body["message"] and caught.value.body["code"] == "rate_limit_exceeded"
    assert caught.value.response.headers.get("retry-after")
    assert len(fireworks.requests) == sent
    # Another visitor has their own allowance; Local spends nothing of it.
    oai(url, "10.0.2.3").images.generate(model="fireworks", prompt="a fox", size="256x256")
    oai(url, "10.0.2.2").images.generate(model="local", prompt="a fox", size="64x64", extra_body={"seed": 1})


def test_a_failed_hosted_call_names_the_backend_and_redacts_the_key(served, fireworks, aiml):
    url, _ = served
    aiml.mode = "echo_key"
    client = oai(url, "10.0.3.3")
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="aiml", prompt="a fox", n=2, size="256x256")
    message = caught.value.body["message"]
    assert "AI/ML" in message and "Malformed credential" in message
    assert AIML_KEY not in json.dumps(caught.value.body) and FW_KEY not in message
