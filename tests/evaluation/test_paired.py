"""The one paired-statistics module: scipy's numbers, the old s.e. formula's numbers, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from rankexp.evaluation.paired import paired_lines, paired_stats

# per-list NDCG@5 of two systems on 12 fixed lists (ties and a zero difference included)
A = np.array([0.81, 0.63, 1.0, 0.5, 0.77, 0.92, 0.43, 0.66, 1.0, 0.39, 0.58, 0.71])
B = np.array([0.74, 0.63, 0.86, 0.55, 0.61, 0.88, 0.43, 0.52, 0.93, 0.41, 0.49, 0.70])


def old_mean_se(values) -> tuple[float, float]:
    """The formula the four earlier copies used: sample s.d. (ddof=1) over sqrt(n)."""
    n = len(values)
    mean = sum(values) / n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def test_matches_scipy_and_the_old_formula():
    got = paired_stats(A, B)
    diff = A - B
    mean, se = old_mean_se(list(diff))
    assert got.n == 12 and got.mean == pytest.approx(mean, rel=1e-12) and got.se == pytest.approx(se, rel=1e-12)
    assert got.se == pytest.approx(float(diff.std(ddof=1) / np.sqrt(12)), rel=1e-12)
    assert got.p_t == pytest.approx(stats.ttest_rel(A, B).pvalue, rel=1e-12)
    assert got.p_wilcoxon == pytest.approx(stats.wilcoxon(A, B).pvalue, rel=1e-12)
    boot = stats.bootstrap((diff,), np.mean, rng=np.random.default_rng(0), batch=1000).confidence_interval
    assert (got.ci_low, got.ci_high) == pytest.approx((boot.low, boot.high), rel=1e-12)
    assert got.ci_low < got.mean < got.ci_high and 0 < got.p_t < 0.05


def test_bootstrap_is_seeded():
    first, again = paired_stats(A, B), paired_stats(A, B)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    other = paired_stats(A, B, seed=1)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)


def test_float32_torch_differences_keep_the_old_numbers():
    """Runs take the per-list difference in float32 torch; the old mean and s.e. were torch's."""
    diff = torch.rand(707, generator=torch.Generator().manual_seed(0)) - 0.5
    got = paired_stats(diff)
    assert got.mean == pytest.approx(float(diff.mean()), abs=1e-8)
    assert got.se == pytest.approx(float(diff.std(unbiased=True)) / math.sqrt(707), abs=1e-8)


def test_one_array_is_the_differences_and_keys_name_every_number():
    got = paired_stats(A - B)
    assert got == paired_stats(A, B)
    keys = got.keys("paired_test/llm_minus_item_mean/ndcg@5")
    assert keys == {"paired_test/llm_minus_item_mean/ndcg@5": got.mean,
                    "paired_test/llm_minus_item_mean/ndcg@5_se": got.se,
                    "paired_test/llm_minus_item_mean/ndcg@5_ci_low": got.ci_low,
                    "paired_test/llm_minus_item_mean/ndcg@5_ci_high": got.ci_high,
                    "paired_test/llm_minus_item_mean/ndcg@5_p_t": got.p_t,
                    "paired_test/llm_minus_item_mean/ndcg@5_p_wilcoxon": got.p_wilcoxon}


def test_equal_differences_have_a_point_interval_and_no_warning(recwarn):
    zero = paired_stats([0.5, 0.2, 0.3], [0.5, 0.2, 0.3])
    assert (zero.mean, zero.se, zero.ci_low, zero.ci_high, zero.p_t, zero.p_wilcoxon) == (0, 0, 0, 0, 1, 1)
    same = paired_stats([1.0] * 6)
    assert (same.ci_low, same.ci_high, same.p_t) == (1.0, 1.0, 0.0)
    assert same.p_wilcoxon == pytest.approx(stats.wilcoxon([1.0] * 6).pvalue)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(("a", "b", "match"), [
    ([0.1, 0.2, 0.3], [0.1, 0.2], "one value of each side per list: got 3 and 2"),
    ([0.1], [0.2], "at least 2 paired values, got 1"),
    ([], None, "at least 2 paired values, got 0"),
    ([0.1, float("nan"), 0.3], None, "1 of 3 differences are not finite"),
    ([[0.1, 0.2], [0.3, 0.4]], None, "one value per list, got shape"),
])
def test_bad_input_is_a_clear_error(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_stats(a, b)


def test_report_lines_show_the_interval_and_skip_the_companion_keys():
    results = {"test/ndcg@5": 0.7, **paired_stats(A, B).keys("paired_test/llm_minus_item_mean/ndcg@5"),
               "paired_test/old_run/ndcg@5": -0.027, "paired_test/old_run/ndcg@5_se": 0.004}
    lines = paired_lines(results)
    assert len(lines) == 2
    assert lines[0] == ("llm_minus_item_mean/ndcg@5: +0.0542 ± 0.0199 (paired s.e.), 95% CI [+0.0175, +0.0925], "
                        "p 0.0197 (t) / 0.0273 (Wilcoxon)")
    assert lines[1] == "old_run/ndcg@5: -0.0270 ± 0.0040 (paired s.e.)"  # a run written before the CI
