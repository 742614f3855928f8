"""Seed-level statistics, cross-checked against scipy and statsmodels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from autoenc.stats.seeds import exact_spearman, seed_level_test, seeds_for_power, stratified_sign_flip


def test_seed_level_test_matches_scipy():
    d = np.array([0.012, 0.020, 0.007, 0.015])
    out = seed_level_test(d)
    ref = stats.ttest_1samp(d, 0.0)
    assert out["t"] == pytest.approx(ref.statistic) and out["t_p"] == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (out["ci_low"], out["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # exact sign flip: scipy's permutation_test over all 2^4 sign vectors
    perm = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf)
    assert out["sign_flip_p"] == pytest.approx(perm.pvalue)
    assert out["min_sign_flip_p"] == 2 / 16 and out["n_agree"] == 4


def test_three_seeds_cannot_reach_five_percent_by_sign_flip():
    out = seed_level_test([0.01, 0.02, 0.03])
    assert out["sign_flip_p"] == 0.25 == out["min_sign_flip_p"]
    assert math.isnan(seed_level_test([0.1])["t_p"])


def test_seeds_for_power_matches_statsmodels():
    from statsmodels.stats.power import TTestPower

    n = seeds_for_power(0.8, alpha=0.05 / 15)
    power = TTestPower().power(effect_size=0.8, nobs=n, alpha=0.05 / 15, alternative="two-sided")
    power_less = TTestPower().power(effect_size=0.8, nobs=n - 1, alpha=0.05 / 15, alternative="two-sided")
    assert power >= 0.8 > power_less
    assert seeds_for_power(0.0) == math.inf and seeds_for_power(float("nan")) == math.inf
    assert seeds_for_power(float("inf")) == 2


def test_stratified_sign_flip_exact_and_monte_carlo():
    cells = [[-0.02, -0.01], [-0.03, -0.015], [0.005, -0.01]]
    exact = stratified_sign_flip(cells, n_boot=500)
    flat = np.concatenate([np.asarray(c) / (len(cells) * len(c)) for c in cells])
    null = np.array([np.dot(s, flat) for s in itertools.product((-1, 1), repeat=flat.size)])
    assert exact["p_two_sided"] == pytest.approx(np.mean(np.abs(null) >= abs(flat.sum()) - 1e-15))
    assert exact["estimate"] == pytest.approx(np.mean([np.mean(c) for c in cells]))
    assert exact["ci_low"] <= exact["estimate"] <= exact["ci_high"]
    mc = stratified_sign_flip([c * 6 for c in cells], n_resamples=20_000, n_boot=200)  # 36 pairs: Monte Carlo
    assert "Monte Carlo" in mc["method"] and 0 < mc["p_two_sided"] < 0.01


def test_exact_spearman_at_perfect_rank_agreement():
    rho, p = exact_spearman([400, 256, 100, 64, 16], [1.0, 2.0, 6.0, 8.0, 16.0], alternative="less")
    assert rho == pytest.approx(-1.0) and p == pytest.approx(1 / 120)
    ref = stats.spearmanr([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    rho, p = exact_spearman([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert rho == pytest.approx(ref.statistic)
    perm = stats.permutation_test(([1, 2, 3, 4, 5, 6],), lambda x: stats.spearmanr(x, [2, 1, 4, 3, 6, 5]).statistic,
                                  permutation_type="pairings", n_resamples=np.inf)
    assert p == pytest.approx(perm.pvalue)
