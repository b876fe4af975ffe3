"""rankexp.report.media: example tables, position bias, files + W&B logging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rankexp.evaluation.position_bias import bias_metrics, position_bias
from rankexp.report import media
from tests.helpers.runs import make_example

M = 4
TITLES = np.array([f"Item {i}" for i in range(3 + M)], dtype=object)
LABELS = list("ABCD")


def test_example_rankings_table_columns_and_orders():
    examples = [make_example(u, M) for u in range(3)]
    scores = np.array([[0.1, 0.4, 0.3, 0.2]] * 3)
    table = media.example_rankings_table(examples, scores, TITLES, LABELS, n=2)
    assert len(table) == 2
    assert list(table.columns) == ["user", "history", "candidates", "target_order", "predicted_order",
                                   "predicted_top", "ndcg@5"]
    row = table.iloc[0]
    assert row["predicted_order"] == "B C D A"
    assert row["predicted_top"] == "Item 4"  # slot B holds candidate item 3 + 1
    assert row["target_order"] == " ".join(LABELS[s] for s in examples[0].target_slots)
    assert row["candidates"].startswith("A. Item 3 (gain")
    assert row["history"].startswith("Item 0 (")
    assert 0.0 <= row["ndcg@5"] <= 1.0


def test_perfect_scores_give_ndcg_one():
    example = make_example(0, M)
    table = media.example_rankings_table([example], example.gains[None].astype(float), TITLES, LABELS)
    assert table.iloc[0]["ndcg@5"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected"):
        media.example_rankings_table([example], np.zeros((1, M + 1)), TITLES, LABELS)


def _slot_scorer(examples):
    """Always prefers slot 0, whatever is shown there: pure position bias."""
    return np.tile(np.arange(M, 0, -1, dtype=float), (len(examples), 1))


def _item_scorer(examples):
    """Scores the item itself (its id): no position bias at all."""
    return np.stack([e.candidates.astype(float) for e in examples])


def test_position_bias_separates_slot_and_item_scorers():
    examples = [make_example(u, M) for u in range(200)]
    slot = position_bias(_slot_scorer, examples, n_orders=5, seed=0)
    assert slot["first_slot_probability"] == [1.0, 0.0, 0.0, 0.0]
    assert slot["slot_bias_tv"] == pytest.approx(1 - 1 / M)
    assert slot["top1_agreement"] == pytest.approx(1 / M, abs=0.05)  # the item in slot 0 is random
    item = position_bias(_item_scorer, examples, n_orders=5, seed=0)
    assert item["top1_agreement"] == 1.0 and item["top1_all_agree"] == 1.0
    assert item["slot_bias_tv"] < 0.1  # the best item lands in each slot about equally often
    assert (item["n_lists"], item["n_orders"], item["m"]) == (200, 5, M)
    assert position_bias(_slot_scorer, examples, seed=0) == slot  # seeded
    assert bias_metrics(item) == {"position_bias/top1_agreement": 1.0, "position_bias/top1_all_agree": 1.0,
                                        "position_bias/chance_top1_agreement": 0.25,
                                        "position_bias/slot_bias_tv": item["slot_bias_tv"]}


def test_position_bias_takes_the_presented_order_from_given_scores():
    """With the lists' own scores, the first order is the presented one and costs no forward."""
    examples = [make_example(u, M) for u in range(200)]
    calls = []

    def counted(shown):
        calls.append(len(shown))
        return _item_scorer(shown)

    item = position_bias(counted, examples, n_orders=5, seed=0, presented_scores=_item_scorer(examples))
    assert calls == [200] * 4 and item["top1_agreement"] == 1.0 and item["n_orders"] == 5
    # the given scores are what order 0 ranks: a slot-biased order 0 breaks the agreement
    mixed = position_bias(_item_scorer, examples, n_orders=2, seed=0, presented_scores=_slot_scorer(examples))
    assert mixed["top1_agreement"] < 0.5
    with pytest.raises(ValueError, match="shape"):
        position_bias(_item_scorer, examples, presented_scores=np.zeros((len(examples), M - 1)))


def test_position_bias_accepts_torch_and_rejects_bad_shapes():
    import torch

    examples = [make_example(u, M) for u in range(4)]
    stats = position_bias(lambda ex: torch.as_tensor(_item_scorer(ex)), examples, n_orders=2)
    assert stats["top1_agreement"] == 1.0
    with pytest.raises(ValueError, match="shape"):
        position_bias(lambda ex: np.zeros((len(ex), M - 1)), examples)
    with pytest.raises(ValueError, match="n_orders"):
        position_bias(_item_scorer, examples, n_orders=1)


def test_plot_and_log_media_write_files(tmp_path):
    stats = position_bias(_slot_scorer, [make_example(u, M) for u in range(10)], n_orders=3)
    plot = media.save_position_bias_plot(stats, tmp_path / "plots" / "bias.png")
    assert plot.read_bytes()[:4] == b"\x89PNG"
    table = pd.DataFrame({"a": [1, 2]})
    from lightning.pytorch.loggers import CSVLogger

    saved = media.log_media([CSVLogger(tmp_path), None], tmp_path / "run", tables={"examples": table},
                            plots={"position_bias": plot})
    assert saved["examples"] == tmp_path / "run" / "media" / "examples.csv"
    assert pd.read_csv(saved["examples"])["a"].tolist() == [1, 2]
    assert saved["position_bias"].read_bytes() == plot.read_bytes()
    assert media.log_media(None, tmp_path / "run")  == {}


def test_log_media_sends_tables_and_images_to_wandb(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    class RecordingWandb(WandbLogger):  # no W&B run: record what would be logged
        def __init__(self):
            self.calls = []

        def log_table(self, key, dataframe=None, **kwargs):
            self.calls.append(("table", key, len(dataframe)))

        def log_image(self, key, images, **kwargs):
            self.calls.append(("image", key, images))

    class BrokenWandb(RecordingWandb):
        def log_table(self, *args, **kwargs):
            raise RuntimeError("network down")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    logger = RecordingWandb()
    saved = media.log_media(logger, tmp_path, tables={"t": pd.DataFrame({"x": [1]})}, plots={"p": fig})
    assert logger.calls == [("table", "media/t", 1), ("image", "media/p", [str(saved["p"])])]
    assert saved["p"].is_file()
    media.log_media([BrokenWandb()], tmp_path, tables={"t": pd.DataFrame({"x": [1]})})  # warns, never raises


def test_make_score_fn_matches_ranker_score(tiny_lora_model):
    import torch
    from torch import nn

    from rankexp.models.list_scores import make_score_fn
    from rankexp.models.ranker import ListwiseRanker
    from rankexp.prompts.listwise import ListwiseEncoder, collate
    from rankexp.prompts.style import PromptStyle

    model, tokenizer = tiny_lora_model
    encoder = ListwiseEncoder(tokenizer, TITLES, LABELS, PromptStyle(), max_length=512)
    ranker = ListwiseRanker(model, encoder.label_ids, nn.ModuleDict())
    ranker.train()
    examples = [make_example(u, M) for u in range(3)]
    scores = make_score_fn(ranker, encoder, batch_size=2)(examples)
    assert scores.shape == (3, M) and ranker.training  # mode restored
    batch = collate([encoder.encode(e, with_target=False) for e in examples], tokenizer.pad_token_id, False)
    ranker.eval()
    with torch.no_grad():
        expected = ranker.score(batch).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    stats = position_bias(make_score_fn(ranker, encoder), examples, n_orders=2)
    assert 0.0 <= stats["top1_agreement"] <= 1.0


@pytest.mark.slow
def test_log_media_with_a_real_offline_wandb_run(tmp_path, monkeypatch):
    """wandb.Table / wandb.Image really land in the offline run (wandb's own service; ~10-30 s)."""
    from lightning.pytorch.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(project="rankexp-test", save_dir=str(tmp_path), offline=True)
    stats = position_bias(_item_scorer, [make_example(u, M) for u in range(5)], n_orders=2)
    plot = media.save_position_bias_plot(stats, tmp_path / "bias.png")
    table = media.example_rankings_table([make_example(0, M)], np.ones((1, M)), TITLES, LABELS)
    media.log_media(logger, tmp_path / "run", tables={"example_rankings": table}, plots={"position_bias": plot})
    logger.experiment.finish()
    files = [p.name for p in (tmp_path / "wandb").rglob("*") if p.is_file()]
    assert any(name.startswith("example_rankings") and name.endswith(".table.json") for name in files), files
    assert any(name.startswith("position_bias") and name.endswith(".png") for name in files), files
