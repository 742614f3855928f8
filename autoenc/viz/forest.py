"""Forest plot of the paired effect per (depth, latent size) cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from autoenc.viz.style import new_figure

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["forest_plot"]


def forest_plot(
    df: pd.DataFrame,
    *,
    estimate: str = "median_diff",
    low: str | None = "median_diff_ci_low",
    high: str | None = "median_diff_ci_high",
    label_columns: Sequence[str] = ("depth", "latent_size"),
    xlabel: str = "median per-image difference BCE - MSE (negative: BCE better)",
    title: str = "",
    annotate: bool = True,
) -> Figure:
    """One row per cell: point estimate with its interval, and a vertical line at zero.

    Works with the columns of :class:`autoenc.stats.PairedResult` (default: median paired
    difference and its bootstrap CI); for the rank-biserial correlation pass
    ``estimate="rank_biserial", low=None, high=None``.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per cell; rows are drawn top to bottom in frame order.
    estimate, low, high : str
        Columns with the estimate and interval bounds (``None``: no interval).
    label_columns : sequence of str
        Columns joined into each row's label (``"depth=2, latent_size=64"``); a ``label``
        column, if present, is used instead.
    xlabel, title : str
        Labels.
    annotate : bool
        Print ``estimate [low, high]`` right of the axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    needed = {estimate} | {c for c in (low, high) if c is not None}
    if "label" not in df.columns:
        needed |= set(label_columns)
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"forest_plot needs columns {sorted(missing)}")
    if df.empty:
        raise ValueError("forest_plot got an empty frame")
    if "label" in df.columns:
        labels = [str(v) for v in df["label"]]
    else:
        # per column, so integer columns stay integers (iterrows would upcast to float)
        columns = [df[c].tolist() for c in label_columns]
        labels = [
            ", ".join(f"{c}={v}" for c, v in zip(label_columns, values, strict=True))
            for values in zip(*columns, strict=True)
        ]
    est = df[estimate].to_numpy(dtype=float)
    y = np.arange(len(df))[::-1]
    fig = new_figure(7.5, 1.0 + 0.32 * len(df))
    ax = fig.subplots()
    if low is not None and high is not None:
        lo = df[low].to_numpy(dtype=float)
        hi = df[high].to_numpy(dtype=float)
        xerr = np.vstack([est - lo, hi - est])
        ax.errorbar(est, y, xerr=xerr, fmt="o", color="C0", ecolor="C0", capsize=3, ms=4)
    else:
        lo = hi = None
        ax.plot(est, y, "o", color="C0", ms=4)
    ax.axvline(0.0, color="0.3", lw=1, ls="--")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if annotate:
        for i, yi in enumerate(y):
            text = f"{est[i]:.3g}"
            if lo is not None and hi is not None:
                text += f" [{lo[i]:.3g}, {hi[i]:.3g}]"
            ax.annotate(text, xy=(1.01, yi), xycoords=("axes fraction", "data"), va="center",
                        fontsize=7)
    if title:
        ax.set_title(title)
    return fig
