"""Paired statistics of two systems scored on the very same lists (or users), on scipy.stats.

One function, `paired_stats`, for every "A minus B on the same lists" number the runs, the
reports and the experiment scripts write: the mean per-list difference, its standard error
(sample s.d. with ddof=1 over sqrt(n), the convention every earlier copy used, so numbers that
runs already wrote are unchanged), the paired t-test and Wilcoxon signed-rank p-values, and a
seeded bootstrap 95% confidence interval of the mean difference (BCa, resampling the lists;
the same seed gives the same interval on every machine).

The s.e. and the p-values are scipy's (`scipy.stats.sem`, `ttest_1samp` on the differences,
which is `ttest_rel`, `wilcoxon`, `bootstrap`). One case is filled in by hand because scipy
returns NaN and a warning there: differences that are all equal. Their bootstrap distribution
is a single point, so the interval is (mean, mean); when they are all zero there is no
evidence of a difference and both p-values are 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0
BATCH = 1000  # resamples drawn at a time: bounds memory for ML-1M's 6040 users (part of the seeded stream)
SUFFIXES = ("_se", "_ci_low", "_ci_high", "_p_t", "_p_wilcoxon")  # results keys next to the mean's


@dataclass(frozen=True)
class PairedStats:
    """Mean of a - b over n pairs, its s.e., two-sided p-values and the bootstrap CI of the mean."""

    n: int
    mean: float
    se: float
    p_t: float
    p_wilcoxon: float
    ci_low: float
    ci_high: float

    def keys(self, name: str) -> dict[str, float]:
        """`name` -> the mean, and `name_se`, `name_ci_low`, `name_ci_high`, `name_p_t`, `name_p_wilcoxon`."""
        values = (self.se, self.ci_low, self.ci_high, self.p_t, self.p_wilcoxon)
        return {name: self.mean, **{name + suffix: value for suffix, value in zip(SUFFIXES, values)}}


def differences(a, b=None) -> np.ndarray:
    """a - b as float64 (a alone: a is already the differences); unequal lengths, n < 2, NaN: ValueError."""
    a = _vector(a, "a")
    if b is not None:
        b = _vector(b, "b")
        if a.shape != b.shape:
            raise ValueError(f"paired statistics need one value of each side per list: got {a.size} and {b.size}")
        a = a - b
    if a.size < 2:
        raise ValueError(f"paired statistics need at least 2 paired values, got {a.size}")
    if not np.isfinite(a).all():
        raise ValueError(f"paired statistics: {int((~np.isfinite(a)).sum())} of {a.size} differences are not finite")
    return a


def paired_stats(a, b=None, *, seed: int = SEED, resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE) -> PairedStats:
    """Statistics of the per-pair differences a - b (or of `a`, when b is None).

    Accepts anything `np.asarray` reads (lists, numpy arrays, CPU torch tensors); computes in float64.
    """
    from scipy import stats

    diff = differences(a, b)
    n, mean = diff.size, float(diff.mean())
    if np.ptp(diff) == 0:  # scipy: NaN and a warning; the limits are exact here (module docstring)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p_t, p_w = (1.0, 1.0) if mean == 0 else (float(stats.ttest_1samp(diff, 0.0).pvalue),
                                                     float(stats.wilcoxon(diff).pvalue))
        return PairedStats(n, mean, 0.0, p_t, p_w, mean, mean)
    boot = stats.bootstrap((diff,), np.mean, n_resamples=resamples, confidence_level=confidence, method="BCa",
                           batch=BATCH, vectorized=True, rng=np.random.default_rng(seed))
    return PairedStats(n=n, mean=mean, se=float(stats.sem(diff, ddof=1)),
                       p_t=float(stats.ttest_1samp(diff, 0.0).pvalue), p_wilcoxon=float(stats.wilcoxon(diff).pvalue),
                       ci_low=float(boot.confidence_interval.low), ci_high=float(boot.confidence_interval.high))


def _vector(values, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor (possibly bf16, which numpy cannot read)
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"paired statistics: `{name}` must be one value per list, got shape {array.shape}")
    return array


def paired_lines(results: Mapping[str, Any]) -> list[str]:
    """`name: mean ± s.e. (paired s.e.), 95% CI [low, high], p ... (t) / ... (Wilcoxon)`, one per
    `paired_test/*` difference in a results dict (the CI and p-values where the run wrote them)."""
    lines = []
    for key, value in results.items():
        if not key.startswith("paired_test/") or key.endswith(SUFFIXES):
            continue
        line = f"{key.removeprefix('paired_test/')}: {value:+.4f} ± {results.get(key + '_se', float('nan')):.4f} " \
               "(paired s.e.)"
        if key + "_ci_low" in results:
            line += f", {CONFIDENCE:.0%} CI [{results[key + '_ci_low']:+.4f}, {results[key + '_ci_high']:+.4f}]"
        if key + "_p_t" in results:
            line += f", p {results[key + '_p_t']:.3g} (t) / {results.get(key + '_p_wilcoxon', float('nan')):.3g} " \
                    "(Wilcoxon)"
        lines.append(line)
    return lines
