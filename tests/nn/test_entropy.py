"""The entropy bottleneck and the rate-distortion loss: finite differences in float64 (noise fixed),
the rate in bits, the auxiliary loss, the integer tables."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.nn import Linear, ReLU, Sequential, Sigmoid
from autoenc.nn.entropy import EntropyBottleneck, RateDistortionLoss, quantized_cdf
from autoenc.nn.gradcheck import _rel_error, numeric_gradient


def _bottleneck(channels: int = 3, seed: int = 0) -> EntropyBottleneck:
    eb = EntropyBottleneck(channels, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    for name, p in eb.named_parameters():  # move off the symmetric initial point
        if name != "quantiles":
            p.data += rng.normal(0, 0.3, p.data.shape)
    return eb


@pytest.mark.parametrize("shape", [(5, 3), (2, 2, 3, 3)])
def test_rate_gradients_match_finite_differences(shape):
    eb = _bottleneck(shape[-1])
    rng = np.random.default_rng(1)
    X = rng.normal(0, 2, shape)
    eb.fixed_noise = rng.uniform(-0.5, 0.5, (shape[-1], int(np.prod(shape[:-1]))))
    R = rng.normal(size=shape)
    eb.rate_weight = 0.7

    def f() -> float:
        out = eb.forward(X)
        return float((out * R).sum() + eb.rate_weight * eb.bits.sum())

    eb.zero_grad()
    eb.aux_weight = 0.0
    eb.forward(X)
    eb.backward_update_gradient(X, R)
    dx = eb.backward_delta(X, R)
    assert _rel_error(dx, numeric_gradient(f, X)) < 1e-6
    for name, p in eb.named_parameters():
        if name == "quantiles":  # the rate does not depend on them in training (noise, not rounding)
            assert not p.grad.any()
            continue
        assert _rel_error(p.grad, numeric_gradient(f, p.data)) < 1e-5, name


def test_aux_gradient_reaches_only_the_quantiles():
    eb = _bottleneck(4)
    q = eb._parameters["quantiles"]
    q.data += np.random.default_rng(2).normal(0, 0.5, q.data.shape)
    eb.zero_grad()
    X = np.zeros((2, 4))
    eb.forward(X)
    eb.backward_update_gradient(X, np.zeros_like(X))  # rate_weight 0: only the auxiliary loss
    assert _rel_error(q.grad, numeric_gradient(eb.aux_loss, q.data)) < 1e-5
    assert all(not p.grad.any() for n, p in eb.named_parameters() if n != "quantiles")


def test_likelihoods_form_a_distribution_and_bits_add_up():
    eb = _bottleneck(2)
    eb.eval()
    values = np.arange(-3000, 3001, dtype=np.float64)[:, None].repeat(2, axis=1) + eb.medians
    eb.forward(values)
    assert np.allclose(eb.likelihoods.sum(axis=0), 1.0, atol=1e-5)
    assert np.allclose(eb.bits, -np.log2(eb.likelihoods).sum(axis=1))
    # evaluation rounds around the median
    y = np.array([[0.3, -1.7]]) + eb.medians
    assert np.allclose(eb.forward(y) - eb.medians, [[0.0, -2.0]])


def test_sign_trick_is_the_plain_difference():
    eb = _bottleneck(3)
    v = np.random.default_rng(3).normal(0, 5, (3, 40))
    lik, _ = eb._likelihood(v)
    x = np.concatenate([v - 0.5, v + 0.5], axis=1)[:, None, :]
    logits, _ = eb._logits_cumulative(x)
    plain = 1 / (1 + np.exp(-logits[:, 0, 40:])) - 1 / (1 + np.exp(-logits[:, 0, :40]))
    assert np.allclose(lik, plain, atol=1e-12)


def test_rate_distortion_loss_gradient_through_a_model():
    rng = np.random.default_rng(4)
    eb = _bottleneck(3)
    enc = Sequential(Linear(6, 3, dtype=np.float64, seed=0))
    dec = Sequential(Linear(3, 6, dtype=np.float64, seed=1), ReLU(), Linear(6, 6, dtype=np.float64, seed=2), Sigmoid())
    net = Sequential(*enc.modules, eb, *dec.modules)
    loss = RateDistortionLoss(eb, lmbda=0.01)
    X = rng.uniform(0, 1, (4, 6))
    eb.fixed_noise = rng.uniform(-0.5, 0.5, (3, 4))
    eb.aux_weight = 0.0

    def f() -> float:
        return loss.forward(Y, net.forward(X), reduction="mean")

    Y = X.copy()  # the target stays put while X moves
    net.zero_grad()
    out = net.forward(X)
    dx = net.backward(loss.backward(Y, out))
    assert _rel_error(dx, numeric_gradient(f, X)) < 1e-5
    for name, p in net.named_parameters():
        if not name.endswith("quantiles"):
            assert _rel_error(p.grad, numeric_gradient(f, p.data)) < 1e-5, name
    # per sample: lambda * 255^2 * MSE + bits per pixel
    per = loss.forward(X, net.forward(X), reduction="none")
    assert np.allclose(per, 0.01 * 255**2 * ((net.forward(X) - X) ** 2).mean(axis=1) + eb.bits / 6)


def test_loss_refuses_a_rate_of_another_batch():
    eb = _bottleneck(2)
    eb.forward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="forward"):
        RateDistortionLoss(eb, 1.0).forward(np.zeros((5, 4)), np.zeros((5, 4)))


def test_quantized_cdf_keeps_every_symbol_and_sums_to_the_precision():
    pmf = np.array([0.5, 1e-9, 0.3, 0.2 - 1e-9, 0.0])
    cdf = quantized_cdf(pmf, 16)
    assert cdf[0] == 0 and cdf[-1] == 1 << 16
    assert (np.diff(cdf) >= 1).all()
    assert abs((cdf[1] - cdf[0]) / 65536 - 0.5) < 1e-3


def test_pmf_tables_fold_the_tails():
    eb = _bottleneck(3)
    low, high = eb.symbol_range()
    pmf = eb.pmf(low, high)
    assert np.allclose(pmf.sum(axis=1), 1.0)
    assert (pmf[np.arange(pmf.shape[1])[None, :] <= (high - low)[:, None]] > 0).all()


def test_float32_forward_runs_and_is_finite():
    eb = EntropyBottleneck(8, seed=0)
    out = eb.forward(np.random.default_rng(0).normal(0, 3, (16, 8)).astype(np.float32))
    assert out.dtype == np.float32 and np.isfinite(eb.bits).all()
    with pytest.raises(FloatingPointError):
        eb.forward(np.full((2, 8), np.nan, np.float32))


def test_update_quantiles_finds_the_targets():
    eb = _bottleneck(3)
    eb.update_quantiles()
    logits, _ = eb._logits_cumulative(eb._parameters["quantiles"].data)
    assert np.allclose(logits[:, 0, :], eb.target, atol=1e-2)
    assert eb.aux_loss() < 0.1
