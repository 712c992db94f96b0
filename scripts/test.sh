#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian/Ubuntu machine, then run every test.
# torch goes in first as a CPU build, so nothing below pulls the multi-GB CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip >/dev/null

if ! "$PY" -c "import torch" 2>/dev/null; then
  # A local CPU wheel (pip's find-links) if there is one, else PyTorch's CPU index.
  if "$PY" -m pip download -q --no-index --no-deps -d "$(mktemp -d)" torch==2.13.0 2>/dev/null; then
    "$PY" -m pip install -q torch==2.13.0
  else
    "$PY" -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
  fi
fi
"$PY" -m pip install -q -r requirements-dev.txt
"$PY" -m pip install -q -r requirements-ray.txt  # the Ray Serve cluster and its tests (tests/test_cluster.py)

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi

"$PY" -m ruff check .
"$PY" -m ruff format --check .
CHROMIUM_PATH="$CHROMIUM" "$PY" -m pytest -q "$@"
