"""The page's handlers and helpers, each called alone (no browser): rate limit, options, inputs, progress."""

from __future__ import annotations

import json
import logging

import gradio as gr
import pytest
from PIL import Image

from backends import BackendRun, GenerationRequest, ImageOutcome, Progress
from backends.types import BackendStatus
from config import load
from runs.history import HistoryEntry
from runs.records import caption, plural
from runs.scoreboard import Scoreboard
from runs.session import RunState, export_run
from spend.allowance import plan_spend, visitor_of
from spend.ratelimit import RateLimiter
from tests.helpers import Clock
from ui.page.handlers import (
    Context,
    clamp_warning,
    on_restore,
    on_same_size,
    on_size_change,
    pick_ab_pair,
    reuse,
)
from ui.page.progress import column_status, skipped_status
from ui.page.texts import default_ticked

SKIP = gr.skip()


def test_rate_limit_counts_images_per_client_in_a_sliding_minute_and_names_the_wait():
    clock = Clock()
    limiter = RateLimiter(5, clock=clock)
    assert limiter.take("a", 4) == 0
    assert limiter.take("b", 5) == 0  # another client has its own minute
    clock.now += 10
    assert limiter.take("a", 2) == pytest.approx(50.0)  # the first 4 leave the window at t+60
    assert limiter.take("a", 1) == 0  # a refused request spent nothing
    clock.now += 50
    assert limiter.take("a", 4) == 0
    assert limiter.take("a", 6) == float("inf")  # can never fit in a minute
    assert RateLimiter(0, clock=clock).take("a", 1000) == 0  # 0 = off
    with pytest.raises(ValueError):
        RateLimiter(-1)


def test_rate_limit_memory_stays_bounded_for_many_clients():
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    for i in range(5000):
        limiter.take(f"10.0.{i // 256}.{i % 256}", 1)
    clock.now += 61
    limiter.take("late", 1)
    assert len(limiter._spent) <= 4097


def test_page_options_from_the_environment():
    local = load({}).page  # local: everything allowed, no limit, the socket's address
    assert (local.local_settings_editable, local.rate_limit_per_min, local.trusted_proxy_hops) == (True, 0, 0)
    assert (local.visitor_daily_images, local.daily_budget_usd, local.needs_ledger) == (0, None, False)
    space = load({"SPACE_ID": "me/flux"}).page
    assert (space.local_settings_editable, space.rate_limit_per_min, space.behind_proxy) == (False, 20, True)
    opened = load({"SPACE_ID": "me/flux", "ALLOW_LOCAL_SETTINGS": "1", "RATE_LIMIT_PER_MIN": "0"}).page
    assert (opened.local_settings_editable, opened.rate_limit_per_min) == (True, 0)
    assert load({"RATE_LIMIT_PER_MIN": "7"}).page.rate_limit_per_min == 7
    for bad in ("abc", "-3", "2.5"):
        with pytest.raises(ValueError, match="RATE_LIMIT_PER_MIN"):
            load({"RATE_LIMIT_PER_MIN": bad})


def test_clamp_report_becomes_one_message_naming_value_and_range():
    note = json.dumps([{"label": "Steps", "value": "20", "min": "1", "max": "12", "now": "12"}])
    assert clamp_warning(note) == (
        "Nothing was sent: Steps 20 is outside 1–12; the box now shows 12. Check it and press Generate again."
    )
    assert clamp_warning("") is None and clamp_warning("not json") is None and clamp_warning('{"a": 1}') is None
    assert len(clamp_warning(json.dumps([{"label": "x" * 1_000, "value": 1}]))) < 200  # client input is cut
    assert clamp_warning(json.dumps([{"label": "x" * 10_000}])) is None  # past the limit: not read at all


def test_size_handler_writes_width_and_height_only_when_it_snaps():
    # Without `Same size everywhere` only the ratio changes: a late reply can't reset a typed size.
    assert on_size_change(1280, 720, False) == ("Custom", SKIP, SKIP)
    assert on_size_change(1344, 768, False) == ("16:9", SKIP, SKIP)
    assert on_size_change(1280, 720, True) == ("16:9", 1344, 768)
    assert on_size_change(1344, 768, True) == ("16:9", SKIP, SKIP)
    ratio, w, h = on_same_size(True, 1280, 720)
    assert (ratio.value, w, h) == ("16:9", 1344, 768)


def test_column_status_ticks_and_shows_a_step_bar():
    text = column_status("Local FP8", started=10.0, run=None, progress=Progress("local", "step 3/12", 0.25), now=11.5)
    assert "Running · 1.5 s · step 3/12" in text and 'aria-valuenow="25"' in text and "width:25%" in text
    assert "waiting for the first image" in column_status("Fireworks", 10.0, None, None, now=10.2)
    done = BackendRun("fireworks", "Fireworks", [ImageOutcome(0, 1, image=Image.new("RGB", (2, 2)))], wall_s=0.84)
    assert "done in 0.8 s" in column_status("Fireworks", 10.0, done, None)
    assert "<b>" not in skipped_status("<b>", "needs a key")  # escaped


def test_ratios_are_in_a_natural_order():
    from runs.form import RATIO_CHOICES

    assert RATIO_CHOICES == [
        "1:1", "5:4", "4:3", "3:2", "16:9", "21:9", "4:5", "3:4", "2:3", "9:16", "9:21", "Custom"
    ]  # fmt: skip


def test_one_step_and_many_steps():
    assert plural(1, "step") == "1 step" and plural(4, "step") == "4 steps"
    outcome = ImageOutcome(0, 7, image=Image.new("RGB", (64, 32)), latency_s=0.5)
    assert caption("Fireworks", outcome, 1) == "Fireworks · seed 7 · 64×32 · 1 step · 0.50 s"


def entry(backend: str, seed: int) -> HistoryEntry:
    return HistoryEntry(path=f"/tmp/{backend}-{seed}.png", caption=f"{backend} · seed {seed}", params={"seed": seed})


def test_ab_default_is_two_backends_at_the_same_seed():
    state = RunState(GenerationRequest("p"))
    state.entries = {"local": [entry("local", 5)], "fireworks": [entry("fireworks", 4), entry("fireworks", 5)]}
    assert pick_ab_pair(state) == ("local · seed 5", "fireworks · seed 5")
    state.entries = {"fireworks": [entry("fireworks", 4), entry("fireworks", 5)], "aiml": []}
    assert pick_ab_pair(state) == ("fireworks · seed 4", "fireworks · seed 5")
    state.entries = {"fireworks": [entry("fireworks", 4)]}
    assert pick_ab_pair(state) == (None, None)


def test_scoreboard_times_are_per_image_and_the_plot_gets_every_backend():
    board = Scoreboard()
    outcomes = [ImageOutcome(i, i, image=Image.new("RGB", (2, 2)), latency_s=lat) for i, lat in enumerate([1, 2, 9])]
    board.record(BackendRun("aiml", "AI/ML API", outcomes, wall_s=9.5))
    # Median of images, not the run's wall time; the AI/ML price is unset by default.
    assert board.rows() == [["AI/ML API", 1, 3, 0, 0, 0, 2, 9, "price not set", "price not set"]]
    assert board.plot_frame().to_dict("records") == [{"backend": "AI/ML API", "median_s": 2}]


class FakeBackend:
    def __init__(self, id_, ready=True, key_env=None):
        self.id, self.label, self.key_env = id_, id_.title(), key_env
        self._ready = ready

    def status(self, keys=None):
        return BackendStatus(self._ready or bool((keys or {}).get(self.id)), "ready" if self._ready else "needs a key")


def test_default_ticks_only_ready_backends():
    # Green means ticked: Local too (its status line says what its first run costs).
    assert default_ticked({"local": FakeBackend("local"), "fireworks": FakeBackend("fireworks")}) == [
        "local",
        "fireworks",
    ]
    assert default_ticked({"local": FakeBackend("local"), "aiml": FakeBackend("aiml", ready=False)}) == ["local"]
    assert default_ticked({"fireworks": FakeBackend("fireworks", ready=False)}) == []


def test_server_key_images_count_only_hosted_backends_without_a_pasted_key():
    chosen = [FakeBackend("local"), FakeBackend("fireworks", key_env="K"), FakeBackend("aiml", key_env="A")]
    four_each = [(b, 4) for b in chosen for _ in range(4)]
    assert plan_spend(four_each, {}).images == 8
    assert plan_spend(four_each, {"aiml": "mine"}).images == 4


def test_the_visitor_is_the_entry_the_trusted_proxy_appended_counted_from_the_right():
    class Req:
        headers = {"x-forwarded-for": "198.51.100.77, 203.0.113.9, 10.0.0.1"}  # forged first, the proxy's last
        username = None

        class client:  # noqa: N801
            host = "10.16.3.80"

    assert visitor_of(Req(), proxy_hops=1)[0] == "addr:10.0.0.1"
    assert visitor_of(Req(), proxy_hops=2)[0] == "addr:203.0.113.9"
    assert visitor_of(Req(), proxy_hops=0)[0] == "addr:10.16.3.80"
    assert visitor_of(Req(), proxy_hops=4)[0] == "addr:10.16.3.80"  # fewer entries than hops: the socket, as ProxyFix
    assert visitor_of(None, proxy_hops=1)[0] == "unknown"


@pytest.fixture
def warnings_shown(monkeypatch):
    shown = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: shown.append(message))
    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: shown.append(("info", message)))
    return shown


@pytest.mark.parametrize(
    "parser",
    [
        lambda path: None,
        lambda path: (_ for _ in ()).throw(ValueError("crafted chunk")),  # a typed parser error
        lambda path: (_ for _ in ()).throw(MemoryError()),  # anything at all
        lambda path: {"prompt": "x", "backend": "aiml", "seed": -1},
        lambda path: {"prompt": "x", "width": "wide"},
    ],
)
def test_restore_gives_exactly_one_warning_and_changes_nothing(monkeypatch, warnings_shown, parser, caplog):
    monkeypatch.setattr(reuse, "read_params", parser)
    ctx = Context(page=None, backends={"aiml": FakeBackend("aiml")})
    with caplog.at_level(logging.INFO):
        result = on_restore(ctx, "/tmp/whatever.png", ["aiml"])
    assert result == (SKIP,) * reuse.FORM_SIZE
    assert len(warnings_shown) == 1 and "nothing was changed" in warnings_shown[0]
    assert "Traceback" not in caplog.text


def test_export_files_are_named_after_the_run_and_the_previous_ones_leave(tmp_path):
    state = RunState(GenerationRequest("p", seed=42))
    first = export_run(state, [], tmp_path, [])
    assert first[0].name.startswith("comparison-seed42-") and first[1].suffix == ".json"
    second = export_run(RunState(GenerationRequest("q", seed=43)), [], tmp_path, [])
    assert not first[0].exists() and not first[1].exists() and second[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([second[0].name, second[1].name])


def test_a_refused_run_logs_one_line_not_a_traceback(warnings_shown, caplog):
    from types import SimpleNamespace

    from ui.page.handlers import refuse

    ctx = Context(page=SimpleNamespace(summary="summary"), backends={})
    with caplog.at_level(logging.INFO, logger="ui.page.handlers"):
        out = refuse(ctx, "Nothing was sent: seed -5 is out of range")
    assert out == {"summary": SKIP}
    assert warnings_shown == ["Nothing was sent: seed -5 is out of range"]
    assert [r.getMessage() for r in caplog.records] == ["refused a run: Nothing was sent: seed -5 is out of range"]
    assert not any(r.exc_info for r in caplog.records)
