"""run_recranker end to end (tiny model, synthetic data, pop's top-10) and train-only instructions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rankexp.data.hints import ItemMeanHints
from rankexp.data.recranker_tasks import RecRankerTasks
from rankexp.data.sampling import build_sampler, liked_counts
from rankexp.errors import ConfigError
from rankexp.recipes.recranker import hint_functions
from tests.helpers.recranker import rerank_cfg

pytestmark = pytest.mark.usefixtures("one_thread")

RUN = ["logger=csv", "trainer=cpu", "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.precision=32",
       "trainer.enable_progress_bar=false", "train.max_val_lists=3", "train.max_test_lists=6",
       "train.validate_before_fit=false", "sampler.budget=8", "task_name=recranker_test"]


def test_run_writes_hybrid_task_and_retriever_metrics(tmp_path):
    from rankexp.recipes.experiment import run_experiment

    overrides = [*RUN, "sampler=adaptive", "task.hints=true", "task.hint_source=item_mean",
                 "task.pointwise_hint_source=item_mean"]
    cfg = rerank_cfg(*overrides, f"paths.output_dir={tmp_path}")
    payload = run_experiment(cfg)  # pipeline dispatches task=hybrid to run_recranker
    saved = json.loads((tmp_path / "results.json").read_text())
    for method in ("hybrid", "pointwise", "pairwise", "listwise", "retriever"):
        for name in ("hr@3", "hr@5", "ndcg@3", "ndcg@5"):
            assert 0.0 <= saved[f"test/{method}/{name}"] <= 1.0, (method, name)
    assert saved["test/ndcg@5"] == saved["test/hybrid/ndcg@5"]
    assert saved["test/forwards_per_user"] == 3.0  # the prefix, 55 short suffixes, the listwise suffix
    assert saved["test/prompts_per_user"] == 56.0 and saved["test/seconds_per_user"] > 0
    assert saved["test/users"] == 6.0 and 0.0 <= saved["test/target_in_candidates"] <= 1.0
    assert len(saved["train/instruction_set_hash"]) == 64 and saved["train/instruction_users"] == 8.0
    assert "val/hybrid/ndcg@5" in saved or "best_val/ndcg@5" in saved
    assert payload["test/hybrid/hr@5"] == saved["test/hybrid/hr@5"]
    import pandas as pd

    table = pd.read_csv(tmp_path / "media" / "hybrid_table.csv")  # the same media as an ALRO run
    assert table.set_index("method").loc["hybrid", "ndcg@5"] == pytest.approx(saved["test/hybrid/ndcg@5"])
    for method in ("pointwise", "pairwise", "listwise", "hybrid", "retriever"):
        examples = pd.read_csv(tmp_path / "media" / f"example_rankings_{method}.csv")
        assert len(examples) == 6 and examples["predicted_order"].str.split().map(len).eq(10).all()
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.is_file()
    import torch

    saved_ckpt = torch.load(last, weights_only=True)
    assert saved_ckpt["state_dict"] and all("lora_" in k for k in saved_ckpt["state_dict"])  # adapters only
    # resume from the last checkpoint for one more step
    resumed = rerank_cfg(*overrides, "trainer.max_steps=3", f"ckpt_path={last}",
                         f"paths.output_dir={tmp_path / 'resumed'}")
    out = run_experiment(resumed)
    assert out["test/prompts_per_user"] == 56.0


def test_needs_the_rerank_protocol_and_a_retriever(synthetic):
    from rankexp.recipes.lists import build_lists
    from rankexp.recipes.recranker import run_recranker
    from tests.helpers.recranker import compose_cfg

    cfg = compose_cfg("data=synthetic", "task=hybrid", "model=tiny_random", "protocol.m=6", "protocol.history_len=5",
                      "protocol.min_history=3")
    with pytest.raises(ConfigError, match="rerank_topk"):
        run_recranker(cfg, synthetic, build_lists(cfg, synthetic))


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user"].astype(int), frame["item"].astype(int)))


def test_instructions_and_hints_never_use_val_or_test_interactions(rerank, synthetic):
    from rankexp.data.splits import leave_one_out

    cfg, lists = rerank
    split = leave_one_out(synthetic.ratings, synthetic.like_threshold)
    held_out = _pairs(split.val) | _pairs(split.test)
    assert held_out and not held_out & _pairs(lists.train)
    predict_rating, score = hint_functions(cfg, lists)
    liked = liked_counts(lists.train, synthetic.n_users, synthetic.like_threshold)
    users = build_sampler({"name": "uniform", "budget": 300}).sample(liked, 0)
    tasks = RecRankerTasks(lists.train, synthetic.n_items, synthetic.like_threshold, history_len=10,
                           predict_rating=predict_rating, score=score)
    instances = tasks.build(users, seed=0, mix_mode="all")
    assert {t for t, _ in instances} == {"pointwise", "pairwise", "listwise"}
    for task, ex in instances:
        shown = [int(i) for i in ex.history]
        if task == "pointwise":
            shown.append(ex.item)
        elif task == "pairwise":
            shown.append(ex.first if ex.first_preferred else ex.second)
        else:
            shown += [int(c) for c, g in zip(ex.candidates, ex.gains) if g > 0]
        assert not {(ex.user, i) for i in shown} & held_out, (task, ex.user)
    # hints: the leave-one-out item mean of the train split alone (val / test ratings never enter)
    means = ItemMeanHints(lists.train)
    for user, item in list(held_out)[:50]:
        assert predict_rating(user, np.array([item]))[0] == pytest.approx(means.value(user, item))
        train_rows = lists.train[lists.train["item"] == item]
        expected = (train_rows["rating"].sum() + 5.0 * lists.train["rating"].mean()) / (len(train_rows) + 5.0)
        assert predict_rating(user, np.array([item]))[0] == pytest.approx(expected)


@pytest.mark.parametrize("name", ["recranker_ml100k", "recranker_ml100k_uniform", "recranker_ml100k_no_shift",
                                  "recranker_ml100k_no_hints", "recranker_ml100k_pointwise",
                                  "recranker_ml100k_pairwise", "recranker_ml100k_listwise", "recranker_ml1m",
                                  "recranker_bookcrossing"])
def test_experiment_files_compose(name):
    from rankexp.recipes.recranker import hybrid_options, task_mix
    from rankexp.run import CONF_DIR
    from tests.helpers.recranker import compose_cfg

    if not (CONF_DIR / "retriever" / "lightgcn.yaml").is_file():
        pytest.skip("conf/retriever/lightgcn.yaml is not there yet")
    cfg = compose_cfg(f"+experiment={name}")
    assert cfg.recipe == "recranker" and cfg.protocol.name == "rerank_topk" and cfg.sampler.budget in (5000, 10000)
    mix = task_mix(cfg.task)
    options = hybrid_options(cfg, mix)
    assert options.tasks == tuple(t for t in ("pointwise", "pairwise", "listwise") if t in mix)
    assert cfg.task.shuffle == (not name.endswith("no_shift"))
    assert bool(cfg.task.hints) == (not name.endswith("no_hints"))
    assert cfg.sampler.name == ("uniform" if name.endswith("uniform") else "adaptive")
