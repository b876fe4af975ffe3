"""`task.candidates_in_prefix`: history + labelled candidates form the shared prefix, questions name labels."""

from __future__ import annotations

import numpy as np
import pytest

from rankexp.data.recranker_tasks import RecRankerTasks
from rankexp.models.hybrid import HybridEvaluator, HybridOptions
from rankexp.prompts.instruction_datamodule import InstructionSet
from rankexp.recipes.recranker import build_encoder, hint_functions
from tests.helpers.recranker import first_hit, rerank_cfg

pytestmark = pytest.mark.usefixtures("one_thread")

HINTS = ["task.hints=true", "task.hint_source=item_mean", "task.pointwise_hint_source=item_mean"]


@pytest.fixture(scope="module")
def block_setup(tiny, synthetic):
    from rankexp.recipes.lists import build_lists

    cfg = rerank_cfg(*HINTS, "task.candidates_in_prefix=true")
    lists = build_lists(cfg, synthetic)
    predict_rating, score = hint_functions(cfg, lists)
    return cfg, lists, build_encoder(cfg, synthetic, tiny[1], predict_rating), predict_rating, score


def test_evaluation_prompts_share_history_and_candidates(block_setup):
    _, lists, encoder, predict_rating, score = block_setup
    tok = encoder.tokenizer
    evaluator = HybridEvaluator(encoder, HybridOptions(), predict_rating, score)
    example = first_hit(lists.test)
    prompts = evaluator.prompts(example, 2)
    listwise = prompts[-1][1]
    assert prompts[-1][0] == "listwise" and len(prompts) == 56
    assert sorted(listwise.candidates.tolist()) == sorted(example.candidates.tolist())
    labels = dict(zip(listwise.candidates.tolist(), "ABCDEFGHIJ"))
    prefix, suffixes, _ = encoder.encode_user(prompts)
    prefix_text = tok.decode(prefix)
    hints = predict_rating(example.user, np.array(list(labels)))
    for (item, label), hint in zip(labels.items(), hints):  # every candidate, labelled, with its hint
        assert f"\n{label}. {encoder.titles[item][:20]}" in prefix_text
        assert f"{encoder.titles[item]} [{hint:.1f}]" in prefix_text
    for (task, ex), suffix in zip(prompts, suffixes):
        text = tok.decode(suffix)
        assert len(suffix) < (25 if task == "listwise" else 20) and "Hint" not in text
        assert not any(encoder.titles[int(item)][:20] in text for item in labels)
        if task == "pointwise":
            assert f"Rating of candidate {labels[ex.item]} (1-5)?" in text
        elif task == "pairwise":
            assert f"prefer {labels[ex.first]} over {labels[ex.second]}?" in text
        else:
            assert "top 5 letters" in text
        assert encoder.encode(task, ex, with_answer=False).prefix_ids == prefix


def test_shared_and_full_prompts_give_the_same_scores(tiny, block_setup, synthetic):
    _, lists, encoder, predict_rating, score = block_setup
    evaluator = HybridEvaluator(encoder, HybridOptions(chunk_size=16), predict_rating, score)
    example = first_hit(lists.test)
    shared = evaluator.evaluate(tiny[0], example, 2, share_prefix=True)
    full = evaluator.evaluate(tiny[0], example, 2, share_prefix=False)
    for method, values in shared.scores.items():
        np.testing.assert_allclose(values, full.scores[method], rtol=1e-5, atol=1e-6, err_msg=method)
    # the suffixes no longer carry titles: fewer tokens per user (synthetic titles are short: 2184 vs 3184)
    title_encoder = build_encoder(rerank_cfg(*HINTS), synthetic, encoder.tokenizer)
    titles = HybridEvaluator(title_encoder, HybridOptions(chunk_size=16), predict_rating, score)
    assert shared.tokens < 0.75 * titles.evaluate(tiny[0], example, 2).tokens


def test_training_instances_show_their_items_among_unrated_candidates(block_setup, synthetic):
    _, lists, encoder, predict_rating, score = block_setup
    tasks = RecRankerTasks(lists.train, synthetic.n_items, synthetic.like_threshold, history_len=5,
                           predict_rating=predict_rating, score=score, block_size=10)
    users = np.array(sorted(tasks.users))[:30]
    instructions = InstructionSet(tasks, users, encoder, seed=0, mix={"pointwise": 1, "pairwise": 1, "listwise": 1})
    rated = lists.train.groupby("user")["item"].agg(set)
    seen = set()
    for index, (task, ex) in enumerate(instructions.instances):
        seen.add(task)
        encoded = instructions[index]
        text = encoder.tokenizer.decode(encoded.prefix_ids + encoded.suffix_ids)
        block = ex.candidates if task == "listwise" else ex.block
        assert len(block) == 10 and len(set(block.tolist())) == 10
        assert "Candidate " in text and encoder.titles[int(block[-1])][:15] in text
        if task != "listwise":
            asked = [ex.item] if task == "pointwise" else [ex.first, ex.second]
            assert set(asked) <= set(block.tolist())
            assert not (set(block.tolist()) - set(asked)) & rated[ex.user]  # the others: unrated in train
            assert not set(block.tolist()) & set(ex.history.tolist())
    assert seen == {"pointwise", "pairwise", "listwise"}


def test_stage_trains_and_tests_with_candidates_in_prefix(tmp_path):
    import json

    from rankexp.recipes.experiment import run_experiment

    run = ["logger=csv", "trainer=cpu", "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.precision=32",
           "trainer.enable_progress_bar=false", "train.max_val_lists=2", "train.max_test_lists=3",
           "train.validate_before_fit=false", "sampler.budget=6", "task.pairs=matching", "task.both_orders=true",
           "task_name=recranker_block_test"]
    run_experiment(rerank_cfg(*HINTS, *run, "task.candidates_in_prefix=true", f"paths.output_dir={tmp_path}"))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test/prompts_per_user"] == 21.0 and saved["test/users"] == 3.0
    assert 0.0 <= saved["test/hybrid/ndcg@5"] <= 1.0


def test_hints_in_the_block_need_a_hint_function(tiny, synthetic):
    from rankexp.errors import ConfigError

    with pytest.raises(ConfigError, match="block_hint"):
        build_encoder(rerank_cfg(*HINTS, "task.candidates_in_prefix=true"), synthetic, tiny[1])
