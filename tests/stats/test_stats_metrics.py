"""Reconstruction metrics, summaries, the error table and the trend test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from autoenc.stats import reconstruction_metrics, summarize, trend_test


def test_reconstruction_metrics_hand_computed():
    x = np.array([[0.0, 1.0, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0]])
    x_hat = np.array([[0.0, 0.5, 0.5, 1.0], [1.0, 1.0, 1.0, 0.0]])
    m = reconstruction_metrics(x, x_hat)
    np.testing.assert_allclose(m["sse"], [0.5, 1.0])
    np.testing.assert_allclose(m["mse"], [0.125, 0.25])
    np.testing.assert_allclose(m["l2"], [math.sqrt(0.5), 1.0])
    np.testing.assert_allclose(m["l1"], [1.0 / 4, 1.0 / 4])  # |0.5| + |0.5| over 4 pixels; |1| over 4
    eps = 1e-7
    bce0 = -np.mean([np.log(1 - eps), np.log(0.5), np.log(0.5), 0.5 * np.log(1 - eps)
                     + 0.5 * np.log(eps)])
    bce1 = -np.mean([np.log(1 - eps)] * 3 + [np.log(eps)])
    np.testing.assert_allclose(m["bce"], [bce0, bce1], rtol=1e-9)  # 1 - (1 - eps) != eps
    assert all(v.dtype == np.float64 and v.shape == (2,) for v in m.values())


def test_reconstruction_metrics_image_shapes_and_chunks():
    rng = np.random.default_rng(0)
    x = rng.random((37, 28, 28)).astype(np.float32)
    xh = rng.random((37, 28, 28)).astype(np.float32)
    a = reconstruction_metrics(x, xh, chunk_size=5)
    b = reconstruction_metrics(x.reshape(37, -1), xh.reshape(37, -1))
    for k in a:
        np.testing.assert_allclose(a[k], b[k])
    np.testing.assert_allclose(a["mse"] * 784, a["sse"])
    with pytest.raises(ValueError, match="shapes differ"):
        reconstruction_metrics(x, xh[:, :27])


def test_summarize():
    s = summarize([1.0, 2.0, 3.0, 10.0])
    assert s == {"mean": 4.0, "std": pytest.approx(np.std([1, 2, 3, 10], ddof=1)),
                 "median": 2.5, "n": 4}
    assert math.isnan(summarize([2.0])["std"])
    with pytest.raises(ValueError):
        summarize([1.0, np.nan])


def test_trend_test_decreasing_with_seeds():
    sizes = np.repeat([16, 64, 100, 256, 400], 3)
    errors = 10.0 / np.sqrt(sizes) + np.tile([0.0, 0.01, -0.01], 5)
    out = trend_test(sizes, errors)
    assert out["direction"] == "decreasing"
    assert out["spearman_rho"] == pytest.approx(sps.spearmanr(sizes, errors).statistic)
    assert out["kendall_tau"] == pytest.approx(sps.kendalltau(sizes, errors).statistic)
    assert out["spearman_rho"] < -0.9 and out["kendall_p"] < 0.001
    assert out["n"] == 15 and out["n_sizes"] == 5
    less = trend_test(sizes, errors, alternative="less")
    assert less["kendall_p"] < out["kendall_p"]


def test_trend_test_bad_input():
    with pytest.raises(ValueError):
        trend_test([16, 16], [1.0, 2.0])
    with pytest.raises(ValueError):
        trend_test([16, 64, 100], [1.0, 2.0])
    flat = trend_test([16, 64, 100], [1.0, 1.0, 1.0])
    assert math.isnan(flat["spearman_rho"]) and flat["direction"] == "none"
