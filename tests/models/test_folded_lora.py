"""LoRA folded into the base while a ranker evaluates (rankexp.models.folding.FoldedLora): the same scores, and
afterwards the very same weights, so training after a validation goes on exactly as without it."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from rankexp.prompts.datamodule import RankingDataModule
from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
from tests.helpers.runs import compose_cfg

pytestmark = pytest.mark.usefixtures("one_thread")


def _ranker(tiny_model, synthetic):
    from rankexp.recipes.lists import build_lists

    model, tokenizer = tiny_model
    torch.manual_seed(0)
    with torch.no_grad():  # a trained-looking adapter: B is zero at init, which would make folding a no-op
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    cfg = compose_cfg("data=synthetic", "protocol.m=4", "protocol.history_len=3", "protocol.min_history=3",
                      "readout=candidate", "loss=[rating_ce]")
    lists = build_lists(cfg, synthetic)
    encoder = build_encoder(cfg, synthetic, tokenizer, 512)
    ranker = build_ranker(cfg, model, encoder, active_losses(cfg))
    data = RankingDataModule(lists.train_source, lists.val[:4], lists.test[:4], encoder, seed=0, draws_per_epoch=4,
                             batch_size=1, eval_batch_size=2, permute=False)
    return ranker, data


def _test_scores(ranker, data, tmp_path, precision: str, cast: bool) -> torch.Tensor:
    """The test loop's scores; `cast=False` keeps the scoring weights in fp32 (`scoring_dtype` returning None)."""
    from contextlib import nullcontext
    from unittest import mock

    from rankexp.models.base import RankerBase
    from rankexp.recipes.alro import tested_scores

    trainer = L.Trainer(accelerator="cpu", precision=precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        inference_mode=False)
    with mock.patch.object(RankerBase, "scoring_dtype", lambda self: None) if not cast else nullcontext():
        trainer.test(ranker, datamodule=data, verbose=False)
    return tested_scores(ranker, len(data.test_lists))


def _weights(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def test_folded_scores_match_and_the_weights_come_back_bit_for_bit(tiny_model, synthetic):
    ranker, data = _ranker(tiny_model, synthetic)
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    ranker.eval()
    before = _weights(ranker)
    with torch.no_grad():
        plain = ranker.score(batch)
        ranker.folded.fold()
        assert ranker.folded.saved is not None and all(layer.merged for layer, _ in ranker.folded.saved)
        folded = ranker.score(batch)
        ranker.folded.unfold()
        again = ranker.score(batch)
    assert torch.allclose(folded, plain, atol=1e-5) and not torch.equal(folded, plain)  # folded: other rounding
    assert torch.equal(again, plain)
    after = _weights(ranker)
    assert all(torch.equal(after[name], weight) for name, weight in before.items())
    assert not any(layer.merged for layer in ranker.folded.layers())


def test_validation_inside_fit_folds_and_leaves_the_base_untouched(tiny_model, synthetic, tmp_path):
    """Fit with a validation after every step: each validation scores folded, and the frozen base is
    bit-identical at the end (peft's own unmerge would leave it off by rounding)."""
    ranker, data = _ranker(tiny_model, synthetic)
    before = {name: w for name, w in _weights(ranker).items() if "lora_" not in name}
    folded_batches = []
    real_score = ranker.score
    ranker.score = lambda batch: (folded_batches.append(ranker.folded.saved is not None), real_score(batch))[1]
    trainer = L.Trainer(accelerator="cpu", max_steps=3, val_check_interval=1, limit_val_batches=2, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, default_root_dir=tmp_path)
    trainer.fit(ranker, datamodule=data)
    assert len(folded_batches) == 6 and all(folded_batches), folded_batches
    after = _weights(ranker)
    assert all(torch.equal(after[name], weight) for name, weight in before.items()), "the frozen base moved"
    assert ranker.folded.saved is None and not any(layer.merged for layer in ranker.folded.layers())


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_scoring_after_the_test_repeats_the_test_steps_arithmetic(tiny_model, synthetic, tmp_path, precision):
    """The position-bias probe scores shuffled copies of the test lists outside Lightning
    (`models.list_scores.make_score_fn`): a ranker attached to its trainer scores under the trainer's
    precision and folded, so the unshuffled lists get exactly the test step's scores; the base comes back
    bit for bit. Mutations checked by hand: scoring without the trainer's autocast, unfolded, or folding under
    autocast (peft's B @ A then comes out in bf16) each fails here."""
    from rankexp.models.list_scores import make_score_fn
    from rankexp.recipes.alro import tested_scores

    ranker, data = _ranker(tiny_model, synthetic)
    before = _weights(ranker)
    trainer = L.Trainer(accelerator="cpu", precision=precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        inference_mode=False)
    trainer.test(ranker, datamodule=data, verbose=False)
    tested = tested_scores(ranker, len(data.test_lists))
    again = make_score_fn(ranker, data.encoder, batch_size=data.eval_batch_size)(data.test_lists)
    assert torch.equal(torch.as_tensor(again, dtype=torch.float32), tested)
    after = _weights(ranker)
    assert all(torch.equal(after[name], weight) for name, weight in before.items())
    assert ranker.folded.saved is None and not any(layer.merged for layer in ranker.folded.layers())


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_under_bf16_autocast_the_folded_weights_are_kept_in_bf16_with_the_same_scores(tiny_model, synthetic,
                                                                                        tmp_path, precision):
    """Under `bf16-mixed` the folded base weights are stored in bf16 while the ranker scores
    (`FoldedLora.fold(cast_to=...)`), so autocast does not cast them again at every forward. The cast rounds as
    autocast's does: the test scores equal, bit for bit, those of a test that keeps the weights in fp32, and the
    fp32 base comes back bit for bit. Under `32-true` nothing is cast. Mutation checked by hand: without the cast
    (`scoring_dtype` returning None) the dtype assertion fails; casting before folding fails the equality."""
    ranker, data = _ranker(tiny_model, synthetic)
    before = _weights(ranker)
    dtypes = []
    real_score = ranker.score
    ranker.score = lambda batch: (dtypes.append({layer.get_base_layer().weight.dtype
                                                 for layer in ranker.folded.layers()}), real_score(batch))[1]

    cast, kept_fp32 = (_test_scores(ranker, data, tmp_path, precision, cast) for cast in (True, False))
    expected = torch.bfloat16 if precision == "bf16-mixed" else torch.float32
    assert all(seen == {expected} for seen in dtypes[:len(dtypes) // 2]), dtypes
    assert all(seen == {torch.float32} for seen in dtypes[len(dtypes) // 2:]), dtypes  # the fp32 reference run
    assert torch.equal(cast, kept_fp32)
    after = _weights(ranker)
    assert all(torch.equal(after[name], w) and after[name].dtype == w.dtype for name, w in before.items())
    assert ranker.folded.saved is None and not any(layer.merged for layer in ranker.folded.layers())


def test_with_lora_on_the_top_layers_only_the_unadapted_projections_are_cast_too(synthetic, tmp_path):
    """`model.lora.top_layers`: the layers below hold plain frozen projections, which autocast would otherwise cast
    at every scoring forward. They are held in bf16 while the ranker scores under bf16-mixed, the scores equal bit
    for bit those of a test that keeps every weight in fp32, and their fp32 weights come back afterwards."""
    from rankexp.models.loading import load_model
    from tests.helpers.models import LORA, SMOL

    ranker, data = _ranker(load_model("tiny_random", **SMOL, lora={**LORA, "top_layers": 1}), synthetic)
    lower = ranker.model.get_base_model().model.layers[0].self_attn.q_proj
    assert type(lower) is torch.nn.Linear  # not adapted
    before = _weights(ranker)
    seen = []
    real_score = ranker.score
    ranker.score = lambda batch: (seen.append(lower.weight.dtype), real_score(batch))[1]

    cast, kept_fp32 = (_test_scores(ranker, data, tmp_path, "bf16-mixed", cast) for cast in (True, False))
    assert seen[:len(seen) // 2] == [torch.bfloat16] * (len(seen) // 2)
    assert seen[len(seen) // 2:] == [torch.float32] * (len(seen) // 2)
    assert torch.equal(cast, kept_fp32)
    after = _weights(ranker)
    assert all(torch.equal(after[name], w) and after[name].dtype == w.dtype for name, w in before.items())
