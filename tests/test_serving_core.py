"""The OpenAI images door's rules, framework-neutral (serving/openai_images.py's ImagesService), the stream's
event plan, the step previews and the output formats: no app, no Ray, no pipeline."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
import torch
from PIL import Image

from backends import errors as e
from backends.local.preview import FLUX_LATENT_RGB_BIAS, StepUpdate, latents_to_rgb, listen_steps, step_listener
from backends.types import BackendRun, ImageOutcome, InvalidRequest
from images.formats import encode
from serving.openai_images import ImagesService, Reply, _failure, parse_call
from serving.openai_stream import preview_steps

KEY = "serve-secret-3c4d5e6f7a8b"
BEARER = f"Bearer {KEY}"


class Busy:
    """A Local stand-in: only its queue length matters to admission."""

    id, label = "local", "Local FP8"
    pending_jobs = 0


def admit(body: object, authorization: str | None = BEARER, busy: int = 0) -> object:
    local = Busy()
    local.pending_jobs = busy
    return ImagesService(local, KEY).admit(authorization, json.dumps(body).encode())


def test_a_wrong_key_is_401_before_the_body_is_read():
    for given in (None, "Bearer nope", f"Basic {KEY}", KEY):
        reply = admit({"prompt": "x"}, given)
        assert isinstance(reply, Reply) and reply.status == 401
        assert reply.body["error"] == {
            "message": "Incorrect API key provided.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    assert admit("not json at all", None).status == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"prompt": "x", "output_format": "gif"}, "png, webp, jpeg"),
        ({"prompt": "x", "output_compression": 101}, "output_compression 101"),
        ({"prompt": "x", "output_compression": True}, "output_compression True"),
        ({"prompt": "x", "partial_images": 4}, "partial_images 4"),
        ({"prompt": "x", "stream": "yes"}, "stream must be true or false"),
        ({"prompt": "x", "stream": True, "n": 2}, "n=1"),
        ({"prompt": "x", "stream": True, "response_format": "url"}, "b64_json"),
        ({"prompt": "x", "size": "100x100"}, "off the grid"),
        ({"prompt": "x", "colour": "red"}, "Unrecognized request argument supplied: colour"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_fields_are_400_naming_the_field(body, words):
    reply = admit(body)
    assert isinstance(reply, Reply) and reply.status == 400
    assert words in reply.body["error"]["message"] and reply.body["error"]["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_400():
    reply = ImagesService(Busy(), KEY).admit(BEARER, b"{nope")
    assert reply.status == 400 and reply.body["error"]["message"] == "the body is not JSON"


def test_a_full_queue_is_429_with_retry_after():
    reply = admit({"prompt": "x"}, busy=4)
    assert reply.status == 429 and reply.headers == {"Retry-After": "5"}
    assert reply.body["error"]["code"] == "queue_full" and reply.body["error"]["type"] == "requests"


def test_an_admitted_call_has_its_seed_fixed_and_its_reply_options():
    asked = admit({"prompt": "x", "size": "64x64", "stream": True, "partial_images": 2, "output_format": "webp"})
    assert asked.request.seed != 0 and (asked.request.width, asked.request.height) == (64, 64)
    assert (asked.stream, asked.partial_images, asked.output_format, asked.compression) == (True, 2, "webp", 100)
    assert parse_call({"prompt": "x", "output_compression": 40}).compression == 40
    with pytest.raises(InvalidRequest):
        parse_call({"prompt": ""})


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (e.OutOfMemory("too big"), 503, "out_of_memory"),
        (e.Unavailable("no GPU"), 503, "unavailable"),
        (e.Cancelled("gone"), 503, "cancelled"),
        (e.UpstreamError("boom"), 500, "upstream_error"),
    ],
)
def test_a_failed_run_answers_in_openais_shape(error, status, code):
    reply = _failure(BackendRun("local", "Local FP8", [ImageOutcome(0, 5, error=error)]))
    assert reply.status == status and reply.body["error"]["type"] == "server_error"
    assert reply.body["error"]["code"] == error.kind if status == 500 else code


@pytest.mark.parametrize(
    ("total", "asked", "steps"),
    [(4, 0, []), (4, 1, [1]), (4, 2, [1, 3]), (4, 3, [1, 2, 3]), (1, 3, []), (2, 3, [1]), (8, 3, [1, 4, 7])],
)
def test_partial_images_come_from_the_first_step_on_and_never_the_last(total, asked, steps):
    assert preview_steps(total, asked) == steps


def test_a_flux_latent_previews_through_the_rgb_factors():
    zero = latents_to_rgb(torch.zeros(2, 16, 4, 6))
    assert [im.size for im in zero] == [(6, 4), (6, 4)]
    # Zero latents land on the bias: (bias + 1) / 2 of full scale, per channel.
    assert zero[0].getpixel((0, 0)) == tuple(round((b + 1) / 2 * 255) for b in FLUX_LATENT_RGB_BIAS)
    odd = latents_to_rgb(torch.randn(1, 4, 8, 8))  # the tiny VAE's 4 channels: still an RGB image
    assert odd[0].mode == "RGB" and odd[0].getextrema()[0] == (0, 255)


def test_a_step_update_unpacks_flux_latents_to_latent_resolution():
    packed = torch.randn(1, (64 // 16) * (96 // 16), 64)  # 64×96 image, 16 channels packed 2×2
    (preview,) = StepUpdate(1, 4, packed, height=64, width=96).previews()
    assert preview.size == (96 // 8, 64 // 8)


async def test_the_step_listener_follows_the_task_that_set_it():
    seen = []

    async def inner(tag: str) -> None:
        seen.append((tag, step_listener()))

    with listen_steps(print):
        await asyncio.create_task(inner("inside"))
    await asyncio.create_task(inner("outside"))
    assert seen == [("inside", print), ("outside", None)]


@pytest.mark.parametrize(("fmt", "pil"), [("png", "PNG"), ("webp", "WEBP"), ("jpeg", "JPEG")])
def test_every_output_format_encodes(fmt, pil):
    image = Image.new("RGB", (32, 16), (200, 30, 40))
    data = encode(image, fmt, 50)
    back = Image.open(io.BytesIO(data))
    assert back.format == pil and back.size == (32, 16)
    assert abs(back.convert("RGB").getpixel((5, 5))[0] - 200) <= 8


def test_png_bytes_stay_as_they_are_and_quality_changes_jpeg_size():
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buf, format="PNG")
    png = buf.getvalue()
    assert encode(png, "png") is png  # our text chunks would ride along untouched
    assert len(encode(png, "jpeg", 10)) < len(encode(png, "jpeg", 90))
    with pytest.raises(ValueError, match="gif"):
        encode(png, "gif")
