#!/usr/bin/env bash
# One GPU check of the Local backend, in under 8 minutes: bf16, fp8-storage and fp8-compile on the
# full-size FLUX.1 [schnell] architecture with random weights, 1024², 4 steps, batch 1, 5 timed runs.
# Writes bench/results/<gpu>.jsonl (and .md) as each mode finishes, so a cut-off run keeps what it measured,
# and copies them to $OUT when that is set (the device tool brings $OUT back).
#
# diffusers and torchao may be missing on a lent GPU (the H200 had torch, transformers and accelerate only).
# They travel as wheels: here, in the repo root,
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 torchao==0.18.0
# (pick the torchao release built for the torch there), and carry `.whl`; this script installs them.
#
#   bash bench/gpu_check.sh                   # MODES=..., BUDGET_S=... to change what runs and for how long
set -uo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || exit 2
fi
python3 -c "import torch, diffusers, torchao, transformers; assert torch.cuda.is_available(), 'no CUDA GPU'" || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export PYTHONUNBUFFERED=1
# An empty compile cache: the compile time measured is a cold start's. A second run with the same
# FLUX_COMPILE_CACHE measures a restart.
export FLUX_COMPILE_CACHE=${FLUX_COMPILE_CACHE:-$(mktemp -d /tmp/flux-compile-XXXX)}
# SIGINT at the budget: the bench's parent stops, subprocess.run kills the mode in flight, results so far stay.
timeout --signal=INT --kill-after=20 "${BUDGET_S:-450}" python3 -m bench.bench_local \
  --modes "${MODES:-bf16,fp8-storage,fp8-compile}" --runs 5 --warmup 1 --no-batch4 \
  --compile-cache "$FLUX_COMPILE_CACHE" --out bench/results
rc=$?
if [ -n "${OUT:-}" ]; then cp bench/results/*.jsonl bench/results/*.md "$OUT"/ 2>/dev/null || true; fi
exit $rc
