"""Multiple-comparison adjustment of p-values (family-wise error rate).

NaN entries (e.g. a cell whose runs are missing) are not part of the family: they stay NaN
and do not count towards the family size ``m``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["holm"]


def _as_pvalues(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be a 1-D sequence, got shape {p.shape}")
    finite = p[~np.isnan(p)]
    if np.any((finite < 0) | (finite > 1)):
        raise ValueError("p-values must lie in [0, 1]; check that you passed p-values")
    return p


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values.

    With the finite p-values sorted ascending as ``p_(1) <= ... <= p_(m)``, the adjusted value
    is ``max_{j <= i} min(1, (m - j + 1) * p_(j))``: monotone in the raw order and clipped at 1.
    Rejecting where the adjusted value is ``<= alpha`` controls the family-wise error rate.

    Parameters
    ----------
    pvalues : sequence of float
        Raw p-values of one family of tests; NaN entries are ignored and stay NaN.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    """
    p = _as_pvalues(pvalues)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    factors = m - np.arange(m)  # m, m-1, ..., 1
    adjusted = np.maximum.accumulate(np.minimum(1.0, factors * p[order]))
    out[order] = adjusted
    return out
