"""The light install (requirements-hosted.txt): the app builds and serves its hosted backends without torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "diffusers", "transformers", "accelerate", "torchao", "safetensors", "sentencepiece", "spaces")

# As in a venv made from requirements-hosted.txt: the heavy packages cannot be imported.
WITHOUT_TORCH = f"""
import importlib.abc, os, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Missing())
import app, config
built = app.create_app(config.load({{**os.environ, "LIBRARY_DIR": "off", "FIREWORKS_API_KEY": "k"}}))
for backend in built.backends.values():
    print(backend.id, "|", backend.status().message)
"""


def test_requirements_hosted_leaves_out_the_heavy_packages():
    lines = (ROOT / "requirements-hosted.txt").read_text().splitlines()
    names = {line.split("#")[0].split("[")[0].split("=")[0].split(">")[0].strip() for line in lines}
    assert "gradio" in names and "httpx" in names
    assert not names & set(HEAVY)


def test_the_app_builds_without_torch_and_local_says_why_it_cannot_run():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "local | unavailable: torch is not installed" in proc.stdout
    assert "fireworks | ready" in proc.stdout
