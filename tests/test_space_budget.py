"""DAILY_BUDGET_USD through the running app: it stops at the right image, and a restart does not reset it."""

from __future__ import annotations

import pytest
from gradio_client import Client

from config import PageOptions
from tests.conftest import app_config, app_settings, free_port
from tests.helpers import posts

BUDGET = 0.0042  # three 4-step Fireworks images at 0.0014 USD


def start(fireworks, aiml, tiny_model, ledger):
    from app import create_app
    from ui import LAUNCH_OPTIONS

    options = PageOptions(behind_proxy=True, daily_budget_usd=BUDGET, ledger_path=str(ledger))
    app = create_app(app_config(app_settings(fireworks, aiml, tiny_model), options))
    demo, backends = app.demo, app.backends
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    return demo, backends, f"http://127.0.0.1:{port}/"


def one_image(url: str, visitor: str):
    client = Client(url, headers={"X-Forwarded-For": visitor}, verbose=False)
    kw = dict(prompt="a lighthouse", backends=["fireworks"], width=256, height=256, seed=5)
    return client.predict(**kw, api_name="/generate")


def test_the_budget_stops_at_the_right_image_across_a_restart(fireworks, aiml, tiny_model, tmp_path):
    ledger = tmp_path / "spend.sqlite3"
    demo, backends, url = start(fireworks, aiml, tiny_model, ledger)
    try:
        one_image(url, "198.51.100.30")
        one_image(url, "198.51.100.31")  # other visitors spend the same budget
    finally:
        demo.close()
    demo, backends, url = start(fireworks, aiml, tiny_model, ledger)  # a restart
    try:
        one_image(url, "198.51.100.32")  # the third image
        with pytest.raises(Exception, match=r"daily budget on its keys \(0.0042 USD\) is spent.*00:00 UTC"):
            one_image(url, "198.51.100.33")
        assert len(posts(fireworks)) == 3
        from ui.page.handlers import status_text

        ctx = type("Ctx", (), {"allowance": _allowance(demo), "backends": backends})
        assert "$0.0000** of $0.0042 left" in status_text(ctx, "", "")
    finally:
        demo.close()


def _allowance(demo):
    """The allowance the app's handlers share (the page's Context holds it)."""
    for fn in demo.fns.values():
        ctx = getattr(fn.fn, "__self__", None)
        if ctx is not None and hasattr(ctx, "allowance"):
            return ctx.allowance
    raise AssertionError("no handler holds the allowance")
