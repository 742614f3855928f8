"""Reconstruction grids like the original study's: original, code as an image, reconstruction."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from autoenc.viz.style import new_figure

__all__ = ["code_shape", "image_shape_of", "one_per_class", "reconstruction_grid"]


def code_shape(latent_size: int) -> tuple[int, int]:
    """Most square ``(rows, cols)`` rectangle with ``rows * cols == latent_size``, rows <= cols.

    >>> code_shape(64), code_shape(400), code_shape(100), code_shape(16), code_shape(256)
    ((8, 8), (20, 20), (10, 10), (4, 4), (16, 16))
    >>> code_shape(32), code_shape(7)
    ((4, 8), (1, 7))
    """
    if latent_size < 1:
        raise ValueError(f"latent_size must be >= 1, got {latent_size}")
    rows = math.isqrt(latent_size)
    while latent_size % rows:
        rows -= 1
    return rows, latent_size // rows


def image_shape_of(images: np.ndarray, image_shape: Sequence[int] | None = None) -> tuple[int, int]:
    """2-D shape to draw each image with: given, from a 3-D array, or a square side."""
    images = np.asarray(images)
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != int(np.prod(images.shape[1:])):
            raise ValueError(f"image_shape {shape} does not match images of shape {images.shape}")
        return shape  # type: ignore[return-value]
    if images.ndim == 3:
        return int(images.shape[1]), int(images.shape[2])
    side = math.isqrt(int(images.shape[-1]))
    if images.ndim != 2 or side * side != images.shape[-1]:
        raise ValueError(f"cannot infer a 2-D image shape from {images.shape}; pass image_shape=")
    return side, side


def one_per_class(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Index of the first example of each class, in class order (fixed, reproducible picks).

    Classes without any example are skipped.
    """
    labels = np.asarray(labels).ravel()
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    picks = [np.flatnonzero(labels == c) for c in range(n_classes)]
    return np.array([p[0] for p in picks if p.size], dtype=np.int64)


def reconstruction_grid(
    originals: np.ndarray,
    codes: np.ndarray | None,
    reconstructions: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    title: str = "",
    image_shape: Sequence[int] | None = None,
    cell_inches: float = 1.1,
) -> Figure:
    """One column per example: the original, its code drawn as an image, the reconstruction.

    The latent code of size k is reshaped to the most square rectangle (:func:`code_shape`)
    and drawn with one colour scale shared by all columns, so codes are comparable; images
    use a grey scale fixed to [0, 1].

    Parameters
    ----------
    originals, reconstructions : numpy.ndarray
        Shape ``(m, h*w)`` or ``(m, h, w)``, pixels in [0, 1].
    codes : numpy.ndarray or None
        Shape ``(m, k)``; ``None`` leaves out the code row.
    labels : sequence of int
        Class of each example (column title).
    class_names : sequence of str
        Name of each class.
    title : str
        Figure title (e.g. ``"test, depth 2, k=64, BCE"``).
    image_shape : (int, int), optional
        Needed when flat images are not square.
    cell_inches : float
        Size of one cell.

    Returns
    -------
    matplotlib.figure.Figure
    """
    originals = np.asarray(originals)
    reconstructions = np.asarray(reconstructions)
    labels = np.asarray(labels).ravel()
    m = len(originals)
    if m == 0 or len(reconstructions) != m or len(labels) != m:
        raise ValueError(
            f"need the same positive number of originals ({m}), reconstructions "
            f"({len(reconstructions)}) and labels ({len(labels)})"
        )
    shape = image_shape_of(originals, image_shape)
    rows: list[tuple[str, np.ndarray, dict]] = [
        ("original", originals.reshape(m, *shape), {"cmap": "gray", "vmin": 0.0, "vmax": 1.0})
    ]
    if codes is not None:
        codes = np.asarray(codes).reshape(m, -1)
        cshape = code_shape(codes.shape[1])
        lo, hi = float(codes.min()), float(codes.max())
        rows.append(
            (
                f"code {cshape[0]}x{cshape[1]}",
                codes.reshape(m, *cshape),
                {"cmap": "viridis", "vmin": lo, "vmax": hi if hi > lo else lo + 1.0},
            )
        )
    rows.append(
        (
            "reconstruction",
            reconstructions.reshape(m, *shape),
            {"cmap": "gray", "vmin": 0.0, "vmax": 1.0},
        )
    )
    fig = new_figure(cell_inches * m + 0.6, cell_inches * len(rows) + (0.5 if title else 0.2))
    axes = fig.subplots(len(rows), m, squeeze=False)
    for r, (row_name, arrays, kwargs) in enumerate(rows):
        for c in range(m):
            ax = axes[r, c]
            ax.imshow(arrays[c], interpolation="nearest", **kwargs)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                name = class_names[labels[c]] if 0 <= labels[c] < len(class_names) else labels[c]
                ax.set_title(str(name), fontsize=8)
            if c == 0:
                ax.set_ylabel(row_name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
