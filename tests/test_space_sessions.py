"""Memory that does not grow with visitors: a closed tab frees its session at once; live sessions are capped."""

from __future__ import annotations

import time

from config import load
from tests.helpers import generate, open_app, tick, wait_done
from ui.sessions import LiveSessions


def wait_for(condition, timeout_s: float = 30.0) -> bool:
    """Wait on state (never assert on timing): poll ``condition`` until true or the timeout."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_closing_the_tab_frees_its_session_files_and_state_at_once(browser, app):
    live = app.live_sessions
    before = set(live._live)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    open_app(page, app.url)
    assert wait_for(lambda: len(set(live._live) - before) == 1)
    (sess,) = [live._live[k] for k in set(live._live) - before]
    tick(page, "Fireworks")
    generate(page, "a lighthouse")
    wait_done(page)
    folder = sess.history.dir
    assert folder.exists() and sess.current is not None
    context.close()
    assert wait_for(lambda: id(sess) not in live._live), "the closed tab's session is still live"
    assert not folder.exists() and sess.current is None


def test_live_sessions_are_capped_and_the_oldest_is_closed(tmp_path):
    live = LiveSessions(cap=2)
    first = live.new()
    first.history.dir = tmp_path / "first"
    first.history.dir.mkdir()
    live.new()
    live.new()
    assert len(live) == 2 and id(first) not in live._live
    assert not first.history.dir.exists()


def test_session_limits_from_the_environment():
    limits = load({}).sessions
    assert (limits.max_sessions, limits.ttl_s) == (2000, 6 * 3600)
    limits = load({"MAX_SESSIONS": "50", "SESSION_TTL_S": "600"}).sessions
    assert (limits.max_sessions, limits.ttl_s) == (50, 600)
    live = LiveSessions.from_limits(limits)
    assert (live.cap, live.ttl_s) == (50, 600)
