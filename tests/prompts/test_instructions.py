"""Instruction encoding: shared prefix + task suffix, single-token answers in context, SFT batches."""

from __future__ import annotations

import numpy as np
import pytest

from rankexp.data.recranker_tasks import RecRankerTasks
from rankexp.errors import ConfigError
from rankexp.prompts.instruction_datamodule import InstructionSet, collate_sft
from rankexp.prompts.instructions import RatingBins, rating_bins
from rankexp.prompts.style import PromptStyle, labels_for
from rankexp.recipes.recranker import build_encoder, hint_functions

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def encoder(tiny, rerank, synthetic):
    return build_encoder(rerank[0], synthetic, tiny[1])


@pytest.fixture(scope="module")
def instructions(rerank, synthetic, encoder):
    cfg, lists = rerank
    predict_rating, score = hint_functions(cfg, lists)
    tasks = RecRankerTasks(lists.train, synthetic.n_items, synthetic.like_threshold, history_len=5,
                           predict_rating=predict_rating, score=score)
    users = np.array(sorted(tasks.users))[:30]
    return InstructionSet(tasks, users, encoder, seed=0, mix={"pointwise": 1, "pairwise": 1, "listwise": 1})


def test_training_ids_are_prefix_suffix_answer_with_checked_answers(encoder, instructions):
    tok = encoder.tokenizer
    seen = set()
    for task, example in instructions.instances:
        enc = encoder.encode(task, example)
        seen.add(task)
        # the same prefix as the evaluation path renders for that history
        prefix, suffixes, _ = encoder.encode_user([(task, example)])
        assert enc.prefix_ids == prefix and enc.suffix_ids == suffixes[0]
        text = tok.decode(enc.prefix_ids + enc.suffix_ids)
        assert text.startswith("<|im_start|>system") and text.endswith("<|im_start|>assistant\n")
        if task == "pointwise":
            assert enc.answer_ids == [encoder.answer_token_ids["pointwise"][example.rating - 1]]
        elif task == "pairwise":
            assert enc.answer_ids == [encoder.answer_token_ids["pairwise"][0 if example.first_preferred else 1]]
        else:
            assert tok.decode(enc.answer_ids) == "\n".join("ABCDEFGHIJ"[s] for s in example.target_slots[:5])
            assert enc.answer_ids[0::2] == [encoder.answer_token_ids["listwise"][s] for s in example.target_slots[:5]]
    assert seen == {"pointwise", "pairwise", "listwise"}
    assert [tok.decode([i]) for i in encoder.answer_token_ids["pointwise"]] == list("12345")
    assert [tok.decode([i]) for i in encoder.answer_token_ids["pairwise"]] == ["Yes", "No"]


def test_one_user_prompts_share_one_prefix(encoder, rerank):
    from rankexp.models.hybrid import HybridEvaluator, HybridOptions

    _, lists = rerank
    prompts = HybridEvaluator(encoder, HybridOptions()).prompts(lists.test[0], 2)
    histories = {tuple(ex.history.tolist()) for _, ex in prompts}
    assert len(histories) == 1 and len(prompts) == 56
    prefix, suffixes, _ = encoder.encode_user(prompts)
    for (task, example), suffix in zip(prompts, suffixes):
        enc = encoder.encode(task, example, with_answer=False)
        assert enc.prefix_ids == prefix and enc.suffix_ids == suffix


def test_sft_batch_masks_everything_but_the_answer(instructions):
    rows = [instructions[i] for i in range(4)]
    batch = collate_sft(rows, pad_id=2)
    for r, enc in enumerate(rows):
        n = len(enc.prefix_ids) + len(enc.suffix_ids)
        labels = batch["sft_labels"][r]
        assert (labels[:n] == -100).all()
        assert labels[n: n + len(enc.answer_ids)].tolist() == enc.answer_ids
        assert (labels[n + len(enc.answer_ids):] == -100).all()
        assert int(batch["attention_mask"][r].sum()) == n + len(enc.answer_ids)


def test_each_epoch_redraws_positions_same_seed_same_set(instructions):
    first = [(t, e.user) for t, e in instructions.instances]
    histories = [e.history.tolist() for _, e in instructions.instances]
    instructions.set_epoch(1)
    assert [e.history.tolist() for _, e in instructions.instances] != histories
    instructions.set_epoch(0)
    assert [(t, e.user) for t, e in instructions.instances] == first
    assert [e.history.tolist() for _, e in instructions.instances] == histories


def test_ten_point_scale_is_binned_to_single_token_answers(tiny, synthetic):
    from rankexp.prompts.instructions import InstructionEncoder

    bins = rating_bins((0.0, 10.0), 5)  # BookCrossing: 0 = implicit (dropped), explicit 1-10
    assert bins(np.arange(1, 11)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert RatingBins(1, 5, 5)(np.array([1, 3, 5])).tolist() == [1, 3, 5]
    assert bins.continuous(10.0) == 5.0 and bins.continuous(1.0) == 1.0
    titles = synthetic.items["title"].to_numpy()
    with pytest.raises(ConfigError, match="'10' is 2 tokens"):
        InstructionEncoder(tiny[1], titles, PromptStyle(), labels_for(10),
                           pointwise_answers=[str(r) for r in range(1, 11)], rating_scale=(1, 10))
    enc = InstructionEncoder(tiny[1], titles, PromptStyle(), labels_for(10), rating_scale=(0, 10))
    assert "(1-5)" in enc.prefix_text(np.array([0, 1]), np.array([10, 3]))
    assert "- " in enc.prefix_text(np.array([0]), np.array([10])).splitlines()[-1]
    assert enc.prefix_text(np.array([0]), np.array([10])).endswith(": 5")


def test_ddp_ranks_take_instructions_in_order(instructions):
    """Under DDP rank r trains on instructions r, r+2, ... (no shuffling sampler): 2 ranks at batch 1
    see what one process sees at batch 2, as the listwise DDP test checks end to end."""
    from types import SimpleNamespace

    from rankexp.prompts.instruction_datamodule import InstructionDataModule

    seen = []
    for rank in (0, 1):
        module = InstructionDataModule(instructions, [], [], batch_size=1, pad_id=2)
        module.trainer = SimpleNamespace(world_size=2, global_rank=rank, current_epoch=0)
        seen.append(list(iter(module.train_dataloader().sampler)))
    assert seen[0][:3] == [0, 2, 4] and seen[1][:3] == [1, 3, 5]
    single = InstructionDataModule(instructions, [], [], batch_size=2, pad_id=2)
    assert single.train_dataloader().sampler.__class__.__name__ == "SequentialSampler"


def test_strip_year_reaches_recrankers_prompts(tiny, rerank, synthetic):
    """`task.strip_year=true` drops " (1995)" from RecRanker's titles as from ALRO's (it was read by ALRO only)."""
    from dataclasses import replace

    from omegaconf import OmegaConf

    cfg = OmegaConf.merge(rerank[0], {"task": {"strip_year": True}})
    items = synthetic.items.assign(title=[f"Film {i} (199{i % 10})" for i in range(len(synthetic.items))])
    dated = replace(synthetic, items=items)
    assert build_encoder(cfg, dated, tiny[1]).titles[3] == "Film 3"
    assert build_encoder(rerank[0], dated, tiny[1]).titles[3] == "Film 3 (1993)"
