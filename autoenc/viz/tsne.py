"""t-SNE maps (openTSNE) of originals, codes and reconstructions, and their quality.

Test points are placed into the map fitted on training points with openTSNE's
``TSNEEmbedding.transform``, so train and test panels of one representation share
coordinates and can be read side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from autoenc.viz.style import CLASS_PALETTE, class_colors, new_figure

__all__ = ["embedding_quality", "tsne_embed", "tsne_panels"]


def _flat(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name} must have shape (n_points, ...) with n_points >= 1")
    return x.reshape(len(x), -1)


def tsne_embed(
    train_X: np.ndarray,
    test_X: np.ndarray | None = None,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    perplexity: float = 30,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit a 2-D t-SNE map on ``train_X`` and place ``test_X`` into it.

    ``openTSNE.TSNE(perplexity=perplexity, n_jobs=n_jobs, random_state=seed).fit(train_X)``
    (PCA initialisation, openTSNE's default schedule: 250 early-exaggeration + 500
    iterations), then ``embedding.transform(test_X)`` (openTSNE's defaults for new points:
    perplexity 5, median initialisation from the nearest train points, 250 iterations;
    train points stay fixed).

    Parameters
    ----------
    train_X : numpy.ndarray
        Shape ``(n_train, ...)``; flattened. Perplexity must be below ``n_train / 3``.
    test_X : numpy.ndarray, optional
        Points to place into the train map.
    n_jobs : int
        Threads for openTSNE.
    seed : int
        ``random_state``.
    perplexity : float
        Perplexity of the train map.

    Returns
    -------
    tuple
        ``(train_embedding, test_embedding)`` as plain ``(n, 2)`` arrays; the second is
        ``None`` without ``test_X``.
    """
    from openTSNE import TSNE

    Xtr = _flat(train_X, "train_X")
    if not 0 < perplexity < len(Xtr) / 3:
        raise ValueError(
            f"perplexity={perplexity} needs more than {3 * perplexity:.0f} train points, "
            f"got {len(Xtr)}; lower the perplexity or embed more points"
        )
    embedding = TSNE(perplexity=perplexity, n_jobs=n_jobs, random_state=seed).fit(Xtr)
    train_emb = np.array(embedding, dtype=np.float64)
    if test_X is None:
        return train_emb, None
    Xte = _flat(test_X, "test_X")
    if Xte.shape[1] != Xtr.shape[1]:
        raise ValueError(f"test_X has {Xte.shape[1]} features, train_X {Xtr.shape[1]}")
    return train_emb, np.array(embedding.transform(Xte), dtype=np.float64)


def embedding_quality(
    X_high: np.ndarray,
    emb: np.ndarray,
    labels: np.ndarray,
    k: int = 10,
    max_points: int = 3000,
    seed: int = 0,
    *,
    reference_emb: np.ndarray | None = None,
    reference_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """How faithful and how class-separating a 2-D map is.

    - Trustworthiness (``sklearn.manifold.trustworthiness`` with ``n_neighbors=k``): how
      many of each point's map neighbours are also neighbours in ``X_high`` (1 = all).
      Computed on a seeded random subset of at most ``max_points`` points (it is quadratic).
    - kNN accuracy: a ``KNeighborsClassifier(n_neighbors=k)`` in map coordinates. Without a
      reference it is the mean of a seeded 5-fold stratified cross-validation on ``emb``
      (a train panel). With ``reference_emb``/``reference_labels`` (the train map) the
      classifier is fitted on the reference and scored on ``emb`` (a test panel placed
      into that map), i.e. train-map-fit / test-map-predict.

    Parameters
    ----------
    X_high : numpy.ndarray
        High-dimensional points, shape ``(n, ...)``.
    emb : numpy.ndarray
        Their 2-D map, shape ``(n, 2)``.
    labels : numpy.ndarray
        Class of each point.
    k : int
        Neighbours for both measures.
    max_points : int
        Cap on points for trustworthiness.
    seed : int
        Seed of the subset and the CV split.
    reference_emb, reference_labels : numpy.ndarray, optional
        Train map and its labels, for test panels.

    Returns
    -------
    dict
        ``trustworthiness, knn_accuracy, k, n_points, n_points_trustworthiness,
        knn_method`` (``"5-fold CV in map"`` or ``"fit on reference map, score on map"``).
    """
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    X = _flat(X_high, "X_high")
    E = np.asarray(emb, dtype=np.float64)
    y = np.asarray(labels).ravel()
    if not (len(X) == len(E) == len(y)):
        raise ValueError(f"X_high ({len(X)}), emb ({len(E)}), labels ({len(y)}) differ in length")
    if E.ndim != 2:
        raise ValueError(f"emb must have shape (n, d), got {E.shape}")
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(len(X), size=min(max_points, len(X)), replace=False))
    if len(subset) <= 2 * k:
        raise ValueError(f"trustworthiness with k={k} needs more than {2 * k} points")
    trust = float(trustworthiness(X[subset], E[subset], n_neighbors=k))
    knn = KNeighborsClassifier(n_neighbors=k)
    if reference_emb is not None:
        if reference_labels is None:
            raise ValueError("reference_emb needs reference_labels")
        ref = np.asarray(reference_emb, dtype=np.float64)
        knn.fit(ref, np.asarray(reference_labels).ravel())
        accuracy = float(knn.score(E, y))
        method = "fit on reference map, score on map"
    else:
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(5, counts.min()))
        if folds < 2:
            raise ValueError("cross-validated kNN accuracy needs >= 2 points of every class")
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        accuracy = float(np.mean(cross_val_score(knn, E, y, cv=cv)))
        method = f"{folds}-fold CV in map"
    return {
        "trustworthiness": trust,
        "knn_accuracy": accuracy,
        "k": k,
        "n_points": int(len(X)),
        "n_points_trustworthiness": int(len(subset)),
        "knn_method": method,
    }


def tsne_panels(
    embeddings: Mapping[str, np.ndarray],
    labels: np.ndarray | Mapping[str, np.ndarray],
    class_names: Sequence[str],
    captions: Mapping[str, str] | None = None,
    *,
    ncols: int = 3,
    title: str = "",
    point_size: float = 3.0,
    share_columns: bool = True,
) -> Figure:
    """Grid of 2-D maps coloured by class with one shared legend.

    The usual layout is 2 rows (train, test) x 3 columns (originals, codes,
    reconstructions): pass six embeddings in row order. With ``share_columns`` the panels
    of one column share axis limits, since a test map lives in its train map's coordinates.

    Parameters
    ----------
    embeddings : mapping of str to numpy.ndarray
        Panel title to ``(n, 2)`` coordinates, in reading order.
    labels : numpy.ndarray or mapping of str to numpy.ndarray
        Class of each point: one array for all panels, or one per panel key (train and
        test panels have different points).
    class_names : sequence of str
        Legend names, indexed by class.
    captions : mapping of str to str, optional
        Text under each panel (e.g. trustworthiness and kNN accuracy).
    ncols : int
        Panels per row.
    title : str
        Figure title.
    point_size : float
        Marker area.
    share_columns : bool
        Share x/y limits within each column.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not embeddings:
        raise ValueError("tsne_panels needs at least one embedding")
    keys = list(embeddings)
    ncols = max(1, min(ncols, len(keys)))
    nrows = -(-len(keys) // ncols)
    fig = new_figure(3.3 * ncols, 3.3 * nrows + 0.9)
    share = "col" if share_columns else False
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=share, sharey=share)
    for i, key in enumerate(keys):
        ax = axes[i // ncols, i % ncols]
        E = np.asarray(embeddings[key], dtype=np.float64)
        y = np.asarray(labels[key] if isinstance(labels, Mapping) else labels).ravel()
        if E.ndim != 2 or E.shape[1] != 2 or len(E) != len(y):
            raise ValueError(f"panel {key!r}: need (n, 2) coordinates and n labels, got "
                             f"{E.shape} and {len(y)}")
        ax.scatter(E[:, 0], E[:, 1], c=class_colors(y), s=point_size, linewidths=0,
                   rasterized=True)
        ax.set_title(key, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if captions and key in captions:
            ax.set_xlabel(captions[key], fontsize=7)
    for j in range(len(keys), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    handles = [
        Line2D([], [], marker="o", ls="", color=CLASS_PALETTE[i % len(CLASS_PALETTE)],
               label=name)
        for i, name in enumerate(class_names)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(5, len(handles)),
               fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
