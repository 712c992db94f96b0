"""A sent request is spent, through the running app: a call cancelled once its request reached the API,
or stopped by HTTP_DEADLINE_S, is charged to the visitor's day and the daily budget; a call whose request
never reached the API is refunded. The loopback fake holds its replies so the cancel lands mid-call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from gradio_client import Client

from config import PageOptions
from spend.ledger import Ledger
from tests.conftest import app_config, app_settings, free_port
from tests.helpers import posts

PRICE = 0.0014  # one 4-step Fireworks image
KW = dict(prompt="a lighthouse", backends=["fireworks"], width=256, height=256, seed=5)


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Wait until ``ready()`` (the app's or the fake's state), failing with ``what`` after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Running:
    """The app on a free port, with a spy on its one allowance that counts settled tickets."""

    def __init__(self, fireworks, aiml, tiny_model, tmp_path, options: PageOptions, **settings) -> None:
        from app import create_app
        from ui import LAUNCH_OPTIONS

        app = create_app(app_config(app_settings(fireworks, aiml, tiny_model, **settings), options))
        self.demo = app.demo
        self.allowance = next(
            fn.fn.__self__.allowance
            for fn in self.demo.fns.values()
            if hasattr(getattr(fn.fn, "__self__", None), "allowance")
        )
        self.settled = 0
        self._lock = threading.Lock()
        settle = self.allowance.settle

        def spy(ticket, runs=()):
            settle(ticket, runs)
            with self._lock:
                self.settled += 1

        self.allowance.settle = spy
        port = free_port()
        self.demo.launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS
        )
        self.url = f"http://127.0.0.1:{port}/"
        self.ledger = Ledger(options.ledger_path)  # a second reader of the same file, as after a restart

    def client(self, visitor: str) -> Client:
        return Client(self.url, headers={"X-Forwarded-For": visitor}, verbose=False)

    def cancel_once_sent(self, client: Client, fake) -> None:
        """Start a /generate call, cancel it as soon as the fake has its request, and wait until it is settled."""
        before, settled = len(posts(fake)), self.settled
        job = client.submit(**KW, api_name="/generate")
        wait_for("the fake to receive the request", lambda: len(posts(fake)) > before)
        job.cancel()
        wait_for("the cancelled call to be settled", lambda: self.settled > settled)

    def close(self) -> None:
        self.ledger.close()
        self.demo.close()


@pytest.fixture
def held(fireworks, aiml, tiny_model, tmp_path):
    """Two images a day per visitor, a budget of three images, replies held 3 s."""
    options = PageOptions(
        behind_proxy=True, visitor_daily_images=2, daily_budget_usd=3 * PRICE, ledger_path=str(tmp_path / "s.db")
    )
    running = Running(fireworks, aiml, tiny_model, tmp_path, options)
    fireworks.delay_s = 3.0
    yield running
    running.close()


def test_calls_cancelled_after_their_request_reached_the_api_are_charged(held, fireworks):
    visitor = held.client("198.51.100.40")
    for _ in range(2):
        held.cancel_once_sent(visitor, fireworks)
    spent = held.ledger.spent_usd()
    assert spent == pytest.approx(2 * PRICE), f"2 cancelled calls reached the API; the ledger holds ${spent:.4f}"
    assert held.ledger.images_of("addr:198.51.100.40") == 2
    with pytest.raises(Exception, match=r"2 images a day per visitor"):
        visitor.predict(**KW, api_name="/generate")
    other = held.client("198.51.100.41")  # the daily budget counts the same way
    held.cancel_once_sent(other, fireworks)
    with pytest.raises(Exception, match=r"daily budget on its keys \(0.0042 USD\) is spent"):
        other.predict(**KW, api_name="/generate")
    assert len(posts(fireworks)) == 3, f"{len(posts(fireworks))} requests reached the API on a 3-image budget"


def test_a_call_whose_request_never_reached_the_api_is_refunded(fireworks, aiml, tiny_model, tmp_path):
    options = PageOptions(behind_proxy=True, visitor_daily_images=1, ledger_path=str(tmp_path / "s.db"))
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: every attempt fails to connect
    running = Running(fireworks, aiml, tiny_model, tmp_path, options, fireworks_base_url=nowhere)
    try:
        visitor = running.client("198.51.100.50")
        result = visitor.predict(**KW, api_name="/generate")
        assert result[1][0]["status"] != "ok"
        wait_for("the call to be settled", lambda: running.settled >= 1)
        used = running.ledger.images_of("addr:198.51.100.50")
        assert used == 0, f"a request that never reached the API left {used} image(s) charged"
    finally:
        running.close()


def test_a_call_past_the_deadline_is_charged(fireworks, aiml, tiny_model, tmp_path):
    options = PageOptions(behind_proxy=True, visitor_daily_images=1, ledger_path=str(tmp_path / "s.db"))
    running = Running(fireworks, aiml, tiny_model, tmp_path, options, http_deadline_s=1.0)
    fireworks.delay_s = 3.0  # the API runs it; the app stops waiting after 1 s
    try:
        visitor = running.client("198.51.100.60")
        result = visitor.predict(**KW, api_name="/generate")
        assert result[1][0]["status"] == "timeout", result[1][0]
        wait_for("the call to be settled", lambda: running.settled >= 1)
        used = running.ledger.images_of("addr:198.51.100.60")
        assert used == 1, f"a request the API received and ran past HTTP_DEADLINE_S left {used} image(s) charged"
        with pytest.raises(Exception, match=r"1 images a day per visitor"):
            visitor.predict(**KW, api_name="/generate")
        assert len(posts(fireworks)) == 1
    finally:
        running.close()
