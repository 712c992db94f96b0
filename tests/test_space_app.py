"""The running app as a public Space, behind a header that mimics the Space's proxy (the forged entry
first, the proxy's own last): every door draws from one allowance per visitor."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from gradio_client import Client
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from playwright.sync_api import expect

from config import PageOptions
from tests.conftest import RunningApp, app_config, app_settings, free_port
from tests.helpers import generate as page_generate
from tests.helpers import open_app, posts, tick, wait_done

LIMIT = 3


@pytest.fixture(scope="module")
def space_app(fireworks, aiml, tiny_model, tmp_path_factory) -> Iterator[RunningApp]:
    from app import create_app
    from ui import LAUNCH_OPTIONS

    settings = app_settings(fireworks, aiml, tiny_model)
    options = PageOptions(local_settings_editable=False, rate_limit_per_min=LIMIT, behind_proxy=True)
    app = create_app(app_config(settings, options))
    port = free_port()
    launch = dict(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 and would put its last entry in the socket's place, which
    # hides any bug in our own hop counting; a Space's proxy is not trusted so, and here neither.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")  # read once, when launch() builds uvicorn's Config
        app.demo.launch(**launch, mcp_server=True, **LAUNCH_OPTIONS)
    yield RunningApp(f"http://127.0.0.1:{port}/", app.demo, app.backends, settings, app.live_sessions)
    app.demo.close()


def proxied(real: str, forged: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"{forged}, {real}"}


def api(app: RunningApp, real: str, forged: str) -> Client:
    return Client(app.url, headers=proxied(real, forged), verbose=False)


def one_image(client: Client):
    kw = dict(prompt="a lighthouse", backends=["fireworks"], width=256, height=256, seed=5)
    return client.predict(**kw, api_name="/generate")


def test_forged_rotation_on_generate_stays_under_the_limit(space_app, fireworks, capfd):
    for i in range(LIMIT):
        one_image(api(space_app, "198.51.100.1", f"203.0.113.{i}"))
    with pytest.raises(Exception, match=r"allows 3 images a minute per visitor.*try again in \d+ s"):
        one_image(api(space_app, "198.51.100.1", "203.0.113.200"))
    assert len(posts(fireworks)) == LIMIT
    with pytest.raises(Exception, match="steps 20 is out of range"):
        api(space_app, "198.51.100.9", "x").predict(prompt="a", num_inference_steps=20, api_name="/generate")
    assert "Traceback" not in capfd.readouterr().err  # a refused request: one log line, no traceback


def test_forged_rotation_on_grid_stays_under_the_limit(space_app, fireworks):
    kw = dict(prompt="a lighthouse", x_axis="seed", x_values="1-2", backends=["fireworks"], width=256, height=256)
    api(space_app, "198.51.100.2", "203.0.113.1").predict(**kw, api_name="/grid")
    with pytest.raises(Exception, match="allows 3 images a minute"):
        api(space_app, "198.51.100.2", "203.0.113.2").predict(**kw, api_name="/grid")  # 2 more cells: 4 > 3
    assert len(posts(fireworks)) == 2


async def mcp_generate(url: str, headers: dict[str, str]):
    async with streamablehttp_client(url + "gradio_api/mcp/", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            args = {"prompt": "a lighthouse", "backends": ["fireworks"], "width": 256, "height": 256, "seed": 5}
            return await session.call_tool("generate", args)


async def test_forged_rotation_on_mcp_stays_under_the_limit(space_app, fireworks):
    for i in range(LIMIT):
        result = await mcp_generate(space_app.url, proxied("198.51.100.3", f"203.0.113.{i}"))
        assert not result.isError
    refused = await mcp_generate(space_app.url, proxied("198.51.100.3", "203.0.113.77"))
    assert refused.isError and "allows 3 images a minute" in " ".join(c.text for c in refused.content)
    assert len(posts(fireworks)) == LIMIT


@pytest.fixture
def visitor(browser):
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, extra_http_headers=proxied("198.51.100.4", "203.0.113.50")
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_the_page_and_the_api_share_one_allowance(space_app, fireworks, visitor):
    for i in range(LIMIT - 1):
        one_image(api(space_app, "198.51.100.4", f"203.0.113.{60 + i}"))
    open_app(visitor, space_app.url)
    tick(visitor, "Fireworks")
    page_generate(visitor, "the last one this minute")
    wait_done(visitor)
    page_generate(visitor, "one too many")
    toast = visitor.locator("[data-testid=toast-text]").filter(has_text=re.compile(r"allows 3 images a minute"))
    expect(toast).to_have_count(1)
    assert len(posts(fireworks)) == LIMIT
