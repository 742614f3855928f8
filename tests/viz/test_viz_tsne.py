"""t-SNE embedding (openTSNE), its quality measures, and the panel figure."""

from __future__ import annotations

import time

import numpy as np
import pytest

from autoenc import viz

NAMES = [f"class {i}" for i in range(10)]


@pytest.fixture(scope="module")
def clusters():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 4, (10, 30))
    y_train = np.repeat(np.arange(10), 30)  # 300 points
    y_test = np.repeat(np.arange(10), 10)
    x_train = centers[y_train] + rng.normal(size=(300, 30))
    x_test = centers[y_test] + rng.normal(size=(100, 30))
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="module")
def maps(clusters):
    x_train, _, x_test, _ = clusters
    start = time.perf_counter()
    train_emb, test_emb = viz.tsne_embed(x_train, x_test, seed=0)
    return train_emb, test_emb, time.perf_counter() - start


def test_tsne_embed_shapes_speed_and_seed(clusters, maps):
    x_train, _, _, _ = clusters
    train_emb, test_emb, seconds = maps
    assert train_emb.shape == (300, 2) and test_emb.shape == (100, 2)
    assert type(train_emb) is np.ndarray and np.all(np.isfinite(test_emb))
    assert seconds < 15
    again, none = viz.tsne_embed(x_train, seed=0)
    assert none is None
    np.testing.assert_allclose(again, train_emb)


def test_tsne_embed_rejects_too_high_perplexity(clusters):
    x_train = clusters[0][:60]
    with pytest.raises(ValueError, match="perplexity"):
        viz.tsne_embed(x_train, perplexity=30)


def test_embedding_quality_cv_and_reference(clusters, maps):
    x_train, y_train, x_test, y_test = clusters
    train_emb, test_emb, _ = maps
    train_q = viz.embedding_quality(x_train, train_emb, y_train)
    assert train_q["trustworthiness"] > 0.9 and train_q["knn_accuracy"] > 0.95
    assert train_q["knn_method"] == "5-fold CV in map"
    test_q = viz.embedding_quality(x_test, test_emb, y_test, reference_emb=train_emb,
                                   reference_labels=y_train)
    assert test_q["knn_method"] == "fit on reference map, score on map"
    assert test_q["knn_accuracy"] > 0.95 and test_q["n_points"] == 100
    # a random map is untrustworthy and does not separate classes
    rand = np.random.default_rng(1).normal(size=train_emb.shape)
    rand_q = viz.embedding_quality(x_train, rand, y_train, max_points=150)
    assert rand_q["n_points_trustworthiness"] == 150
    assert rand_q["trustworthiness"] < 0.7 and rand_q["knn_accuracy"] < 0.4


def test_tsne_panels(tmp_path, clusters, maps):
    _, y_train, _, y_test = clusters
    train_emb, test_emb, _ = maps
    embeddings, labels, captions = {}, {}, {}
    for split, emb, y in (("train", train_emb, y_train), ("test", test_emb, y_test)):
        for rep in ("originals", "codes", "reconstructions"):
            key = f"{split}: {rep}"
            embeddings[key], labels[key] = emb, y
            captions[key] = "trustworthiness 0.95, kNN accuracy 0.90"
    fig = viz.tsne_panels(embeddings, labels, NAMES, captions, title="depth 2, k=64, BCE")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6 and axes[4].get_title() == "test: codes"
    assert axes[0].get_xlabel().startswith("trustworthiness")
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 10
    path = viz.save_figure(fig, tmp_path / "tsne.png", dpi=60)
    assert path.stat().st_size > 1000
    # one label array for all panels, and an incomplete last row
    fig = viz.tsne_panels({"a": train_emb, "b": train_emb}, y_train, NAMES, ncols=3)
    assert sum(ax.get_visible() for ax in fig.axes) == 2
    with pytest.raises(ValueError, match="panel 'a'"):
        viz.tsne_panels({"a": train_emb}, y_test, NAMES)
