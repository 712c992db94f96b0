"""Public deployment limits: upload cap, bounded queue, login, deadline setting."""

from __future__ import annotations

import httpx
import pytest

from app import App, create_app, launch_options
from backends import Settings
from backends.http import DEADLINE_S
from config import LaunchSettings, load, parse_auth
from tests.conftest import app_config

MB = 1024 * 1024


def test_uploads_over_10_mb_are_refused_before_any_handler(app):
    small = httpx.post(app.url + "gradio_api/upload", files={"files": ("a.png", b"\x89PNG" + b"\0" * 1000)})
    assert small.status_code == 200
    big = httpx.post(app.url + "gradio_api/upload", files={"files": ("b.png", b"\x89PNG" + b"\0" * (11 * MB))})
    assert big.status_code == 413


def options_for(env: dict[str, str]) -> dict:
    """launch()'s keywords for an app configured by ``env``, without building the page."""
    return launch_options(App(None, {}, None, None, load(env)))


def test_the_upload_cap_can_be_changed():
    assert options_for({})["max_file_size"] == "10mb"
    assert options_for({"MAX_UPLOAD_MB": "25"})["max_file_size"] == "25mb"
    with pytest.raises(ValueError, match="MAX_UPLOAD_MB"):
        load({"MAX_UPLOAD_MB": "lots"})


def test_the_queue_is_bounded(fireworks, aiml):
    settings = Settings(fireworks_base_url=fireworks.base_url, aiml_base_url=aiml.base_url)
    assert load({}).launch.queue_max_size == 64 and load({"QUEUE_MAX_SIZE": "8"}).launch.queue_max_size == 8
    with pytest.raises(ValueError, match="QUEUE_MAX_SIZE"):
        load({"QUEUE_MAX_SIZE": "0"})
    demo = create_app(app_config(settings, launch=LaunchSettings(queue_max_size=5))).demo
    assert demo._queue.max_size == 5
    demo = create_app(app_config(settings)).demo
    assert demo._queue.max_size == 64


def test_login_from_flag_or_environment(monkeypatch):
    from app import read_settings

    assert "auth" not in options_for({})
    assert options_for({"APP_AUTH": "ann:s3cret"})["auth"] == [("ann", "s3cret")]
    monkeypatch.delenv("APP_AUTH", raising=False)
    assert read_settings(["--auth", "bob:pw:with:colons"]).launch.auth == (("bob", "pw:with:colons"),)
    monkeypatch.setenv("APP_AUTH", "ann:s3cret")
    assert read_settings(["--auth", "bob:pw"]).launch.auth == (("bob", "pw"),)  # the flag wins
    assert parse_auth("a:1, b:2") == (("a", "1"), ("b", "2"))
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(ValueError, match="user:password"):
            parse_auth(bad)
    with pytest.raises(SystemExit, match="Setting error: .*user:password"):
        read_settings(["--auth", "nopassword"])


def test_deadline_setting():
    assert load({}).backends.http_deadline_s == DEADLINE_S == 180
    assert load({"HTTP_DEADLINE_S": "30"}).backends.http_deadline_s == 30
    backends = __import__("backends").build_backends(load({"HTTP_DEADLINE_S": "30"}).backends, httpx.AsyncClient())
    assert backends["fireworks"].deadline_s == backends["aiml"].deadline_s == 30
    for bad in ("soon", "0", "-5", "nan"):
        with pytest.raises(ValueError, match="HTTP_DEADLINE_S"):
            load({"HTTP_DEADLINE_S": bad})
