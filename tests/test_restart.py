"""Stopping the app with Ctrl+C and starting it again on the same port, at once: it comes up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "SPACE_ID"}
    env |= {"FLUX_DEVICE": "cpu", "FLUX_MODEL": "/nonexistent-flux-model", "PYTHONUNBUFFERED": "1"}
    return env | {"LIBRARY_DIR": "off"}


def _start(port: int) -> tuple[subprocess.Popen, str]:
    """The app on ``port``, read up to its "open" line or its exit; returns the process and what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--no-mcp"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    for line in proc.stdout:  # waits on the app's own lines (or its exit), not on time
        seen.append(line)
        if "playground: open http://" in line:
            break
    return proc, "".join(seen)


def test_a_stopped_app_starts_again_on_the_same_port_at_once():
    port = free_port()
    first, text = _start(port)
    try:
        assert f"open http://127.0.0.1:{port}/" in text, text
        with httpx.Client() as client:  # a kept-alive connection: the server closes it on shutdown
            assert client.get(f"http://127.0.0.1:{port}/").status_code == 200
            first.send_signal(signal.SIGINT)
            first.wait(timeout=60)
    finally:
        first.kill()
        first.wait()
    again, text = _start(port)
    try:
        assert "is busy" not in text, text
        assert f"open http://127.0.0.1:{port}/" in text, text
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        again.kill()
        again.wait()
