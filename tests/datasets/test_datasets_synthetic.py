"""The course's synthetic data: faithful to gen_arti, deterministic, parameterisable."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc import datasets
from autoenc.datasets import synthetic

CLASSIFICATION = ("gaussians", "xor", "checkerboard")


@pytest.mark.parametrize("name", [*CLASSIFICATION, "linear"])
def test_deterministic_and_split_dependent(name):
    a = datasets.load(name, "train", seed=3)
    b = datasets.load(name, "train", seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], datasets.load(name, "test", seed=3)[0])
    assert not np.array_equal(a[0], datasets.load(name, "train", seed=4)[0])


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_shapes_and_labels(name):
    X, y = datasets.load(name)
    assert X.shape == (1000, 2) and X.dtype == np.float32
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert datasets.class_names(name) == ["-1", "+1"]
    Xs, _ = datasets.load(name, shape="sequence")
    assert Xs.shape == (1000, 2, 1)
    with pytest.raises(ValueError, match="not image data"):
        datasets.load(name, shape="image")
    assert np.array_equal(datasets.load(name, scale="raw")[0], X)  # scale is ignored


def test_gaussians_follow_gen_arti():
    X, y = datasets.load("gaussians", n=20000)
    assert np.array_equal(np.bincount(y), [10000, 10000])
    pos, neg = X[y == 1], X[y == 0]
    np.testing.assert_allclose(pos.mean(0), [1, 1], atol=0.02)
    np.testing.assert_allclose(neg.mean(0), [-1, -1], atol=0.02)
    # sigma is the covariance diag(0.1, 0.1) as in the original, plus noise of sd 0.02.
    np.testing.assert_allclose(pos.var(0), 0.1 + 0.02**2, rtol=0.05)
    assert np.mean((X.sum(1) > 0) == (y == 1)) > 0.999  # linearly separable


def test_xor_follows_gen_arti():
    X, y = datasets.load("xor", n=20000)
    assert np.array_equal(np.bincount(y), [10000, 10000])
    for cx, cy, label in ((1, 1, 1), (-1, -1, 1), (-1, 1, 0), (1, -1, 0)):
        quadrant = (np.sign(X[:, 0]) == cx) & (np.sign(X[:, 1]) == cy)
        assert np.mean(y[quadrant] == label) > 0.99
        np.testing.assert_allclose(X[quadrant].mean(0), [cx, cy], atol=0.05)


def test_checkerboard_follows_gen_arti():
    X, y = datasets.load("checkerboard", noise=0.0)
    assert X.min() >= -4 and X.max() <= 4
    odd = (np.ceil(X[:, 0]) + np.ceil(X[:, 1])) % 2 == 1
    assert np.array_equal(y == 1, odd)
    Xn, yn = datasets.load("checkerboard")  # default noise 0.02 moves a few points across edges
    oddn = (np.ceil(Xn[:, 0]) + np.ceil(Xn[:, 1])) % 2 == 1
    assert 0.9 < np.mean((yn == 1) == oddn) < 1


def test_linear_regression_data():
    X, y = datasets.load("linear")
    assert X.shape == (1000, 1) and y.shape == (1000, 1) and y.dtype == np.float32
    A = np.column_stack([X[:, 0], np.ones(len(X))])
    a, b = np.linalg.lstsq(A, y[:, 0], rcond=None)[0]
    assert abs(a + 20) < 0.3 and abs(b + 10) < 0.2
    X2, y2 = datasets.load("linear", a=3.0, b=1.0, noise=0.0, n=50, low=0, high=2)
    assert X2.shape == (50, 1) and X2.min() >= 0 and X2.max() <= 2
    np.testing.assert_allclose(y2, 3 * X2 + 1, atol=1e-5)
    assert datasets.class_names("linear") == []


def test_params_aliases_and_errors():
    X, y = datasets.load("xor", nbex=101, epsilon=0.0, centerx=2.0)
    assert X.shape == (101, 2) and abs(np.abs(X).mean() - 2) < 0.3
    a = datasets.load("gaussians", n=10, sigma=0.5, noise=0.1)
    assert a[0].shape == (10, 2)
    with pytest.raises(ValueError, match="unknown parameter 'centery'"):
        datasets.load("gaussians", centery=1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        datasets.load("xor", n=0)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        datasets.load("xor", sigma=-1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        datasets.load("xor", seed=-1)


def test_subset_of_synthetic():
    X, y = datasets.load("xor", subset=100, seed=1)
    assert X.shape == (100, 2) and np.array_equal(np.bincount(y), [50, 50])
    X, y = datasets.load("linear", subset=10)
    assert X.shape == (10, 1) and y.shape == (10, 1)


def test_info_synthetic():
    i = datasets.info("xor")
    assert i.found and i.source == "synthetic" and (i.n_train, i.n_test) == (1000, 1000)
    assert i.shape == (2,) and i.n_classes == 2 and "data_type=1" in i.notes
    assert i.checksum == datasets.info("xor").checksum
    assert "y = -20 x - 10" in datasets.info("linear").notes
    assert set(synthetic.DEFAULTS) == {"gaussians", "xor", "checkerboard", "linear"}
