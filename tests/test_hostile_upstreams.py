"""Hostile and broken upstreams against the loopback fakes: caps, deadlines, seeds, URLs, retries."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import httpcore
import httpx
import pytest

from backends import BackendRun, GenerationRequest, RunContext, run_backends
from backends import errors as e
from backends.aiml import AimlBackend
from backends.fireworks import FireworksBackend
from backends.http import RetryPolicy, make_client
from backends.urlguard import UrlPolicy
from tests.conftest import AIML_KEY, FW_KEY
from tests.helpers import Waits, posts

MB = 1024 * 1024


@pytest.fixture
async def client():
    c = make_client(read_timeout_s=5.0)
    yield c
    await c.aclose()


def request(**kw) -> GenerationRequest:
    base = dict(prompt="a lighthouse", width=1024, height=1024, seed=1234, num_images=1)
    base.update(kw)
    return GenerationRequest(**base)


def gets(fake) -> list[dict]:
    return [r for r in fake.requests if r["method"] == "GET"]


async def one(backend, req=None, key=None):
    run = await backend.generate(req or request(), RunContext(api_key=key))
    return run, run.outcomes[0]


def fw_backend(client, fireworks, waits=None, **kw):
    return FireworksBackend(client, fireworks.base_url, FW_KEY, sleep=waits or Waits(), **kw)


def aiml_backend(client, aiml, waits=None, **kw):
    return AimlBackend(client, aiml.base_url, AIML_KEY, sleep=waits or Waits(), **kw)


# --- size caps and memory -------------------------------------------------------------------
@pytest.mark.parametrize("declared", [False, True])
async def test_a_120_mb_image_reply_stops_at_the_cap_with_bounded_memory(client, fireworks, declared):
    fireworks.mode, fireworks.huge_declared = "huge", declared
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _, outcome = await one(fw_backend(client, fireworks))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(outcome.error, e.TooLarge) and "reply too large" in outcome.error.detail
    assert "40 MB" in outcome.error.detail
    assert peak - before < 100 * MB, f"peak rose by {(peak - before) / MB:.0f} MB"
    assert len(posts(fireworks)) == 1  # too large is final: not retried


async def test_a_huge_json_reply_stops_at_the_cap(client, aiml):
    aiml.mode = "huge"
    _, outcome = await one(aiml_backend(client, aiml))
    assert isinstance(outcome.error, e.TooLarge) and "reply too large" in outcome.error.detail


async def test_image_downloads_are_capped_at_25_mb(client, aiml):
    aiml.mode, aiml.huge_bytes = "huge_image", 30 * MB
    _, outcome = await one(aiml_backend(client, aiml))
    assert isinstance(outcome.error, e.TooLarge), outcome.error
    assert "25 MB" in outcome.error.detail


async def test_a_5_mb_error_message_is_cut(client, fireworks, aiml):
    fireworks.mode = aiml.mode = "huge_error"
    for backend in (fw_backend(client, fireworks), aiml_backend(client, aiml)):
        _, outcome = await one(backend)
        assert isinstance(outcome.error, e.BadRequest)
        assert outcome.error.detail.startswith("bad request blah") and len(outcome.error.detail) <= 310


# --- deadline ---------------------------------------------------------------------------------
async def test_a_trickled_reply_ends_at_the_deadline_and_the_other_backend_carries_on(client, fireworks, aiml):
    fireworks.mode, fireworks.trickle_s = "trickle", 0.2  # every read is quick: only a deadline ends it
    slow = fw_backend(client, fireworks, deadline_s=1.0)
    fine = aiml_backend(client, aiml, deadline_s=60.0)  # a loaded machine must not fail the good one
    runs = {}

    async def collect():
        async for event in run_backends(request(num_images=2), [slow, fine]):
            if isinstance(event, BackendRun):
                runs[event.backend] = event

    await asyncio.wait_for(collect(), 30)  # without a deadline this would never end: fail instead
    assert [o.status for o in runs["aiml"].outcomes] == ["ok", "ok"]
    errors = [o.error for o in runs["fireworks"].outcomes]
    assert all(isinstance(err, e.Timeout) and "did not finish in 1 s" in err.detail for err in errors)


async def test_a_trickled_image_download_ends_at_the_deadline(client, aiml):
    aiml.mode, aiml.trickle_s = "trickle", 0.2
    _, outcome = await asyncio.wait_for(one(aiml_backend(client, aiml, deadline_s=1.0)), 30)
    assert isinstance(outcome.error, e.Timeout) and "did not finish in 1 s" in outcome.error.detail


# --- seeds ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [2**64, -5, 1.5, "abc", [1], True])
@pytest.mark.parametrize("mode", ["default", "json"])
async def test_impossible_fireworks_seeds_keep_the_image_with_the_seed_sent_and_a_note(client, fireworks, value, mode):
    fireworks.mode, fireworks.bad_seed_value, fireworks.reply_json = "bad_seed", value, mode == "json"
    run, outcome = await one(fw_backend(client, fireworks))
    assert outcome.status == "ok" and outcome.seed == 1234 and outcome.reported_seed is None
    assert outcome.note and "not a valid seed" in outcome.note
    assert any("not a valid seed" in n for n in run.notes)


async def test_impossible_aiml_seed_and_a_good_one(client, aiml):
    aiml.mode, aiml.bad_seed_value = "bad_seed", 2**70
    run, outcome = await one(aiml_backend(client, aiml))
    assert outcome.status == "ok" and outcome.seed == 1234 and any("not a valid seed" in n for n in run.notes)
    aiml.bad_seed_value = 2**64 - 1  # the largest real seed is reported as such
    run, outcome = await one(aiml_backend(client, aiml))
    assert outcome.seed == 2**64 - 1 and outcome.reported_seed == 2**64 - 1 and outcome.note is None


# --- image URLs -------------------------------------------------------------------------------
async def test_an_https_url_naming_localhost_is_refused_by_its_resolved_address(client, aiml):
    aiml.mode = "https_loopback"
    _, outcome = await one(aiml_backend(client, aiml))
    assert isinstance(outcome.error, e.RefusedUrl)
    assert "resolves to a loopback address (127.0.0.1)" in outcome.error.detail
    assert gets(aiml) == []  # refused before connecting


async def test_same_origin_redirects_are_followed(client, aiml):
    aiml.mode = "redirect"
    _, outcome = await one(aiml_backend(client, aiml))
    assert outcome.status == "ok" and aiml.redirects == 1


async def test_redirect_targets_are_checked_again(client, aiml):
    # The test allowance lets loopback through the address check, so only the re-check of the
    # redirect's URL (http, off the API's origin) can stop this one.
    allow_loopback = UrlPolicy(allowed_addresses=frozenset({"127.0.0.1", "::1"}))
    aiml.mode = "redirect"
    aiml.redirect_to = aiml.base_url.replace("127.0.0.1", "localhost") + "/moved/{name}"  # another origin
    _, outcome = await one(aiml_backend(client, aiml, url_policy=allow_loopback))
    assert isinstance(outcome.error, e.RefusedUrl) and "not https" in outcome.error.detail
    assert aiml.redirects == 1 and not [r for r in gets(aiml) if "/moved/" in r["path"]]


async def test_a_redirect_to_an_https_loopback_name_is_refused_by_address(client, aiml):
    aiml.mode = "redirect"
    port = aiml.server.server_address[1]
    aiml.redirect_to = f"https://localhost:{port}/moved/x.png"
    _, outcome = await one(aiml_backend(client, aiml))
    assert isinstance(outcome.error, e.RefusedUrl) and "loopback" in outcome.error.detail


# --- retries ----------------------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", ["3", "7"])
async def test_retry_after_is_the_wait_given(client, fireworks, retry_after):
    fireworks.mode, fireworks.retry_after = "429then", retry_after
    waits = Waits()
    _, outcome = await one(fw_backend(client, fireworks, waits))
    assert outcome.status == "ok" and waits.given == [float(retry_after)]


async def test_a_429_without_retry_after_waits_a_sane_default(client, aiml):
    aiml.mode = "429bare"
    waits = Waits()
    _, outcome = await one(aiml_backend(client, aiml, waits))
    assert outcome.status == "ok" and len(waits.given) == 1 and 1.5 <= waits.given[0] <= 10


async def test_a_500_backs_off_exponentially(client, fireworks):
    fireworks.mode = "500"
    waits = Waits()
    _, outcome = await one(fw_backend(client, fireworks, waits, retry=RetryPolicy(base_delay_s=1.0)))
    assert isinstance(outcome.error, e.UpstreamError) and len(waits.given) == 2
    assert 0.75 <= waits.given[0] <= 1.25 and 1.5 <= waits.given[1] <= 2.5


async def test_unknown_finish_reasons_are_failures_and_not_retried(client, fireworks):
    fireworks.mode = "unknown_finish"
    for reason in ("ERROR", "PENDING", "QUEUED"):
        fireworks.finish_reason = reason
        _, outcome = await one(fw_backend(client, fireworks))
        assert isinstance(outcome.error, e.UpstreamError) and reason in outcome.error.detail
    assert len(posts(fireworks)) == 3


class _FailFirstWriteOnReuse(httpcore.AsyncNetworkBackend):
    """Connections whose second request fails at its first write, as when the server closed an
    idle keep-alive connection just before we reused it: nothing of that request reaches the server."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.injected = 0

    async def connect_tcp(self, *args, **kwargs):
        return _Stream(await self.inner.connect_tcp(*args, **kwargs), self)

    async def connect_unix_socket(self, *args, **kwargs):
        raise NotImplementedError

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner, backend) -> None:
        self.inner, self.backend = inner, backend
        self.requests_started, self.broken = 0, False
        self.reads_since_write = 0

    async def write(self, buffer, timeout=None):
        if buffer.startswith(b"POST ") or buffer.startswith(b"GET "):
            self.requests_started += 1
            if self.requests_started == 2:
                self.broken = True
                self.backend.injected += 1
                await self.inner.aclose()
                raise httpcore.WriteError("[Errno 32] Broken pipe")
        await self.inner.write(buffer, timeout)

    async def read(self, max_bytes, timeout=None):
        if self.broken:
            raise httpcore.ReadError("[Errno 104] Connection reset by peer")
        return await self.inner.read(max_bytes, timeout)

    async def aclose(self):
        await self.inner.aclose()

    async def start_tls(self, *args, **kwargs):
        return await self.inner.start_tls(*args, **kwargs)

    def get_extra_info(self, info):
        return self.inner.get_extra_info(info)


async def test_a_request_that_failed_on_a_reused_connection_before_it_was_written_is_retried(fireworks):
    faults = _FailFirstWriteOnReuse()
    async with make_client(read_timeout_s=5.0, network_backend=faults) as c:
        backend = fw_backend(c, fireworks)
        assert (await one(backend))[1].status == "ok"  # opens the connection
        _, outcome = await one(backend, request(seed=99))  # reuses it: the write fails, httpx says ReadError
    assert faults.injected == 1
    assert outcome.status == "ok" and outcome.seed == 99
    assert [r["body"]["seed"] for r in posts(fireworks)] == [1234, 99]  # each image asked for once


async def test_a_request_dropped_after_it_was_written_is_not_retried(client, fireworks):
    fireworks.mode = "drop_reused"
    backend = fw_backend(client, fireworks)
    assert (await one(backend))[1].status == "ok"
    _, outcome = await one(backend)  # the server read it, then hung up: it may have made (and billed) it
    assert isinstance(outcome.error, e.UpstreamError) and "not retried" in outcome.error.detail
    assert fireworks.dropped == 1 and len(posts(fireworks)) == 2


async def test_connect_errors_are_retried(client):
    waits = Waits()
    backend = FireworksBackend(client, "http://127.0.0.1:9", FW_KEY, sleep=waits)
    _, outcome = await one(backend)
    assert isinstance(outcome.error, e.UpstreamError) and "3 attempts" in outcome.error.detail
    assert len(waits.given) == 2


# --- keys and parameters ----------------------------------------------------------------------
async def test_a_pasted_key_wins_over_the_environment_key(client, fireworks, aiml):
    for fake, cls, good in ((fireworks, FireworksBackend, FW_KEY), (aiml, AimlBackend, AIML_KEY)):
        backend = cls(client, fake.base_url, "env-key-that-is-wrong", sleep=Waits())
        _, outcome = await one(backend, key=good)
        assert outcome.status == "ok"
        assert {r["headers"]["Authorization"] for r in posts(fake)} == {f"Bearer {good}"}


async def test_guidance_is_never_sent_to_the_aiml_api(client, aiml):
    await one(aiml_backend(client, aiml), request(guidance_scale=7.5, num_images=2))
    assert posts(aiml) and all("guidance_scale" not in r["body"] for r in posts(aiml))
    assert all(
        r["body"]["num_images"] == 1 and r["body"]["image_size"] == {"width": 1024, "height": 1024} for r in posts(aiml)
    )


async def test_the_images_of_one_backend_are_asked_for_at_once(client, fireworks, aiml):
    fireworks.delay_s = aiml.delay_s = 0.5
    await asyncio.gather(
        fw_backend(client, fireworks).generate(request(num_images=4), RunContext()),
        aiml_backend(client, aiml).generate(request(num_images=4), RunContext()),
    )
    assert fireworks.max_in_flight >= 3 and aiml.max_in_flight >= 3  # one after another would be 1


async def test_keys_echoed_in_errors_are_redacted_where_the_error_is_made(client, fireworks):
    fireworks.mode = "echo_key"
    _, outcome = await one(fw_backend(client, fireworks))
    # Redacted before the cut, by the backend that knows the key it used: no part of it stays.
    assert isinstance(outcome.error, e.BadRequest) and "•••" in outcome.error.detail
    assert FW_KEY[:8] not in outcome.error.detail


def test_aiml_fake_accepts_the_documented_string_presets():
    from tests.fakes.servers import AIML_PRESETS, FakeAiml

    fake = FakeAiml().start()
    try:
        for preset, size in AIML_PRESETS.items():
            body = {"model": "flux/schnell", "prompt": "p", "image_size": preset}
            reply = httpx.post(fake.base_url + "/images/generations", json=body, headers=_auth(fake))
            assert reply.status_code == 200, reply.text
            assert (reply.json()["images"][0]["width"], reply.json()["images"][0]["height"]) == size
        body = {"model": "flux/schnell", "prompt": "p", "image_size": "huge_hd"}
        reply = httpx.post(fake.base_url + "/images/generations", json=body, headers=_auth(fake))
        assert reply.status_code == 400 and "Invalid enum value" in reply.json()["message"]
    finally:
        fake.stop()


def _auth(fake) -> dict:
    return {"Authorization": f"Bearer {fake.valid_key}"}
