"""config.load: every setting read once, with one set of parsers; nothing else reads the environment; and
`python app.py` merges its launch options (login, upload rate, OpenAI routes) instead of replacing them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import App, launch_options, merge_launch_options
from backends.local import zerogpu
from backends.local.compile_cache import default_root
from config import load
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVE_KEY = "serve-secret-0a1b2c3d4e5f"
MCP_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
PNG = b"\x89PNG" + b"\0" * 1000


# --- the parsers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"QUEUE_MAX_SIZE": "0"}, "QUEUE_MAX_SIZE must be a whole number of waiting runs, 1 or more; got '0'"),
        ({"MAX_UPLOAD_MB": "lots"}, "MAX_UPLOAD_MB must be a whole number of megabytes, 1 or more; got 'lots'"),
        ({"UPLOADS_PER_MIN": "-1"}, "UPLOADS_PER_MIN must be a whole number of uploads a minute, 0 or more"),
        ({"GRADIO_SERVER_PORT": "http"}, "GRADIO_SERVER_PORT must be a whole number, 1 or more; got 'http'"),
        ({"GRID_MAX_CELLS": "²"}, "GRID_MAX_CELLS must be a whole number of cells"),
        ({"SESSION_TTL_S": "1.5"}, "SESSION_TTL_S must be a whole number of seconds, 1 or more; got '1.5'"),
        ({"LIBRARY_TTL_DAYS": "nan"}, "LIBRARY_TTL_DAYS must be a number of days, 0 or more, e.g. 7; got 'nan'"),
        ({"HTTP_READ_TIMEOUT_S": "0"}, "HTTP_READ_TIMEOUT_S must be a number of seconds above 0"),
        ({"DAILY_BUDGET_USD": "-2"}, "DAILY_BUDGET_USD must be an amount in USD, 0 or more, e.g. 5; got '-2'"),
        ({"AIML_SAFETY_CHECKER": "maybe"}, "AIML_SAFETY_CHECKER must be 1, true or on (or 0, false, off); got"),
        ({"ALLOW_LOCAL_SETTINGS": "yes please"}, "ALLOW_LOCAL_SETTINGS must be 1, true or on"),
        ({"APP_AUTH": "ann"}, "APP_AUTH / --auth: use user:password"),
        ({"FLUX_OFFLOAD": "disk"}, "FLUX_OFFLOAD='disk': use one of auto, none, model, sequential"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_to_use(env, words):
    with pytest.raises(ValueError) as err:
        load(env)
    assert words in str(err.value)


def test_switches_read_the_usual_words_and_keep_their_defaults():
    assert load({}).backends.aiml_safety_checker is True
    for off in ("0", "false", "OFF", "no"):
        assert load({"AIML_SAFETY_CHECKER": off}).backends.aiml_safety_checker is False
    assert not load({"SPACE_ID": "a/b"}).page.local_settings_editable
    for on in ("1", "true", "On"):
        assert load({"SPACE_ID": "a/b", "ALLOW_LOCAL_SETTINGS": on}).page.local_settings_editable


def test_launch_settings_and_their_space_defaults():
    launch = load({}).launch
    assert (launch.host, launch.port, launch.queue_max_size, launch.max_upload_mb) == ("127.0.0.1", 7860, 64, None)
    assert (launch.auth, launch.uploads_per_min, launch.mcp) == (None, 0, True)
    assert load({"SPACE_ID": "a/b"}).launch.uploads_per_min == 10
    assert load({"SPACE_ID": "a/b", "UPLOADS_PER_MIN": "0"}).launch.uploads_per_min == 0
    tuned = load({"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080", "APP_AUTH": "a:1, b:2"}).launch
    assert (tuned.host, tuned.port, tuned.auth) == ("0.0.0.0", 8080, (("a", "1"), ("b", "2")))
    assert "a:1" not in repr(tuned) and "'1'" not in repr(tuned)  # passwords stay out of reprs


def test_zerogpu_and_the_compile_cache_come_from_the_settings(monkeypatch):
    assert not load({}).zerogpu and load({"SPACES_ZERO_GPU": "true"}).zerogpu
    assert load({}).backends.local.compile_cache == ""  # compile_cache.default_root(): ~/.cache/...
    assert load({"XDG_CACHE_HOME": "/cache"}).backends.local.compile_cache == str(default_root("/cache"))
    assert load({"XDG_CACHE_HOME": "/cache", "FLUX_COMPILE_CACHE": "off"}).backends.local.compile_cache == "off"

    decorated = []
    fake = types.SimpleNamespace(GPU=lambda fn, duration: decorated.append(fn) or (lambda *a: ("on GPU", fn(*a))))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setattr(zerogpu, "_GPU_CALLS", [])
    work = zerogpu.on_gpu(lambda x: x * 2)  # made at import, before the settings are read
    assert work(2) == 4 and decorated == []
    zerogpu.configure(True)  # create_app, before launch
    try:
        assert zerogpu.on_zerogpu() and work(2) == ("on GPU", 4) and len(decorated) == 1
        zerogpu.configure(True)
        assert len(decorated) == 1  # decorated once: `spaces.GPU` caches what it wraps
    finally:
        zerogpu.configure(False)
    assert not zerogpu.on_zerogpu() and work(2) == 4


# --- nothing else reads the environment ------------------------------------------------------------------
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
READERS = {"config.py", "app.py", "serving/cluster.py"}  # entry points: load(os.environ); app.py: SPACES_ZERO_GPU


def env_uses(source: str, filename: str = "") -> list[int]:
    """Lines that touch the environment through `os`; the inductor cache folder's assignment is allowed."""
    tree = ast.parse(source)
    allowed = set()
    if filename.endswith("compile_cache.py"):  # TORCHINDUCTOR_CACHE_DIR is how inductor is told
        for node in ast.walk(tree):
            for target in getattr(node, "targets", []):
                if (
                    isinstance(target, ast.Subscript)
                    and getattr(target.slice, "value", None) == "TORCHINDUCTOR_CACHE_DIR"
                ):
                    allowed.add(id(target.value))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES and id(node) not in allowed:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines += [node.lineno for alias in node.names if alias.name in ENV_NAMES]
    return sorted(lines)


def product_files() -> list[Path]:
    skip = {"tests", "scripts", "bench"}
    return [
        p
        for p in ROOT.rglob("*.py")
        if not (set(p.relative_to(ROOT).parts[:-1]) & skip or any(x.startswith(".") for x in p.relative_to(ROOT).parts))
    ]


def test_only_config_and_app_read_the_environment():
    assert env_uses("import os\nx = os.environ.get('A')\ny = os.getenv('B')\n") == [2, 3]
    assert env_uses("from os import environ\n") == [1]
    assert env_uses("import os\nos.environ['TORCHINDUCTOR_CACHE_DIR'] = 'x'\n", "compile_cache.py") == []
    assert env_uses("import os\nos.environ['OTHER'] = 'x'\n", "compile_cache.py") == [2]
    files = product_files()
    assert ROOT / "backends" / "local" / "compile_cache.py" in files and ROOT / "ui" / "demo.py" in files
    found = {
        str(p.relative_to(ROOT)): lines
        for p in files
        if p.relative_to(ROOT).as_posix() not in READERS and (lines := env_uses(p.read_text(), p.name))
    }
    assert found == {}, f"read config.load's settings instead: {found}"


# --- launch options are merged -------------------------------------------------------------------------
def test_launch_options_are_merged_never_replaced():
    gate, route = object(), object()
    merged = merge_launch_options(
        {"css": "x", "app_kwargs": {"middleware": [gate]}}, {"app_kwargs": {"routes": [route]}}, {}
    )
    assert merged == {"css": "x", "app_kwargs": {"middleware": [gate], "routes": [route]}}
    both = merge_launch_options({"app_kwargs": {"routes": [gate]}}, {"app_kwargs": {"routes": [route]}})
    assert both["app_kwargs"]["routes"] == [gate, route]
    with pytest.raises(ValueError, match="'auth' is set twice"):
        merge_launch_options({"auth": [("a", "1")]}, {"auth": [("b", "2")]})

    settings = load({"OPENAI_SERVE_KEY": SERVE_KEY, "APP_AUTH": "ann:pw", "UPLOADS_PER_MIN": "2"})
    options = launch_options(App(None, {"local": object()}, None, None, settings))
    assert options["auth"] == [("ann", "pw")]
    assert [m.cls.__name__ for m in options["app_kwargs"]["middleware"]] == ["GateMiddleware"]
    assert {r.path for r in options["app_kwargs"]["routes"]} >= {"/v1/models", "/v1/images/generations"}


@pytest.fixture(scope="module")
def served_app(tmp_path_factory) -> Iterator[str]:
    """`python app.py` with the OpenAI images routes, a login and an upload rate, all from the environment."""
    port = free_port()
    drop = ("SPACE_ID", "SPACES_ZERO_GPU", "RATE_LIMIT_PER_MIN", "MAX_UPLOAD_MB")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_API_KEY")}
    env.update(
        OPENAI_SERVE_KEY=SERVE_KEY,
        APP_AUTH="ann:pw",
        UPLOADS_PER_MIN="2",
        LIBRARY_DIR="off",
        FLUX_DEVICE="cpu",
        FLUX_MODEL=str(tmp_path_factory.mktemp("no-model")),  # never loaded: /v1/models needs no model
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "OpenAI images API" in line:  # main's last line before it blocks
                ready.set()
        ready.set()  # it ended

    threading.Thread(target=read, daemon=True).start()
    try:
        ready.wait(300)  # the app says it is ready (or ends); the bound only keeps a broken start from hanging
        assert proc.poll() is None, "".join(lines)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_mcp_needs_the_login_when_the_openai_routes_are_served(served_app):
    url = served_app + "gradio_api/mcp/"
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=MCP_INIT, headers=headers, timeout=60).status_code == 401
    logged_in = httpx.post(url, json=MCP_INIT, headers=headers, auth=("ann", "pw"), timeout=60)
    assert logged_in.status_code == 200 and "serverInfo" in logged_in.text


def test_every_mcp_route_needs_the_login_not_only_its_root(served_app):
    """Issue 29 item 3: Gradio mounts MCP's SSE stream, its ``messages/`` and its ``schema`` beside the root."""
    mcp = served_app + "gradio_api/mcp/"
    with httpx.Client(timeout=60) as http:
        # Read the status only: a stream let through would not end.
        with http.stream("GET", mcp + "sse", headers={"Accept": "text/event-stream"}) as sse:
            assert sse.status_code == 401
        assert http.post(mcp + "messages/?session_id=0" + "0" * 31, json=MCP_INIT).status_code == 401
        assert http.get(mcp + "schema").status_code == 401
        # The same routes are there for a logged-in caller: the 401s above are the login's, not a missing route.
        with http.stream("GET", mcp + "sse", headers={"Accept": "text/event-stream"}, auth=("ann", "pw")) as sse:
            assert sse.status_code == 200
        schema = http.get(mcp + "schema", auth=("ann", "pw"))
        assert schema.status_code == 200 and "generate" in schema.text


def test_uploads_past_the_rate_are_refused_when_the_openai_routes_are_served(served_app):
    with httpx.Client(base_url=served_app, timeout=60) as http:
        assert http.post("login", data={"username": "ann", "password": "pw"}).status_code == 200
        codes = [http.post("gradio_api/upload", files={"files": ("a.png", PNG)}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_the_openai_routes_answer_beside_the_login_and_the_gate(served_app):
    models = httpx.get(served_app + "v1/models", headers={"Authorization": f"Bearer {SERVE_KEY}"}, timeout=60)
    # Every backend is a model of the route (issue 27), Local first.
    assert models.status_code == 200 and models.json()["data"][0]["id"] == "local"
    assert httpx.get(served_app + "v1/models", timeout=60).status_code == 401  # the serve key, not the login
