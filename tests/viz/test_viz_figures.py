"""Every figure function makes a Figure and a non-empty PNG from small synthetic data."""

from __future__ import annotations

import os
import stat

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from autoenc import viz

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _save(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = viz.save_figure(fig, tmp_path / "figs" / f"{name}.png", dpi=60)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return path


def test_backend_and_palette():
    assert matplotlib.get_backend().lower() == "agg"
    assert len(viz.CLASS_PALETTE) == 10
    assert viz.CLASS_PALETTE[0] == pytest.approx((0.1216, 0.4667, 0.7059), abs=1e-3)  # tab10
    assert viz.class_colors([0, 11]) == [viz.CLASS_PALETTE[0], viz.CLASS_PALETTE[1]]


def test_save_figure_is_atomic_and_readable(tmp_path):
    fig = viz.new_figure(2, 2)
    fig.subplots().plot([0, 1], [1, 0])
    path = _save(fig, tmp_path, "plain")
    assert os.listdir(path.parent) == ["plain.png"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) & 0o044  # not mkstemp's private 0600
    fig2 = viz.new_figure(2, 2)
    fig2.subplots().plot([0, 1], [0, 1])
    viz.save_figure(fig2, path)  # overwrite in place
    assert os.listdir(path.parent) == ["plain.png"]


def test_save_figure_closes_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    viz.save_figure(fig, tmp_path / "p.png")
    assert not plt.fignum_exists(fig.number)


@pytest.mark.parametrize("k, shape", [(64, (8, 8)), (400, (20, 20)), (32, (4, 8)),
                                      (16, (4, 4)), (13, (1, 13)), (1, (1, 1))])
def test_code_shape(k, shape):
    assert viz.code_shape(k) == shape


def test_one_per_class():
    labels = np.array([3, 1, 0, 1, 3, 2])
    np.testing.assert_array_equal(viz.one_per_class(labels), [2, 1, 5, 0])
    np.testing.assert_array_equal(viz.one_per_class(labels, n_classes=5), [2, 1, 5, 0])


@pytest.mark.parametrize("with_codes", [True, False])
def test_reconstruction_grid(tmp_path, rng, with_codes):
    x = rng.random((10, 784))
    codes = rng.normal(size=(10, 64)) if with_codes else None
    fig = viz.reconstruction_grid(x, codes, np.clip(x + 0.1, 0, 1), np.arange(10), NAMES,
                                  title="test, depth 2, k=64, BCE")
    assert len(fig.axes) == (30 if with_codes else 20)
    assert fig.axes[0].get_title() == "T-shirt/top"
    _save(fig, tmp_path, f"recon{with_codes}")


def test_reconstruction_grid_usps_shape_and_errors(rng):
    fig = viz.reconstruction_grid(rng.random((3, 16, 16)), rng.random((3, 10)),
                                  rng.random((3, 16, 16)), [0, 1, 2], NAMES)
    assert fig.axes[3].get_ylabel() == "code 2x5"
    with pytest.raises(ValueError, match="image shape"):
        viz.reconstruction_grid(rng.random((2, 50)), None, rng.random((2, 50)), [0, 1], NAMES)
    with pytest.raises(ValueError):
        viz.reconstruction_grid(rng.random((2, 784)), None, rng.random((3, 784)), [0, 1], NAMES)


def test_learning_curves(tmp_path):
    epochs = np.arange(1, 11)
    histories = {
        "mse k=64": pd.DataFrame({"epoch": epochs, "train_loss": 1 / epochs,
                                  "val_loss": 1.1 / epochs}),
        "bce k=64": pd.DataFrame({"epoch": epochs, "train_loss": 2 / epochs,
                                  "val_loss": np.nan}),
    }
    fig = viz.learning_curves(histories, title="curves", log_y=True)
    assert len(fig.axes[0].get_lines()) == 3  # no val line for the run without validation
    _save(fig, tmp_path, "curves")
    with pytest.raises(ValueError, match="train_loss"):
        viz.learning_curves({"x": pd.DataFrame({"epoch": [1]})})


def _grid_frame(rng):
    rows = [
        {"depth": d, "latent_size": k, "loss": loss, "seed": s,
         "mse_mean": 0.01 + 0.1 / k + 0.001 * d + rng.normal(0, 1e-4)}
        for d in (1, 2) for k in (16, 64, 256) for loss in ("bce", "mse") for s in range(2)
    ]
    return pd.DataFrame(rows).iloc[2:]  # one missing cell (depth 1, k 16, bce)


def test_error_heatmaps(tmp_path, rng):
    fig = viz.error_heatmaps(_grid_frame(rng), title="test MSE")
    heat_axes = [ax for ax in fig.axes if ax.get_title().startswith("loss:")]
    assert [ax.get_title() for ax in heat_axes] == ["loss: bce", "loss: mse"]
    texts = [t.get_text() for t in heat_axes[0].texts]
    assert len(texts) == 6 and "–" in texts
    _save(fig, tmp_path, "heatmaps")
    with pytest.raises(ValueError, match="sse_mean"):
        viz.error_heatmaps(_grid_frame(rng), value="sse_mean")


def _forest_frame(rng):
    est = rng.normal(0, 0.002, 6)
    return pd.DataFrame({
        "depth": [1, 1, 1, 2, 2, 2], "latent_size": [16, 64, 256] * 2,
        "median_diff": est, "median_diff_ci_low": est - 0.001, "median_diff_ci_high": est + 0.001,
        "rank_biserial": est * 100,
    })


def test_forest_plot(tmp_path, rng):
    df = _forest_frame(rng)
    fig = viz.forest_plot(df, title="BCE - MSE")
    ticks = {t.get_position()[1]: t.get_text() for t in fig.axes[0].get_yticklabels()}
    # frame order top to bottom, integer columns printed as integers
    assert ticks[max(ticks)] == "depth=1, latent_size=16"
    assert ticks[min(ticks)] == "depth=2, latent_size=256"
    _save(fig, tmp_path, "forest")
    fig = viz.forest_plot(df, estimate="rank_biserial", low=None, high=None,
                          xlabel="rank-biserial correlation")
    _save(fig, tmp_path, "forest_rb")
    with pytest.raises(ValueError, match="median_diff"):
        viz.forest_plot(df.drop(columns="median_diff"))


@pytest.mark.parametrize("kind", ["violin", "hist"])
def test_difference_distribution(tmp_path, rng, kind):
    diffs = {"k=16": rng.normal(-0.01, 0.01, 2000), "k=64": rng.normal(0.0, 0.02, 2000),
             "constant": np.zeros(10)}
    _save(viz.difference_distribution(diffs, kind=kind, title=kind), tmp_path, kind)


def test_decision_boundary_variants(tmp_path, rng):
    X = rng.normal(size=(200, 2))
    y01 = (X[:, 0] * X[:, 1] > 0).astype(int)
    score = viz.decision_boundary(lambda g: 1 / (1 + np.exp(-3 * g[:, 0] * g[:, 1])), X, y01,
                                  title="XOR: score", resolution=60)
    assert any(ax.get_label() == "<colorbar>" for ax in score.axes)
    _save(score, tmp_path, "boundary_score")
    ypm = np.where(y01 == 1, 1, -1)
    labels = viz.decision_boundary(lambda g: np.where(g[:, 0] * g[:, 1] > 0, 1, -1)[:, None],
                                   X, ypm, title="XOR: labels", resolution=60)
    _save(labels, tmp_path, "boundary_labels")
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    probs = viz.decision_boundary(
        lambda g: np.stack([-(g[:, 0] + 1) ** 2, -g[:, 0] ** 2, -(g[:, 0] - 1) ** 2], axis=1),
        X, y3, resolution=60)
    _save(probs, tmp_path, "boundary_3class")
    const = viz.decision_boundary(lambda g: np.zeros(len(g), dtype=int), X, y01, resolution=30)
    _save(const, tmp_path, "boundary_constant")
    with pytest.raises(ValueError):
        viz.decision_boundary(lambda g: g[:5, 0], X, y01, resolution=10)


def test_regression_fit(tmp_path, rng):
    x = rng.uniform(-1, 1, 80)
    y = -20 * x - 10 + rng.normal(0, 1, 80)
    fig = viz.regression_fit(x, y, -20 * x - 10, title="a=-20.0, b=-10.0")
    assert len(fig.axes) == 2
    _save(fig, tmp_path, "regression")


def test_confusion_matrix_plot(tmp_path, rng):
    cm = rng.integers(0, 10, (10, 10)) + 200 * np.eye(10, dtype=int)
    fig = viz.confusion_matrix_plot(cm, NAMES, title="MLP")
    acc = np.trace(cm) / cm.sum()
    assert f"{acc:.4f}" in fig.axes[0].get_title()
    _save(fig, tmp_path, "confusion")
    _save(viz.confusion_matrix_plot(cm[:3, :3], NAMES[:3], normalize=False), tmp_path, "cm3")
    with pytest.raises(ValueError, match="10x10"):
        viz.confusion_matrix_plot(cm[:3, :3], NAMES)


def test_misclassified_grid(tmp_path, rng):
    n = 12
    fig = viz.misclassified_grid(rng.random((n, 256)), rng.integers(0, 10, n),
                                 rng.integers(0, 10, n), rng.random(n), [str(i) for i in range(10)],
                                 ncols=5, title="USPS mistakes")
    assert sum(ax.get_visible() for ax in fig.axes) == n
    _save(fig, tmp_path, "misclassified")
    fig = viz.misclassified_grid(rng.random((3, 6, 4)), [0, 1, 2], [1, 2, 0], [0.9, 0.8, 0.7],
                                 NAMES, image_shape=(6, 4))
    _save(fig, tmp_path, "misclassified_rect")


def test_reading_order_plot(tmp_path):
    from autoenc.study.tasks.classifier import reading_order

    orders = {"row": reading_order("row", 256), "morton": reading_order("morton", 256)}
    fig = viz.reading_order_plot(orders, 16, image=np.linspace(0, 1, 256))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["row", "morton"]
    # the path has one segment per step; three pooled spans of 4 pixels are outlined
    assert len(fig.axes[1].collections[0].get_segments()) == 255 and len(fig.axes[1].patches) == 12
    assert viz.save_figure(fig, tmp_path / "orders.png").stat().st_size > 0
    with pytest.raises(ValueError, match="permutation"):
        viz.reading_order_plot({"bad": np.zeros(256, int)}, 16)
    with pytest.raises(ValueError, match="no orders"):
        viz.reading_order_plot({}, 16)
