"""Public deployment limits: upload cap, bounded queue, login, deadline setting."""

from __future__ import annotations

import httpx
import pytest

from app import create_app, launch_options, parse_auth, queue_max_size
from backends import Settings
from backends.http import DEADLINE_S

MB = 1024 * 1024


def test_uploads_over_10_mb_are_refused_before_any_handler(app):
    small = httpx.post(app.url + "gradio_api/upload", files={"files": ("a.png", b"\x89PNG" + b"\0" * 1000)})
    assert small.status_code == 200
    big = httpx.post(app.url + "gradio_api/upload", files={"files": ("b.png", b"\x89PNG" + b"\0" * (11 * MB))})
    assert big.status_code == 413


def test_the_upload_cap_can_be_changed():
    assert launch_options({})["max_file_size"] == "10mb"
    assert launch_options({"MAX_UPLOAD_MB": "25"})["max_file_size"] == "25mb"
    with pytest.raises(SystemExit, match="MAX_UPLOAD_MB"):
        launch_options({"MAX_UPLOAD_MB": "lots"})


def test_the_queue_is_bounded(fireworks, aiml):
    settings = Settings(fireworks_base_url=fireworks.base_url, aiml_base_url=aiml.base_url)
    assert queue_max_size({}) == 64 and queue_max_size({"QUEUE_MAX_SIZE": "8"}) == 8
    with pytest.raises(SystemExit):
        queue_max_size({"QUEUE_MAX_SIZE": "0"})
    demo, _ = create_app(settings, max_queue=5)
    assert demo._queue.max_size == 5
    demo, _ = create_app(settings)
    assert demo._queue.max_size == 64


def test_login_from_flag_or_environment():
    assert "auth" not in launch_options({})
    assert launch_options({"APP_AUTH": "ann:s3cret"})["auth"] == [("ann", "s3cret")]
    assert launch_options({}, auth="bob:pw:with:colons")["auth"] == [("bob", "pw:with:colons")]
    assert parse_auth("a:1, b:2") == [("a", "1"), ("b", "2")]
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(SystemExit, match="user:password"):
            parse_auth(bad)


def test_deadline_setting():
    assert Settings.from_env({}).http_deadline_s == DEADLINE_S == 180
    assert Settings.from_env({"HTTP_DEADLINE_S": "30"}).http_deadline_s == 30
    backends = __import__("backends").build_backends(Settings.from_env({"HTTP_DEADLINE_S": "30"}), httpx.AsyncClient())
    assert backends["fireworks"].deadline_s == backends["aiml"].deadline_s == 30
    for bad in ("soon", "0", "-5", "nan"):
        with pytest.raises(ValueError, match="HTTP_DEADLINE_S"):
            Settings.from_env({"HTTP_DEADLINE_S": bad})
