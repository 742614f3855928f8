"""PCA baseline on the real Fashion-MNIST test set, and the linear probe."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from autoenc.stats import linear_probe, pca_codes, pca_reconstruction_errors

FASHION = Path("/usr/share/datasets/fashion-mnist")

# mean per-image SSE of PCA reconstructions of the test set, pixels in [0, 1] (DESIGN.md)
PCA_SSE_REFERENCE = {400: 1.03, 256: 2.34, 100: 6.01, 64: 8.13, 16: 16.03}


def _idx(name: str, offset: int) -> np.ndarray:
    with gzip.open(FASHION / name, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


@pytest.fixture(scope="module")
def fashion():
    if not (FASHION / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST IDX files not found in {FASHION}")
    # read directly (IDX: 16-byte header for images, 8 for labels), not via autoenc.datasets
    x_train = _idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    x_test = _idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    y_train = _idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    y_test = _idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    return x_train, y_train, x_test, y_test


def test_pca_k64_full_train_set_matches_reference(fashion):
    x_train, _, x_test, _ = fashion
    start = time.perf_counter()
    errors = pca_reconstruction_errors(x_train, x_test, 64)
    assert time.perf_counter() - start < 20  # exact covariance solver: ~1 s on one core
    assert set(errors) == {"mse", "sse", "l2", "bce", "l1"}
    assert errors["sse"].shape == (10000,)
    assert errors["sse"].mean() == pytest.approx(PCA_SSE_REFERENCE[64], rel=0.01)
    np.testing.assert_allclose(errors["mse"] * 784, errors["sse"])
    np.testing.assert_allclose(errors["l2"] ** 2, errors["sse"])


@pytest.mark.parametrize("k", [400, 256, 100, 16])
def test_pca_other_sizes_match_reference(fashion, k):
    x_train, _, x_test, _ = fashion
    sse = pca_reconstruction_errors(x_train, x_test, k)["sse"].mean()
    assert sse == pytest.approx(PCA_SSE_REFERENCE[k], rel=0.02)


def test_pca_solvers_agree(fashion):
    x_train, _, x_test, _ = fashion
    sub_train, sub_test = x_train[:5000], x_test[:1000]
    exact = pca_reconstruction_errors(sub_train, sub_test, 32)["sse"]
    full = pca_reconstruction_errors(sub_train, sub_test, 32, svd_solver="full")["sse"]
    randomized = pca_reconstruction_errors(sub_train, sub_test, 32, seed=1,
                                           svd_solver="randomized")["sse"]
    np.testing.assert_allclose(exact, full, rtol=1e-3, atol=1e-4)
    assert randomized.mean() == pytest.approx(exact.mean(), rel=0.01)


def test_linear_probe_codes_vs_pixels(fashion):
    x_train, y_train, x_test, y_test = fashion
    xtr, ytr, xte, yte = x_train[:3000], y_train[:3000], x_test[:1000], y_test[:1000]
    z_train, z_test = pca_codes(xtr, xte, 32)
    acc_codes = linear_probe(z_train, ytr, z_test, yte, max_iter=300)
    acc_pixels = linear_probe(xtr, ytr, xte, yte, max_iter=100)
    assert 0.70 < acc_codes <= 1.0
    assert 0.70 < acc_pixels <= 1.0
    assert linear_probe(z_train, ytr, z_test, yte, max_iter=300) == acc_codes  # deterministic


def test_linear_probe_is_scikit_learns_logistic_regression_converged():
    """The whitened L-BFGS solves the objective of LogisticRegression(C) (standardised features):
    run to convergence, both give the same predictions to within a few test points."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 30))
    y = rng.integers(0, 4, 1400)
    X = centers[y] + 6 * rng.normal(size=(1400, 30)) @ rng.normal(size=(30, 30)) / 5  # noisy, correlated
    X[:, 0] = 3.0  # a constant feature
    accuracies = []
    for C in (0.5, 0.01):  # the penalty matters here (0.74 vs 0.61): a wrong one would show
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=20000, tol=1e-10))
            expected = reference.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:])
        got = linear_probe(X[:1000], y[:1000], X[1000:], y[1000:], C=C, tol=1e-8, max_iter=5000)
        assert abs(got - expected) <= 1 / 400, (C, got, expected)
        accuracies.append(got)
    assert accuracies[0] - accuracies[1] > 0.05


def test_linear_probe_bad_input():
    with pytest.raises(ValueError, match="length"):
        linear_probe(np.zeros((4, 2)), np.zeros(3), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="width"):
        linear_probe(np.zeros((4, 2)), np.zeros(4), np.zeros((2, 3)), np.zeros(2))
