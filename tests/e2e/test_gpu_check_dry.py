"""`experiments/gpu_check.sh`, the one command for the first GPU, parses and runs on CPU (GPU_CHECK_DRY=1).

The GPU figures themselves exist only once a GPU is lent (docs/gpu.md); this keeps the script from
rotting until then: every part runs its real code path for 2 steps and writes its figures.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.helpers.runs import REPO, env, explain

SCRIPT = REPO / "experiments" / "gpu_check.sh"
PARTS = ("train_rankexp", "train_plain", "inference", "nf4", "plan", "ddp")


def test_script_parses_and_refuses_unknown_parts(tmp_path):
    for script in (SCRIPT, SCRIPT.with_name("gpu_wheels.sh")):
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    proc = subprocess.run(["bash", str(SCRIPT), "--parts", "train,warp"], cwd=REPO, capture_output=True, text=True,
                          env=env() | {"GPU_CHECK_DRY": "1", "PYTHON": sys.executable}, check=False)
    assert proc.returncode == 2 and "warp" in proc.stderr, explain(proc)


@pytest.mark.slow
def test_dry_run_runs_every_part_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(["bash", str(SCRIPT), "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          env=env() | {"GPU_CHECK_DRY": "1", "PYTHON": sys.executable}, timeout=900, check=False)
    assert proc.returncode == 0, explain(proc)
    result = json.loads(out.read_text())
    assert result["dry"] is True and result["device"].startswith("cpu")
    parts = result["parts"]
    assert set(parts) == set(PARTS) and all(parts[p]["ok"] for p in PARTS), {p: parts[p].get("error") for p in parts}
    for name in ("train_rankexp", "train_plain"):
        curve = parts[name]["loss_curve"]
        assert len(curve) == 3 and all(math.isfinite(v) and v > 0 for v in curve)
        assert parts[name]["tokens_per_s"] > 0
    # same model, batches and seed: the first step's loss is the same through Lightning and the bare loop
    assert parts["train_rankexp"]["loss_curve"][0] == pytest.approx(parts["train_plain"]["loss_curve"][0], rel=1e-4)
    assert parts["inference"]["generate_vs_verbalizer"] > 0 and parts["inference"]["lists"] == 4
    assert 0.7 <= parts["plan"]["smollm2_measured_over_estimate"] <= 1.3
    assert parts["plan"]["alro_ml1m_fits_80GB"] is True
    assert 0 <= parts["ddp"]["test_ndcg@5"] <= 1
    assert set(result["targets"]) == {"step_within_1.2x_of_plain", "generate_vs_verbalizer_at_least_20x",
                                      "alro_ml1m_fits_80GB"}
