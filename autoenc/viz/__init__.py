"""Figures of the studies, as pure functions from arrays / DataFrames to matplotlib Figures.

Every function returns a ``matplotlib.figure.Figure`` (Agg backend, never shown); write it
with :func:`save_figure`, which writes the PNG atomically and closes the figure. Classes are
always coloured with :data:`CLASS_PALETTE` (tab10), so class *i* has one colour everywhere.
openTSNE and scikit-learn load only inside the t-SNE functions.
"""

from __future__ import annotations

from autoenc.viz.boundary import decision_boundary, regression_fit
from autoenc.viz.confusion import confusion_matrix_plot, misclassified_grid
from autoenc.viz.curves import difference_distribution, learning_curves
from autoenc.viz.forest import forest_plot
from autoenc.viz.heatmap import error_heatmaps
from autoenc.viz.order import reading_order_plot
from autoenc.viz.recon import code_shape, image_shape_of, one_per_class, reconstruction_grid
from autoenc.viz.style import (
    CLASS_PALETTE,
    DEFAULT_DPI,
    class_cmap,
    class_colors,
    new_figure,
    save_figure,
)
from autoenc.viz.tsne import embedding_quality, tsne_embed, tsne_panels

__all__ = [
    "CLASS_PALETTE",
    "DEFAULT_DPI",
    "class_cmap",
    "class_colors",
    "code_shape",
    "confusion_matrix_plot",
    "decision_boundary",
    "difference_distribution",
    "embedding_quality",
    "error_heatmaps",
    "forest_plot",
    "image_shape_of",
    "learning_curves",
    "reading_order_plot",
    "misclassified_grid",
    "new_figure",
    "one_per_class",
    "reconstruction_grid",
    "regression_fit",
    "save_figure",
    "tsne_embed",
    "tsne_panels",
]
