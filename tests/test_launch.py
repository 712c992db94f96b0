"""`python app.py` as a person starts it: its start-up lines and a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app import busy_port_message, port_is_free
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "SPACE_ID"}
    return env | {"FLUX_DEVICE": "cpu", "FLUX_MODEL": "/nonexistent-flux-model", "PYTHONUNBUFFERED": "1"}


def test_a_busy_port_is_named_at_once_with_a_free_one_to_use_instead():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        proc = subprocess.run(
            [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=_env(), capture_output=True, text=True
        )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"Port {port} is busy"), proc.stderr
    assert "Traceback" not in proc.stderr
    suggested = int(lines[-1].rsplit("--port ", 1)[1].rstrip("."))
    assert suggested != port and port_is_free("127.0.0.1", suggested)


def test_the_suggested_port_skips_ports_that_are_busy_too():
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            pytest.skip("the next port is taken by something else")
        assert f"--port {port + 1}" not in busy_port_message("127.0.0.1", port)


def test_start_up_names_this_apps_share_flag_not_gradios_keyword():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--no-mcp"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    try:
        for line in proc.stdout:  # waits on the app's own lines, not on time
            seen.append(line)
            if line.startswith(("  add --share", "  public link:")):
                break
    finally:
        proc.kill()
        proc.wait()
    text = "".join(seen)
    assert f"open http://127.0.0.1:{port}/" in text, text
    assert "add --share for a public link" in text
    assert "share=True" not in text
