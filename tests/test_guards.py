"""Guards for the newer promises (issue 20): the grid's cell cap, backend choice, billing and allowance,
the error-body cap, and the settings `python app.py` reads from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from backends import GenerationRequest, RunContext
from backends import errors as e
from backends.fireworks import FireworksBackend
from config import PageOptions
from runs.grid.plan import GridError, parse_axis, plan_cells
from runs.session import Session
from tests.conftest import AIML_KEY, FW_KEY, app_settings, free_port, launch

MB = 1024 * 1024
SMALL = {"width": 256, "height": 256}


def guidance_values(n: int) -> str:
    return ", ".join(str(v) for v in range(n))  # guidance 0..n-1: an axis with no range cap of its own


# --- 1. the cell cap, exactly --------------------------------------------------------------------
def test_a_grid_of_exactly_the_cell_limit_runs_and_one_more_is_refused(client, fireworks):
    _, records = client.predict(
        prompt="a fox",
        x_axis="guidance",
        x_values=guidance_values(16),
        backends=["fireworks"],
        **SMALL,
        api_name="/grid",
    )
    assert len(records) == 16 and {r["status"] for r in records} == {"ok"}
    fireworks.reset()
    with pytest.raises(Exception, match="17 cells is too many: the limit is 16"):
        client.predict(
            prompt="a fox",
            x_axis="guidance",
            x_values=guidance_values(17),
            backends=["fireworks"],
            **SMALL,
            api_name="/grid",
        )
    assert fireworks.requests == []


# --- 3. no backend axis and no backend ------------------------------------------------------------
def test_a_grid_with_no_backend_axis_and_no_backend_is_refused_saying_so():
    base = GenerationRequest(prompt="a fox", seed=42)
    with pytest.raises(GridError, match="no backend is chosen") as refused:
        plan_cells(base, [], parse_axis("seed", "1, 2"))
    assert "several" not in str(refused.value)


# --- the page's grid handler, called as the page calls it -----------------------------------------
def grid_handler(demo):
    """The function the page's "Make grid" button runs, and its inputs (found by elem_id, not by name)."""
    ids = {b._id for b in demo.blocks.values() if getattr(b, "elem_id", None) == "grid-btn"}
    for dep in demo.fns.values():
        if any(target[0] in ids for target in dep.targets):
            return dep.fn, dep.inputs
    raise AssertionError("no handler on #grid-btn")


async def press_make_grid(demo, **form) -> list[str]:
    """Run the page's grid handler with the page's defaults and ``form`` (by elem_id); return its warnings."""
    fn, inputs = grid_handler(demo)
    sess = Session()
    args = []
    for block in inputs:
        elem = getattr(block, "elem_id", None)
        if elem in form:
            args.append(form[elem])
        elif type(block).__name__ == "State":
            args.append(sess)
        else:
            args.append(getattr(block, "value", None))
    with warnings.catch_warnings(record=True) as seen:  # gr.Warning outside a request is a Python warning
        warnings.simplefilter("always")
        try:
            async for _ in fn(*args):
                pass
        finally:
            sess.close()
    return [str(w.message) for w in seen]


def test_the_pages_grid_with_nothing_ticked_says_to_tick_one_and_sends_nothing(fireworks, aiml, tiny_model):
    running = launch(app_settings(fireworks, aiml, tiny_model))
    try:
        form = {
            "prompt": "a fox",
            "grid-x-axis": "seed",
            "grid-x-values": "1, 2",
            "grid-y-axis": "",
            "backends": [],
            **SMALL,
        }
        # A bounded wait: a grid planned with no backend would wait for ever on its cells.
        said = asyncio.run(asyncio.wait_for(press_make_grid(running.demo, **form), 60))
    finally:
        running.demo.close()
    assert any("no backend is chosen" in s for s in said), said
    assert fireworks.requests == [] and aiml.requests == []


# --- 5. a grid spends one image of the allowance per cell -----------------------------------------
def test_a_16_cell_grid_on_one_backend_spends_16_images_of_the_allowance(fireworks, aiml, tiny_model):
    running = launch(app_settings(fireworks, aiml, tiny_model), PageOptions(rate_limit_per_min=20))
    form = {"prompt": "a fox", "grid-x-axis": "seed", "grid-y-axis": "", "backends": ["fireworks"], **SMALL}

    async def three_grids() -> list[tuple[list[str], int]]:  # one event loop, as in the app
        seen = []
        for values in ("1-16", "21-25", "21-24"):
            said = await press_make_grid(running.demo, **form, **{"grid-x-values": values})
            seen.append((said, len(fireworks.requests)))
        return seen

    try:
        first, second, third = asyncio.run(three_grids())
    finally:
        running.demo.close()
    assert not any("Nothing was sent" in s for s in first[0]) and first[1] == 16, first
    # 16 of 20 are spent: 5 more cells do not fit in this minute, 4 do.
    assert any("Nothing was sent" in s and "try again in" in s for s in second[0]) and second[1] == 16, second
    assert not any("Nothing was sent" in s for s in third[0]) and third[1] == 20, third


# --- 4. a failed cell is not billed on the grid image ----------------------------------------------
def test_a_failed_cells_caption_on_the_grid_image_says_not_billed(client, fireworks, monkeypatch):
    import runs.grid.run

    drawn: list = []
    real = runs.grid.run.grid_sheet

    def spy(*args, **kw):
        drawn.append(args[5])  # the cells, as they are drawn
        return real(*args, **kw)

    monkeypatch.setattr(runs.grid.run, "grid_sheet", spy)
    fireworks.mode = "400"
    _, records = client.predict(
        prompt="a fox", x_axis="backend", x_values="fireworks, aiml", seed=3, **SMALL, api_name="/grid"
    )
    assert [r["status"] for r in records] == ["bad_request", "ok"]
    assert records[0]["cost"] == "not billed" and records[0]["cost_usd"] is None
    failed, ok = drawn[0]
    assert failed.detail.endswith("· not billed") and "$" not in failed.detail, failed.detail
    assert failed.image is None and "rejected" in (failed.error or "")
    assert ok.image is not None and "not billed" not in ok.detail


# --- 7. an error body is read only up to its cap ---------------------------------------------------
class CountingBody(httpx.AsyncByteStream):
    """A 5 MB error body that counts how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def __aiter__(self):
        chunk = b'{"message": "bad request ' + b"blah " * (64 * 1024 // 5)
        while self.sent < self.size:
            self.sent += len(chunk)
            yield chunk
            chunk = b"blah " * (64 * 1024 // 5)


async def test_a_5_mb_error_body_is_read_only_up_to_its_cap():
    bodies: list[CountingBody] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(CountingBody(5 * MB))
        return httpx.Response(400, headers={"content-type": "application/json"}, stream=bodies[-1])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        backend = FireworksBackend(http, "https://fireworks.invalid/v1", FW_KEY)
        req = GenerationRequest(prompt="a fox", width=512, height=512, seed=1)
        run = await backend.generate(req, RunContext())
    outcome = run.outcomes[0]
    assert isinstance(outcome.error, e.BadRequest) and outcome.error.detail.startswith("bad request blah")
    assert len(bodies) == 1
    # The cap is 256 KB; reading stops within one chunk past it.
    assert bodies[0].sent <= 256 * 1024 + 128 * 1024, f"read {bodies[0].sent} bytes of a 5 MB error body"


# --- 2 and 6. `python app.py` reads its settings from the environment -----------------------------
@pytest.fixture(scope="module")
def served(fireworks, aiml, tmp_path_factory):
    """`python app.py` in its own process, configured only by the environment; yields its address."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "SPACES_ZERO_GPU", "RATE_LIMIT_PER_MIN")}
    env.update(
        FIREWORKS_API_KEY=FW_KEY,
        FIREWORKS_BASE_URL=fireworks.base_url,
        AIML_API_KEY=AIML_KEY,
        AIML_BASE_URL=aiml.base_url,
        FLUX_DEVICE="cpu",
        FLUX_MODEL=str(tmp_path_factory.mktemp("no-model")),  # never loaded: no test runs Local here
        GRID_MAX_CELLS="20",
        MAX_UPLOAD_MB="25",
        APP_AUTH="ann:pw",
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--no-mcp"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "playground: open http" in line:
                ready.set()
        ready.set()  # it ended

    threading.Thread(target=read, daemon=True).start()
    try:
        # The app says it is ready (or ends); this bound only keeps a broken start from hanging the suite.
        ready.wait(300)
        assert proc.poll() is None, "".join(lines)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def logged_in(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("login", data={"username": "ann", "password": "pw"}).status_code == 200
        yield http


def test_python_app_py_asks_for_the_login_from_app_auth(served):
    assert httpx.get(served + "config", timeout=60).status_code == 401
    assert httpx.post(served + "login", data={"username": "ann", "password": "no"}, timeout=60).status_code == 400
    with logged_in(served) as http:
        assert http.get("config").status_code == 200


def test_python_app_py_takes_its_upload_cap_from_max_upload_mb(served):
    with logged_in(served) as http:
        ok = http.post("gradio_api/upload", files={"files": ("a.png", b"\x89PNG" + b"\0" * (11 * MB))})
        assert ok.status_code == 200, ok.text  # over the default 10 MB, under the 25 MB set
        big = http.post("gradio_api/upload", files={"files": ("b.png", b"\x89PNG" + b"\0" * (26 * MB))})
        assert big.status_code == 413


def test_python_app_py_takes_its_grid_limit_from_grid_max_cells(served, fireworks):
    grid = Client(served, auth=("ann", "pw"), verbose=False)
    info = grid.view_api(print_info=False, return_format="dict")["named_endpoints"]["/grid"]
    assert "At most 20 cells" in info["description"]
    _, records = grid.predict(
        prompt="a fox",
        x_axis="guidance",
        x_values=guidance_values(17),
        backends=["fireworks"],
        **SMALL,
        api_name="/grid",
    )
    assert len(records) == 17 and {r["status"] for r in records} == {"ok"}
    with pytest.raises(Exception, match="21 cells is too many: the limit is 20"):
        grid.predict(prompt="a fox", x_axis="guidance", x_values=guidance_values(21), api_name="/grid")


# --- found by scripts/mutate.py: promises whose tests all pass their own policy or rng ----------------
def test_the_default_retry_policy_honours_retry_after_up_to_10_s(fireworks):
    from backends.http import make_client

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def once() -> str:
        http = make_client(read_timeout_s=5.0)
        try:
            run = await FireworksBackend(http, fireworks.base_url, FW_KEY, sleep=sleep).generate(
                GenerationRequest(prompt="a fox", width=512, height=512, seed=1), RunContext()
            )
        finally:
            await http.aclose()
        return run.outcomes[0].status

    fireworks.mode, fireworks.retry_after = "429then", "120"
    assert asyncio.run(once()) == "ok" and waits == [10.0]


def test_seed_zero_leaves_room_for_seed_plus_i_even_at_the_top_of_the_range():
    import random

    class Highest(random.Random):
        def randint(self, a: int, b: int) -> int:
            return b

    drawn = GenerationRequest(prompt="a fox", seed=0, num_images=4).with_seed(Highest())
    assert drawn.seed == 2**31 - 1 - 3 and drawn.image_seed(3) == 2**31 - 1
