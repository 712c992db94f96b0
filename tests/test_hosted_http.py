"""Both hosted backends against loopback fakes that follow the documented protocols."""

from __future__ import annotations

import httpx
import pytest

from backends import GenerationRequest, RunContext
from backends import errors as e
from backends.aiml import AimlBackend
from backends.fireworks import FireworksBackend
from backends.http import RetryPolicy
from tests.conftest import AIML_KEY, FW_KEY
from tests.helpers import posts

FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=2.0)


@pytest.fixture
async def client():
    # A reply has 2 s (a loaded machine's share); the fake's 'timeout' mode holds its reply 3 s, past it.
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, connect=2.0)) as c:
        yield c


def request(**kw) -> GenerationRequest:
    base = dict(prompt="a lighthouse", width=1152, height=896, seed=1234, num_images=1)
    base.update(kw)
    return GenerationRequest(**base)


async def run(backend, req=None, key=None):
    return await backend.generate(req or request(), RunContext(api_key=key))


# --- Fireworks -------------------------------------------------------------------------------
@pytest.fixture
def fw(client, fireworks):
    return FireworksBackend(client, fireworks.base_url, FW_KEY, FAST_RETRY)


@pytest.mark.parametrize("mode", ["default", "jpeg", "json", "json_plain"])
async def test_fireworks_every_reply_mode_gives_the_ratio_sized_image_and_seed(fw, fireworks, mode):
    fireworks.mode = mode
    result = await run(fw, request(num_images=2))
    assert [o.status for o in result.outcomes] == ["ok", "ok"]
    assert [o.image.size for o in result.outcomes] == [(1152, 896)] * 2
    assert sorted(o.seed for o in result.outcomes) == [1234, 1235]
    sent = posts(fireworks)
    assert sorted(r["body"]["seed"] for r in sent) == [1234, 1235]
    assert {r["body"]["aspect_ratio"] for r in sent} == {"4:3"}
    assert all(r["headers"]["Accept"] == "image/png" for r in sent)


async def test_fireworks_filtered_is_a_result_and_never_retried(fw, fireworks):
    fireworks.mode = "filtered"
    result = await run(fw)
    assert result.outcomes[0].status == "filtered"
    assert len(posts(fireworks)) == 1


async def test_fireworks_rejected_key_is_not_retried(client, fireworks):
    backend = FireworksBackend(client, fireworks.base_url, "wrong-key", FAST_RETRY)
    result = await run(backend)
    err = result.outcomes[0].error
    assert isinstance(err, e.RejectedKey) and err.status == 401 and "Invalid API key" in err.detail
    assert len(posts(fireworks)) == 1


async def test_fireworks_bad_request_carries_the_apis_message(fw, fireworks):
    fireworks.mode = "400"
    err = (await run(fw)).outcomes[0].error
    assert isinstance(err, e.BadRequest) and "usage policy" in err.detail
    assert len(posts(fireworks)) == 1


async def test_fireworks_429_waits_for_retry_after_then_succeeds(fw, fireworks):
    fireworks.mode = "429then"
    result = await run(fw)
    assert result.outcomes[0].status == "ok"
    assert len(posts(fireworks)) == 2


async def test_fireworks_500_is_retried_twice_then_reported(fw, fireworks):
    fireworks.mode = "500"
    err = (await run(fw)).outcomes[0].error
    assert isinstance(err, e.UpstreamError) and err.status == 500
    assert len(posts(fireworks)) == 3


async def test_fireworks_read_timeout_is_typed_and_not_retried(fw, fireworks):
    fireworks.mode = "timeout"
    err = (await run(fw)).outcomes[0].error
    assert isinstance(err, e.Timeout)
    assert len(posts(fireworks)) == 1  # it was sent: a retry could make (and bill) a second image


async def test_fireworks_body_that_is_not_an_image(fw, fireworks):
    fireworks.mode = "notimage"
    assert isinstance((await run(fw)).outcomes[0].error, e.NotAnImage)


async def test_missing_key_sends_nothing(client, fireworks):
    backend = FireworksBackend(client, fireworks.base_url, None, FAST_RETRY)
    with pytest.raises(e.MissingKey, match="FIREWORKS_API_KEY"):
        await run(backend)
    assert fireworks.requests == []
    # A key pasted for the session is used instead of the (missing) environment key.
    assert (await run(backend, key=FW_KEY)).outcomes[0].status == "ok"


async def test_connection_refused_is_retried_then_upstream_error(client):
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    backend = FireworksBackend(client, "http://127.0.0.1:9", FW_KEY, FAST_RETRY, sleep=sleep)
    assert isinstance((await run(backend)).outcomes[0].error, e.UpstreamError)
    assert len(waits) == 2  # three attempts: nothing was sent, so retrying cannot bill twice


async def test_a_reply_that_breaks_the_parser_fails_only_its_own_image(fw, fireworks, monkeypatch):
    import backends.fireworks as fwmod

    real = fwmod.parse_fireworks_reply
    calls = []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 2:
            raise AttributeError("'list' object has no attribute 'get'")
        return real(*args)

    monkeypatch.setattr(fwmod, "parse_fireworks_reply", flaky)
    statuses = sorted(o.status for o in (await run(fw, request(num_images=2))).outcomes)
    assert statuses == ["ok", "upstream"]


# --- AI/ML API -------------------------------------------------------------------------------
@pytest.fixture
def am(client, aiml):
    return AimlBackend(client, aiml.base_url, AIML_KEY, retry=FAST_RETRY)


@pytest.mark.parametrize("mode", ["default", "data201", "images_only", "b64"])
async def test_aiml_every_reply_shape_gives_the_exact_size(am, aiml, mode):
    aiml.mode = mode
    result = await run(am, request(width=512, height=768, num_images=2))
    assert [o.image.size for o in result.outcomes] == [(512, 768)] * 2
    assert sorted(o.seed for o in result.outcomes) == [1234, 1235]
    sent = posts(aiml)
    assert {r["body"]["model"] for r in sent} == {"flux/schnell"}
    assert all(r["body"]["num_images"] == 1 for r in sent)
    if mode in ("default", "images_only"):
        assert result.server_s is not None


async def test_aiml_image_download_sends_no_key(am, aiml):
    await run(am)
    gets = [r for r in aiml.requests if r["body"] is None]
    assert gets and all("Authorization" not in r["headers"] for r in gets)


async def test_aiml_refuses_plain_http_urls_on_other_hosts(am, aiml):
    aiml.mode = "offsite"
    err = (await run(am)).outcomes[0].error
    assert isinstance(err, e.NotAnImage) and "refused" in err.detail


async def test_aiml_nsfw_flag_means_filtered(am, aiml):
    aiml.mode = "filtered"
    assert (await run(am)).outcomes[0].status == "filtered"
    assert len(posts(aiml)) == 1


async def test_aiml_rejected_key_has_the_documented_message(client, aiml):
    backend = AimlBackend(client, aiml.base_url, "nope", retry=FAST_RETRY)
    err = (await run(backend)).outcomes[0].error
    assert isinstance(err, e.RejectedKey) and "valid API key" in err.detail


async def test_aiml_400_is_not_retried(am, aiml):
    aiml.mode = "400"
    err = (await run(am)).outcomes[0].error
    assert isinstance(err, e.BadRequest) and "Body validation error" in err.detail
    assert len(posts(aiml)) == 1


async def test_aiml_429_then_success(am, aiml):
    aiml.mode = "429then"
    assert (await run(am)).outcomes[0].status == "ok"
    assert len(posts(aiml)) == 2


async def test_aiml_500_and_timeout(am, aiml):
    aiml.mode = "500"
    assert isinstance((await run(am)).outcomes[0].error, e.UpstreamError)
    assert len(posts(aiml)) == 3
    aiml.reset()
    aiml.mode = "timeout"
    assert isinstance((await run(am)).outcomes[0].error, e.Timeout)


async def test_aiml_url_that_is_not_an_image(am, aiml):
    aiml.mode = "notimage"
    assert isinstance((await run(am)).outcomes[0].error, e.NotAnImage)
