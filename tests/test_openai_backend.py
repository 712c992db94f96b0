"""Configured OpenAI-compatible backends against a loopback fake, lenient (an engine) and strict (OpenAI)."""

from __future__ import annotations

import httpx
import pytest

from backends import GenerationRequest, RunContext
from backends import errors as e
from backends.http import RetryPolicy
from backends.openai_backend import OpenAICompatBackend
from backends.openai_config import OpenAIEndpoint
from tests.fakes.openai_images import FakeOpenAIImages
from tests.helpers import Waits, posts

KEY = "oai-secret-5d6e7f80"
FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=2.0)
ALL_EXTRAS = ("seed", "num_inference_steps", "guidance_scale")


@pytest.fixture(scope="module")
def fake():
    server = FakeOpenAIImages()
    server.valid_key = KEY
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.reset()


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, connect=2.0)) as c:
        yield c


def backend(client, fake, key=KEY, **kw) -> OpenAICompatBackend:
    fields = dict(id="engine", label="Engine", base_url=fake.base_url, model="flux", key_env="ENGINE_KEY")
    fields.update(kw)
    return OpenAICompatBackend(OpenAIEndpoint(**fields), client, key, FAST_RETRY, sleep=Waits())


def bodies(fake) -> list[dict]:
    return [r["body"] for r in posts(fake)]


async def run(b, **kw):
    base = dict(prompt="a lighthouse", width=1152, height=896, seed=77, num_images=2)
    base.update(kw)
    return await b.generate(GenerationRequest(**base), RunContext())


async def test_an_engine_gets_one_call_per_image_with_seed_plus_i(client, fake):
    result = await run(backend(client, fake, extras=ALL_EXTRAS))
    assert [o.status for o in result.outcomes] == ["ok", "ok"]
    assert [o.seed for o in result.outcomes] == [77, 78]
    assert [o.image.size for o in result.outcomes] == [(1152, 896)] * 2
    assert sorted(b["seed"] for b in bodies(fake)) == [77, 78]
    assert {b["n"] for b in bodies(fake)} == {1} and {b["num_inference_steps"] for b in bodies(fake)} == {4}
    assert [r["headers"]["Authorization"] for r in fake.requests] == [f"Bearer {KEY}"] * 2


async def test_strict_openai_gets_no_unknown_field_and_the_record_says_so(client, fake):
    fake.strict = True
    result = await run(backend(client, fake, extras=()))
    assert [o.status for o in result.outcomes] == ["ok", "ok"]  # the strict fake would 400 on any extra
    assert all("seed" not in b and "guidance_scale" not in b for b in bodies(fake))
    assert "seed" in result.received["not_sent"]
    assert "seed not sent: this endpoint takes none; the image is not reproducible" in result.notes


async def test_strict_openai_refuses_a_seed_with_its_own_message(client, fake):
    fake.strict = True
    result = await run(backend(client, fake, extras=("seed",)), num_images=1)
    err = result.outcomes[0].error
    assert isinstance(err, e.BadRequest) and err.detail == "Unrecognized request argument supplied: seed"
    assert len(bodies(fake)) == 1  # a 400 is never retried


async def test_fixed_sizes_send_the_nearest_allowed(client, fake):
    fake.sizes = ["1024x1024", "1344x768"]
    result = await run(backend(client, fake, sizes=((1024, 1024), (1344, 768))), width=1216, height=704)
    assert [o.status for o in result.outcomes] == ["ok", "ok"]
    assert {b["size"] for b in bodies(fake)} == {"1344x768"}
    assert result.received["size_requested"] == "1216x704"


async def test_url_replies_are_fetched_on_the_endpoints_origin_without_the_key(client, fake):
    fake.mode = "url"
    result = await run(backend(client, fake), num_images=1)
    assert result.outcomes[0].status == "ok" and result.outcomes[0].image.size == (1152, 896)
    download = [r for r in fake.requests if r["body"] is None]
    assert [r["path"].startswith("/v1/files/") for r in download] == [True]
    assert "Authorization" not in download[0]["headers"]


async def test_plain_http_image_urls_on_other_hosts_are_refused(client, fake):
    fake.mode = "offsite_url"
    err = (await run(backend(client, fake), num_images=1)).outcomes[0].error
    assert isinstance(err, e.RefusedUrl)


async def test_a_wrong_key_is_rejected_once(client, fake):
    err = (await run(backend(client, fake, key="wrong"), num_images=1)).outcomes[0].error
    assert isinstance(err, e.RejectedKey) and err.status == 401 and "Incorrect API key" in err.detail
    assert len(fake.requests) == 1


async def test_429_waits_for_retry_after_then_reports_rate_limited(client, fake):
    fake.mode, fake.retry_after = "429", "3"
    b = backend(client, fake)
    err = (await run(b, num_images=1)).outcomes[0].error
    assert isinstance(err, e.RateLimited) and "Rate limit reached" in err.detail
    assert b.sleep.given == [2.0, 2.0]  # Retry-After 3 s, capped at FAST_RETRY's 2 s, before each retry
    assert len(fake.requests) == 3


async def test_429_once_then_the_image(client, fake):
    fake.mode, fake.retry_after = "429then", "1"
    b = backend(client, fake)
    result = await run(b, num_images=1)
    assert result.outcomes[0].status == "ok" and b.sleep.given == [1.0]


async def test_500_is_retried_then_reported(client, fake):
    fake.mode = "500"
    err = (await run(backend(client, fake), num_images=1)).outcomes[0].error
    assert isinstance(err, e.UpstreamError) and err.status == 500
    assert len(fake.requests) == 3


async def test_an_empty_reply_is_not_an_image(client, fake):
    fake.mode = "nodata"
    err = (await run(backend(client, fake), num_images=1)).outcomes[0].error
    assert isinstance(err, e.NotAnImage)


async def test_no_key_configured_sends_no_authorization(client, fake):
    fake.valid_key = ""  # an engine without auth
    try:
        b = backend(client, fake, key=None, key_env=None)
        assert b.status().ready
        assert (await run(b, num_images=1)).outcomes[0].status == "ok"
        assert "Authorization" not in fake.requests[0]["headers"]
    finally:
        fake.valid_key = KEY


async def test_a_key_needed_but_missing_sends_nothing(client, fake):
    b = backend(client, fake, key=None)
    assert not b.status().ready and "ENGINE_KEY" in b.status().message
    with pytest.raises(e.MissingKey, match="ENGINE_KEY"):
        await run(b, num_images=1)
    assert fake.requests == []


def test_the_guidance_hint_names_configured_endpoints_that_take_it(client, fake):
    from ui.page.texts import guidance_info

    takes, ignores = backend(client, fake, extras=("guidance_scale",)), backend(client, fake, id="other", label="Other")
    assert guidance_info({"engine": takes, "other": ignores}, []).startswith("Sent to Fireworks and Engine;")
    assert guidance_info({"other": ignores}, []).startswith("Sent to Fireworks only;")
