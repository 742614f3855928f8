"""Tests with training seeds as the unit of replication.

Per cell, the replicates are the per-seed differences between two training choices (e.g. the
relative difference in mean test error, BCE-trained minus MSE-trained, seed s against seed s);
over a whole grid, cells are strata. Test images only describe a difference inside one run.
References: Bouthillier et al. (MLSys 2021), Agarwal et al. (NeurIPS 2021, stratified
bootstrap), Dror et al. (ACL 2018); see docs/statistics.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["exact_spearman", "seed_level_test", "seeds_for_power", "stratified_sign_flip", "stratified_t_interval",
           "t_test_power"]

#: sign vectors enumerated in full up to this many pairs (2^20 rows, in chunks)
MAX_EXACT_PAIRS = 20


def _sign_matrix(n: int) -> np.ndarray:
    """All 2^n sign vectors (rows)."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)))


def seed_level_test(differences: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """One-sample tests of per-seed differences against 0.

    Parameters
    ----------
    differences : sequence of float
        One paired difference per seed (e.g. relative difference of mean test error).

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd``, ``ci_low``/``ci_high`` (95% t interval of the mean), ``t`` and
        ``t_p`` (two-sided one-sample t-test, ``scipy.stats.ttest_1samp``), ``sign_flip_p``
        (exact two-sided sign-flip permutation p over all 2^n sign vectors: no normality
        assumption), ``min_sign_flip_p`` (2 / 2^n: the smallest p the seeds allow),
        ``dz`` (mean / sd, the standardised effect) and ``n_agree`` (seeds whose sign matches
        the mean's). With fewer than 2 seeds every test value is nan.
    """
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64).ravel()
    if not np.isfinite(d).all():
        raise ValueError("seed_level_test: differences must be finite")
    n = int(d.size)
    out: dict[str, Any] = {"n": n, "mean": float(d.mean()) if n else math.nan, "sd": math.nan, "ci_low": math.nan,
                           "ci_high": math.nan, "t": math.nan, "t_p": math.nan, "sign_flip_p": math.nan,
                           "min_sign_flip_p": 2.0 / 2**n if n else math.nan, "dz": math.nan,
                           "n_agree": int(np.sum(np.sign(d) == np.sign(d.mean()))) if n else 0}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    out["sd"] = sd
    if sd > 0:
        t = stats.ttest_1samp(d, 0.0)
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        out.update(t=float(t.statistic), t_p=float(t.pvalue), ci_low=out["mean"] - half, ci_high=out["mean"] + half,
                   dz=out["mean"] / sd)
    elif out["mean"] != 0:  # identical nonzero differences: as strong as n seeds can be
        out.update(t=math.copysign(math.inf, out["mean"]), t_p=0.0, ci_low=out["mean"], ci_high=out["mean"],
                   dz=math.copysign(math.inf, out["mean"]))
    if n <= 20:
        means = np.abs(_sign_matrix(n) @ np.abs(d)) / n
        out["sign_flip_p"] = float(np.mean(means >= abs(out["mean"]) * (1 - 1e-12)))
    return out


def t_test_power(dz: float, n: int, *, alpha: float = 0.05) -> float:
    """Power of a two-sided one-sample t-test with ``n`` seeds at level ``alpha`` against the
    standardised effect ``dz`` (mean / sd of the per-seed differences).

    The noncentral t tail is written as an integral over the chi-distributed scale,
    P(|Z + nc| > c S), S ~ chi(n - 1) / sqrt(n - 1), nc = dz sqrt(n), c the t critical value,
    and integrated numerically: ``scipy.stats.nct`` (which ``statsmodels``' ``TTestPower`` calls)
    returns NaN quietly for some degrees of freedom and large noncentralities (scipy 1.17:
    dz = 3, n = 8 among others), which made a power search skip sample sizes. Checked against a
    Monte Carlo simulation in tests/stats/test_stats_seeds.py.
    """
    from scipy import integrate, stats

    if n < 2:
        raise ValueError(f"t_test_power: need n >= 2 seeds, got {n}")
    if not 0 < alpha < 1:
        raise ValueError(f"t_test_power: alpha must lie in (0, 1), got {alpha}")
    dz = abs(float(dz))
    if math.isinf(dz):
        return 1.0
    if not math.isfinite(dz):
        return math.nan
    df = n - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    nc = dz * math.sqrt(n)
    scale = stats.chi(df, scale=1 / math.sqrt(df))

    def integrand(s: float) -> float:
        return float((stats.norm.sf(crit * s - nc) + stats.norm.cdf(-crit * s - nc)) * scale.pdf(s))

    lo, hi = float(scale.ppf(1e-14)), float(scale.ppf(1 - 1e-14))
    # the integrand changes fastest where crit * s crosses nc: split the range there
    points = [p for p in (nc / crit,) if lo < p < hi]
    value, _ = integrate.quad(integrand, lo, hi, points=points or None, limit=200, epsabs=1e-12, epsrel=1e-10)
    return float(min(max(value, 0.0), 1.0))


def seeds_for_power(dz: float, *, alpha: float = 0.05, power: float = 0.8, max_seeds: int = 10_000) -> float:
    """Seeds needed for a two-sided one-sample t-test to detect the standardised effect ``dz``
    (mean / sd of the per-seed differences) with ``power`` at level ``alpha`` (``t_test_power``;
    every sample size is evaluated, none skipped). ``inf`` when the effect is 0 or undefined or
    beyond ``max_seeds``; ``2`` is the floor of a t-test."""
    if math.isinf(dz):  # identical nonzero differences: the t-test's floor
        return 2.0
    if not math.isfinite(dz) or dz == 0:
        return math.inf
    if t_test_power(dz, max_seeds, alpha=alpha) < power:
        return math.inf
    # power rises with n: the least n by bisection between a failing and a sufficient size
    low, high = 1, 2
    while t_test_power(dz, high, alpha=alpha) < power:
        low, high = high, min(2 * high, max_seeds)
    while high - low > 1:
        mid = (low + high) // 2
        if t_test_power(dz, mid, alpha=alpha) >= power:
            high = mid
        else:
            low = mid
    return float(high)


def stratified_t_interval(differences: Sequence[Sequence[float]], *, confidence: float = 0.95) -> dict[str, float]:
    """t interval of the mean over cells of each cell's mean difference (cells as strata).

    The cells are fixed (the grid), so the estimate's variance is the within-cell one,
    sum_c s_c^2 / n_c / C^2, with Welch-Satterthwaite degrees of freedom; every cell needs 2+
    values. With 3-5 seeds the stratified percentile bootstrap is too narrow (it uses the
    plug-in variance with divisor n and normal-like quantiles); this interval keeps the t
    quantile of the few seeds it rests on (docs/statistics.md compares them).

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high``, ``se``, ``df``; nan bounds when a cell has one value.
    """
    from scipy import stats

    cells = [np.asarray(c, dtype=np.float64).ravel() for c in differences if len(c)]
    if not cells:
        raise ValueError("stratified_t_interval: no differences")
    n_cells = len(cells)
    estimate = float(np.mean([c.mean() for c in cells]))
    out = {"estimate": estimate, "ci_low": math.nan, "ci_high": math.nan, "se": math.nan, "df": math.nan}
    if any(c.size < 2 for c in cells):
        return out
    parts = np.array([c.var(ddof=1) / c.size / n_cells**2 for c in cells])
    var = float(parts.sum())
    if var == 0:
        return {**out, "ci_low": estimate, "ci_high": estimate, "se": 0.0, "df": math.inf}
    df = var**2 / float(np.sum(parts**2 / np.array([c.size - 1 for c in cells])))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(var)
    return {"estimate": estimate, "ci_low": estimate - half, "ci_high": estimate + half, "se": math.sqrt(var),
            "df": float(df)}


def stratified_sign_flip(
    differences: Sequence[Sequence[float]],
    *,
    n_resamples: int = 100_000,
    n_boot: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The primary test over a grid: per-cell paired differences (one per seed), cells as strata.

    The statistic is the mean over cells of each cell's mean difference (every cell weighs the
    same). Under the null hypothesis that the two training choices are exchangeable in every
    (cell, seed) pair, each difference is as likely to have either sign: the p-value flips the
    signs of all pairs independently: exactly when every pair agrees in sign (p = 2 / 2^n
    two-sided, whatever n) or when there are at most ``MAX_EXACT_PAIRS`` pairs (enumeration),
    else ``n_resamples`` Monte Carlo flips with the +1 correction (whose floor is
    1 / (n_resamples + 1), not the p). The 95% interval is the stratified t interval
    (``stratified_t_interval``); the stratified percentile bootstrap (seeds resampled within
    each cell, as ``rliable`` does over runs) is returned beside it for comparison.

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high`` (t interval), ``ci_df``, ``boot_ci_low``,
        ``boot_ci_high`` (percentile bootstrap), ``p_two_sided``, ``p_less`` (the statistic is
        this small or smaller: evidence for a negative difference), ``p_greater``, ``n_cells``,
        ``n_pairs``, ``method``.
    """
    cells = [np.asarray(c, dtype=np.float64).ravel() for c in differences if len(c)]
    if not cells:
        raise ValueError("stratified_sign_flip: no differences")
    if not all(np.isfinite(c).all() for c in cells):
        raise ValueError("stratified_sign_flip: differences must be finite")
    flat = np.concatenate(cells)
    # each pair's weight in the statistic: 1 / (n_cells * its cell's size)
    weights = np.concatenate([np.full(c.size, 1.0 / (len(cells) * c.size)) for c in cells])
    observed = float(flat @ weights)
    rng = np.random.default_rng(seed)
    scaled = flat * weights
    if np.all(flat > 0) or np.all(flat < 0):
        # every pair agrees in sign: only the two all-agreeing sign vectors reach |observed|
        # (flipping any nonzero term moves the sum towards 0), so the exact p needs no sampling
        method = f"exact: all {flat.size} pairs agree in sign, p = 2 / 2^{flat.size}"
        one = 2.0 ** -flat.size
        p_two = 2 * one
        p_less, p_greater = (one, 1.0) if observed < 0 else (1.0, one)
    elif flat.size <= MAX_EXACT_PAIRS:
        method = f"exact over all 2^{flat.size} sign vectors"
        n_le = n_ge = n_abs = 0
        chunk_bits = min(flat.size, 16)
        head = _sign_matrix(chunk_bits) @ scaled[:chunk_bits]
        for tail_signs in _sign_matrix(flat.size - chunk_bits):  # one chunk of 2^16 per tail
            null = head + (tail_signs @ scaled[chunk_bits:] if flat.size > chunk_bits else 0.0)
            n_le += int(np.sum(null <= observed + 1e-15))
            n_ge += int(np.sum(null >= observed - 1e-15))
            n_abs += int(np.sum(np.abs(null) >= abs(observed) - 1e-15))
        total = 2.0**flat.size
        p_less, p_greater, p_two = n_le / total, n_ge / total, n_abs / total
    else:
        method = f"{n_resamples} random sign flips (Monte Carlo, +1 correction)"
        null = np.empty(n_resamples)
        chunk = 10_000
        for start in range(0, n_resamples, chunk):
            size = min(chunk, n_resamples - start)
            signs = rng.choice((-1.0, 1.0), size=(size, flat.size))
            null[start:start + size] = signs @ scaled
        p_less = float((np.sum(null <= observed) + 1) / (n_resamples + 1))
        p_greater = float((np.sum(null >= observed) + 1) / (n_resamples + 1))
        p_two = float((np.sum(np.abs(null) >= abs(observed)) + 1) / (n_resamples + 1))
    boot = np.empty(n_boot)
    for i in range(n_boot):
        boot[i] = np.mean([c[rng.integers(0, c.size, c.size)].mean() for c in cells])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    t_interval = stratified_t_interval(cells)
    return {"estimate": observed, "ci_low": t_interval["ci_low"], "ci_high": t_interval["ci_high"],
            "ci_df": t_interval["df"], "boot_ci_low": float(lo), "boot_ci_high": float(hi),
            "p_two_sided": min(p_two, 1.0),
            "p_less": min(p_less, 1.0), "p_greater": min(p_greater, 1.0), "n_cells": len(cells),
            "n_pairs": int(flat.size), "method": method}


def exact_spearman(x: Sequence[float], y: Sequence[float], *, alternative: str = "two-sided",
                   n_resamples: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """Spearman's rho with a permutation p-value: exact over all n! pairings when n <= 8, else
    ``n_resamples`` random pairings (+1 correction). The t approximation that
    ``scipy.stats.spearmanr`` uses fails with few points and at |rho| = 1.

    Returns
    -------
    (rho, p)
    """
    from scipy.stats import rankdata

    rx = rankdata(np.asarray(x, dtype=np.float64))
    ry = rankdata(np.asarray(y, dtype=np.float64))
    n = rx.size
    if n != ry.size or n < 3:
        raise ValueError("exact_spearman: need x and y of the same length >= 3")
    cx, cy = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(cx @ cx) * float(cy @ cy))
    if denom == 0:
        return math.nan, math.nan
    rho = float(cx @ cy) / denom
    if n <= 8:
        perms = np.array(list(itertools.permutations(range(n))))
        null = (cy[perms] @ cx) / denom
        exact = True
    else:
        rng = np.random.default_rng(seed)
        perms = np.argsort(rng.random((n_resamples, n)), axis=1)
        null = (cy[perms] @ cx) / denom
        exact = False
    tol = 1e-12
    if alternative == "less":
        count = np.sum(null <= rho + tol)
    elif alternative == "greater":
        count = np.sum(null >= rho - tol)
    else:
        count = np.sum(np.abs(null) >= abs(rho) - tol)
    p = count / null.size if exact else (count + 1) / (null.size + 1)
    return rho, float(min(p, 1.0))
