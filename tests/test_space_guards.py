"""A public Space's guards, unit by unit: who the visitor is, one allowance, the daily budget on disk,
redaction of every key shape, and inputs bounded before any work."""

from __future__ import annotations

import base64
import gc
import tracemalloc
from dataclasses import dataclass, field

import pytest

from backends import BackendRun, GenerationRequest, ImageOutcome
from backends.redact import MASK, scrub, shown, using
from backends.types import MAX_PROMPT_CHARS
from config import PageOptions, load
from runs.grid.plan import GridError, parse_axis
from runs.result import BackendResult
from spend.allowance import Allowance, Refused, plan_spend, visitor_of
from spend.ledger import Ledger
from tests.helpers import Clock, leaks

FW = "fw-Secret-7f3a9c21d0e4b5a6"


@dataclass
class Req:
    """A request as Gradio hands it over, behind the Space's proxy: the forged entry first, the proxy's last."""

    forwarded: str = ""
    host: str = "10.16.3.80"  # the proxy's own socket
    username: str | None = None
    session: dict = field(default_factory=dict)

    @property
    def headers(self) -> dict:
        return {"x-forwarded-for": self.forwarded} if self.forwarded else {}

    @property
    def client(self):
        return type("C", (), {"host": self.host})


@dataclass
class Hosted:
    id: str = "fireworks"
    key_env: str | None = "FIREWORKS_API_KEY"


LOCAL = Hosted("local", None)


def behind_proxy(real: str, forged: str) -> Req:
    return Req(forwarded=f"{forged}, {real}")


def spend(n: int, keys: dict | None = None):
    return plan_spend([(Hosted(), 4)] * n, keys or {})


# ---- who the visitor is ---------------------------------------------------------------------


def test_forged_first_entries_rotate_but_the_visitor_is_the_proxy_entry():
    allowance = Allowance(PageOptions(rate_limit_per_min=3, behind_proxy=True), clock=Clock())
    for i in range(3):
        allowance.take(behind_proxy("198.51.100.7", f"203.0.113.{i}"), spend(1))
    with pytest.raises(Refused, match="try again in 60 s"):
        allowance.take(behind_proxy("198.51.100.7", "203.0.113.99"), spend(1))
    allowance.take(behind_proxy("198.51.100.8", "203.0.113.99"), spend(1))  # another visitor still may


def test_a_signed_in_visitor_is_counted_by_account_with_its_own_larger_limit():
    options = PageOptions(rate_limit_per_min=1, rate_limit_signed_in=3, behind_proxy=True)
    allowance = Allowance(options, clock=Clock())
    with pytest.raises(Refused, match="Sign in with Hugging Face for 3 a minute"):
        allowance.take(behind_proxy("198.51.100.7", "x"), spend(2))
    oauth = {"oauth_info": {"userinfo": {"preferred_username": "ada"}, "expires_at": None}}
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):  # one account from three addresses
        allowance.take(Req(forwarded=address, session=oauth), spend(1))
    with pytest.raises(Refused):
        allowance.take(Req(forwarded="198.51.100.4", session=oauth), spend(1))
    assert visitor_of(Req(username="bob"), 1) == ("account:bob", True)
    expired = {"oauth_info": {"userinfo": {"preferred_username": "ada"}, "expires_at": 1}}
    assert visitor_of(Req(forwarded="a, b", session=expired), 1) == ("addr:b", False)


def test_a_pasted_key_and_the_local_gpu_spend_no_allowance():
    allowance = Allowance(PageOptions(rate_limit_per_min=1), clock=Clock())
    for _ in range(5):
        allowance.take(Req(), spend(2, {"fireworks": "mine"}))
        allowance.take(Req(), plan_spend([(LOCAL, 4)] * 4, {}))
    allowance.take(Req(), spend(1))


# ---- the daily budget, on disk ------------------------------------------------------------------


def billed_run(n: int, ok: int, steps: int = 4) -> BackendRun:
    from PIL import Image

    from backends.errors import UpstreamError

    made = [ImageOutcome(i, i + 1, image=Image.new("RGB", (8, 8))) for i in range(ok)]
    failed = [ImageOutcome(i, i + 1, error=UpstreamError("down")) for i in range(ok, n)]
    return BackendRun("fireworks", "Fireworks", made + failed, received={"num_inference_steps": steps})


def test_the_budget_stops_at_the_right_image_across_a_restart_and_failures_are_refunded(tmp_path):
    path = tmp_path / "spend.sqlite3"
    options = PageOptions(daily_budget_usd=0.0042)  # three 4-step Fireworks images at 0.0014
    allowance = Allowance(options, Ledger(path, 0.0042), clock=Clock())
    ticket = allowance.take(Req(), spend(2))
    allowance.settle(ticket, [BackendResult.of_run(billed_run(2, ok=1))])  # one failed: refunded
    allowance.ledger.close()
    again = Allowance(options, Ledger(path, 0.0042), clock=Clock())  # a restart
    assert again.ledger.spent_usd() == pytest.approx(0.0014)
    assert "0.0028" in again.budget_line()
    again.take(Req(), spend(2))  # images 2 and 3
    with pytest.raises(Refused, match="daily budget .* is spent.*Paste your own key.*00:00 UTC") as refused:
        again.take(Req(), spend(1))  # image 4
    assert refused.value.retry_after_s > 0
    again.take(Req(), spend(3, {"fireworks": "pasted"}))  # a pasted key still works
    other_day = Ledger(path, 0.0042, today=lambda: "2999-01-01")
    assert other_day.spent_usd() == 0


def test_a_visitors_daily_images_are_capped_and_a_refusal_gives_the_minute_back(tmp_path):
    allowance = Allowance(PageOptions(rate_limit_per_min=10), Ledger(tmp_path / "s.db", None, 3), clock=Clock())
    allowance.take(Req(), spend(3))
    with pytest.raises(Refused, match="3 images a day"):
        allowance.take(Req(), spend(1))
    assert sum(n for _, n in allowance.anonymous._spent["addr:10.16.3.80"]) == 3


# ---- redaction ----------------------------------------------------------------------------


def blob(offset: int, urlsafe: bool = False) -> str:
    raw = b"x" * offset + f'{{"key": "{FW}"}}'.encode() + b"tail"
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


ECHOES = {
    "whole": f"invalid key {FW}",
    "upper": f"INVALID KEY {FW.upper()}",
    "cut_after_14": f"token {FW[:14]}",
    "inside_url": f"https://cdn.example/img/{FW}/a.png?sig=1",
    **{f"base64_offset_{o}": f"payload {blob(o)}" for o in range(3)},
    **{f"urlsafe_offset_{o}": f"payload {blob(o, True)}" for o in range(3)},
    "bare_base64": base64.b64encode(FW.encode()).decode(),
}


@pytest.mark.parametrize("shape", ECHOES)
def test_scrub_removes_every_echo_shape(shape):
    text = ECHOES[shape]
    assert leaks(text, FW)  # the table holds real echoes
    assert not leaks(scrub(text, [FW]), FW) and MASK in scrub(text, [FW])


def test_redaction_comes_before_the_cut():
    with using(FW):
        cut = shown("x" * 20 + FW, 30)
        from backends.errors import UpstreamError

        err = UpstreamError("y" * 290 + " " + FW)
    assert not leaks(cut, FW) and not leaks(err.detail, FW)


# ---- inputs bounded before work -------------------------------------------------------------


def test_grid_amplification_is_refused_before_any_prompt_is_built():
    prompt = "a" * MAX_PROMPT_CHARS
    value = "b" * 244_000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    with pytest.raises(GridError) as refused:
        parse_axis("prompt", f"a, {value}", prompt=prompt)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak  # was +953 MB: 4,000 × "a" each replaced by 244 KB
    assert len(str(refused.value)) < 300
    with pytest.raises(GridError, match="makes a .*-character prompt"):
        parse_axis("prompt", "a, " + "b" * 10, prompt="a" * 1990)
    parse_axis("prompt", "a, bb", prompt="a cat")


def test_prompts_are_capped_at_2000_characters():
    GenerationRequest(prompt="x" * MAX_PROMPT_CHARS)
    with pytest.raises(ValueError, match="limit is 2000"):
        GenerationRequest(prompt="x" * (MAX_PROMPT_CHARS + 1))


def test_space_defaults_and_settings_from_the_environment(tmp_path):
    space = load({"SPACE_ID": "me/flux", "SPEND_LEDGER_PATH": str(tmp_path / "s.db")}).page
    assert (space.trusted_proxy_hops, space.rate_limit_per_min, space.signed_in_limit) == (1, 20, 20)
    assert (space.visitor_daily_images, space.daily_budget_usd, space.ledger_path) == (
        200,
        None,
        str(tmp_path / "s.db"),
    )
    tuned = load(
        {"SPACE_ID": "x", "TRUSTED_PROXY_HOPS": "2", "RATE_LIMIT_PER_MIN_SIGNED_IN": "60", "DAILY_BUDGET_USD": "5"}
    ).page
    assert (tuned.trusted_proxy_hops, tuned.signed_in_limit, tuned.daily_budget_usd) == (2, 60, 5.0)
    for name, bad in (("TRUSTED_PROXY_HOPS", "-1"), ("VISITOR_DAILY_IMAGES", "lots"), ("DAILY_BUDGET_USD", "nan")):
        with pytest.raises(ValueError, match=name):
            load({name: bad})


def test_the_sign_in_button_shows_only_where_the_space_has_oauth():
    assert not load({"SPACE_ID": "a/b"}).page.sign_in  # a Space without hf_oauth: no button
    assert not load({"OAUTH_CLIENT_ID": "x"}).page.sign_in  # not a Space
    assert load({"SPACE_ID": "a/b", "OAUTH_CLIENT_ID": "x"}).page.sign_in  # hf_oauth: true
