"""Bytes, not pixels: the hosted path never blocks the event loop, and sessions keep paths, not images."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import linecache
import logging
import sys
import threading
import time
import traceback
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import FrameType, SimpleNamespace

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from backends import GenerationRequest
from backends.aiml import AimlBackend
from backends.fireworks import FireworksBackend
from backends.http import make_client
from backends.types import Backend, BackendRun, ImageOutcome, RunContext
from runs.history import History
from runs.session import Session
from tests.fakes.servers import FakeAiml, FakeFireworks, photo_like_png
from ui.api.endpoints import register_api
from ui.page import handlers as events

SLOW_S = 0.010  # the bound: nothing on the event loop for longer than this
KEY = "loop-test-key"


REPO = Path(__file__).resolve().parents[1]
# The product's own code: a frame from these files on the loop thread's stack is our work (or our wait).
PACKAGES = ("app.py", "config.py", "backends", "runs", "spend", "library", "images", "ui", "serving")
PRODUCT = tuple(str(REPO / name) for name in PACKAGES)


# asyncio's debug mode records a stack for every handle and future it makes; that costs more the more
# files earlier tests left in linecache (it stats each one), so it is the measure's cost, not ours.
BOOKKEEPING = (asyncio.format_helpers.__file__, traceback.__file__, linecache.__file__)


def ours(frame: FrameType | None) -> str | None:
    """'here' when the innermost Python frame is the product's own (its line is running, or a C call it
    made: a ``time.sleep``, a sync write), 'below' when the product called into code that is running
    now (a decode, a parse), None when it is not on the stack or the stack is asyncio's bookkeeping."""
    where = "here"
    while frame is not None:
        name = frame.f_code.co_filename
        if name in BOOKKEEPING:
            return None
        if name.startswith(PRODUCT):
            return where
        where = "below"
        frame = frame.f_back
    return None


def our_share(start: tuple[float, float, str | None], end: tuple[float, float, str | None]) -> float:
    """The seconds of one interval between samples that were our code's, judged by where it was at the end."""
    if end[2] == "here":
        return end[0] - start[0]
    return end[1] - start[1] if end[2] == "below" else 0.0


class SlowCallbacks(logging.Handler):
    """asyncio's debug-mode 'Executing <callback> took 0.012 seconds' warnings, each with the time the
    product's own code spent on the loop in that callback.

    A wall-time threshold alone fails for reasons that are not this code's: asyncio's own debug
    bookkeeping (slower the more files earlier tests left in linecache), Gradio's post-processing in
    the test's task, other jobs on a shared machine, worker threads holding the GIL. So a sampler thread
    reads the loop thread's stack and CPU clock every half millisecond and counts, per callback, the wall
    time in which the product's own line was the innermost frame (a ``time.sleep``, a sync write in our
    code) plus the loop thread's CPU time in code our code called (a decode on the loop): a wait for the
    CPU or the GIL inside a library is not counted, a block of ours is.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[tuple[str, float]] = []  # (asyncio's message, seconds with our code on the stack)
        self._ours_s = 0.0
        self._running = False
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):
            self.seen.append((message[:300], self._ours_s))

    @contextlib.contextmanager
    def timing_callbacks(self) -> Iterator[None]:
        """Sample the loop thread while each callback runs; its product time is ready before asyncio logs it."""
        original = asyncio.events.Handle._run
        loop_thread = threading.get_ident()
        handler, done = self, threading.Event()
        cpu_clock = time.pthread_getcpuclockid(loop_thread)
        samples: list[tuple[float, float, str | None]] = []  # (wall, loop-thread CPU, where our code was)

        def sample() -> None:
            while not done.is_set():
                frame = sys._current_frames().get(loop_thread)
                now, cpu = time.perf_counter(), time.clock_gettime(cpu_clock)
                with handler._lock:
                    if handler._running:
                        samples.append((now, cpu, ours(frame)))
                del frame
                time.sleep(0.0005)

        def run(handle: asyncio.events.Handle) -> None:
            with handler._lock:
                samples.clear()
                handler._running = True
                started = (time.perf_counter(), time.thread_time(), None)
            try:
                original(handle)
            finally:
                with handler._lock:
                    handler._running = False
                    marks = [started, *samples, (time.perf_counter(), time.thread_time(), None)]
                handler._ours_s = sum(our_share(a, b) for a, b in itertools.pairwise(marks))

        sampler = threading.Thread(target=sample, daemon=True)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)  # the sampler gets the GIL promptly, and so does the loop
        asyncio.events.Handle._run = run
        sampler.start()
        try:
            yield
        finally:
            asyncio.events.Handle._run = original
            done.set()
            sampler.join()
            sys.setswitchinterval(switch)

    def blocking(self, threshold_s: float) -> list[str]:
        """The slow callbacks in which our own code held the loop longer than ``threshold_s``."""
        return [f"{message} (our code {s * 1000:.1f} ms)" for message, s in self.seen if s > threshold_s]


@pytest.fixture(scope="module")
def photo_fakes() -> Iterator[tuple[FakeFireworks, FakeAiml]]:
    """Fakes of their own serving photo-like 1024² PNGs (~2 MB each), as FLUX's are."""
    photos = [photo_like_png(1024, 1024, seed) for seed in range(4)]
    fakes = (FakeFireworks(), FakeAiml())
    for fake in fakes:
        fake.valid_key = KEY
        fake.photos = photos
        fake.start()
    yield fakes
    for fake in fakes:
        fake.stop()


def hosted_backends(fw: FakeFireworks, aiml: FakeAiml) -> dict[str, Backend]:
    client = make_client(10.0)
    return {"fireworks": FireworksBackend(client, fw.base_url, KEY), "aiml": AimlBackend(client, aiml.base_url, KEY)}


def callbacks_over_threshold(call: Callable[[], Awaitable]) -> tuple[object, SlowCallbacks]:
    """Run ``call`` once to warm up (first imports and connections are one-off costs, not the path's),
    then again in asyncio's debug mode with a 10 ms slow-callback threshold; one loop throughout, since
    the backends' HTTP client is bound to it."""

    async def measured() -> object:
        await call()
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = SLOW_S
        # Earlier tests' garbage is not this path's work: collected before, and no collection pauses a
        # callback while it is timed (a full collection after a long suite takes tens of ms, wherever it lands).
        gc.collect()
        gc.disable()
        loop.set_debug(True)
        try:
            return await call()
        finally:
            loop.set_debug(False)
            gc.enable()

    slow = SlowCallbacks()
    logging.getLogger("asyncio").addHandler(slow)
    try:
        with slow.timing_callbacks():
            result = asyncio.run(measured())
    finally:
        logging.getLogger("asyncio").removeHandler(slow)
    return result, slow


def blocking_in_every_attempt(measure: Callable[[], tuple[object, SlowCallbacks]], attempts: int = 3) -> list[str]:
    """Our code's callbacks over SLOW_S, measured up to ``attempts`` times; [] as soon as one attempt is clean.

    Code that blocks the loop blocks it at every attempt (a `time.sleep(0.05)` in the path fails all three),
    while a preemption by another process on a busy machine lands in one attempt, not in all of them.
    """
    blocked: list[str] = []
    for _ in range(attempts):
        _, slow = measure()
        blocked = slow.blocking(SLOW_S)
        if not blocked:
            return []
    return blocked


def test_generate_never_blocks_the_event_loop_over_10_ms(photo_fakes):
    with gr.Blocks() as demo:
        register_api(hosted_backends(*photo_fakes), [KEY])
    fn = next(f for f in demo.fns.values() if f.api_name == "generate")
    # /generate's inputs: prompt, backends, aspect ratio, width, height, steps, guidance, seed, images.
    inputs = ["a fox", ["fireworks", "aiml"], "Custom", 1024, 1024, 4, 3.5, 0, 4]
    # Through Gradio's own pre- and post-processing, as a queued call runs (its file handling included).
    result, slow = callbacks_over_threshold(lambda: demo.process_api(fn, inputs, state=SessionState(demo)))
    gallery, records = result["data"][0], result["data"][1]
    assert [r["status"] for r in records] == ["ok"] * 8 and len(gallery) == 8
    blocked = slow.blocking(SLOW_S) and blocking_in_every_attempt(
        lambda: callbacks_over_threshold(lambda: demo.process_api(fn, inputs, state=SessionState(demo)))
    )
    assert blocked == [], f"the event loop was blocked over {SLOW_S * 1000:.0f} ms in every attempt: {blocked}"
    # Slow callbacks outside our code (Gradio's, a collection, the machine's load) are counted with -s, not failed.
    print(f"{len(slow.seen)} callbacks over {SLOW_S * 1000:.0f} ms wall, none over it in our code")


def test_a_page_run_never_blocks_the_event_loop_over_10_ms(photo_fakes, tmp_path, monkeypatch):
    monkeypatch.setattr(gr, "Warning", lambda *a, **k: None)
    backends = hosted_backends(*photo_fakes)
    ctx = events.Context(page=fake_page(list(backends)), backends=backends)
    sess = Session(History(root=tmp_path))
    form = ["a fox", list(backends), "1:1", 1024, 1024, 4, 3.5, 0, 4, True, "", "", ""]

    async def page_run() -> list[dict]:
        return [update async for update in events.on_generate(ctx, sess, *form)]

    updates, slow = callbacks_over_threshold(page_run)
    assert len(updates[-1]["history"]) == 16  # both runs' images: it ran whole
    blocked = slow.blocking(SLOW_S) and blocking_in_every_attempt(lambda: callbacks_over_threshold(page_run))
    assert blocked == [], f"the event loop was blocked over {SLOW_S * 1000:.0f} ms in every attempt: {blocked}"
    print(f"{len(slow.seen)} callbacks over {SLOW_S * 1000:.0f} ms wall, none over it in our code")


class BytesBackend(Backend):
    """Four fresh 512² noise PNGs (~0.8 MB each) per run, as a hosted backend returns them."""

    id, label = "fake", "Fake"

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        from backends.imaging import read_image
        from tests.fakes.servers import photo_like_png as png

        images = [await asyncio.to_thread(read_image, png(512, 512, i)) for i in range(request.num_images)]
        outcomes = [ImageOutcome(i, request.image_seed(i), image=img, latency_s=0.1) for i, img in enumerate(images)]
        return BackendRun(self.id, self.label, outcomes, received={"num_inference_steps": 4})

    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        return {}, []


def test_a_session_keeps_paths_and_records_not_images(tmp_path):
    """A session's memory after a run, beyond its files: under 1 MB (four images' bytes are ~3 MB)."""
    request = GenerationRequest("a fox", width=512, height=512, num_images=4, seed=7)

    async def run(sess: Session) -> None:
        async for _state, _event in sess.run(request, [BytesBackend()], {}, []):
            pass

    asyncio.run(run(Session(History(root=tmp_path / "warm"))))  # imports and caches, outside the measure
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sess = Session(History(root=tmp_path / "measured"))
        asyncio.run(run(sess))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(sess.history.entries) == 4 and sess.current is not None
    assert kept < 1_000_000, f"the session holds {kept / 1e6:.2f} MB after a run"
    print(f"a session after a run of 4 images: {kept / 1e3:.0f} kB beyond its files")


class FailingBackend(BytesBackend):
    id, label = "broken", "Broken"

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        from backends.errors import UpstreamError

        outcomes = [
            ImageOutcome(i, request.image_seed(i), error=UpstreamError("down")) for i in range(request.num_images)
        ]
        return BackendRun(self.id, self.label, outcomes)


def fake_page(ids: list[str]) -> SimpleNamespace:
    """A Page whose components are their own names, so an update's keys say what it touches."""
    names = "summary results viewer viewer_caption details download_btn generate_btn cancel_btn timer history"
    names += " score_table score_plot sheet_file json_file status ab_a ab_b ab_slider ab_box export_box"
    page = SimpleNamespace(**{n: n for n in names.split()})
    for part in ("columns", "col_status", "col_md", "col_gallery"):
        setattr(page, part, {b: f"{part}:{b}" for b in ids})
    return page


def run_page(ctx: events.Context, sess: Session, ticked: list[str]) -> list[dict]:
    async def collect() -> list[dict]:
        form = ["a fox", ticked, "1:1", 512, 512, 4, 3.5, 7, 2, True, "", "", ""]
        return [update async for update in events.on_generate(ctx, sess, *form)]

    return asyncio.run(collect())


def test_streamed_events_carry_only_their_column_and_the_history_goes_only_when_it_changed(tmp_path, monkeypatch):
    monkeypatch.setattr(gr, "Warning", lambda *a, **k: None)
    backends = {"fake": BytesBackend(), "broken": FailingBackend()}
    ctx = events.Context(page=fake_page(list(backends)), backends=backends)
    sess = Session(History(root=tmp_path))
    _first, *streamed, final = run_page(ctx, sess, ["fake", "broken"])
    for update in streamed:
        columns = {k.split(":")[1] for k in update if ":" in k}
        assert len(columns) == 1, f"a streamed event touched {sorted(update)}"
        assert "history" not in update and "score_table" not in update
    assert len(final["history"]) == 2  # this run added two images
    *_, final = run_page(ctx, sess, ["broken"])  # no image: the history is unchanged, so it is not sent
    assert "history" not in final and "ab_slider" in final  # the A/B choices of the last run are cleared


def test_history_files_are_served_where_they_are_written(tmp_path):
    """Gradio neither copies nor hashes a history file: it is in a static path."""
    from gradio import processing_utils

    from ui.sessions import serve_history

    root = tmp_path / "served"
    serve_history(root)
    from backends.imaging import read_image

    entry = History(root=root).add(read_image(photo_like_png(64, 64, 1)), "cap", {"backend": "fake", "seed": 1})
    gallery = gr.Gallery()
    data = processing_utils.move_files_to_cache(
        gallery.postprocess([(str(entry.path), "cap")]), gallery, postprocess=True
    )
    assert data[0]["image"]["path"] == str(entry.path)  # not a copy in Gradio's cache
