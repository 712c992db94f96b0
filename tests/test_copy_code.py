"""Copy as code: the snippets the page shows really work against the running app (loopback fakes)."""

from __future__ import annotations

import subprocess

import pytest

from ui.page.copy_code import api_args, curl_snippet, python_snippet

ARGS = api_args('it\'s a "fox"', ["fireworks", "aiml"], "4:3", 1152.0, 896.0, 4.0, 3.5, 321, 2.0)


def test_the_snippets_carry_every_setting_in_the_endpoints_order():
    code = python_snippet("http://h:1/", ARGS)
    assert "prompt='it\\'s a \"fox\"'," in code and "backends=['fireworks', 'aiml']," in code
    assert "seed=321," in code and "num_images=2," in code and 'api_name="/generate"' in code
    shell = curl_snippet("http://h:1/", ARGS)
    assert "http://h:1/gradio_api/call/generate" in shell and "/gradio_api/call/generate/$EVENT_ID" in shell
    assert '"4:3", 1152, 896, 4, 3.5, 321, 2]' in shell


def test_the_python_snippet_runs_against_the_app(app):
    scope: dict = {}
    exec(compile(python_snippet(app.url, ARGS), "snippet.py", "exec"), scope)  # what a user would paste
    records = scope["records"]
    assert sorted((r["backend"], r["seed"], r["status"]) for r in records) == [
        ("aiml", 321, "ok"),
        ("aiml", 322, "ok"),
        ("fireworks", 321, "ok"),
        ("fireworks", 322, "ok"),
    ]
    assert len(scope["images"]) == 4


@pytest.mark.skipif(subprocess.run(["which", "curl"], capture_output=True).returncode, reason="no curl")
def test_the_curl_snippet_runs_against_the_app(app):
    out = subprocess.run(["bash", "-c", curl_snippet(app.url, ARGS)], capture_output=True, text=True, timeout=120)
    assert "event: complete" in out.stdout, out.stdout + out.stderr
    assert out.stdout.count('"status": "ok"') == 4
