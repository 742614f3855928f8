"""Monotone trend of error against latent size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["trend_test"]


def trend_test(
    latent_sizes: Sequence[float] | np.ndarray,
    errors: Sequence[float] | np.ndarray,
    *,
    alternative: str = "two-sided",
) -> dict[str, Any]:
    """Rank correlation of error with latent size (does error fall as the code grows?).

    Gives Spearman's rho (``scipy.stats.spearmanr``) and Kendall's tau-b
    (``scipy.stats.kendalltau``). With the latent size as an ordered group variable,
    Kendall's S behind tau-b is the Jonckheere-Terpstra statistic up to a linear
    transformation (both count concordant minus discordant cross-group pairs), so its p-value
    serves as the Jonckheere-style ordered-alternative test; scipy uses the tie-corrected
    normal approximation when there are ties. Pass one error per run (e.g. one per seed per
    size) rather than per-size means, so replication counts.

    Parameters
    ----------
    latent_sizes : sequence of float
        Latent size of each run.
    errors : sequence of float
        Matching error of each run (e.g. mean per-image MSE on the test set).
    alternative : {"two-sided", "less", "greater"}
        Alternative for both correlations (``"less"``: error decreases with size).

    Returns
    -------
    dict
        ``n, n_sizes, spearman_rho, spearman_p, kendall_tau, kendall_p, alternative,
        direction`` (``"decreasing"``, ``"increasing"`` or ``"none"`` from the sign of rho).
    """
    from scipy.stats import kendalltau, spearmanr

    x = np.asarray(latent_sizes, dtype=np.float64).ravel()
    y = np.asarray(errors, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"latent_sizes and errors differ in length: {x.size} vs {y.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("latent_sizes and errors must be finite; drop missing runs first")
    n_sizes = int(np.unique(x).size)
    if x.size < 3 or n_sizes < 2:
        raise ValueError("trend_test needs at least 3 runs over at least 2 latent sizes")
    if np.ptp(y) == 0:
        rho = rho_p = tau = tau_p = math.nan  # constant errors: no ranking to correlate
    else:
        s = spearmanr(x, y, alternative=alternative)
        k = kendalltau(x, y, alternative=alternative)
        rho, rho_p = float(s.statistic), float(s.pvalue)
        tau, tau_p = float(k.statistic), float(k.pvalue)
    direction = "none" if not rho or math.isnan(rho) else ("decreasing" if rho < 0 else "increasing")
    return {
        "n": int(x.size),
        "n_sizes": n_sizes,
        "spearman_rho": rho,
        "spearman_p": rho_p,
        "kendall_tau": tau,
        "kendall_p": tau_p,
        "alternative": alternative,
        "direction": direction,
    }
