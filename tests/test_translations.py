"""Pure translations: request → wire body, wire reply → result, and the helpers around them."""

from __future__ import annotations

import base64

import httpx
import pytest

from backends import GenerationRequest, InvalidRequest
from backends import errors as e
from backends.aiml import aiml_body, parse_aiml_reply
from backends.fireworks import fireworks_body, parse_fireworks_reply
from backends.hosted import reported_seed
from backends.http import RetryPolicy, api_message, backoff_s, error_for_status, is_retryable_status, retry_after_s
from backends.imaging import decode_image, read_base64_image, sniff
from backends.sizes import RATIO_SIZES, nearest_ratio, ratio_for_size, snap_to_preset
from backends.urlguard import UrlPolicy
from tests.helpers import png


def req(**kw) -> GenerationRequest:
    base = dict(prompt="a cat", width=1152, height=896, num_inference_steps=4, guidance_scale=3.5, seed=42)
    base.update(kw)
    return GenerationRequest(**base)


# --- the request --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, words",
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"width": 1000}, "width 1000 is off the grid"),
        ({"height": 32}, "height 32 is off the grid"),
        ({"width": 1600}, "width 1600 is off the grid"),
        ({"num_inference_steps": 0}, "steps 0 is out of range"),
        ({"num_inference_steps": 13}, "steps 13 is out of range"),
        ({"num_images": 5}, "images per backend 5"),
        ({"seed": -1}, "seed -1 is out of range"),
        ({"seed": 2**31 - 1, "num_images": 2}, "seed 2147483647 is out of range"),
        ({"aspect_ratio": "7:5"}, "aspect ratio '7:5' is unknown"),
        ({"prompt": "x" * 2001}, "limit is 2000"),
    ],
)
def test_bad_requests_say_what_is_wrong(kw, words):
    with pytest.raises(InvalidRequest, match=words):
        req(**kw)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"width": 1024.5}, "width must be a whole number, got 1024.5"),
        ({"height": "768"}, "height must be a whole number, got str '768'"),
        ({"num_images": 2.5}, r"images per backend \(num_images\) must be a whole number, got 2.5"),
        ({"num_inference_steps": float("nan")}, r"steps \(num_inference_steps\) must be a finite whole number"),
        ({"guidance_scale": float("inf")}, r"guidance scale \(guidance_scale\) must be a finite number, got inf"),
        ({"guidance_scale": float("nan")}, r"guidance scale \(guidance_scale\) must be a finite number, got nan"),
        ({"guidance_scale": "3.5"}, r"guidance scale \(guidance_scale\) must be a number, got str"),
        ({"seed": 1.5}, "seed must be a whole number, got 1.5"),
        ({"seed": None}, "seed must be a whole number, got NoneType"),
        ({"num_images": True}, "must be a whole number, got bool"),
        ({"prompt": "\x00"}, "the prompt has no visible characters"),
        ({"prompt": "\x00\x1b\u200b \n"}, "the prompt has no visible characters"),
        ({"prompt": None}, "prompt must be text"),
        ({"aspect_ratio": ["1:1"]}, "aspect ratio"),
    ],
)
def test_wrong_types_nan_fractions_and_invisible_prompts_are_refused_naming_the_field(kw, words):
    with pytest.raises(InvalidRequest, match=words):
        req(**kw)


def test_whole_floats_are_stored_as_ints():
    r = req(width=1024.0, height=768.0, seed=5.0, num_images=2.0, num_inference_steps=4.0, guidance_scale=3)
    assert (r.width, r.height, r.seed, r.num_images, r.num_inference_steps) == (1024, 768, 5, 2, 4)
    assert all(type(v) is int for v in (r.width, r.height, r.seed, r.num_images, r.num_inference_steps))
    assert type(r.guidance_scale) is float


def test_seed_zero_draws_one_seed_that_leaves_room_for_every_image():
    import random

    r = req(seed=0, num_images=4).with_seed(random.Random(1))
    assert 1 <= r.seed <= 2**31 - 1 - 3
    assert [r.image_seed(i) for i in range(4)] == [r.seed + i for i in range(4)]
    assert req(seed=7).with_seed().seed == 7


# --- sizes ---------------------------------------------------------------------------------
def test_presets_map_to_their_own_ratio_even_when_another_is_numerically_nearer():
    assert nearest_ratio(1152, 896) == "4:3"  # 1.286 is nearer 5:4, but this is the 4:3 preset
    for ratio, (w, h) in RATIO_SIZES.items():
        assert nearest_ratio(w, h) == ratio
        assert ratio_for_size(w, h) == ratio


def test_custom_sizes_snap_to_the_nearest_ratio():
    assert nearest_ratio(512, 512) == "1:1"
    assert nearest_ratio(1536, 512) == "21:9"
    assert nearest_ratio(512, 1536) == "9:21"
    assert ratio_for_size(1000, 1000) == "Custom"
    assert snap_to_preset(1280, 720) == (1344, 768)


# --- Fireworks -----------------------------------------------------------------------------
def test_fireworks_body_maps_size_to_ratio_and_uses_seed_plus_index():
    body = fireworks_body(req(num_images=3), 2)
    assert body == {
        "prompt": "a cat",
        "aspect_ratio": "4:3",
        "guidance_scale": 3.5,
        "num_inference_steps": 4,
        "seed": 44,
    }


def test_fireworks_binary_reply_reads_seed_header():
    image, seed = parse_fireworks_reply("image/png", {"Seed": "99", "Finish-Reason": "SUCCESS"}, png())
    assert image.size == (8, 6) and seed == "99" and reported_seed(seed) == 99


def test_fireworks_binary_reply_without_seed_header_reports_none():
    _, seed = parse_fireworks_reply("image/jpeg", {}, png())
    assert seed is None


@pytest.mark.parametrize("prefix", ["data:image/png;base64,", ""])
def test_fireworks_json_reply_with_or_without_data_prefix(prefix):
    body = f'{{"base64": ["{prefix}{base64.b64encode(png()).decode()}"], "finishReason": "SUCCESS", "seed": 5}}'
    image, seed = parse_fireworks_reply("application/json; charset=utf-8", {}, body.encode())
    assert image.size == (8, 6) and seed == 5


def test_fireworks_filtered_by_header_or_json_is_typed():
    with pytest.raises(e.ContentFiltered):
        parse_fireworks_reply("image/png", {"finish-reason": "CONTENT_FILTERED"}, png())
    with pytest.raises(e.ContentFiltered):
        parse_fireworks_reply("application/json", {}, b'{"base64": [], "finishReason": "CONTENT_FILTERED"}')


@pytest.mark.parametrize("reason", ["ERROR", "PENDING", "FAILED", "0", "unknown"])
def test_fireworks_unknown_finish_reasons_are_failures_not_images(reason):
    with pytest.raises(e.UpstreamError, match="not SUCCESS"):
        parse_fireworks_reply("image/png", {"Finish-Reason": reason}, png())
    body = f'{{"base64": ["{base64.b64encode(png()).decode()}"], "finishReason": "{reason}"}}'.encode()
    with pytest.raises(e.UpstreamError, match="not SUCCESS"):
        parse_fireworks_reply("application/json", {}, body)


def test_fireworks_non_image_bytes_are_not_an_image():
    with pytest.raises(e.NotAnImage, match="not an image"):
        parse_fireworks_reply("image/png", {}, b"<html>oops</html>")


# --- AI/ML API -----------------------------------------------------------------------------
def test_aiml_body_is_one_image_per_call_with_its_own_seed():
    assert aiml_body(req(num_images=2), 1) == {
        "model": "flux/schnell",
        "prompt": "a cat",
        "image_size": {"width": 1152, "height": 896},
        "num_inference_steps": 4,
        "seed": 43,
        "num_images": 1,
        "enable_safety_checker": True,
    }
    assert aiml_body(req(), 0, safety_checker=False)["enable_safety_checker"] is False


def test_aiml_reply_shapes():
    fal = {
        "images": [{"url": "https://cdn/x.png"}],
        "timings": {"inference": 0.34},
        "seed": 7,
        "has_nsfw_concepts": [False],
    }
    r = parse_aiml_reply(fal)
    assert r.images[0].url == "https://cdn/x.png" and r.seed == 7 and r.server_s == 0.34
    openai_like = {"data": [{"url": None, "b64_json": "QUJD"}], "meta": {"usage": {"credits_used": 1}}}
    r = parse_aiml_reply(openai_like)
    assert r.images[0].b64 == "QUJD" and r.seed is None and r.server_s is None
    assert parse_aiml_reply({"images": [{"url": "https://a"}], "has_nsfw_concepts": [True]}).images[0].filtered
    with pytest.raises(e.NotAnImage):
        parse_aiml_reply({"data": []})


def test_aiml_image_urls_must_be_https_or_same_origin_and_public():
    policy = UrlPolicy()
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.9",
        "172.16.5.5",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "fc00::1",
        "100.64.0.1",
        "224.0.0.1",
    ):
        with pytest.raises(e.RefusedUrl, match="resolves to a"):
            policy.check_address("cdn.example", address)
    policy.check_address("cdn.aimlapi.com", "93.184.216.34")  # public: no error
    UrlPolicy(allowed_addresses=frozenset({"127.0.0.1"})).check_address("localhost", "127.0.0.1")


def test_aiml_image_urls_scheme_rule():
    base, policy = "http://127.0.0.1:9000/v1", UrlPolicy()
    assert policy.check_url("https://cdn.aimlapi.com/a.png", base) is False  # allowed, off the API's origin
    assert policy.check_url("http://127.0.0.1:9000/files/a.png", base) is True  # the API's own origin
    for refused in ("http://127.0.0.1:9001/files/a.png", "http://cdn.example/a.png", "file:///etc/passwd"):
        with pytest.raises(e.RefusedUrl):
            policy.check_url(refused, base)


# --- images ------------------------------------------------------------------------------
def test_images_are_sniffed_not_trusted():
    assert sniff(png()) == "png"
    assert sniff(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    with pytest.raises(e.NotAnImage):
        decode_image(b"\x89PNG\r\n\x1a\ntruncated")
    assert read_base64_image("data:image/png;base64," + base64.b64encode(png()).decode()).size == (8, 6)


# --- HTTP policy -------------------------------------------------------------------------
def test_only_408_429_and_5xx_are_retried():
    assert [
        s for s in (400, 401, 402, 403, 404, 408, 412, 413, 429, 500, 502, 503, 504, 520) if is_retryable_status(s)
    ] == [
        408,
        429,
        500,
        502,
        503,
        504,
        520,
    ]


def test_retry_after_is_honoured_up_to_the_cap():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=10)
    assert retry_after_s("3") == 3.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert retry_after_s("soon") is None
    assert retry_after_s("nan") is None and retry_after_s("inf") is None
    assert 1.5 <= backoff_s(0, policy, None, status=429) <= 2.5  # 429 without Retry-After: not half a second
    assert backoff_s(0, policy, 3.0) == 3.0
    assert backoff_s(0, policy, 120.0) == 10
    assert 0.25 <= backoff_s(1, policy, None) <= 1.5


@pytest.mark.parametrize(
    "status, body, kind, message",
    [
        (401, {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}, e.RejectedKey, "Invalid API key"),
        (401, {"fault": {"faultstring": "Invalid ApiKey"}}, e.RejectedKey, "Invalid ApiKey"),
        (403, {"message": "You've run out of credits.", "statusCode": 403}, e.RejectedKey, "out of credits"),
        (
            412,
            {"error": {"message": "Account x is suspended", "code": "PRECONDITION_FAILED"}},
            e.RejectedKey,
            "suspended",
        ),
        (400, {"message": "Body validation error! bad", "statusCode": "400"}, e.BadRequest, "Body validation error"),
        (400, {"detail": "bad ratio"}, e.BadRequest, "bad ratio"),
        (429, {"message": "Too Many Requests"}, e.RateLimited, "Too Many"),
        (504, {"message": "Generation timeout"}, e.Timeout, "Generation timeout"),
        (503, {"message": "Service unavailable"}, e.UpstreamError, "Service unavailable"),
    ],
)
def test_error_replies_become_typed_errors_with_the_apis_message(status, body, kind, message):
    err = error_for_status(httpx.Response(status, json=body))
    assert isinstance(err, kind) and message in err.detail and err.status == status


def test_upstream_error_text_is_cut_where_the_error_is_made():
    huge = "x " * 2_500_000  # a 5 MB message
    err = error_for_status(httpx.Response(400, json={"error": {"message": huge}}))
    assert len(err.detail) <= 310 and err.detail.endswith("…") and str(err) == err.detail
    assert len(e.UpstreamError("y" * 10_000).detail) <= 310
    assert "\n" not in e.BadRequest("line1\nline2\x00").detail


def test_a_cut_never_leaves_part_of_an_echoed_key_behind():
    from backends.errors import cut_text

    key = "fw-secret-7f3a9c21"
    for pad in range(270, 310):  # the key straddles the cut somewhere in here
        text = cut_text("a " * (pad // 2) + "Invalid key " + key + " was rejected " + "z " * 300)
        assert key in text or "fw-s" not in text, pad
    for pad in range(250, 310):  # no spaces at all
        text = cut_text("a" * pad + key + "b" * 400)
        assert key in text or "fw-s" not in text, pad


@pytest.mark.parametrize(
    "value, expected",
    [
        (5, 5),
        ("5", 5),
        (" 42 ", 42),
        (2**64 - 1, 2**64 - 1),
        (str(2**64 - 1), 2**64 - 1),
        (2**64, None),
        (str(2**64), None),
        (-1, None),
        ("-1", None),
        (1.5, None),
        (3.0, None),
        (True, None),
        ("1e30", None),
        ("NaN", None),
        (None, None),
        ([1], None),
        ("٣", None),  # a digit, but not ASCII
    ],
)
def test_only_real_seeds_count_as_reported(value, expected):
    assert reported_seed(value) == expected


def test_api_message_from_plain_text():
    assert api_message(httpx.Response(502, text="Bad Gateway")) == "Bad Gateway"
