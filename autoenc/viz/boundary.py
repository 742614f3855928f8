"""Decision boundaries of 2-D classifiers and fits of 1-D regressions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

from autoenc.viz.style import class_cmap, class_colors, new_figure

__all__ = ["decision_boundary", "regression_fit"]


def decision_boundary(
    model_predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    title: str = "",
    resolution: int = 200,
    margin: float = 0.1,
    threshold: float | None = None,
) -> Figure:
    """Prediction over the plane with the data on top.

    ``model_predict`` is called once on a ``resolution x resolution`` grid of shape
    ``(n, 2)`` covering the data plus ``margin`` (fraction of the range). Its output is read
    as:

    - ``(n, C)`` with ``C > 1``: class scores; regions are coloured by argmax class.
    - ``(n,)`` or ``(n, 1)`` integer-valued: labels; regions coloured by label.
    - ``(n,)`` or ``(n, 1)`` real-valued: a score, shaded continuously, with the boundary
      drawn at ``threshold`` (default 0.5 if scores lie in [0, 1], else 0).

    Parameters
    ----------
    model_predict : callable
        ``(n, 2)`` array to scores or labels.
    X : numpy.ndarray
        Data, shape ``(n, 2)``.
    y : numpy.ndarray
        Labels (integers; -1/1 or 0/1 or 0..C-1). Points are coloured by label.
    title : str
        Axes title (e.g. ``"XOR, minibatch 200: accuracy 0.997"``).
    resolution : int
        Grid points per axis.
    margin : float
        Padding around the data, as a fraction of its range.
    threshold : float, optional
        Boundary level for real-valued scores.

    Returns
    -------
    matplotlib.figure.Figure
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != 2 or len(X) != len(y):
        raise ValueError(f"decision_boundary needs X of shape (n, 2) and n labels, got {X.shape}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.where(hi > lo, hi - lo, 1.0)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    out = np.asarray(model_predict(grid))
    if out.shape[0] != grid.shape[0]:
        raise ValueError(f"model_predict returned {out.shape[0]} rows for {grid.shape[0]} points")
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]

    classes, y_index = np.unique(y, return_inverse=True)
    fig = new_figure(5.5, 4.8)
    ax = fig.subplots()
    if out.ndim == 2 or np.allclose(out, np.round(out)):
        if out.ndim == 2:  # column i scores the i-th smallest label of y
            pred = out.argmax(axis=1)
        else:  # predicted label values -> positions in the sorted labels of y
            lookup = {c: i for i, c in enumerate(classes.tolist())}
            pred = np.array([lookup.get(v, len(classes)) for v in np.round(out).tolist()])
        n_colors = int(max(pred.max(), len(classes) - 1)) + 1
        regions = pred.reshape(gx.shape)
        ax.contourf(gx, gy, regions, levels=np.arange(n_colors + 1) - 0.5,
                    cmap=class_cmap(n_colors), alpha=0.25)
        if np.unique(regions).size > 1:  # one region only: no boundary to draw
            ax.contour(gx, gy, regions, levels=np.arange(n_colors - 1) + 0.5, colors="k",
                       linewidths=0.8)
    else:
        level = threshold
        if level is None:
            level = 0.5 if out.min() >= 0 and out.max() <= 1 else 0.0
        shade = ax.contourf(gx, gy, out.reshape(gx.shape), levels=20, cmap="RdBu_r", alpha=0.5)
        fig.colorbar(shade, ax=ax, label="model score")
        if out.min() < level < out.max():
            ax.contour(gx, gy, out.reshape(gx.shape), levels=[level], colors="k", linewidths=1.2)
    ax.scatter(X[:, 0], X[:, 1], c=class_colors(y_index), s=10, edgecolors="k", linewidths=0.3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return fig


def regression_fit(
    x: np.ndarray,
    y: np.ndarray,
    y_pred: np.ndarray,
    *,
    title: str = "",
) -> Figure:
    """Data with the fitted curve (top) and residuals ``y - y_pred`` against x (bottom).

    Parameters
    ----------
    x : numpy.ndarray
        1-D inputs.
    y : numpy.ndarray
        Observed targets.
    y_pred : numpy.ndarray
        Model predictions at ``x``.
    title : str
        Figure title (e.g. the fitted coefficients).

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if not (len(x) == len(y) == len(y_pred)) or len(x) == 0:
        raise ValueError(f"x ({len(x)}), y ({len(y)}), y_pred ({len(y_pred)}) must match")
    order = np.argsort(x, kind="stable")
    residual = y - y_pred
    fig = new_figure(6.0, 5.5)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.4])
    top.scatter(x, y, s=8, alpha=0.6, color="C0", label="data")
    top.plot(x[order], y_pred[order], color="C3", lw=2, label="model")
    top.set_ylabel("y")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    bottom.scatter(x, residual, s=8, alpha=0.6, color="C0")
    bottom.axhline(0.0, color="C3", lw=1)
    bottom.set_xlabel("x")
    bottom.set_ylabel("residual")
    bottom.grid(alpha=0.3)
    rmse = float(np.sqrt(np.mean(residual**2)))
    bottom.set_title(f"RMSE {rmse:.4g}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
