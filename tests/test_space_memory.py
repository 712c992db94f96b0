"""Memory that does not grow with visitors: a global bound on reply bytes in flight."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from backends import GenerationRequest, RunContext, http
from backends import errors as e
from backends.fireworks import FireworksBackend
from backends.http import InFlight, make_client
from tests.conftest import FW_KEY

MB = 1024 * 1024


async def _no_wait(_: float) -> None:
    return None


async def test_32_concurrent_huge_replies_stay_under_the_global_bound(fireworks, monkeypatch):
    bound = InFlight(48 * MB)
    monkeypatch.setattr(http, "IN_FLIGHT", bound)
    fireworks.mode, fireworks.huge_bytes, fireworks.huge_declared = "huge", 12 * MB, False
    client = make_client(read_timeout_s=30.0)
    backend = FireworksBackend(client, fireworks.base_url, FW_KEY, sleep=_no_wait)
    request = GenerationRequest(prompt="a lighthouse", width=512, height=512, seed=7)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runs = await asyncio.gather(*(backend.generate(request, RunContext()) for _ in range(32)))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
        await client.aclose()
    errors = [run.outcomes[0].error for run in runs]
    busy = [err for err in errors if isinstance(err, e.Busy)]
    # Unbounded, 32 × 12 MB = 384 MB were held at once.
    assert bound.peak <= 48 * MB and bound.used == 0
    assert peak < 150 * MB, f"peak rose by {peak / MB:.0f} MB"
    assert busy and "busy" in busy[0].detail
    assert all(err is not None for err in errors)  # zeros are no image anyway


@pytest.mark.parametrize("n", [0])
def test_the_bound_is_given_back_after_a_failed_read(n):
    bound = InFlight(10)
    assert bound.take(6) and not bound.take(5)
    bound.give(6)
    assert bound.take(10) and bound.used == 10
