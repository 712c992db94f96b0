"""README promises of a Space's defaults and the memory limits, read the way the app reads them
(config.load, create_app, the shared HTTP bound, a session's History): issue 29, items 11, 23, 25, 26, 32."""

from __future__ import annotations

from pathlib import Path

import config
from backends.http import IN_FLIGHT
from config import load
from runs.history import History
from tests.conftest import app_config


# --- item 11: the ledger's default place on a Space with /data ----------------------------------------
def test_the_default_ledger_is_under_data_on_a_space_with_persistent_storage(monkeypatch):
    real = Path.is_dir
    monkeypatch.setattr(config.Path, "is_dir", lambda self: str(self) == "/data" or real(self))
    assert load({"SPACE_ID": "me/space"}).page.ledger_path == "/data/flux-playground/spend.sqlite3"
    assert load({}).page.ledger_path == str(config.APP_DIR / "data" / "spend.sqlite3")  # not on a Space
    assert load({"SPACE_ID": "me/space", "SPEND_LEDGER_PATH": "/x/l.sqlite3"}).page.ledger_path == "/x/l.sqlite3"


def test_without_data_a_space_keeps_its_ledger_beside_the_app(monkeypatch):
    real = Path.is_dir
    monkeypatch.setattr(config.Path, "is_dir", lambda self: str(self) != "/data" and real(self))
    assert load({"SPACE_ID": "me/space"}).page.ledger_path == str(config.APP_DIR / "data" / "spend.sqlite3")


# --- item 23: SESSION_TTL_S and MAX_SESSIONS as the page uses them --------------------------------------
def test_session_limits_from_the_environment_reach_the_pages_sessions(fireworks, aiml, tiny_model):
    from app import create_app
    from tests.conftest import app_settings

    settings = load({"SESSION_TTL_S": "90", "MAX_SESSIONS": "3"})
    app = create_app(app_config(app_settings(fireworks, aiml, tiny_model), sessions=settings.sessions))
    try:
        assert (app.live_sessions.cap, app.live_sessions.ttl_s) == (3, 90)
    finally:
        app.demo.close()


# --- item 25: the default in-flight bound is 256 MB -------------------------------------------------------
def test_the_shared_in_flight_bound_is_256_mb():
    mb256 = 256 * 1024 * 1024
    assert IN_FLIGHT.take(mb256)  # the whole bound can be held…
    try:
        assert not IN_FLIGHT.take(1)  # …and not a byte more
    finally:
        IN_FLIGHT.give(mb256)
    assert IN_FLIGHT.used == 0


# --- item 26: UPLOADS_PER_MIN on a Space -------------------------------------------------------------------
def test_uploads_per_min_is_10_on_a_space_and_off_elsewhere():
    assert load({"SPACE_ID": "me/space"}).launch.uploads_per_min == 10
    assert load({}).launch.uploads_per_min == 0
    assert load({"SPACE_ID": "me/space", "UPLOADS_PER_MIN": "0"}).launch.uploads_per_min == 0


# --- item 32: the history keeps 96 images ------------------------------------------------------------------
def test_a_sessions_history_keeps_the_newest_96_images_and_deletes_the_rest(tmp_path):
    history = History(root=tmp_path)
    entries = [history.add(_image(i), f"#{i}", {"seed": i}) for i in range(97)]
    assert len(history.entries) == 96
    assert [e.params["seed"] for e in history.entries][-1] == 1 and not entries[0].path.exists()
    assert all(e.path.exists() for e in entries[1:])


def _image(i: int):
    from PIL import Image

    return Image.new("RGB", (8, 8), (i, 0, 0))
