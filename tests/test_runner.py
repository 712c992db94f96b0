"""The runner: concurrency, isolation of failures, cancel — with in-memory backends."""

from __future__ import annotations

import asyncio
import threading

from PIL import Image

from backends import Backend, BackendRun, GenerationRequest, ImageOutcome, Progress, RunContext, run_backends
from backends import errors as e


class Scripted(Backend):
    """A backend that waits for an asyncio.Event the test controls, then succeeds or fails."""

    honours_guidance = False

    def __init__(self, id_: str, gate: asyncio.Event | None = None, fail: e.BackendError | None = None):
        self.id, self.label = id_, id_.title()
        self.gate, self.fail = gate, fail

    def describe(self, request):
        return {"seed": request.seed}, [f"{request.width}×{request.height}"]

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        ctx.on_progress("working", 0.5)
        if self.gate:
            await self.gate.wait()
        if self.fail:
            raise self.fail
        img = Image.new("RGB", (request.width, request.height))
        outcomes = [ImageOutcome(i, request.image_seed(i), image=img) for i in range(request.num_images)]
        return BackendRun(self.id, self.label, outcomes)


REQ = GenerationRequest("x", 64, 64, seed=10, num_images=2)


async def collect(events):
    return [ev async for ev in events]


async def test_each_backend_is_reported_as_soon_as_it_finishes():
    gate = asyncio.Event()
    events = run_backends(REQ, [Scripted("slow", gate), Scripted("fast")])
    done = []
    async for ev in events:
        if isinstance(ev, BackendRun):
            done.append(ev.backend)
            gate.set()  # the slow one may only finish after the fast one was reported
    assert done == ["fast", "slow"]


async def test_one_failure_stays_with_its_backend():
    runs = [
        ev
        for ev in await collect(run_backends(REQ, [Scripted("bad", fail=e.RateLimited("slow down")), Scripted("ok")]))
        if isinstance(ev, BackendRun)
    ]
    by_id = {r.backend: r for r in runs}
    assert [o.status for o in by_id["bad"].outcomes] == ["rate_limited", "rate_limited"]
    assert [o.seed for o in by_id["bad"].outcomes] == [10, 11]
    assert [o.status for o in by_id["ok"].outcomes] == ["ok", "ok"]


async def test_a_crashing_backend_does_not_sink_the_run():
    class Broken(Scripted):
        async def generate(self, request, ctx):
            raise ZeroDivisionError

    runs = [
        ev for ev in await collect(run_backends(REQ, [Broken("broken"), Scripted("ok")])) if isinstance(ev, BackendRun)
    ]
    statuses = {r.backend: r.outcomes[0].status for r in runs}
    assert statuses == {"broken": "upstream", "ok": "ok"}


async def test_progress_is_forwarded():
    events = await collect(run_backends(REQ, [Scripted("a")]))
    assert any(isinstance(ev, Progress) and ev.backend == "a" and ev.message == "working" for ev in events)


async def test_cancel_ends_running_backends_with_cancelled():
    cancel = threading.Event()
    never = asyncio.Event()
    statuses = {}
    async for ev in run_backends(REQ, [Scripted("stuck", never), Scripted("quick")], cancel=cancel):
        if isinstance(ev, BackendRun):
            statuses[ev.backend] = ev.outcomes[0].status
            cancel.set()
    assert statuses == {"quick": "ok", "stuck": "cancelled"}


async def test_seed_must_be_fixed_before_running():
    import pytest

    with pytest.raises(ValueError, match="with_seed"):
        await collect(run_backends(GenerationRequest("x", 64, 64, seed=0), [Scripted("a")]))


async def test_when_the_listener_goes_away_backends_are_told_to_stop():
    seen = {}

    class Watching(Scripted):
        async def generate(self, request, ctx):
            seen["ctx"] = ctx
            ctx.on_progress("started", None)
            await asyncio.Event().wait()  # never finishes by itself

    events = run_backends(REQ, [Watching("gpu")])
    async for _ in events:
        break  # the browser tab closed
    await events.aclose()
    assert seen["ctx"].is_cancelled()  # a GPU job would now stop after its current step
