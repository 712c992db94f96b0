"""The MCP server, through the official `mcp` client over streamable HTTP, against the fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import AIML_KEY, FW_KEY, RunningApp, app_config, app_settings, free_port
from tests.helpers import call, images, texts


@pytest.fixture(scope="module")
def mcp_app(fireworks, aiml, tiny_model) -> Iterator[RunningApp]:
    from app import create_app
    from ui import LAUNCH_OPTIONS

    settings = app_settings(fireworks, aiml, tiny_model)
    app = create_app(app_config(settings))
    port = free_port()
    options = dict(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    app.demo.launch(**options, mcp_server=True, **LAUNCH_OPTIONS)
    yield RunningApp(f"http://127.0.0.1:{port}/", app.demo, app.backends, settings, app.live_sessions)
    app.demo.close()


async def test_tools_are_generate_and_grid_with_descriptions_an_agent_can_use(mcp_app):
    tools, _ = await call(mcp_app.url)
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"generate", "grid"}
    generate = by_name["generate"]
    assert "FLUX.1 [schnell]" in generate.description and "seed" in generate.description
    props = generate.inputSchema["properties"]
    assert generate.inputSchema["required"] == ["prompt"]
    assert props["num_inference_steps"]["type"] == "integer"
    assert "fireworks" in props["backends"]["description"]
    assert "64 to 1536" in props["width"]["description"]
    grid_props = by_name["grid"].inputSchema["properties"]
    assert "10-40 (+10)" in grid_props["x_values"]["description"]
    assert "aspect_ratio" in grid_props["x_axis"]["description"]


@pytest.mark.parametrize("progress", [False, True], ids=["plain", "with-progress"])
async def test_generate_returns_images_as_image_content(mcp_app, progress):
    _, result = await call(
        mcp_app.url, "generate", progress, prompt="a lighthouse", backends=["fireworks", "aiml"], seed=21, width=256
    )
    assert not result.isError, texts(result)
    got = images(result)
    assert len(got) == 2 and {img.format for img in got} == {"PNG"}
    assert (256, 1024) in [img.size for img in got]  # the AI/ML API's (Fireworks snaps to a ratio)
    captions = [t for t in texts(result) if " · seed " in t and not t.startswith("[")]
    assert sorted(c.split(" · ")[0] for c in captions) == ["AI/ML API", "Fireworks"]
    records = json.loads(next(t for t in texts(result) if t.startswith("[")))
    assert sorted(r["backend"] for r in records) == ["aiml", "fireworks"] and {r["seed"] for r in records} == {21}
    blob = json.dumps([c.model_dump() for c in result.content])
    assert FW_KEY not in blob and AIML_KEY not in blob


async def test_grid_returns_the_grid_as_image_content(mcp_app):
    _, result = await call(
        mcp_app.url, "grid", prompt="a lighthouse", x_axis="seed", x_values="1-2", width=256, height=256
    )
    assert not result.isError, texts(result)
    (sheet,) = images(result)
    assert sheet.width > 2 * 384
    records = json.loads(next(t for t in texts(result) if t.startswith("[")))
    assert [r["seed"] for r in records] == [1, 2]


async def test_bad_input_comes_back_as_a_tool_error_with_the_reason(mcp_app, fireworks):
    _, result = await call(mcp_app.url, "generate", prompt="a lighthouse", num_inference_steps=40)
    assert result.isError and "steps 40 is out of range" in " ".join(texts(result))
    assert fireworks.requests == []


class _Demo:
    local_url = "http://127.0.0.1:7860/"
    share_url = None  # main() prints the public link when there is one

    def __init__(self, seen: dict) -> None:
        self.seen = seen

    def launch(self, **kw) -> None:
        self.seen.update(kw)

    def block_thread(self) -> None:  # main() launches without blocking, prints the URL, then blocks here
        pass


@pytest.mark.parametrize("argv, served", [([], True), (["--no-mcp"], False)])
def test_app_serves_mcp_unless_told_not_to(monkeypatch, argv, served):
    import app

    seen: dict = {}
    monkeypatch.setattr(app, "create_app", lambda settings: app.App(_Demo(seen), {}, None, None, settings))
    port = free_port()  # main() checks its port is free first: never the default 7860, which a person may use
    app.main([*argv, "--port", str(port)])
    assert seen["mcp_server"] is served
