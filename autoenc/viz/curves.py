"""Learning curves and distributions of per-image differences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from autoenc.viz.style import new_figure

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["difference_distribution", "learning_curves"]


def learning_curves(
    histories: Mapping[str, pd.DataFrame],
    *,
    title: str = "",
    log_y: bool = False,
    ylabel: str = "loss",
) -> Figure:
    """Train (solid) and validation (dashed) loss per epoch, one colour per run.

    Parameters
    ----------
    histories : mapping of str to pandas.DataFrame
        Run label to a frame with columns ``epoch``, ``train_loss`` and ``val_loss``
        (``val_loss`` may be missing or NaN when a run had no validation split).
    title : str
        Axes title.
    log_y : bool
        Log-scale the loss axis (useful when runs differ by orders of magnitude).
    ylabel : str
        Loss axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not histories:
        raise ValueError("learning_curves needs at least one history")
    fig = new_figure(7.0, 4.2)
    ax = fig.subplots()
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for color, (label, hist) in zip(colors, histories.items(), strict=True):
        missing = {"epoch", "train_loss"} - set(hist.columns)
        if missing:
            raise ValueError(f"history {label!r} lacks columns {sorted(missing)}")
        ax.plot(hist["epoch"], hist["train_loss"], color=color, lw=1.5, label=f"{label} train")
        if "val_loss" in hist.columns and hist["val_loss"].notna().any():
            ax.plot(hist["epoch"], hist["val_loss"], color=color, lw=1.5, ls="--",
                    label=f"{label} val")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return fig


def difference_distribution(
    diffs: Mapping[str, np.ndarray],
    *,
    kind: str = "violin",
    xlabel: str = "per-image difference a - b (negative: A better)",
    title: str = "",
    bins: int = 60,
) -> Figure:
    """Distribution of per-image paired differences, one row per comparison.

    Parameters
    ----------
    diffs : mapping of str to numpy.ndarray
        Comparison label (e.g. ``"depth 2, k=64"``) to per-image differences.
    kind : {"violin", "hist"}
        Horizontal violins with median ticks, or overlaid step histograms.
    xlabel, title : str
        Labels.
    bins : int
        Histogram bins for ``kind="hist"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not diffs:
        raise ValueError("difference_distribution needs at least one array")
    if kind not in ("violin", "hist"):
        raise ValueError(f"kind must be 'violin' or 'hist', not {kind!r}")
    labels = list(diffs)
    arrays = [np.asarray(diffs[k], dtype=np.float64).ravel() for k in labels]
    arrays = [a[np.isfinite(a)] for a in arrays]
    if any(a.size == 0 for a in arrays):
        raise ValueError("every difference array needs at least one finite value")
    if kind == "violin":
        fig = new_figure(7.0, 1.0 + 0.45 * len(labels))
        ax = fig.subplots()
        positions = np.arange(len(labels))[::-1]
        # a violin needs spread; draw a degenerate sample as its median tick only
        spread = [i for i, a in enumerate(arrays) if np.ptp(a) > 0]
        if spread:
            parts = ax.violinplot([arrays[i] for i in spread], positions=positions[spread],
                                  orientation="horizontal", showextrema=False, widths=0.8)
            for body in parts["bodies"]:
                body.set_alpha(0.5)
        ax.scatter([np.median(a) for a in arrays], positions, marker="|", s=200, color="k",
                   zorder=3, label="median")
        ax.set_yticks(positions, labels, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    else:
        fig = new_figure(7.0, 4.0)
        ax = fig.subplots()
        lo = min(float(np.percentile(a, 0.5)) for a in arrays)
        hi = max(float(np.percentile(a, 99.5)) for a in arrays)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for label, a in zip(labels, arrays, strict=True):
            ax.hist(a, bins=edges, histtype="step", lw=1.4, label=label)
        ax.set_ylabel("images")
        ax.legend(fontsize=7)
    ax.axvline(0.0, color="0.3", lw=1, ls=":")
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig
