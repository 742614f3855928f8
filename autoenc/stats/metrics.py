"""Per-image reconstruction errors and the original study's error table.

Three scales of the same squared error are easy to confuse, so each has its own name:

- ``sse``: per-image sum of squared errors ``sum_j (x_j - x_hat_j)^2``,
- ``l2``: per-image Euclidean distance ``||x - x_hat|| = sqrt(sse)`` (the scale of the
  original study's table, 3.8-5.4 on Fashion-MNIST),
- ``mse``: per-pixel mean squared error ``sse / n_pixels``.

``bce`` is the per-image mean over pixels of the binary cross-entropy of ``x`` against
``x_hat``, with ``x_hat`` clipped to ``[eps, 1 - eps]``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BCE_EPS", "reconstruction_metrics", "summarize"]

BCE_EPS = 1e-7


def _as_rows(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n_images, ...) with n_images >= 1")
    return x.reshape(x.shape[0], -1)


def reconstruction_metrics(
    x: np.ndarray, x_hat: np.ndarray, *, eps: float = BCE_EPS, chunk_size: int = 2048
) -> dict[str, np.ndarray]:
    """Per-image reconstruction errors.

    Parameters
    ----------
    x : numpy.ndarray
        Originals, shape ``(n, ...)``, pixels in [0, 1] (needed for ``bce``).
    x_hat : numpy.ndarray
        Reconstructions, same shape.
    eps : float
        Clipping of ``x_hat`` inside the BCE logarithms.
    chunk_size : int
        Images processed at once in float64 (bounds memory).

    Returns
    -------
    dict of str to numpy.ndarray
        ``mse``, ``sse``, ``l2``, ``bce``, ``l1`` (mean absolute error per pixel: a metric neither
        training loss optimises): float64 arrays of shape ``(n,)``.
    """
    x2 = _as_rows(x, "x")
    xh2 = _as_rows(x_hat, "x_hat")
    if x2.shape != xh2.shape:
        raise ValueError(f"x and x_hat shapes differ: {np.shape(x)} vs {np.shape(x_hat)}")
    n, n_pixels = x2.shape
    sse = np.empty(n)
    bce = np.empty(n)
    l1 = np.empty(n)
    for start in range(0, n, chunk_size):
        xs = x2[start : start + chunk_size].astype(np.float64)
        xhs = xh2[start : start + chunk_size].astype(np.float64)
        sse[start : start + chunk_size] = np.sum((xs - xhs) ** 2, axis=1)
        l1[start : start + chunk_size] = np.mean(np.abs(xs - xhs), axis=1)
        p = np.clip(xhs, eps, 1.0 - eps)
        bce[start : start + chunk_size] = -np.mean(
            xs * np.log(p) + (1.0 - xs) * np.log1p(-p), axis=1
        )
    return {"mse": sse / n_pixels, "sse": sse, "l2": np.sqrt(sse), "bce": bce, "l1": l1}


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean, sample standard deviation (ddof=1; NaN for one value), median and count.

    Parameters
    ----------
    values : numpy.ndarray
        Any shape; flattened. NaN values are rejected.

    Returns
    -------
    dict
        ``mean, std, median, n``.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("summarize needs at least one value")
    if np.isnan(v).any():
        raise ValueError("summarize got NaN values; drop missing runs before summarising")
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
        "median": float(np.median(v)),
        "n": int(v.size),
    }
