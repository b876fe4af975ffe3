"""What each loss term promises the recipe: the readout it reads, whether it needs the shuffled copy,
how its weight scales it, that its class defaults are the shipped yaml, and its edge cases
(one-pair lists, one target token, padded batches of unequal lists, long lists with ties)."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

import rankexp
from rankexp.errors import ConfigError
from rankexp.losses import (
    PermutationKLLoss,
    RatingCELoss,
    SFTLoss,
    SoftLambdaLoss,
    build_loss,
    permutation_kl,
    rating_cross_entropy,
    soft_lambda_loss,
)
from rankexp.losses.perm_kl import inverse_permutation
from rankexp.losses.soft_lambda import expected_positions, first_slot_positions
from tests.losses.test_soft_lambda import reference_loss, reference_pairwise

CLASSES = {"sft": SFTLoss, "soft_lambda": SoftLambdaLoss, "perm_kl": PermutationKLLoss, "rating_ce": RatingCELoss}
SHIPPED = Path(rankexp.__file__).parent / "conf" / "loss"


def _random_y(batch: int, m: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(batch, m, m, generator=gen, dtype=torch.float64) * 3, dim=-1)


def slot_kl_reference(y_orig: torch.Tensor, y_perm: torch.Tensor, lengths: list[int] | None = None) -> float:
    """Mean over every valid slot of KL(orig || perm), each slot row renormalised over the list's items."""
    kls = []
    for b in range(y_orig.shape[0]):
        n = y_orig.shape[-1] if lengths is None else lengths[b]
        for k in range(min(n, y_orig.shape[1])):
            p, q = y_orig[b, k, :n].double(), y_perm[b, k, :n].double()
            p, q = p / p.sum(), q / q.sum()
            kls.append(float((p * (p.log() - q.log())).sum()))
    return sum(kls) / len(kls)


def test_only_perm_kl_asks_for_the_shuffled_copy():
    # the datamodule doubles every batch for a term that needs it: a wrong flag doubles the cost
    # (or starves perm_kl of its second prompt)
    assert {name: cls.needs_permuted for name, cls in CLASSES.items()} == {
        "sft": False, "soft_lambda": False, "perm_kl": True, "rating_ce": False}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_class_defaults_are_the_shipped_yaml(name):
    # Python callers (build_losses(["sft"]), the API) and config runs must build the same term
    shipped = OmegaConf.to_container(OmegaConf.load(SHIPPED / f"{name}.yaml"))
    cls = CLASSES[name]
    assert shipped.pop("_target_") == f"{cls.__module__}.{cls.__name__}"
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    assert defaults == shipped


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_weight_zero_is_allowed_and_negative_is_not(name):
    assert CLASSES[name](weight=0.0).weight == 0.0  # weight 0 switches a term off in an ablation
    with pytest.raises(ConfigError, match=rf"^`loss\.{name}\.weight` must be a finite number >= 0"):
        CLASSES[name](weight=-1e-9)


def test_a_constructor_error_reaches_the_user_unwrapped():
    with pytest.raises(ConfigError) as err:
        build_loss("sft", {"weight": -1.0})
    assert str(err.value) == "`loss.sft.weight` must be a finite number >= 0, got -1.0"


# ---- Soft Lambda -----------------------------------------------------------------------------

def test_soft_lambda_term_reads_y_on_slots_and_scores_on_candidates():
    y, ratings = _random_y(2, 4), torch.tensor([[4.0, 3, 2, 1], [1.0, 5, 2, 2]], dtype=torch.float64)
    loss = SoftLambdaLoss(weight=2.0, gamma=5.0)
    slot = loss.term(SimpleNamespace(provides={"y", "gains"}, y=y, gains=ratings))
    assert slot.item() == pytest.approx(2.0 * reference_loss(y, ratings, 5.0), rel=1e-9)
    scores = torch.tensor([[0.3, -1.0, 2.0, 0.1], [1.0, 0.0, -0.5, 2.0]], dtype=torch.float64)
    candidate = loss.term(SimpleNamespace(provides={"scores", "gains"}, scores=scores, gains=ratings))
    assert candidate.item() == pytest.approx(2.0 * reference_pairwise(-scores, ratings), rel=1e-9)


def test_candidate_scores_in_rating_order_cost_less_than_reversed():
    ratings = torch.tensor([[5.0, 4, 3, 2, 1]])
    loss = SoftLambdaLoss()
    in_order = loss.on_scores(torch.tensor([[5.0, 4, 3, 2, 1]]), ratings)
    reversed_ = loss.on_scores(torch.tensor([[1.0, 2, 3, 4, 5]]), ratings)
    assert in_order < reversed_


def test_non_square_y_is_refused():
    with pytest.raises(ValueError, match=r"y must be \[B, m, m\]"):
        soft_lambda_loss(torch.rand(1, 3, 4), torch.rand(1, 3), 10.0)


def test_one_pair_lists_count_once_each():
    # a list with exactly one ordered pair is a list with a pair, and its mean is over that one pair:
    # list 0 is [2, 1] padded to 3 items (one pair), list 1 is [3, 2, 1] (three pairs)
    y = _random_y(2, 3, seed=1)
    ratings = torch.tensor([[2.0, 1, 0], [3.0, 2, 1]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    one_pair = reference_loss(y[:1, :2, :2], ratings[:1, :2], 10.0)
    three_pairs = reference_loss(y[1:], ratings[1:], 10.0)
    assert soft_lambda_loss(y[:1], ratings[:1], 10.0, mask=mask[:1]).item() == pytest.approx(one_pair, rel=1e-9)
    assert soft_lambda_loss(y, ratings, 10.0, mask=mask).item() == pytest.approx((one_pair + three_pairs) / 2, rel=1e-9)


def test_long_lists_with_ties_match_the_reference():
    # ties are broken by slot order; torch's sort keeps it only when asked (stable=True), and on
    # the CPU an unstable sort reorders ties from about 17 items on
    gen = torch.Generator().manual_seed(3)
    y = torch.softmax(torch.randn(4, 32, 32, generator=gen, dtype=torch.float64) * 3, dim=-1)
    ratings = torch.randint(1, 4, (4, 32), generator=gen).double()
    for delta in ("target", "predicted"):
        assert soft_lambda_loss(y, ratings, 10.0, delta=delta).item() == pytest.approx(
            reference_loss(y, ratings, 10.0, delta), rel=1e-9)


def test_predicted_delta_breaks_tied_positions_by_slot_order():
    # items 1 and 2 have the same column of Y, so the same expected position: their predicted
    # ranks follow slot order, as the target ranks do for tied ratings
    y = _random_y(1, 4, seed=8)
    y[:, :, 2] = y[:, :, 1]
    ratings = torch.tensor([[1.0, 4, 2, 3]], dtype=torch.float64)
    assert soft_lambda_loss(y, ratings, 10.0, delta="predicted").item() == pytest.approx(
        reference_loss(y, ratings, 10.0, "predicted"), rel=1e-9)


def test_a_one_item_list_sits_at_slot_one():
    y = _random_y(2, 3, seed=9)
    mask = torch.tensor([[True, False, False], [True, True, True]])
    assert expected_positions(y, 10.0, mask)[0, 0].item() == pytest.approx(1.0)


def test_first_slot_scores_are_minus_log_of_slot_one():
    y = _random_y(2, 5, seed=2)
    assert torch.equal(first_slot_positions(y), -torch.log(y[:, 0, :]))


# ---- permutation KL --------------------------------------------------------------------------

def test_perm_kl_term_reads_y_on_slots_and_softmax_scores_on_candidates():
    loss = PermutationKLLoss(weight=2.0)
    y1, y2 = _random_y(2, 4, seed=4), _random_y(2, 4, seed=5)
    slot = loss.term(SimpleNamespace(provides={"y", "y_permuted"}, y=y1, y_permuted=y2))
    assert slot.item() == pytest.approx(2.0 * slot_kl_reference(y1, y2), rel=1e-6)
    s1 = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.5, -0.5]])
    s2 = torch.tensor([[1.5, 0.0, 0.2], [-1.0, 0.5, 0.5]])
    candidate = loss.term(SimpleNamespace(provides={"scores", "scores_permuted"}, scores=s1, scores_permuted=s2))
    expected = slot_kl_reference(torch.softmax(s1.double(), -1)[:, None], torch.softmax(s2.double(), -1)[:, None])
    assert candidate.item() == pytest.approx(2.0 * expected, rel=1e-5)


def test_perm_kl_on_one_list_of_scores():
    # batch 1 (the default train.batch_size): one slot in all, its KL taken once
    got = PermutationKLLoss().on_scores(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]))
    p = torch.softmax(torch.tensor([0.0, 1.0], dtype=torch.float64), -1)
    assert got.item() == pytest.approx(float((p * (p.log() - p.flip(0).log())).sum()), rel=1e-5)


def test_perm_kl_padded_batch_of_unequal_lists():
    # list b keeps its first n_b slots and its n_b items; the mean runs over every valid slot
    y1, y2 = _random_y(2, 4, seed=6), _random_y(2, 4, seed=7)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert permutation_kl(y1, y2, mask=mask).item() == pytest.approx(slot_kl_reference(y1, y2, [3, 2]), rel=1e-6)


def test_inverse_permutation_of_one_row_and_of_a_batch():
    perm = torch.tensor([2, 0, 3, 1])
    assert inverse_permutation(perm).tolist() == [1, 3, 0, 2]
    batch = torch.stack([perm, torch.tensor([0, 1, 2, 3])])
    assert inverse_permutation(batch).tolist() == [[1, 3, 0, 2], [0, 1, 2, 3]]


@pytest.mark.parametrize("eps", [0.0, 1.0, 1.5, -0.1, float("nan"), float("inf")])
def test_perm_kl_eps_outside_zero_one_is_refused(eps):
    with pytest.raises(ConfigError, match=r"loss\.perm_kl\.eps"):
        PermutationKLLoss(eps=eps)


def test_perm_kl_eps_inside_zero_one_is_kept():
    assert PermutationKLLoss(eps=0.5).eps == 0.5


# ---- rating CE and SFT -----------------------------------------------------------------------

def test_rating_ce_without_history_is_the_candidate_ce():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]])
    targets = torch.tensor([[0, 2]])
    expected = torch.nn.functional.cross_entropy(logits[0], targets[0]).item()
    assert RatingCELoss(weight=3.0).forward(logits, targets).item() == pytest.approx(3.0 * expected)
    assert RatingCELoss(history_weight=0.5).forward(logits, targets).item() == pytest.approx(expected)


def test_rating_ce_mask_with_one_kept_line_is_that_line():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]])
    targets = torch.tensor([[0, 2, 1]])
    mask = torch.tensor([[False, True, False]])
    expected = torch.nn.functional.cross_entropy(logits[0, 1:2], targets[0, 1:2]).item()
    assert rating_cross_entropy(logits, targets, mask).item() == pytest.approx(expected)


@pytest.mark.parametrize("history_weight", [-0.5, float("inf"), float("nan")])
def test_rating_ce_history_weight_must_be_finite_and_non_negative(history_weight):
    with pytest.raises(ConfigError, match=r"loss\.rating_ce\.history_weight"):
        RatingCELoss(history_weight=history_weight)


def test_sft_term_is_weighted_unshifted_ce_over_the_answer_tokens():
    # answer_logits come already aligned: logits[t] predicts labels[t] (no shift)
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, 0.5], [0.2, 0.1, 3.0]])
    labels = torch.tensor([1, -100, 2])
    hand = -(torch.log_softmax(logits[0], -1)[1] + torch.log_softmax(logits[2], -1)[2]).item() / 2
    term = SFTLoss(weight=2.0).term(SimpleNamespace(answer_logits=(logits, labels)))
    assert term.item() == pytest.approx(2.0 * hand, rel=1e-6)
    one_token = SFTLoss().term(SimpleNamespace(answer_logits=(logits, torch.tensor([-100, -100, 2]))))
    assert one_token.item() == pytest.approx(-torch.log_softmax(logits[2], -1)[2].item(), rel=1e-6)


def test_a_loss_is_matched_on_the_outputs_it_needs_and_older_scorings_still_match():
    from rankexp.losses import usable_needs
    from rankexp.models.candidate_ranker import CandidateOutputs
    from rankexp.models.ranker import SlotOutputs

    assert usable_needs(SoftLambdaLoss(), SlotOutputs) == ("y", "gains")
    assert usable_needs(SoftLambdaLoss(), CandidateOutputs) == ("scores", "gains")
    assert usable_needs(PermutationKLLoss(), CandidateOutputs) == ("scores", "scores_permuted")
    assert usable_needs(SFTLoss(), CandidateOutputs) is None and usable_needs(RatingCELoss(), SlotOutputs) is None
    older = SimpleNamespace(scorings=("slot",))  # a user's loss from before `needs`
    assert usable_needs(older, SlotOutputs) == ("slot",) and usable_needs(older, CandidateOutputs) is None

