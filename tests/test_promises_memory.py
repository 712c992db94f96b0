"""Issue 29, item 24: closing a tab hands its memory back to the system: the session is freed and glibc's
malloc_trim runs (glibc keeps freed heap pages otherwise), through the page's own unload event."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

import ui.sessions
from tests.helpers import open_app
from tests.test_space_sessions import wait_for


def test_glibc_is_found_so_the_trim_really_runs_here():
    if not sys.platform.startswith("linux"):
        pytest.skip("malloc_trim is glibc's")
    assert ui.sessions._libc is not None and hasattr(ui.sessions._libc, "malloc_trim")


def test_closing_the_tab_trims_the_heap(browser, app, monkeypatch):
    trims: list[int] = []
    monkeypatch.setattr(ui.sessions, "_libc", SimpleNamespace(malloc_trim=trims.append))
    live = app.live_sessions
    before = set(live._live)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    open_app(page, app.url)
    assert wait_for(lambda: len(set(live._live) - before) == 1)
    (sess,) = [live._live[k] for k in set(live._live) - before]
    trims.clear()  # whatever other sessions did before; from here, only this tab's close
    context.close()
    assert wait_for(lambda: id(sess) not in live._live), "the closed tab's session is still live"
    # The trim follows the session's removal in the same call: wait for it, as for the removal.
    assert wait_for(lambda: trims == [0], 10), "the closed tab's memory was not handed back (malloc_trim not called)"
