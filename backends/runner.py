"""Send one request to several backends at once and report each as it finishes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from backends.errors import BackendError, Cancelled, UpstreamError
from backends.types import Backend, BackendRun, GenerationRequest, ImageOutcome, Progress, RunContext

log = logging.getLogger(__name__)


def failed_run(backend: Backend, request: GenerationRequest, error: BackendError) -> BackendRun:
    """A run in which every image asked for failed with ``error``."""
    received, notes = backend.describe(request)
    outcomes = [ImageOutcome(i, request.image_seed(i), error=error) for i in range(request.num_images)]
    return BackendRun(backend.id, backend.label, outcomes, received=received, notes=notes)


async def run_one(backend: Backend, request: GenerationRequest, ctx: RunContext) -> BackendRun:
    """One backend's run, timed, with every failure turned into per-image outcomes."""
    started = time.perf_counter()
    try:
        run = await backend.generate(request, ctx)
    except BackendError as err:
        run = failed_run(backend, request, err)
    except Exception as err:  # a bug in one backend must not sink the others
        log.exception("backend %s failed unexpectedly", backend.id)
        run = failed_run(backend, request, UpstreamError(f"internal error: {type(err).__name__}"))
    run.wall_s = time.perf_counter() - started
    return run


async def run_backends(
    request: GenerationRequest,
    backends: Sequence[Backend],
    contexts: Mapping[str, RunContext] | None = None,
    cancel: threading.Event | None = None,
) -> AsyncIterator[Progress | BackendRun]:
    """Run ``request`` (seed already fixed) on every backend concurrently.

    Yields ``Progress`` events as backends report them and each ``BackendRun`` as soon
    as that backend is done, so a slow or failing backend never holds back the others.
    Setting ``cancel`` ends every backend still running with a ``Cancelled`` outcome (the
    local backend also stops its GPU loop after the current step). If the consumer stops
    early, the remaining backends are cancelled.
    """
    if request.seed == 0:
        raise ValueError("fix the seed with request.with_seed() first, so every backend gets the same one")
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    queue: asyncio.Queue[Progress | BackendRun] = asyncio.Queue()
    contexts = contexts or {}

    def reporter(backend_id: str):
        def report(message: str, fraction: float | None = None) -> None:
            event = Progress(backend_id, message, fraction)
            if threading.get_ident() == loop_thread:
                queue.put_nowait(event)
            else:  # the local GPU call reports from a worker thread
                loop.call_soon_threadsafe(queue.put_nowait, event)

        return report

    cancel = cancel or threading.Event()
    # Set when this run ends for any reason (e.g. the browser went away), so a GPU job still
    # queued or running for it stops instead of finishing for nobody.
    over = threading.Event()

    def is_cancelled() -> bool:
        return cancel.is_set() or over.is_set()

    async def run_and_queue(backend: Backend) -> None:
        base = contexts.get(backend.id) or RunContext()
        ctx = dataclasses.replace(base, on_progress=reporter(backend.id), is_cancelled=is_cancelled)
        started = time.perf_counter()
        try:
            run = await run_one(backend, request, ctx)
        except asyncio.CancelledError:
            if not cancel.is_set():
                raise  # the consumer went away; nobody is listening
            run = failed_run(backend, request, Cancelled("cancelled"))
            run.wall_s = time.perf_counter() - started
        queue.put_nowait(run)

    async def watch_cancel() -> None:
        # A threading.Event, because Cancel may be pressed from another thread; polling is cheap.
        while not cancel.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()

    tasks = [asyncio.create_task(run_and_queue(b)) for b in backends]
    watcher = asyncio.create_task(watch_cancel())
    remaining = len(tasks)
    try:
        while remaining:
            event = await queue.get()
            if isinstance(event, BackendRun):
                remaining -= 1
            yield event
    finally:
        over.set()
        watcher.cancel()
        for task in tasks:
            task.cancel()
