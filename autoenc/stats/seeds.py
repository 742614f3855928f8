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

__all__ = ["exact_spearman", "seed_level_test", "seeds_for_power", "stratified_sign_flip"]


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


def seeds_for_power(dz: float, *, alpha: float = 0.05, power: float = 0.8, max_seeds: int = 10_000) -> float:
    """Seeds needed for a two-sided one-sample t-test to detect the standardised effect ``dz``
    (mean / sd of the per-seed differences) with ``power`` at level ``alpha``
    (``statsmodels.stats.power.TTestPower``). ``inf`` when the effect is 0 or undefined or
    beyond ``max_seeds``; ``2`` is the floor of a t-test."""
    from statsmodels.stats.power import TTestPower

    if math.isinf(dz):  # identical nonzero differences: the t-test's floor
        return 2.0
    if not math.isfinite(dz) or dz == 0:
        return math.inf
    # the power of every n from 2 to max_seeds at once: robust where a root finder fails (huge effects)
    n = np.arange(2, max_seeds + 1)
    powers = TTestPower().power(effect_size=abs(dz), nobs=n, alpha=alpha, alternative="two-sided")
    enough = np.flatnonzero(np.asarray(powers) >= power)
    return float(n[enough[0]]) if enough.size else math.inf


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
    signs of all pairs independently (exactly when there are at most 16 pairs, else
    ``n_resamples`` Monte Carlo flips with the +1 correction). The 95% interval is a stratified
    bootstrap (seeds resampled within each cell, as ``rliable`` does over runs).

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high``, ``p_two_sided``, ``p_less`` (the statistic is
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
    if flat.size <= 16:
        signs = _sign_matrix(flat.size)
        method = f"exact over all 2^{flat.size} sign vectors"
        null = signs @ (flat * weights)
        p_less = float(np.mean(null <= observed + 1e-15))
        p_greater = float(np.mean(null >= observed - 1e-15))
        p_two = float(np.mean(np.abs(null) >= abs(observed) - 1e-15))
    else:
        method = f"{n_resamples} random sign flips (Monte Carlo, +1 correction)"
        null = np.empty(n_resamples)
        chunk = 10_000
        for start in range(0, n_resamples, chunk):
            size = min(chunk, n_resamples - start)
            signs = rng.choice((-1.0, 1.0), size=(size, flat.size))
            null[start:start + size] = signs @ (flat * weights)
        p_less = float((np.sum(null <= observed) + 1) / (n_resamples + 1))
        p_greater = float((np.sum(null >= observed) + 1) / (n_resamples + 1))
        p_two = float((np.sum(np.abs(null) >= abs(observed)) + 1) / (n_resamples + 1))
    boot = np.empty(n_boot)
    for i in range(n_boot):
        boot[i] = np.mean([c[rng.integers(0, c.size, c.size)].mean() for c in cells])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"estimate": observed, "ci_low": float(lo), "ci_high": float(hi), "p_two_sided": min(p_two, 1.0),
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
