#!/usr/bin/env bash
# The GPU check (docs/gpu.md), in under 5 minutes on a machine with a GPU:
#   the WebGPU adapter, 3-step loss parity of webgpu against wasm, ms/step and tokens/s of the
#   reference step and of the base model at batch 32 × 128 on both, GPU memory.
#   bash scripts/gpu-check.sh [--no-base] [--steps N]     (extra flags go to `pld bench --gpu`)
# Exits non-zero when no GPU adapter is found or the losses disagree.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
say() { echo "gpu-check: $*" >&2; }
if [ ! -f dist/src/cli/index.js ] || [ -n "$(find src -name '*.ts' -newer dist/src/cli/index.js -print -quit)" ]; then
  say "building (npm run build)"
  npm run build --silent
fi
node dist/src/cli/index.js info
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader | sed 's/^/nvidia-smi: /'
fi
# Five minutes at most; the bench prints its table when done.
status=0
timeout 300 node dist/src/cli/index.js bench --gpu "$@" || status=$?
if [ "$status" = 124 ]; then
  say "stopped after 5 minutes; rerun with --no-base for the reference step alone"
fi
exit "$status"
