"""How a Conv1D network reads an image: the pixel path of each reading order."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from autoenc.viz.style import new_figure

__all__ = ["reading_order_plot"]


def reading_order_plot(orders: Mapping[str, np.ndarray], side: int, *, image: np.ndarray | None = None,
                       span: int = 4, examples: int = 3) -> Figure:
    """One panel per reading order: the path through a ``side`` x ``side`` image, coloured
    from the first pixel (dark) to the last (yellow), over an optional example ``image``.

    Parameters
    ----------
    orders : mapping of str to numpy.ndarray
        Panel title to a permutation of ``range(side * side)`` (row-major pixel indices in
        reading order).
    side : int
        Image side.
    image : numpy.ndarray, optional
        ``side * side`` values drawn in grey underneath.
    span : int
        Consecutive pixels that one pooled feature sees (kernel + pool - 1 = 4 for the
        original's kernel 3 and pooling 2); ``examples`` such spans, between 30% and 70%
        of the sequence, are outlined in red.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not orders:
        raise ValueError("reading_order_plot: no orders to draw")
    n = side * side
    for name, order in orders.items():
        if sorted(np.asarray(order).tolist()) != list(range(n)):
            raise ValueError(f"reading_order_plot: order {name!r} is not a permutation of {n} pixels")
    fig = new_figure(2.8 * len(orders), 3.1)
    axes = np.atleast_1d(fig.subplots(1, len(orders)))
    for ax, (name, order) in zip(axes, orders.items(), strict=True):
        rows, cols = np.divmod(np.asarray(order), side)
        if image is not None:
            ax.imshow(np.asarray(image, float).reshape(side, side), cmap="Greys", alpha=0.35)
        points = np.column_stack([cols, rows]).astype(float)
        segments = np.stack([points[:-1], points[1:]], axis=1)
        lines = LineCollection(segments, cmap="viridis", linewidths=1.2)
        lines.set_array(np.arange(len(segments), dtype=float))
        ax.add_collection(lines)
        for start in (np.linspace(0.3, 0.7, examples) * n).astype(int) // span * span:  # whole pooled spans
            for p in order[start:start + span]:
                r, c = divmod(int(p), side)
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.2))
        ax.set_xlim(-0.5, side - 0.5)
        ax.set_ylim(side - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
    return fig
