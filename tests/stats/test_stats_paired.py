"""Paired comparison: hand-computed and documented examples, and agreement with scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from autoenc.stats import PairedResult, paired_comparison, seed_agreement, signed_rank_sums

# Wikipedia, "Wilcoxon signed-rank test", worked example (10 pairs, one tie at 140/140).
WIKI_X1 = np.array([125, 115, 130, 140, 140, 115, 140, 125, 140, 135], dtype=float)
WIKI_X2 = np.array([110, 122, 125, 120, 140, 124, 123, 137, 135, 145], dtype=float)

# pingouin.wilcoxon docstring example (cites Kerby 2014 for its RBC):
# W-val 20.5, p-val 0.285765 (continuity-corrected, two-sided), RBC -0.378788.
PG_X = np.array([20, 22, 19, 20, 22, 18, 24, 20, 19, 24, 26, 13], dtype=float)
PG_Y = np.array([38, 37, 33, 29, 14, 12, 20, 22, 17, 25, 26, 16], dtype=float)


def test_wikipedia_example_rank_sums_by_hand():
    # d = x2 - x1 = -15, 7, -5, -20, 0, 9, -17, 12, -5, 10; zero dropped -> 9 pairs.
    # |d| ranks: 5,5 -> 1.5 each; 7 -> 3; 9 -> 4; 10 -> 5; 12 -> 6; 15 -> 7; 17 -> 8; 20 -> 9.
    # W+ = 3 + 4 + 6 + 5 = 18, W- = 7 + 1.5 + 9 + 8 + 1.5 = 27, total 45 = 9 * 10 / 2.
    w_plus, w_minus, _, n = signed_rank_sums(WIKI_X2 - WIKI_X1)
    assert (w_plus, w_minus, n) == (18.0, 27.0, 9)
    res = paired_comparison(WIKI_X2, WIKI_X1)
    # Kerby: r = f - u = 18/45 - 27/45 = -0.2
    assert res.rank_biserial == pytest.approx(-0.2)
    assert res.n == 10 and res.n_nonzero == 9
    assert res.statistic == 18.0
    assert res.frac_a_better == pytest.approx(0.5)  # 5 of 10 pairs have x2 < x1
    assert res.median_diff == pytest.approx(-2.5)
    assert res.mean_diff == pytest.approx(-2.4)


def test_documented_pingouin_example():
    res = paired_comparison(PG_X, PG_Y, alternative="two-sided")
    assert res.rank_biserial == pytest.approx(-0.378788, abs=1e-6)
    assert res.p_two_sided == pytest.approx(0.285765, abs=1e-6)
    assert res.statistic == 20.5  # W+ (< W-, so also scipy's two-sided min statistic)


def test_rank_sums_from_spss_example():
    # SPSS 11 guide: 13 non-tied pairs, negative differences ranked 3, 4, 6, 7, 11
    # (sum 31), positive ranks sum to 60; r_rb = (60 - 31) / 91.
    ranks = np.arange(1, 14, dtype=float)
    signs = np.ones(13)
    signs[[2, 3, 5, 6, 10]] = -1
    res = paired_comparison(signs * ranks, np.zeros(13))
    assert res.statistic == 60.0
    assert res.rank_biserial == pytest.approx(29 / 91)


def test_rank_biserial_equals_jasp_form_and_bounds():
    rng = np.random.default_rng(3)
    d = rng.normal(0.2, 1.0, 200)
    w_plus, w_minus, _, n = signed_rank_sums(d)
    res = paired_comparison(d, np.zeros_like(d))
    # equivalent closed form 1 - 4 W- / (n (n + 1)) (matched-pairs rank-biserial)
    assert res.rank_biserial == pytest.approx(1 - 4 * w_minus / (n * (n + 1)))
    assert paired_comparison(np.zeros(5), np.arange(1.0, 6.0)).rank_biserial == -1.0
    assert paired_comparison(np.arange(1.0, 6.0), np.zeros(5)).rank_biserial == 1.0


@pytest.mark.parametrize("shift", [-0.05, 0.0, 0.03])
def test_agrees_with_scipy_and_r_matches_p(shift):
    rng = np.random.default_rng(7)
    b = rng.random(3000)
    a = b + rng.normal(shift, 0.2, b.size)
    a[:50] = b[:50]  # some exact ties (zero differences)
    res = paired_comparison(a, b, alternative="less", n_boot=200)
    kw = {"zero_method": "wilcox", "correction": True, "method": "asymptotic"}
    one = sps.wilcoxon(a, b, alternative="less", **kw)
    two = sps.wilcoxon(a, b, alternative="two-sided", **kw)
    assert res.p_one_sided == pytest.approx(one.pvalue, rel=1e-12)
    assert res.p_two_sided == pytest.approx(two.pvalue, rel=1e-12)
    assert res.statistic == pytest.approx(one.statistic)  # one-sided statistic is W+
    assert res.n_nonzero == 2950
    # scipy's two-sided z is -|z| with the same continuity correction
    assert abs(res.z) == pytest.approx(-two.zstatistic, rel=1e-10)
    # r = Z / sqrt(N) is consistent with the two-sided p: |r| sqrt(N) = Phi^-1(1 - p/2)
    assert abs(res.r) * math.sqrt(res.n_nonzero) == pytest.approx(
        sps.norm.isf(res.p_two_sided / 2), rel=1e-8
    )
    assert np.sign(res.r) == np.sign(res.rank_biserial) or abs(res.rank_biserial) < 0.02


def test_direction_conventions():
    rng = np.random.default_rng(0)
    b = rng.random(2000)
    a = b - 0.01 + rng.normal(0, 0.01, b.size)  # A clearly better
    res = paired_comparison(a, b)
    assert res.alternative == "less"
    assert res.p_one_sided < 1e-50
    assert res.p_two_sided == pytest.approx(2 * res.p_one_sided)
    assert res.rank_biserial < -0.5 and res.r < -0.5 and res.z < 0
    assert res.frac_a_better > 0.8
    assert res.median_diff_ci_low <= res.median_diff <= res.median_diff_ci_high < 0
    flipped = paired_comparison(a, b, alternative="greater")
    assert flipped.p_one_sided > 0.999


def test_exact_method_small_sample():
    d = np.array([-1.0, -2.0, -3.0, -4.0, 5.0, -6.0, -7.0, -8.0])
    res = paired_comparison(d, np.zeros_like(d), method="exact")
    ref = sps.wilcoxon(d, alternative="less", method="exact")
    assert res.p_one_sided == pytest.approx(ref.pvalue)
    assert "method='exact'" in res.settings


def test_bootstrap_ci_covers_true_median():
    # skewed per-image differences with true median 0.1; the 95% CI should cover it in
    # most seeded replicates (coverage check over 40 data sets, not a single lucky draw)
    rng = np.random.default_rng(11)
    true_median = 0.1
    covered = 0
    for rep in range(40):
        # symmetric scale mixture around 0.1, so the population median is 0.1
        d = true_median + rng.laplace(0, 1, 400) * rng.choice([0.5, 2.0], 400)
        res = paired_comparison(d, np.zeros_like(d), n_boot=300, seed=rep)
        covered += res.median_diff_ci_low <= true_median <= res.median_diff_ci_high
    assert covered >= 34  # nominal 38 of 40


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(5)
    a, b = rng.random(500), rng.random(500)
    r1 = paired_comparison(a, b, n_boot=300, seed=4)
    r2 = paired_comparison(a, b, n_boot=300, seed=4)
    r3 = paired_comparison(a, b, n_boot=300, seed=5)
    assert r1 == r2
    assert (r1.median_diff_ci_low, r1.median_diff_ci_high) != (
        r3.median_diff_ci_low,
        r3.median_diff_ci_high,
    )


def test_result_is_frozen_and_serialisable():
    res = paired_comparison(WIKI_X2, WIKI_X1, n_boot=100)
    assert isinstance(res, PairedResult)
    with pytest.raises(AttributeError):
        res.n = 3  # type: ignore[misc]
    d = res.to_dict()
    assert list(d) == [
        "n", "n_nonzero", "statistic", "z", "p_one_sided", "p_two_sided", "alternative",
        "rank_biserial", "r", "frac_a_better", "median_diff", "median_diff_ci_low",
        "median_diff_ci_high", "mean_diff", "settings",
    ]  # fmt: skip
    json.dumps(d)
    for phrase in ("zero_method='wilcox'", "method='asymptotic'", "continuity correction",
                   "alternative='less'", "100 resamples", "seed=0"):
        assert phrase in res.settings


def test_all_ties_gives_nan_tests():
    x = np.ones(20)
    res = paired_comparison(x, x, n_boot=50)
    assert res.n_nonzero == 0
    assert math.isnan(res.p_one_sided) and math.isnan(res.rank_biserial)
    assert res.median_diff == 0.0 and res.frac_a_better == 0.0


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.ones(3), np.ones(4), "differ in length"),
        (np.array([1.0, np.nan]), np.ones(2), "NaN"),
        (np.array([]), np.array([]), "at least one"),
    ],
)
def test_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_comparison(a, b)


def test_bad_alternative():
    with pytest.raises(ValueError, match="alternative"):
        paired_comparison(np.ones(3), np.zeros(3), alternative="lower")  # type: ignore[arg-type]


def test_seed_agreement_consistent_negative():
    out = seed_agreement([-0.010, -0.020, -0.015])
    assert out["n_seeds"] == 3 and out["n_negative"] == 3 and out["n_positive"] == 0
    assert out["sign_consistent"] is True
    assert out["sign_test_p"] == pytest.approx(0.25)  # 2 * 0.5**3
    ref = sps.ttest_1samp([-0.010, -0.020, -0.015], 0.0)
    assert out["t_p"] == pytest.approx(ref.pvalue)
    assert out["t_statistic"] == pytest.approx(ref.statistic)
    one = seed_agreement([-0.010, -0.020, -0.015], alternative="less")
    assert one["sign_test_p"] == pytest.approx(0.125)
    assert one["t_p"] == pytest.approx(ref.pvalue / 2)


def test_seed_agreement_mixed_and_degenerate():
    out = seed_agreement([-0.01, 0.02, -0.03, 0.0])
    assert out["n_negative"] == 2 and out["n_positive"] == 1 and out["n_zero"] == 1
    assert out["sign_consistent"] is False
    assert out["sign_test_p"] == pytest.approx(sps.binomtest(2, 3, 0.5).pvalue)
    single = seed_agreement([-0.5])
    assert single["sign_consistent"] is True
    assert math.isnan(single["t_p"]) and single["sign_test_p"] == 1.0
    with pytest.raises(ValueError):
        seed_agreement([])
