"""Shared fixtures: loopback fake APIs, a tiny random FLUX model, the app served in-process, a browser."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends import Settings
from backends.local import LocalSettings
from config import AppSettings, PageOptions
from library import LibraryConfig
from tests.fakes.servers import FakeAiml, FakeFireworks

# The suite never writes into the repo's outputs/: tests that want a library pass their own folder.
os.environ["LIBRARY_DIR"] = "off"

FW_KEY = "fw-secret-7f3a9c21"  # distinctive, so a leak anywhere is easy to find
AIML_KEY = "aiml-secret-91b2d4e8"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def fireworks() -> Iterator[FakeFireworks]:
    fake = FakeFireworks()
    fake.valid_key = FW_KEY
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def aiml() -> Iterator[FakeAiml]:
    fake = FakeAiml()
    fake.valid_key = AIML_KEY
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _reset_fakes(request) -> None:
    for name in ("fireworks", "aiml"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from bench.random_flux import build_random_flux

    return build_random_flux(tmp_path_factory.mktemp("tiny-flux") / "model")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    demo: object
    backends: dict
    settings: Settings
    live_sessions: object = None  # ui.sessions.LiveSessions


def app_config(backends: Settings, page: PageOptions | None = None, **parts) -> AppSettings:
    """AppSettings for an app in this process: these backends and page options, the library off unless given."""
    parts.setdefault("library", LibraryConfig(dir=None))
    return AppSettings(backends=backends, page=page or PageOptions(), **parts)


def launch(settings: Settings, options=None) -> RunningApp:
    from app import create_app
    from ui import LAUNCH_OPTIONS

    app = create_app(app_config(settings, options))
    port = free_port()
    app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    return RunningApp(f"http://127.0.0.1:{port}/", app.demo, app.backends, settings, app.live_sessions)


def app_settings(fireworks, aiml, tiny_model, **overrides) -> Settings:
    values = dict(
        fireworks_api_key=FW_KEY,
        aiml_api_key=AIML_KEY,
        fireworks_base_url=fireworks.base_url,
        aiml_base_url=aiml.base_url,
        http_read_timeout_s=6.0,
        local=LocalSettings(model=str(tiny_model), device="cpu", precision="fp8"),
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app(fireworks, aiml, tiny_model) -> Iterator[RunningApp]:
    running = launch(app_settings(fireworks, aiml, tiny_model))
    yield running
    running.demo.close()


@pytest.fixture(scope="module")
def client(app: RunningApp):
    """A gradio_client Client of the shared app (a module may define its own ``client`` instead)."""
    from gradio_client import Client

    return Client(app.url, verbose=False)


@pytest.fixture(scope="session")
def app_without_aiml_key(fireworks, aiml, tiny_model) -> Iterator[RunningApp]:
    running = launch(app_settings(fireworks, aiml, tiny_model, aiml_api_key=None))
    yield running
    running.demo.close()


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it
    # is open, which would break the asyncio tests of later modules.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/test.sh, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def new_page(browser, viewport):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


@pytest.fixture
def page(browser):
    context, page = new_page(browser, {"width": 1600, "height": 1200})
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context, page = new_page(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = new_page(browser, PHONE)
    yield page
    context.close()
