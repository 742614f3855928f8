"""Losses: values against hand formulas, gradients by finite differences in every
reduction, numerical stability at the edges, the fused Sigmoid+BCE gradient, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.models import autoencoder
from autoenc.nn import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Linear,
    LogSoftmax,
    MSELoss,
    NLLLoss,
    Sequential,
    Sigmoid,
    get_loss,
    gradcheck_loss,
)
from autoenc.nn.optim import output_gradient

REDUCTIONS = ["none", "mean", "sum"]
rng = np.random.default_rng(0)
N, D, C = 5, 4, 3


def _data(kind: str, seed: int = 0):
    """(y, yhat) suited to each loss: probabilities away from 0 and 1 for BCE."""
    r = np.random.default_rng(seed)
    if kind == "mse":
        return r.normal(size=(N, D)), r.normal(size=(N, D))
    if kind == "bce":
        return r.uniform(size=(N, D)), r.uniform(0.05, 0.95, size=(N, D))
    if kind == "bce_logits":
        return r.uniform(size=(N, D)), r.normal(size=(N, D)) * 3
    labels = r.integers(0, C, size=N)
    scores = r.normal(size=(N, C))
    if kind == "nll":
        scores = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return labels, scores


LOSS_KINDS = {"mse": MSELoss, "bce": BCELoss, "bce_logits": BCEWithLogitsLoss, "cross_entropy": CrossEntropyLoss,
              "nll": NLLLoss}


def _central(loss, y, yhat, eps=1e-6):
    """Independent central difference of sum(loss.forward(y, yhat))."""
    yhat = yhat.copy()
    g = np.empty_like(yhat)
    for idx in np.ndindex(*yhat.shape):
        v = yhat[idx]
        yhat[idx] = v + eps
        up = np.sum(loss.forward(y, yhat))
        yhat[idx] = v - eps
        down = np.sum(loss.forward(y, yhat))
        yhat[idx] = v
        g[idx] = (up - down) / (2 * eps)
    return g


# --- gradients ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LOSS_KINDS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_every_loss_every_reduction(kind, reduction):
    y, yhat = _data(kind)
    result = gradcheck_loss(LOSS_KINDS[kind](reduction=reduction), y, yhat)
    assert result.ok, str(result)


@pytest.mark.parametrize("kind", list(LOSS_KINDS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_independent_central_difference(kind, reduction):
    y, yhat = _data(kind, seed=3)
    loss = LOSS_KINDS[kind](reduction=reduction)
    np.testing.assert_allclose(loss.backward(y, yhat), _central(loss, y, yhat), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["cross_entropy", "nll"])
def test_gradcheck_one_hot_and_soft_targets(kind):
    labels, scores = _data(kind)
    onehot = np.eye(C)[labels]
    soft = np.random.default_rng(1).dirichlet(np.ones(C), size=N)
    for reduction in REDUCTIONS:
        for target in (onehot, soft):
            assert gradcheck_loss(LOSS_KINDS[kind](reduction=reduction), target, scores).ok


def test_reduction_override_in_call():
    y, yhat = _data("mse")
    loss = MSELoss(reduction="mean")
    assert np.isclose(loss.forward(y, yhat, reduction="sum"), MSELoss("sum").forward(y, yhat))
    np.testing.assert_allclose(loss.backward(y, yhat, reduction="sum"), MSELoss("sum").backward(y, yhat))
    assert loss.forward(y, yhat, reduction="none").shape == (N,)


# --- values ---------------------------------------------------------------------------


def test_mse_values():
    y, yhat = _data("mse")
    per = ((y - yhat) ** 2).mean(axis=1)
    np.testing.assert_allclose(MSELoss("none").forward(y, yhat), per)
    assert np.isclose(MSELoss().forward(y, yhat), ((y - yhat) ** 2).mean())  # PyTorch's element-wise mean
    assert np.isclose(MSELoss("sum").forward(y, yhat), per.sum())
    assert isinstance(MSELoss()(y, yhat), float)


def test_bce_values():
    y, p = _data("bce")
    per = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    np.testing.assert_allclose(BCELoss("none").forward(y, p), per)
    assert np.isclose(BCELoss().forward(y, p), per.mean())
    assert np.isclose(BCELoss("sum").forward(y, p), per.sum())


def test_bce_finite_at_exactly_zero_and_one():
    y = np.array([[0.0, 1.0, 0.3, 1.0, 0.0]])
    for dtype in (np.float32, np.float64):
        p = np.array([[0.0, 1.0, 0.0, 0.0, 1.0]], dtype=dtype)
        loss = BCELoss("none")
        v = loss.forward(y.astype(dtype), p)
        g = loss.backward(y.astype(dtype), p)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
        assert BCELoss().forward(np.array([[0.0, 1.0]], dtype), np.array([[0.0, 1.0]], dtype)) < 1e-5
        assert v[0] > 5  # wrong-side saturated outputs cost about -log(eps) / D


def test_bce_with_logits_matches_bce_on_sigmoid():
    y, z = _data("bce_logits")
    p = 1 / (1 + np.exp(-z))
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            BCEWithLogitsLoss(reduction).forward(y, z), BCELoss(reduction).forward(y, p), rtol=1e-9
        )
    # d/dz = (sigmoid(z) - y) / D
    np.testing.assert_allclose(BCEWithLogitsLoss("sum").backward(y, z), (p - y) / D, rtol=1e-9)


def test_bce_with_logits_large_logits():
    z = np.array([[1000.0, -1000.0, 800.0, -800.0, 50.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        v = BCEWithLogitsLoss("none").forward(y, z)
        g = BCEWithLogitsLoss("sum").backward(y, z)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(v, [(0 + 0 + 800 + 800 + np.log1p(np.exp(-50.0))) / 5], rtol=1e-12)
    np.testing.assert_allclose(g, [[0.0, 0.0, 0.2, -0.2, (1 / (1 + np.exp(-50.0)) - 1) / 5]], atol=1e-15)


def test_cross_entropy_values_and_label_forms():
    labels, scores = _data("cross_entropy")
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    expected = -logp[np.arange(N), labels]
    onehot = np.eye(C)[labels]
    for reduction, agg in (("none", lambda a: a), ("mean", np.mean), ("sum", np.sum)):
        ce = CrossEntropyLoss(reduction)
        np.testing.assert_allclose(ce.forward(labels, scores), agg(expected))
        np.testing.assert_allclose(ce.forward(onehot, scores), agg(expected))
        np.testing.assert_allclose(ce.backward(labels, scores), ce.backward(onehot, scores))
        # CE(scores) == NLL(LogSoftmax(scores))
        np.testing.assert_allclose(NLLLoss(reduction).forward(labels, LogSoftmax().forward(scores)), agg(expected))
    np.testing.assert_allclose(CrossEntropyLoss("sum").backward(labels, scores), np.exp(logp) - onehot)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_label_smoothing_values_and_gradients(reduction):
    labels, scores = _data("cross_entropy", seed=5)
    s = 0.1
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    # hand formula: (1 - s) * NLL of the label + s * mean over classes of -log p
    per_sample = (1 - s) * -logp[np.arange(N), labels] + s * -logp.mean(axis=1)
    agg = {"none": lambda a: a, "mean": np.mean, "sum": np.sum}[reduction]
    ce = CrossEntropyLoss(reduction, label_smoothing=s)
    np.testing.assert_allclose(ce.forward(labels, scores), agg(per_sample))
    # labels and one-hot rows smooth the same way; the gradient matches finite differences
    np.testing.assert_allclose(ce.forward(np.eye(C)[labels], scores), agg(per_sample))
    assert gradcheck_loss(ce, labels, scores).ok
    np.testing.assert_allclose(ce.backward(labels, scores), _central(ce, labels, scores), rtol=1e-6, atol=1e-9)


def test_cross_entropy_label_smoothing_bounds_and_torch():
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        get_loss("cross_entropy", label_smoothing=-0.1)
    torch = pytest.importorskip("torch")
    labels, scores = _data("cross_entropy", seed=6)
    ref = torch.nn.CrossEntropyLoss(label_smoothing=0.2)(torch.tensor(scores), torch.tensor(labels))
    np.testing.assert_allclose(CrossEntropyLoss(label_smoothing=0.2).forward(labels, scores), ref.item(), rtol=1e-12)


def test_cross_entropy_large_scores_stable():
    scores = np.array([[1000.0, 0.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        assert CrossEntropyLoss().forward(np.array([0]), scores) == 0.0
        assert np.isclose(CrossEntropyLoss().forward(np.array([2]), scores), 2000.0)


def test_nll_values():
    labels, logp = _data("nll")
    np.testing.assert_allclose(NLLLoss("none").forward(labels, logp), -logp[np.arange(N), labels])
    np.testing.assert_allclose(NLLLoss("sum").backward(labels, logp), -np.eye(C)[labels])


def test_float32_losses_keep_dtype():
    y = rng.uniform(size=(4, 3)).astype(np.float32)
    p = rng.uniform(0.1, 0.9, size=(4, 3)).astype(np.float32)
    for loss in (MSELoss(), BCELoss(), BCEWithLogitsLoss()):
        assert loss.backward(y, p).dtype == np.float32
    assert CrossEntropyLoss().backward(np.array([0, 1, 2, 0]), p).dtype == np.float32


# --- fused Sigmoid + BCE --------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_sigmoid_bce_equals_chain_rule(reduction):
    r = np.random.default_rng(4)
    net = Sequential(Linear(3, D, dtype=np.float64, seed=0), Sigmoid())
    X = r.normal(size=(N, 3))
    y = r.uniform(size=(N, D))
    yhat = net.forward(X)
    assert 0.01 < yhat.min() and yhat.max() < 0.99  # not saturated, so no clipping
    loss = BCELoss(reduction)
    fused, skip = output_gradient(net, loss, y, yhat)
    assert skip == 1
    logits = net._inputs[-1]
    chain = net[-1].backward_delta(logits, loss.backward(y, yhat))
    np.testing.assert_allclose(fused, chain, rtol=1e-10, atol=1e-14)


def test_fused_gradient_through_autoencoder_and_full_backward():
    r = np.random.default_rng(5)
    ae = autoencoder(6, 2, depth=2, widths=(4,), dtype=np.float64, seed=0)
    X = r.uniform(size=(4, 6))
    loss = BCELoss()
    yhat = ae.forward(X)
    delta, skip = output_gradient(ae, loss, X, yhat)
    assert skip == 1
    ae.zero_grad()
    ae.backward(delta, skip_last=skip)
    fused = [p.grad.copy() for p in ae.parameters()]
    ae.zero_grad()
    ae.forward(X)
    ae.backward(loss.backward(X, yhat))
    for a, p in zip(fused, ae.parameters(), strict=True):
        np.testing.assert_allclose(a, p.grad, rtol=1e-8, atol=1e-14)


def test_no_fusion_without_final_sigmoid_or_with_other_loss():
    net = Sequential(Linear(3, 2, dtype=np.float64, seed=0), Sigmoid())
    X = np.random.default_rng(0).normal(size=(4, 3))
    y = np.random.default_rng(1).uniform(size=(4, 2))
    yhat = net.forward(X)
    # MSE after a Sigmoid fuses both backward passes, bit for bit what the chain computes
    delta, skip = output_gradient(net, MSELoss(), y, yhat)
    assert skip == 1
    np.testing.assert_array_equal(delta, net.modules[-1].backward_delta(net._inputs[-1], MSELoss().backward(y, yhat)))

    class MyMSE(MSELoss):  # a subclass may change the gradient: no fusion
        pass

    assert output_gradient(net, MyMSE(), y, yhat)[1] == 0
    net2 = Sequential(Linear(3, 2, dtype=np.float64, seed=0))
    assert output_gradient(net2, BCELoss(), y, np.clip(net2.forward(X), 0.1, 0.9))[1] == 0
    # A bare Sigmoid has no logits input to fuse into.
    sig = Sigmoid()
    assert output_gradient(sig, BCELoss(), y, sig.forward(X[:, :2]))[1] == 0


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(LOSS_KINDS.values()))
def test_invalid_reduction(cls):
    with pytest.raises(ValueError, match="reduction must be one of"):
        cls(reduction="avg")
    y, yhat = _data("mse")
    loss = MSELoss()
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss.forward(y, yhat, reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss.backward(y, yhat, reduction="avg")


@pytest.mark.parametrize("cls", [MSELoss, BCELoss, BCEWithLogitsLoss])
def test_shape_mismatch(cls):
    with pytest.raises(ValueError, match=r"y has shape \(4, 3\), yhat has \(4, 2\)"):
        cls().forward(np.zeros((4, 3)), np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="must match"):
        cls().backward(np.zeros((4, 2)), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"yhat must have shape \(N, D\)"):
        cls().forward(np.zeros(4), np.full(4, 0.5))


@pytest.mark.parametrize("cls", [CrossEntropyLoss, NLLLoss])
def test_bad_labels(cls):
    scores = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        cls().forward(np.array([0, 1, 3, 0]), scores)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        cls().backward(np.array([0, -1, 2, 0]), scores)
    with pytest.raises(TypeError, match="integer class labels"):
        cls().forward(np.array([0.0, 1.0, 2.0, 0.0]), scores)
    with pytest.raises(ValueError, match=r"labels \(4,\) or one-hot \(4, 3\)"):
        cls().forward(np.array([0, 1, 2]), scores)
    with pytest.raises(ValueError, match="one-hot"):
        cls().forward(np.zeros((4, 2)), scores)


def test_non_finite_loss_raises():
    y = np.zeros((2, 2))
    yhat = np.array([[np.nan, 0.0], [0.0, 0.0]])
    with pytest.raises(FloatingPointError, match="NaN"):
        MSELoss().forward(y, yhat)
    assert np.isnan(MSELoss("none").forward(y, yhat)[0])


def test_get_loss():
    assert isinstance(get_loss("bce"), BCELoss)
    assert get_loss("mse", reduction="sum").reduction == "sum"
    for name in ("bce_logits", "cross_entropy", "nll"):
        assert get_loss(name).reduction == "mean"
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        get_loss("l1")
    assert "MSELoss(reduction='mean')" == repr(MSELoss())
