"""Estimated cost: prices from settings, per image and per run, in records, columns and the scoreboard."""

from __future__ import annotations

import pytest
from PIL import Image

from backends import BackendRun, GenerationRequest, ImageOutcome
from backends import errors as e
from backends.cost import FIREWORKS_PRICE_PER_STEP, Pricing, configure, current, image_cost, run_cost
from config import load
from runs.scoreboard import COLUMNS, Scoreboard
from runs.session import RunState, cost_line


@pytest.fixture(autouse=True)
def _default_pricing():
    before = current()
    configure(Pricing())
    yield
    configure(before)


def make_run(backend: str, statuses: list[str], steps: int = 4, latency: float | None = 0.5) -> BackendRun:
    outcomes = [
        ImageOutcome(
            i,
            100 + i,
            image=Image.new("RGB", (4, 4)) if s == "ok" else None,
            error=None if s == "ok" else (e.ContentFiltered() if s == "filtered" else e.UpstreamError("boom")),
            latency_s=latency,
        )
        for i, s in enumerate(statuses)
    ]
    received = {"num_inference_steps": steps} if backend == "fireworks" else {}
    return BackendRun(backend, backend.title(), outcomes, wall_s=1.0, received=received)


def test_prices_come_from_the_environment():
    assert load({}).backends.pricing == Pricing(fireworks_per_step=0.00035, aiml_per_image=None)
    assert FIREWORKS_PRICE_PER_STEP == 0.00035
    p = load({"FIREWORKS_PRICE_PER_STEP": "0.001", "AIML_PRICE_PER_IMAGE": "0.003"}).backends.pricing
    assert p == Pricing(fireworks_per_step=0.001, aiml_per_image=0.003)
    for bad in ("free", "-1", "nan"):
        with pytest.raises(ValueError, match="AIML_PRICE_PER_IMAGE"):
            load({"AIML_PRICE_PER_IMAGE": bad})


def test_per_image_figures():
    assert image_cost("fireworks", 4).usd == pytest.approx(0.0014)
    assert image_cost("fireworks", 4).text() == "$0.0014"
    assert image_cost("fireworks", 8).usd == pytest.approx(0.0028)
    assert image_cost("aiml", 4).text() == "price not set"
    assert image_cost("aiml", 4, pricing=Pricing(aiml_per_image=0.003)).text() == "$0.0030"
    assert image_cost("local", 4, latency_s=1.234).text() == "1.23 GPU-s"


def test_a_run_is_charged_for_images_made_only():
    each, total = run_cost(make_run("fireworks", ["ok", "filtered", "upstream"]), 4)
    assert each.usd == pytest.approx(0.0014) and total.usd == pytest.approx(0.0028)
    each, total = run_cost(make_run("local", ["ok", "ok"], latency=2.0), 4)  # one GPU job made both
    assert (each.gpu_s, total.gpu_s) == (1.0, 2.0)


def test_column_text_shows_cost_beside_latency():
    request = GenerationRequest(prompt="x", num_inference_steps=4, seed=1)
    assert cost_line(make_run("fireworks", ["ok", "ok"]), request) == "est. cost: **$0.0014**/image · $0.0028 this run"
    # One phrase naming the setting, not "price not set/image · price not set this run" (issue 18, item 11).
    assert cost_line(make_run("aiml", ["ok"]), request) == (
        "est. cost: unknown (no price set; set `AIML_PRICE_PER_IMAGE`)"
    )
    assert RunState(request).request is request


def test_scoreboard_has_cost_per_image_and_total():
    board = Scoreboard()
    board.record(make_run("fireworks", ["ok"], steps=4))
    board.record(make_run("fireworks", ["ok", "upstream"], steps=8))
    board.record(make_run("aiml", ["ok"]))
    board.record(make_run("local", ["ok", "ok"], latency=3.0))
    rows = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in board.rows()}
    assert rows["Fireworks"]["Cost total"] == "$0.0042" and rows["Fireworks"]["Cost/image"] == "$0.0021"
    assert rows["Aiml"]["Cost/image"] == "price not set"
    assert rows["Local"]["Cost total"] == "3.00 GPU-s" and rows["Local"]["Cost/image"] == "1.50 GPU-s"


def test_records_carry_the_figures():
    from backends import Backend
    from runs.result import BackendResult

    class Fw(Backend):
        id, label = "fireworks", "Fireworks"

        async def generate(self, request, ctx):  # pragma: no cover - not called
            raise NotImplementedError

        def describe(self, request):
            return {}, []

    request = GenerationRequest(prompt="x", num_inference_steps=4, seed=1)
    got = BackendResult.of(Fw(), request, make_run("fireworks", ["ok", "upstream"]), []).records
    assert got[0]["cost_usd"] == pytest.approx(0.0014) and got[0]["cost"] == "$0.0014"
    assert got[1]["cost_usd"] is None and got[1]["cost"] == "not billed"
