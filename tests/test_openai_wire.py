"""The OpenAI images translation and OPENAI_IMAGE_BACKENDS parsing, as pure functions (no network)."""

from __future__ import annotations

import json

import httpx
import pytest

from backends import GenerationRequest, InvalidRequest
from backends import errors as e
from backends.cost import image_cost
from backends.http import Reply, error_for_status
from backends.openai_config import ConfigError, OpenAIEndpoint, parse_endpoints
from backends.openai_wire import describe, nearest_size, parse_reply, request_body, served_call
from config import load

ALL_EXTRAS = ("seed", "num_inference_steps", "guidance_scale")


def endpoint(**kw) -> OpenAIEndpoint:
    base = dict(id="engine", label="Engine", base_url="http://gpu:8000/v1", model="flux-schnell")
    base.update(kw)
    return OpenAIEndpoint(**base)


def request(**kw) -> GenerationRequest:
    base = dict(prompt="a lighthouse", width=1152, height=896, seed=40, num_images=3, num_inference_steps=6)
    base.update(kw)
    return GenerationRequest(**base)


# --- request → body ------------------------------------------------------------------------
def test_an_engine_with_every_extra_gets_seed_plus_index_steps_and_guidance():
    bodies = [request_body(endpoint(extras=ALL_EXTRAS), request(), i) for i in range(3)]
    assert [b["seed"] for b in bodies] == [40, 41, 42]
    assert bodies[0] == {
        "model": "flux-schnell",
        "prompt": "a lighthouse",
        "n": 1,
        "size": "1152x896",
        "response_format": "b64_json",
        "seed": 40,
        "num_inference_steps": 6,
        "guidance_scale": 3.5,
    }


def test_fields_an_endpoint_does_not_take_are_never_sent_and_the_record_says_so():
    ep = endpoint(extras=())
    body = request_body(ep, request(), 1)
    assert set(body) == {"model", "prompt", "n", "size", "response_format"}
    received, notes = describe(ep, request())
    assert "seeds" not in received
    assert received["not_sent"]["seed"] == "this endpoint takes none; the image is not reproducible"
    assert "seed not sent: this endpoint takes none; the image is not reproducible" in notes
    assert set(received["not_sent"]) == set(ALL_EXTRAS)


def test_only_seed_taken_lists_the_seeds_and_the_rest_as_not_sent():
    received, _ = describe(endpoint(extras=("seed",)), request())
    assert received["seeds"] == [40, 41, 42]
    assert set(received["not_sent"]) == {"num_inference_steps", "guidance_scale"}


def test_fixed_sizes_pick_the_nearest_shape_and_say_so():
    ep = endpoint(sizes=((1024, 1024), (1344, 768), (1152, 896)))
    assert request_body(ep, request(width=1216, height=832), 0)["size"] == "1152x896"
    assert nearest_size(512, 512, ep.sizes) == (1024, 1024)
    assert nearest_size(1536, 640, ep.sizes) == (1344, 768)
    received, notes = describe(ep, request(width=1216, height=832))
    assert received["size"] == "1152x896" and received["size_requested"] == "1216x832"
    assert "1216x832 → 1152x896, the nearest size Engine takes" in notes
    received, _ = describe(ep, request(width=1344, height=768))
    assert "size_requested" not in received  # an allowed size goes as asked


# --- reply → image or error ----------------------------------------------------------------
def test_replies_in_b64_json_or_url():
    assert parse_reply({"created": 1, "data": [{"b64_json": "iVBO"}]}).b64 == "iVBO"
    assert parse_reply({"data": [{"url": "https://cdn/x.png", "revised_prompt": "p"}]}).url == "https://cdn/x.png"


@pytest.mark.parametrize("data", [{"data": []}, {"data": [{}]}, {"data": [{"b64_json": None}]}, {}, [1]])
def test_replies_without_an_image_are_typed_failures(data):
    with pytest.raises((e.NotAnImage, e.UpstreamError)):
        parse_reply(data)


def openai_error(status: int, message: str, headers: dict | None = None) -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return Reply(status, httpx.Headers(headers or {}), json.dumps(body).encode(), "http://x")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, e.RejectedKey), (429, e.RateLimited), (400, e.BadRequest), (500, e.UpstreamError)],
)
def test_openai_error_shapes_become_the_typed_errors_with_their_message(status, kind):
    err = error_for_status(openai_error(status, "Unrecognized request argument supplied: seed"))
    assert type(err) is kind and err.status == status
    assert err.detail == "Unrecognized request argument supplied: seed"


# --- incoming bodies (serving) -------------------------------------------------------------
def test_an_incoming_body_becomes_the_one_request_type():
    call = served_call({"model": "x", "prompt": "fox", "n": 2, "size": "768x1344", "seed": 5, "num_inference_steps": 2})
    r = call.request
    assert (r.width, r.height, r.num_images, r.seed, r.num_inference_steps) == (768, 1344, 2, 5, 2)
    assert call.response_format == "b64_json"
    assert served_call({"prompt": "fox", "response_format": "url", "quality": "hd"}).response_format == "url"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"prompt": "fox", "size": "1000x1000"}, "off the grid"),
        ({"prompt": "fox", "size": "big"}, "must be WxH"),
        ({"prompt": "fox", "n": 5}, "1–4"),
        ({"prompt": "fox", "n": "2"}, "whole number"),
        ({"prompt": ""}, "prompt is empty"),
        ({"prompt": "fox", "response_format": "png"}, "b64_json or url"),
        ({"prompt": "fox", "num_inference_steps": 50}, "steps 50"),
        ({"prompt": "fox", "sampler": "euler"}, "Unrecognized request argument supplied: sampler"),
        ([], "JSON object"),
    ],
)
def test_bad_incoming_fields_are_refused_with_the_reason(body, words):
    with pytest.raises(InvalidRequest, match=words):
        served_call(body)


# --- configuration ---------------------------------------------------------------------------
ENTRY = {"id": "xinf", "label": "Xinference", "base_url": "http://gpu:9997/v1/", "model": "FLUX.1-schnell"}


def test_config_from_json_text_and_from_a_toml_file(tmp_path):
    (ep,) = parse_endpoints(json.dumps([{**ENTRY, "extras": ["seed"], "sizes": ["1024x1024", [1152, 896]]}]))
    assert ep.base_url == "http://gpu:9997/v1" and ep.extras == ("seed",) and ep.sizes == ((1024, 1024), (1152, 896))
    toml = tmp_path / "endpoints.toml"
    toml.write_text('[[backends]]\nid = "vllm"\nlabel = "vLLM-Omni"\nbase_url = "http://h:8091/v1"\nmodel = "m"\n')
    assert [ep.id for ep in parse_endpoints(str(toml))] == ["vllm"]


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([{**ENTRY, "id": "fireworks"}], "entry 1 ('fireworks'): `id`"),
        ([ENTRY, ENTRY], "entry 2 ('xinf'): `id` is used twice"),
        ([{**ENTRY, "base_url": "gpu:9997"}], "`base_url` must be"),
        ([{**ENTRY, "extras": ["negative_prompt"]}], "`extras` has 'negative_prompt'"),
        ([{**ENTRY, "sizes": ["huge"]}], "`sizes` has 'huge'"),
        ([{**ENTRY, "price_per_image": -1}], "`price_per_image`"),
        ([{**ENTRY, "key_env": "my key"}], "`key_env`"),
        ([{**ENTRY, "modle": "x"}], "unknown field `modle`"),
        ({"id": "x"}, "must be a list"),
    ],
)
def test_a_bad_config_names_the_entry_and_the_field(entries, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_endpoints(json.dumps(entries))


def test_settings_read_keys_and_prices_and_keep_keys_secret():
    env = {"OPENAI_IMAGE_BACKENDS": json.dumps([{**ENTRY, "key_env": "XK", "price_per_image": 0.002}]), "XK": "k-91"}
    settings = load(env).backends
    assert "k-91" in settings.secrets() and "k-91" not in repr(settings)
    assert image_cost("xinf", 4, pricing=settings.pricing).usd == 0.002
    assert not image_cost("other", 4, pricing=settings.pricing).priced
