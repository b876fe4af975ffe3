"""Candidate readout (`readout=candidate`): positions, exact batching, learning, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rankexp.config.check import validate_config
from rankexp.errors import ConfigError
from rankexp.models.readouts import readout_of
from rankexp.prompts.datamodule import RankingDataModule
from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
from tests.helpers.runs import compose_cfg

CANDIDATE = ["data=synthetic", "protocol.m=6", "protocol.history_len=5", "protocol.min_history=3",
             "readout=candidate", "task.hints=true", "loss=[rating_ce]", "loss.rating_ce.history_weight=0.5"]


@pytest.fixture()
def candidate_setup(tiny_model, synthetic):
    from rankexp.recipes.lists import build_lists

    model, tokenizer = tiny_model
    cfg = compose_cfg(*CANDIDATE)
    lists = build_lists(cfg, synthetic)
    encoder = build_encoder(cfg, synthetic, tokenizer, 512)
    ranker = build_ranker(cfg, model, encoder, active_losses(cfg))
    dm = RankingDataModule(lists.train_source, lists.val[:5], lists.test[:5], encoder, seed=0, draws_per_epoch=4,
                           batch_size=4, eval_batch_size=5, permute=False)
    return cfg, lists, encoder, ranker, dm


def test_rating_tokens_of_smollm2(tiny_model):
    from rankexp.prompts.candidate import rating_tokens

    _, tokenizer = tiny_model
    gap, ids = rating_tokens(tokenizer, [1, 2, 3, 4, 5])
    assert [tokenizer.decode(g) for g in gap] == [" "]
    assert [tokenizer.decode([i]) for i in ids] == ["1", "2", "3", "4", "5"]


def test_each_readout_is_the_token_before_a_rating(candidate_setup):
    _, lists, encoder, _, _ = candidate_setup
    example = lists.val[0]
    encoded = encoder.encode(example)
    ids = encoded.input_ids
    assert len(encoded.readout) == len(example.candidates)
    assert len(encoded.history_readout) == len(example.history)
    for position, target, rating in zip(encoded.history_readout, encoded.history_targets, example.history_ratings):
        assert ids[position] == encoder.gap[-1] and ids[position + 1] == encoder.rating_ids[target]
        assert encoder.rating_values[target] == int(rating)
    for position in encoded.readout:  # the same gap token, then the line ends: the rating is what is asked
        assert ids[position] == encoder.gap[-1] and ids[position + 1] == encoder.newline[0]
    text = encoder.tokenizer.decode(ids)
    assert "(avg " in text and text.count("\n- ") == len(example.history) + len(example.candidates)


def test_batched_scores_equal_one_list_at_a_time(candidate_setup):
    """Right padding: a batch of mixed-length lists scores each list as if it were alone (fp32)."""
    _, lists, encoder, ranker, _ = candidate_setup
    ranker.eval()
    examples = lists.val[:5]
    encoded = [encoder.encode(e, with_target=False) for e in examples]
    assert len({len(e.input_ids) for e in encoded}) > 1
    with torch.no_grad():
        batched = ranker.score(encoder.collate(encoded, 0, with_target=False))
        alone = torch.cat([ranker.score(encoder.collate([e], 0, with_target=False)) for e in encoded])
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)
    assert ((batched >= 1) & (batched <= 5)).all()


def test_scores_are_expected_ratings_at_the_readouts(candidate_setup):
    _, lists, encoder, ranker, _ = candidate_setup
    ranker.eval()
    batch = encoder.collate([encoder.encode(lists.val[0], with_target=False)], 0, with_target=False)
    with torch.no_grad():
        scores = ranker.score(batch)
        logits = ranker.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    rows = logits[0, batch["readout_positions"][0]][:, encoder.rating_ids].float()
    expected = torch.softmax(rows, -1) @ torch.tensor(encoder.rating_values, dtype=torch.float32)
    torch.testing.assert_close(scores[0], expected, rtol=1e-4, atol=1e-5)


def test_training_steps_lower_the_rating_loss(candidate_setup):
    _, _, _, ranker, dm = candidate_setup
    batch = next(iter(dm.train_dataloader()))
    assert set(ranker.loss_terms(batch)) == {"rating_ce"}
    optimizer = torch.optim.AdamW([p for p in ranker.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        loss = sum(ranker.loss_terms(batch).values())
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0] - 0.2, losses  # measured: 2.30 -> 2.01 in 20 steps


def test_soft_lambda_and_perm_kl_on_scores(tiny_model, synthetic):
    from rankexp.recipes.lists import build_lists

    model, tokenizer = tiny_model
    cfg = compose_cfg(*CANDIDATE[:-2], "loss=[rating_ce,soft_lambda,perm_kl]")
    lists = build_lists(cfg, synthetic)
    encoder = build_encoder(cfg, synthetic, tokenizer, 512)
    ranker = build_ranker(cfg, model, encoder, active_losses(cfg))
    dm = RankingDataModule(lists.train_source, [], [], encoder, seed=0, draws_per_epoch=2, batch_size=2,
                           eval_batch_size=2, permute=True)
    terms = ranker.loss_terms(next(iter(dm.train_dataloader())))
    assert set(terms) == {"rating_ce", "soft_lambda", "perm_kl"}
    assert all(torch.isfinite(v) and v.requires_grad for v in terms.values())
    assert terms["perm_kl"].item() >= 0
    norms = ranker.term_grad_norms(terms)  # train.grad_norm_every: which term moves the adapter
    assert set(norms) == set(terms) and all(np.isfinite(v) and v > 0 for v in norms.values())


@pytest.mark.parametrize(("overrides", "expected"), [
    (["loss=[sft]"], "`loss.sft` reads answer_logits, which `readout=candidate` does not give"),
    (["task=hybrid"], "`readout=candidate` is read by the alro recipe, and this run's is `recipe=recranker`"),
    (["eval.methods=[verbalizer,constrained]"], "`eval.methods` ['constrained']"),
    (["task.scoring=slots"], "`task.scoring` must be one of slot, candidate"),
])
def test_scoring_mode_errors_name_the_key(tiny_model, synthetic, overrides, expected):
    base = [o for o in CANDIDATE if not (o.startswith("loss") and overrides[0].startswith("loss"))]
    if overrides[0] == "task=hybrid":
        base = [o for o in base if not o.startswith("task.")] + ["task.hints=true"]
    with pytest.raises(ConfigError) as caught:
        cfg = compose_cfg(*base, *overrides)
        validate_config(cfg)
        model, tokenizer = tiny_model
        build_ranker(cfg, model, build_encoder(cfg, synthetic, tokenizer, 512), active_losses(cfg))
    assert expected in str(caught.value)


def test_the_shipped_candidate_experiment_composes():
    cfg = compose_cfg("+experiment=alro_ml100k_candidate")
    validate_config(cfg)
    assert readout_of(cfg).name == "candidate" and list(cfg.loss) == ["rating_ce"]
    assert OmegaConf.select(cfg, "optim.schedule") == "linear"
    assert instantiate(cfg.loss.rating_ce).weight == 1.0
    assert np.isfinite(cfg.optim.lr)


def test_the_selected_checkpoints_validation_scores_are_reused_exactly(candidate_setup, tmp_path):
    """Fusion and order averaging take the validation scores of the checkpoint `trainer.test` restored: equal to
    scoring the validation lists again with those weights, and not another validation's."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from rankexp.models.list_scores import make_score_fn

    _, _, encoder, ranker, dm = candidate_setup
    ranker.lr = 3e-2  # big steps: every validation sees other weights

    class Selects(L.Callback):  # the monitored value peaks at step 2 of 6, so the best is not the last
        def on_validation_epoch_end(self, trainer, module) -> None:
            module.log("pick", -abs(trainer.global_step - 2.0))

    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="pick", mode="max")
    trainer = L.Trainer(accelerator="cpu", max_steps=6, val_check_interval=2, check_val_every_n_epoch=None,
                        callbacks=[Selects(), checkpoint], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, precision="32-true",
                        reload_dataloaders_every_n_epochs=1)
    trainer.fit(ranker, datamodule=dm)
    assert sorted(ranker.val_scores_at) == [2, 4, 6] and ranker.restored_step is None
    assert ranker.selected_val_scores(len(dm.val_lists)) is None  # nothing restored yet: score again
    trainer.test(ranker, datamodule=dm, ckpt_path=checkpoint.best_model_path, verbose=False)
    assert ranker.restored_step == 2
    reused = ranker.selected_val_scores(len(dm.val_lists))
    again = torch.as_tensor(make_score_fn(ranker, encoder, batch_size=5)(dm.val_lists), dtype=torch.float32)
    torch.testing.assert_close(reused, again, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(ranker.val_scores_at[6], again, atol=1e-4)
    assert ranker.selected_val_scores(len(dm.val_lists) + 1) is None  # a partial set (DDP shard) is not reused


def test_the_expected_rating_stays_fp32_under_bf16_autocast():
    """Under bf16 autocast a matmul returns bf16, whose steps of 1/64 near 3 would tie most candidates of a list.
    Mutation checked by hand: the product without `autocast(enabled=False)` fails here."""
    from rankexp.models.scoring import expected_rating

    logits = torch.randn(4, 20, 5, generator=torch.Generator().manual_seed(0))
    values = torch.arange(1.0, 6.0)
    plain = expected_rating(logits, values)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = expected_rating(logits, values)
    assert autocast.dtype == torch.float32 and torch.equal(autocast, plain)
    assert autocast.unique().numel() == autocast.numel()  # 80 different ratings, no bf16 ties
