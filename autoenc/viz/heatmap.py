"""Depth x latent-size heatmaps of test error, one per training loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from autoenc.viz.style import new_figure

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["error_heatmaps"]


def error_heatmaps(
    df: pd.DataFrame,
    value: str = "mse_mean",
    *,
    title: str = "",
    fmt: str = ".4g",
    cmap: str = "viridis_r",
) -> Figure:
    """One annotated heatmap per loss: rows depth, columns latent size, cells ``value``.

    Several rows per cell (e.g. seeds) are averaged; missing cells stay blank. All panels
    share one colour scale so losses can be compared by colour.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``depth``, ``latent_size``, ``loss`` and ``value``.
    value : str
        Column to show (e.g. ``"mse_mean"``).
    title : str
        Figure title.
    fmt : str
        Format of the cell annotations.
    cmap : str
        Colormap (reversed viridis: lower error is brighter).

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = {"depth", "latent_size", "loss", value} - set(df.columns)
    if missing:
        raise ValueError(f"error_heatmaps needs columns {sorted(missing)}")
    if df.empty:
        raise ValueError("error_heatmaps got an empty frame")
    losses = sorted(df["loss"].unique(), key=str)
    depths = sorted(df["depth"].unique())
    sizes = sorted(df["latent_size"].unique())
    tables = {
        loss: df[df["loss"] == loss]
        .pivot_table(index="depth", columns="latent_size", values=value, aggfunc="mean")
        .reindex(index=depths, columns=sizes)
        for loss in losses
    }
    finite = np.concatenate([t.to_numpy(dtype=float).ravel() for t in tables.values()])
    finite = finite[np.isfinite(finite)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax <= vmin:
        vmax = vmin + 1.0
    import seaborn as sns  # the statistical-figure library of the project: annotated heatmaps

    fig = new_figure(1.0 + 0.9 * len(sizes) * len(losses) + 0.8, 1.2 + 0.55 * len(depths))
    axes = fig.subplots(1, len(losses), squeeze=False)[0]
    image = None
    for ax, loss in zip(axes, losses, strict=True):
        sns.heatmap(tables[loss].astype(float), ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, annot=True, fmt=fmt,
                    annot_kws={"fontsize": 8}, cbar=False, linewidths=0.5, linecolor="white")
        image = ax.collections[0]
        grid = tables[loss].to_numpy(dtype=float)
        for i, j in zip(*np.nonzero(~np.isfinite(grid)), strict=True):  # seaborn leaves missing cells blank
            ax.text(j + 0.5, i + 0.5, "–", ha="center", va="center", fontsize=8, color="black")
        ax.set_xlabel("latent size")
        ax.set_ylabel("depth")
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"loss: {loss}", fontsize=9)
    fig.colorbar(image, ax=list(axes), label=value, shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
