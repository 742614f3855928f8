"""Classifier diagnostics: confusion matrix and a grid of misclassified images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from autoenc.viz.recon import image_shape_of
from autoenc.viz.style import new_figure

__all__ = ["confusion_matrix_plot", "misclassified_grid"]


def confusion_matrix_plot(
    cm: np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: bool = True,
    title: str = "",
    accuracy: float | None = None,
    accuracy_label: str = "accuracy",
) -> Figure:
    """Confusion matrix (rows: true class, columns: predicted class).

    Colour shows the row-normalised rate (recall per class) when ``normalize``; every cell
    is annotated with its count and, when normalised, the rate in percent.

    Parameters
    ----------
    cm : numpy.ndarray
        Square matrix of counts, e.g. ``sklearn.metrics.confusion_matrix(y_true, y_pred)``.
    class_names : sequence of str
        One name per row/column.
    normalize : bool
        Colour by row rate rather than by count.
    title : str
        Axes title; the accuracy is appended.
    accuracy, accuracy_label
        The accuracy named in the title (default: the matrix's own trace / total) and its name,
        e.g. the median over seeds when ``cm`` is a mean over seeds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cm = np.asarray(cm, dtype=np.float64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"cm must be {n}x{n} to match class_names, got {cm.shape}")
    row_sums = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    shown = rates if normalize else cm
    size = max(4.0, 0.62 * n + 2.2)
    fig = new_figure(size + 0.8, size)
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, label="share of true class" if normalize else "count",
                 shrink=0.8)
    threshold = shown.max() / 2 if shown.max() > 0 else 1.0
    for i in range(n):
        for j in range(n):
            count = cm[i, j]
            text = f"{count:.0f}" if abs(count - round(count)) < 1e-9 or count >= 100 else f"{count:.1f}"
            if normalize:
                text += f"\n{100 * rates[i, j]:.0f}%"
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5 if n > 8 else 9,
                    color="white" if shown[i, j] > threshold else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if accuracy is None:
        total = cm.sum()
        accuracy = np.trace(cm) / total if total > 0 else float("nan")
    ax.set_title(f"{title + ': ' if title else ''}{accuracy_label} {accuracy:.4f}", fontsize=10)
    return fig


def misclassified_grid(
    images: np.ndarray,
    true: Sequence[int] | np.ndarray,
    pred: Sequence[int] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    class_names: Sequence[str],
    image_shape: Sequence[int] | None = None,
    *,
    ncols: int = 8,
    max_images: int = 32,
    title: str = "",
) -> Figure:
    """Images with their true and predicted class and the model's confidence.

    Draws the first ``max_images`` images in the given order (sort by confidence first to
    show the most confident mistakes). Each caption reads ``true -> predicted (confidence)``.

    Parameters
    ----------
    images : numpy.ndarray
        Shape ``(m, h*w)`` or ``(m, h, w)``.
    true, pred : sequence of int
        True and predicted class per image.
    confidence : sequence of float
        Predicted-class probability per image.
    class_names : sequence of str
        Class names.
    image_shape : (int, int), optional
        Needed when flat images are not square (USPS 16x16 and MNIST 28x28 are inferred).
    ncols : int
        Images per row.
    max_images : int
        Cap on images drawn.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images)
    true = np.asarray(true).ravel()
    pred = np.asarray(pred).ravel()
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    m = len(images)
    if m == 0:
        raise ValueError("misclassified_grid needs at least one image")
    if not (len(true) == len(pred) == len(confidence) == m):
        raise ValueError("images, true, pred and confidence must have the same length")
    shape = image_shape_of(images, image_shape)
    m = min(m, max_images)
    ncols = max(1, min(ncols, m))
    nrows = -(-m // ncols)
    fig = new_figure(1.3 * ncols, 1.45 * nrows + (0.4 if title else 0.1))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= m:
            ax.set_visible(False)
            continue
        ax.imshow(images[i].reshape(shape), cmap="gray_r", interpolation="nearest")
        ax.set_title(f"{class_names[true[i]]} → {class_names[pred[i]]}\n({confidence[i]:.2f})",
                     fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
