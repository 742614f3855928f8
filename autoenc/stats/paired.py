"""Paired comparison of two models on the same images, and agreement across seeds.

Sign convention used everywhere in this module: ``d = a - b`` per image, where ``a`` is the
error of model A (BCE-trained in the compression study) and ``b`` the error of model B
(MSE-trained). Errors are "lower is better", so **negative values mean A is better**: a
negative median difference, a negative rank-biserial correlation and a negative ``r`` all say
the same thing. ``frac_a_better`` is the share of images with ``a < b``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from autoenc.stats.bootstrap import bootstrap_ci

__all__ = [
    "PairedResult",
    "paired_comparison",
    "seed_agreement",
    "signed_rank_sums",
]

Alternative = Literal["less", "greater", "two-sided"]


@dataclass(frozen=True)
class PairedResult:
    """Outcome of :func:`paired_comparison` (all differences are ``a - b``).

    Attributes
    ----------
    n : number of pairs (images).
    n_nonzero : pairs with ``a != b``; the signed-rank test and ``r`` use only these.
    statistic : ``W+``, the sum of the ranks of ``|d|`` over pairs with ``d > 0``.
    z : normal-approximation z of ``W+`` (tie-corrected variance, continuity correction of
        0.5 towards zero), signed like ``d``.
    p_one_sided : p-value for ``alternative``.
    p_two_sided : two-sided p-value.
    alternative : the one-sided alternative, fixed before looking at the data.
    rank_biserial : matched-pairs rank-biserial correlation ``(W+ - W-) / (W+ + W-)``.
    r : ``z / sqrt(n_nonzero)``.
    frac_a_better : share of all ``n`` pairs with ``a < b``.
    median_diff, median_diff_ci_low, median_diff_ci_high : median of ``d`` and its
        percentile-bootstrap confidence interval.
    mean_diff : mean of ``d``.
    settings : the exact test settings, in words, for the report.
    """

    n: int
    n_nonzero: int
    statistic: float
    z: float
    p_one_sided: float
    p_two_sided: float
    alternative: str
    rank_biserial: float
    r: float
    frac_a_better: float
    median_diff: float
    median_diff_ci_low: float
    median_diff_ci_high: float
    mean_diff: float
    settings: str

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the fields (JSON-serialisable scalars and strings)."""
        return asdict(self)


def _paired_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"paired arrays differ in length ({a.size} vs {b.size}); "
            "both must hold one value per image of the same image set"
        )
    if a.size == 0:
        raise ValueError("paired_comparison needs at least one pair")
    d = a - b
    if not np.all(np.isfinite(d)):
        raise ValueError("paired arrays contain NaN or inf; drop or fix those images first")
    return d


def signed_rank_sums(d: np.ndarray) -> tuple[float, float, float, int]:
    """Wilcoxon signed-rank sums of ``d`` with zeros dropped (``zero_method="wilcox"``).

    Parameters
    ----------
    d : numpy.ndarray
        Paired differences.

    Returns
    -------
    tuple
        ``(w_plus, w_minus, z, n_nonzero)``: rank sums of positive and negative
        differences (average ranks of ``|d|`` for ties), the continuity-corrected z of
        ``w_plus`` with tie-corrected variance (the two-sided z of ``scipy.stats.wilcoxon``,
        signed), and the number of non-zero differences.
    """
    from scipy.stats import rankdata

    d = np.asarray(d, dtype=np.float64).ravel()
    nz = d[d != 0]
    n = nz.size
    if n == 0:
        return 0.0, 0.0, math.nan, 0
    abs_nz = np.abs(nz)
    ranks = rankdata(abs_nz)
    w_plus = float(ranks[nz > 0].sum())
    w_minus = float(ranks[nz < 0].sum())
    _, tie_counts = np.unique(abs_nz, return_counts=True)
    tie_counts = tie_counts.astype(np.float64)
    variance = (n * (n + 1.0) * (2.0 * n + 1.0) - np.sum(tie_counts**3 - tie_counts) / 2.0) / 24.0
    centred = w_plus - n * (n + 1.0) / 4.0
    z = (centred - 0.5 * np.sign(centred)) / math.sqrt(variance) if variance > 0 else math.nan
    return w_plus, w_minus, float(z), int(n)


def paired_comparison(
    a: np.ndarray,
    b: np.ndarray,
    *,
    alternative: Alternative = "less",
    n_boot: int = 2000,
    seed: int = 0,
    method: Literal["asymptotic", "exact"] = "asymptotic",
    confidence: float = 0.95,
) -> PairedResult:
    """Compare per-image errors of two models on the same images.

    Runs ``scipy.stats.wilcoxon(a - b, zero_method="wilcox", correction=True,
    method=method)`` once with the one-sided ``alternative`` and once two-sided, and
    computes effect sizes: the matched-pairs rank-biserial correlation by Kerby's (2014)
    simple difference formula ``r_rb = (W+ - W-) / (W+ + W-)`` (share of rank sum
    where ``a > b`` minus share where ``a < b``), ``r = z / sqrt(n_nonzero)`` (Rosenthal),
    the share of images where A wins, the mean difference, and the median difference with
    a seeded percentile-bootstrap CI.

    The default ``method="asymptotic"`` (normal approximation with continuity correction
    and tie-corrected variance) is the method fixed in advance for n = 10,000 images;
    ``"exact"`` is for small samples without ties.

    Parameters
    ----------
    a, b : numpy.ndarray
        Per-image errors of model A and model B, in the same image order.
    alternative : {"less", "greater", "two-sided"}
        One-sided alternative for ``d = a - b``; ``"less"`` means "A has lower error".
    n_boot : int
        Bootstrap resamples for the median CI.
    seed : int
        Seed of the bootstrap generator.
    method : {"asymptotic", "exact"}
        How scipy computes the signed-rank p-values.
    confidence : float
        Coverage of the bootstrap CI.

    Returns
    -------
    PairedResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> b = rng.random(500)
    >>> res = paired_comparison(b - 0.05, b + rng.normal(0, 0.01, 500))
    >>> res.frac_a_better > 0.99 and res.p_one_sided < 1e-10
    True
    """
    from scipy.stats import wilcoxon

    if alternative not in ("less", "greater", "two-sided"):
        raise ValueError(f"alternative must be 'less', 'greater' or 'two-sided', not {alternative!r}")
    if method not in ("asymptotic", "exact"):
        raise ValueError(f"method must be 'asymptotic' or 'exact', not {method!r}")
    d = _paired_differences(a, b)
    w_plus, w_minus, z, n_nonzero = signed_rank_sums(d)

    if n_nonzero == 0:
        p_one = p_two = math.nan  # no evidence either way; scipy would warn and return NaN
        rank_biserial = r = math.nan
    else:
        kwargs = {"zero_method": "wilcox", "correction": True, "method": method}
        p_one = float(wilcoxon(d, alternative=alternative, **kwargs).pvalue)
        p_two = float(wilcoxon(d, alternative="two-sided", **kwargs).pvalue)
        rank_biserial = (w_plus - w_minus) / (w_plus + w_minus)
        r = z / math.sqrt(n_nonzero)

    low, high = bootstrap_ci(d, np.median, n_boot=n_boot, confidence=confidence, seed=seed)
    settings = (
        f"Wilcoxon signed-rank test on d = a - b (scipy.stats.wilcoxon, zero_method='wilcox' "
        f"[zero differences dropped], method='{method}'"
        + (", normal approximation with continuity correction and tie-corrected variance"
           if method == "asymptotic" else ", exact null distribution")
        + f"); one-sided alternative='{alternative}' fixed in advance, two-sided also reported; "
        f"statistic W+ = rank sum of positive d; rank-biserial = (W+ - W-)/(W+ + W-) "
        f"(Kerby 2014); r = z/sqrt(n_nonzero) with the continuity-corrected two-sided z; "
        f"median CI: {confidence:.0%} percentile bootstrap over pairs, {n_boot} resamples, "
        f"numpy default_rng(seed={seed}); negative values favour A"
    )
    return PairedResult(
        n=int(d.size),
        n_nonzero=n_nonzero,
        statistic=w_plus,
        z=z,
        p_one_sided=p_one,
        p_two_sided=p_two,
        alternative=alternative,
        rank_biserial=float(rank_biserial),
        r=float(r),
        frac_a_better=float(np.mean(d < 0)),
        median_diff=float(np.median(d)),
        median_diff_ci_low=low,
        median_diff_ci_high=high,
        mean_diff=float(np.mean(d)),
        settings=settings,
    )


def seed_agreement(
    per_seed_diffs: Sequence[float] | np.ndarray,
    *,
    alternative: Alternative = "two-sided",
) -> dict[str, Any]:
    """Do independent seeds agree on the sign of a difference?

    Seeds are the unit of replication: each entry is one seed's mean (or median) paired
    difference ``a - b``. Reports how many are negative / positive, whether all share one
    sign, a one-sample t-test of the mean difference against 0 (``scipy.stats.ttest_1samp``)
    and an exact two-sided-by-default sign test (``scipy.stats.binomtest`` on the count of
    negative differences among non-zero ones, p = 0.5).

    Parameters
    ----------
    per_seed_diffs : sequence of float
        One difference per seed.
    alternative : {"two-sided", "less", "greater"}
        Alternative of both tests, for the mean difference (``"less"``: A better).

    Returns
    -------
    dict
        ``n_seeds, n_negative, n_positive, n_zero, sign_consistent, mean_diff, std_diff,
        t_statistic, t_p, sign_test_p, alternative``. Tests that need more seeds (t-test:
        2, sign test: 1 non-zero) give NaN.
    """
    from scipy.stats import binomtest, ttest_1samp

    x = np.asarray(per_seed_diffs, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("seed_agreement needs at least one per-seed difference")
    if not np.all(np.isfinite(x)):
        raise ValueError("per-seed differences contain NaN or inf")
    n_neg = int(np.sum(x < 0))
    n_pos = int(np.sum(x > 0))
    n_zero = int(x.size - n_neg - n_pos)
    if x.size >= 2 and np.ptp(x) > 0:
        t = ttest_1samp(x, 0.0, alternative=alternative)
        t_stat, t_p = float(t.statistic), float(t.pvalue)
    else:
        t_stat = t_p = math.nan  # undefined for one seed or zero spread
    if n_neg + n_pos > 0:
        # binomtest counts "successes" = negative differences; "less" on d maps to "greater" here
        binom_alt = {"two-sided": "two-sided", "less": "greater", "greater": "less"}[alternative]
        sign_p = float(binomtest(n_neg, n_neg + n_pos, 0.5, alternative=binom_alt).pvalue)
    else:
        sign_p = math.nan
    return {
        "n_seeds": int(x.size),
        "n_negative": n_neg,
        "n_positive": n_pos,
        "n_zero": n_zero,
        "sign_consistent": bool(n_zero == 0 and (n_neg == x.size or n_pos == x.size)),
        "mean_diff": float(x.mean()),
        "std_diff": float(x.std(ddof=1)) if x.size >= 2 else math.nan,
        "t_statistic": t_stat,
        "t_p": t_p,
        "sign_test_p": sign_p,
        "alternative": alternative,
    }
