#!/usr/bin/env bash
# One GPU check of the Local backend, in under 8 minutes: bf16, fp8-storage and fp8-compile on the
# full-size FLUX.1 [schnell] architecture with random weights (bench/gpu_check.py). Per mode, one JSON line:
# warm latency at 1024², 4 steps (median of 5), peak memory, prepare time and first image cold and after a
# restart with the same compile cache, the fraction of the physical floor, and, under
# torch.compiler.set_stance("fail_on_recompile"), all 11 aspect ratios × batches 1–4 with any recompile listed.
# Writes bench/results/<gpu>-check.jsonl as each mode finishes, so a cut-off run keeps what it measured,
# and copies it to $OUT when that is set (the device tool brings $OUT back). BENCH_LOCAL=1 also runs
# bench_local.py's table (PSNR against bf16, batch 4) after it, within the same budget.
#
#   bash bench/gpu_check.sh --dry-run         # no GPU: the same Python on the CPU with the tiny model
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
if [ "${1:-}" = "--dry-run" ]; then
  exec python3 -m bench.gpu_check --dry-run --modes "${MODES:-bf16,fp8-storage,fp8-compile}" --out bench/results
fi
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
# SIGINT at the budget: the check's parent stops, subprocess.run kills the phase in flight, results so far stay.
started=$SECONDS
timeout --signal=INT --kill-after=20 "${BUDGET_S:-450}" python3 -m bench.gpu_check \
  --modes "${MODES:-bf16,fp8-storage,fp8-compile}" --out bench/results
rc=$?
left=$(( ${BUDGET_S:-450} - (SECONDS - started) ))
if [ "${BENCH_LOCAL:-0}" = 1 ] && [ "$left" -gt 60 ]; then
  timeout --signal=INT --kill-after=20 "$left" python3 -m bench.bench_local \
    --modes "${MODES:-bf16,fp8-storage,fp8-compile}" --runs 5 --warmup 1 --no-batch4 \
    --compile-cache "$FLUX_COMPILE_CACHE/bench_local" --out bench/results
fi
if [ -n "${OUT:-}" ]; then cp bench/results/*.jsonl bench/results/*.md "$OUT"/ 2>/dev/null || true; fi
exit $rc
