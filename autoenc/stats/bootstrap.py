"""Seeded percentile bootstrap for a one-sample statistic (median by default)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["bootstrap_ci"]


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[..., np.ndarray] = np.median,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk_size: int = 250,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic(values)``.

    Resamples the values (e.g. per-image paired differences) with replacement ``n_boot``
    times with ``numpy.random.default_rng(seed)``, so the interval is reproducible, and
    returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
    resampled statistic (the plain percentile method, not BCa).

    Parameters
    ----------
    values : numpy.ndarray
        1-D sample.
    statistic : callable
        Called as ``statistic(resamples, axis=1)`` on a ``(chunk, n)`` array.
    n_boot : int
        Number of bootstrap resamples.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling generator.
    chunk_size : int
        Resamples drawn at once (bounds memory at ``chunk_size * n`` values).

    Returns
    -------
    tuple of float
        ``(low, high)``.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for start in range(0, n_boot, chunk_size):
        stop = min(start + chunk_size, n_boot)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        stats[start:stop] = statistic(x[idx], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(low), float(high)
