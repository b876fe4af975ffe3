"""Can it learn at all? Every readout x loss overfits one fixed batch of the tiny random Llama.

The standard first check of a training loop: on one batch of two lists, 100 AdamW steps must cut
the loss by a stated factor, and the model must then rank those lists as the target does. A loss
whose gradient does not reach the adapter, a readout that reads the wrong position, or a target
built in the wrong order fails here, in seconds, long before a real run would show it.

"Ranks as the target does" per readout:
- slot readout, Soft Lambda: the soft-argmax expected positions it trains put the list in gain
  order (NDCG@m = 1; items of equal gain may come in either order);
- slot readout, SFT: the answer the model writes (constrained greedy decoding of the labels) is the
  target order, as SFT teaches the whole written answer;
- candidate readout: the expected ratings put the list in gain order;
- the permutation KL alone has no target: it asks for one ranking whatever order the candidates are
  shown in, so there the distributions it compares (per slot for the slot readout, the softmax of
  the scores for the candidate readout) must agree between each list and its shuffled copy
  (total variation <= 0.02);
- instruction readout (RecRanker): the teacher-forced argmax at every answer token is the target
  answer (the rating, the Yes/No, and the listwise top-5 with its newlines).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rankexp.losses.soft_lambda import expected_positions
from rankexp.models.decoding import constrained_greedy
from rankexp.prompts.datamodule import RankingDataModule
from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
from tests.helpers.runs import compose_cfg

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS, LR = 100, 3e-2
# The tiny Llama's output layer is initialised at std 0.02, which caps its logits near +-1.3: no adapter
# could write a label with confidence. Scaled by 10 it has the logit range of a trained model.
OUTPUT_SCALE = 10.0
PROTOCOL = ["data=synthetic", "protocol.m=4", "protocol.history_len=3", "protocol.min_history=3", "task.hints=true"]
# (readout, loss) -> the factor the loss must fall by over its steps.
# Soft Lambda keeps a floor above zero at finite sharpness, so it is asked for less.
COMBOS = {
    ("slot", "sft"): 5.0,
    ("slot", "soft_lambda"): 1.2,
    ("slot", "perm_kl"): 10.0,
    ("candidate", "rating_ce"): 100.0,
    ("candidate", "soft_lambda"): 4.0,
    ("candidate", "perm_kl"): 10.0,
}

# Per-combination overrides. With ALRO's Y over the full vocabulary the tiny model leaves Soft Lambda's
# expected positions tied at 2.5 for two items even after 300 steps (every label's probability ~1e-6);
# Y over the m labels (`readout.y_over=labels`, the same loss on Y renormalised) sorts both lists in 300 steps.
EXTRA = {("slot", "soft_lambda"): ["readout.y_over=labels"]}
STEPS_OF = {("slot", "soft_lambda"): 300}


@pytest.fixture()
def fit_model():
    """A fresh tiny random Llama, LoRA r=8 on q/v, its output layer scaled (OUTPUT_SCALE)."""
    from rankexp.models.loading import load_model
    from tests.helpers.models import LORA, SMOL

    model, tokenizer = load_model("tiny_random", **SMOL, lora={**LORA, "r": 8, "alpha": 16})
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(OUTPUT_SCALE)
    return model, tokenizer


def _one_batch(readout: str, loss: str, fit_model, synthetic):
    from rankexp.recipes.lists import build_lists

    model, tokenizer = fit_model
    cfg = compose_cfg(*PROTOCOL, f"readout={readout}", f"loss=[{loss}]", *EXTRA.get((readout, loss), []))
    lists = build_lists(cfg, synthetic)
    encoder = build_encoder(cfg, synthetic, tokenizer, 512)
    losses = active_losses(cfg)
    ranker = build_ranker(cfg, model, encoder, losses)
    module = RankingDataModule(lists.train_source, lists.val[:1], lists.test[:1], encoder, seed=0,
                               draws_per_epoch=2, batch_size=2, eval_batch_size=2,
                               permute=any(term.needs_permuted for term in losses.values()))
    rows = [module.train_draws[0], module.train_draws[1]]
    examples = [module.train_draws.source.draw(i, 0, None) for i in range(2)]
    return ranker, encoder, module._collate_train(rows), examples, module.pad_id


def _train(module, loss_of, steps: int) -> tuple[float, float]:
    """`steps` AdamW steps on `loss_of()` over the module's trainable weights: (first loss, last loss)."""
    module.model.train()
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=LR)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    module.model.eval()
    return losses[0], losses[-1]


@pytest.mark.parametrize(("readout", "loss"), sorted(COMBOS))
def test_overfits_one_batch(readout: str, loss: str, fit_model, synthetic):
    ranker, encoder, batch, examples, pad_id = _one_batch(readout, loss, fit_model, synthetic)
    first, last = _train(ranker, lambda: sum(ranker.loss_terms(batch).values()), STEPS_OF.get((readout, loss), STEPS))
    assert last * COMBOS[readout, loss] <= first, f"loss {first:.4f} -> {last:.4f}: not cut {COMBOS[readout, loss]}x"
    assert len({len(e.candidates) for e in examples}) == 1 and all(np.ptp(e.gains) > 0 for e in examples)
    with torch.no_grad():
        if loss == "sft":
            for example in examples:
                prompt = encoder.encode(example, with_target=False).prompt_ids
                written = constrained_greedy(ranker.model, list(prompt), encoder.label_ids[: len(example.candidates)],
                                             encoder.newline_id)
                assert written == list(example.target_slots), (written, example.target_slots)
        elif loss == "perm_kl":  # no target of its own: it asks one ranking whatever the candidate order
            out = ranker.outputs(ranker, batch)
            if readout == "slot":  # per slot, ALRO's Y over the items, both indexed by item
                original, shuffled = (y / y.sum(-1, keepdim=True) for y in (out.y, out.y_permuted))
            else:  # the softmax of the candidates' scores, as the loss compares them
                original, shuffled = out.scores.softmax(-1), out.scores_permuted.softmax(-1)
            total_variation = 0.5 * (original - shuffled).abs().sum(-1).max()
            assert total_variation <= 0.02, (original.tolist(), shuffled.tolist())
        elif readout == "slot":  # Soft Lambda ranks by ALRO's soft-argmax expected positions (lower = better)
            gamma = ranker.losses[loss].gamma
            scores = -expected_positions(ranker.outputs(ranker, batch).y, gamma)
            _assert_gain_order(scores, batch["gains"][: len(examples)])
        else:
            eval_batch = encoder.collate([encoder.encode(e, with_target=False) for e in examples], pad_id, False)
            _assert_gain_order(ranker.score(eval_batch), eval_batch["gains"])


def _assert_gain_order(scores: torch.Tensor, gains: torch.Tensor) -> None:
    """Sorted by score, every list's gains never go up (NDCG@m = 1)."""
    for row in range(scores.shape[0]):
        in_order = gains[row][torch.argsort(scores[row], descending=True, stable=True)]
        assert (in_order[:-1] >= in_order[1:]).all(), (scores[row].tolist(), gains[row].tolist())


def test_instruction_readout_overfits_one_batch(fit_model, rerank, synthetic):
    """RecRanker's instructions: one pointwise, one pairwise and one listwise row, SFT on the answer tokens."""
    from rankexp.data.recranker_tasks import RecRankerTasks
    from rankexp.models.hybrid import HybridEvaluator, HybridOptions
    from rankexp.models.instruction import InstructionRanker
    from rankexp.prompts.instruction_datamodule import InstructionSet, collate_sft
    from rankexp.recipes.recranker import build_encoder as instruction_encoder
    from rankexp.recipes.recranker import hint_functions

    cfg, lists = rerank
    model, tokenizer = fit_model
    encoder = instruction_encoder(cfg, synthetic, tokenizer)
    predict_rating, score = hint_functions(cfg, lists)
    tasks = RecRankerTasks(lists.train, synthetic.n_items, synthetic.like_threshold, history_len=5,
                           predict_rating=predict_rating, score=score)
    users = np.array(sorted(tasks.users))[:30]
    instructions = InstructionSet(tasks, users, encoder, seed=0, mix={"pointwise": 1, "pairwise": 1, "listwise": 1})
    rows, seen = [], set()
    for i in range(len(instructions)):
        task = instructions.instances[i][0]
        if task not in seen:
            seen.add(task)
            rows.append(instructions[i])
    assert seen == {"pointwise", "pairwise", "listwise"}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch = collate_sft(rows, pad_id=pad_id)
    ranker = InstructionRanker(model, HybridEvaluator(encoder, HybridOptions()))
    first, last = _train(ranker, lambda: ranker.sft_loss(batch), STEPS)
    assert last * 5.0 <= first, f"loss {first:.4f} -> {last:.4f}: not cut 5x"
    with torch.no_grad():
        logits = ranker.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["sft_labels"]
    answer = labels != -100
    # the logit at position t predicts token t + 1
    predicted = logits[:, :-1].argmax(-1)[answer[:, 1:]]
    assert predicted.tolist() == labels[:, 1:][answer[:, 1:]].tolist()
