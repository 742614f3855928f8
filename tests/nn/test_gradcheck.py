"""Finite-difference gradient checks (float64) of every layer, activation and container.

Uses the shipped ``autoenc.nn.gradcheck`` and, for a few cases, an independent central
difference written here, so that a bug in ``gradcheck`` itself cannot hide a bug in a layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.models import autoencoder
from autoenc.nn import (
    Conv1D,
    Dropout,
    Flatten,
    Linear,
    LogSoftmax,
    MaxPool1D,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    TanH,
    gradcheck,
)
from autoenc.nn.layers import INITS

F64 = np.float64


def central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Independent of autoenc.nn.gradcheck: d f() / d x by central differences on a copy loop."""
    grad = np.empty(x.shape)
    for idx in np.ndindex(*x.shape):
        saved = x[idx]
        x[idx] = saved + eps
        up = f()
        x[idx] = saved - eps
        down = f()
        x[idx] = saved
        grad[idx] = (up - down) / (2 * eps)
    return grad


def manual_check(module: Module, X: np.ndarray, seed: int = 1) -> None:
    """Check every parameter gradient and the input gradient of ``module`` against central differences."""
    R = np.random.default_rng(seed).normal(size=module.forward(X).shape)

    def loss() -> float:
        return float(np.sum(module.forward(X) * R))

    module.zero_grad()
    module.forward(X)
    module.backward_update_gradient(X, R)
    dx = module.backward_delta(X, R)
    grads = {name: p.grad.copy() for name, p in module.named_parameters()}
    for name, p in module.named_parameters():
        np.testing.assert_allclose(grads[name], central_difference(loss, p.data), rtol=1e-6, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(dx, central_difference(loss, X), rtol=1e-6, atol=1e-8, err_msg="input")


def assert_gradcheck(module: Module, X: np.ndarray) -> None:
    result = gradcheck(module, X)
    assert result.ok, str(result)
    expected = {name for name, _ in module.named_parameters()} | {"input"}
    assert set(result.errors) == expected


def distinct_values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values at least 0.1 apart (no ties for MaxPool, nothing near a kink)."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n) * 0.1 - n * 0.05
    return vals.reshape(shape).astype(F64)


def away_from_zero(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


# --- the checker itself ---------------------------------------------------------------


class _WrongLinear(Linear):
    """Linear whose input gradient is off by a factor 2: the checker must catch it."""

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return 2 * super().backward_delta(input, delta)


class _WrongBias(Linear):
    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        self.weight.grad += input.T @ delta
        self._parameters["bias"].grad += delta.mean(axis=0)  # wrong: should be the sum


def test_gradcheck_detects_wrong_input_gradient():
    X = np.random.default_rng(0).normal(size=(4, 3))
    result = gradcheck(_WrongLinear(3, 2, dtype=F64, seed=0), X)
    assert not result.ok
    assert result.errors["input"] > 0.1 and result.errors["weight"] < 1e-6
    assert "FAILED" in str(result)


def test_gradcheck_detects_wrong_bias_gradient():
    X = np.random.default_rng(0).normal(size=(4, 3))
    result = gradcheck(_WrongBias(3, 2, dtype=F64, seed=0), X)
    assert not result.ok and result.errors["bias"] > 0.1


def test_gradcheck_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(Linear(3, 2, seed=0), np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="float64"):
        gradcheck(Linear(3, 2, seed=0), np.zeros((2, 3)))


def test_gradcheck_leaves_input_untouched():
    X = np.random.default_rng(0).normal(size=(4, 3))
    before = X.copy()
    gradcheck(Linear(3, 2, dtype=F64, seed=0), X)
    np.testing.assert_array_equal(X, before)


# --- Linear ---------------------------------------------------------------------------


@pytest.mark.parametrize("init", [i for i in INITS if i != "zeros"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(init, bias):
    X = np.random.default_rng(1).normal(size=(5, 4))
    assert_gradcheck(Linear(4, 3, bias=bias, init=init, dtype=F64, seed=0), X)


def test_linear_zeros_init():
    # With zero weights the input gradient is exactly zero; the checker's floor keeps it finite.
    layer = Linear(4, 3, init="zeros", dtype=F64)
    assert_gradcheck(layer, np.random.default_rng(1).normal(size=(5, 4)))


def test_linear_independent_central_difference():
    manual_check(Linear(4, 3, init="he", dtype=F64, seed=3), np.random.default_rng(2).normal(size=(5, 4)))


# --- Conv1D ---------------------------------------------------------------------------


@pytest.mark.parametrize("k_size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize(("chan_in", "chan_out"), [(1, 1), (1, 4), (3, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d(k_size, stride, chan_in, chan_out, bias):
    conv = Conv1D(k_size, chan_in, chan_out, stride=stride, bias=bias, dtype=F64, seed=k_size + stride)
    X = np.random.default_rng(k_size * 10 + stride).normal(size=(2, 11, chan_in))
    assert_gradcheck(conv, X)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv1d_independent_central_difference(stride):
    conv = Conv1D(3, 2, 3, stride=stride, dtype=F64, seed=0)
    conv._parameters["bias"].data[:] = [0.1, -0.2, 0.3]
    manual_check(conv, np.random.default_rng(5).normal(size=(2, 10, 2)))


# --- MaxPool1D and Flatten ------------------------------------------------------------


@pytest.mark.parametrize(("k_size", "stride"), [(2, 2), (3, 1), (3, 2), (2, None), (1, 1)])
@pytest.mark.parametrize("length", [9, 10])
def test_maxpool1d(k_size, stride, length):
    assert_gradcheck(MaxPool1D(k_size, stride), distinct_values((2, length, 3), seed=length))


def test_maxpool1d_independent_central_difference():
    manual_check(MaxPool1D(3, 2), distinct_values((2, 9, 2), seed=3))


def test_flatten():
    assert_gradcheck(Flatten(), np.random.default_rng(0).normal(size=(3, 4, 2)))


class _FrozenDropout(Dropout):
    """The same mask at every forward pass, so that finite differences see one function."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._rng = np.random.default_rng(7)
        return super().forward(X)


def test_dropout_in_training_mode():
    layer = _FrozenDropout(0.4)
    X = np.random.default_rng(0).normal(size=(3, 5, 2))
    out = layer.forward(X)
    assert 0 < (out == 0).sum() < out.size  # some values dropped, some kept
    assert_gradcheck(layer, X)
    manual_check(layer, X)
    # in a network, between layers with parameters
    net = Sequential(Linear(4, 6, dtype=F64, seed=0), ReLU(), _FrozenDropout(0.5), Linear(6, 2, dtype=F64, seed=1))
    assert_gradcheck(net, away_from_zero((5, 4), seed=2))


# --- activations ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TanH, Sigmoid, Softmax, LogSoftmax])
def test_smooth_activations(cls):
    assert_gradcheck(cls(), np.random.default_rng(0).normal(size=(4, 5)) * 2)


def test_elementwise_activations_any_shape():
    X = np.random.default_rng(0).normal(size=(2, 3, 4))
    for act in (TanH(), Sigmoid()):
        assert_gradcheck(act, X)
    assert_gradcheck(ReLU(), away_from_zero((2, 3, 4)))


def test_relu_away_from_zero():
    assert_gradcheck(ReLU(), away_from_zero((6, 5), seed=4))


@pytest.mark.parametrize("cls", [TanH, Sigmoid, ReLU, Softmax, LogSoftmax])
def test_activations_independent_central_difference(cls):
    manual_check(cls(), away_from_zero((3, 4), seed=7))


# --- containers -----------------------------------------------------------------------


def test_sequential_mlp():
    net = Sequential(Linear(4, 6, dtype=F64, seed=0), TanH(), Linear(6, 3, dtype=F64, seed=1), Softmax())
    assert_gradcheck(net, np.random.default_rng(0).normal(size=(5, 4)))


def test_sequential_conv_net():
    net = Sequential(
        Conv1D(3, 2, 4, stride=2, dtype=F64, seed=0),
        TanH(),
        MaxPool1D(2, 2),
        Flatten(),
        Linear(16, 5, dtype=F64, seed=1),
        Sigmoid(),
        Linear(5, 3, dtype=F64, seed=2),
        LogSoftmax(),
    )
    X = np.random.default_rng(0).normal(size=(3, 19, 2))  # conv: 9 positions, pool: 4, flatten: 4 * 4
    assert net.forward(X).shape == (3, 3)
    # MaxPool ties are measure-zero for random inputs, so the check is well-defined.
    assert_gradcheck(net, X)


def test_sequential_independent_central_difference():
    net = Sequential(Conv1D(2, 1, 2, dtype=F64, seed=0), TanH(), Flatten(), Linear(8, 2, dtype=F64, seed=1), Sigmoid())
    manual_check(net, np.random.default_rng(0).normal(size=(3, 5, 1)))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_autoencoder_as_a_whole(activation):
    ae = autoencoder(6, 2, depth=2, widths=(4,), activation=activation, dtype=F64, seed=0)
    X = np.random.default_rng(0).uniform(size=(4, 6))
    assert_gradcheck(ae, X)


def test_autoencoder_relu_linear_output():
    ae = autoencoder(5, 2, depth=3, widths=(6, 4), activation="relu", output_activation=None, dtype=F64, seed=1)
    X = np.random.default_rng(1).uniform(0.5, 1.5, size=(3, 5))
    result = gradcheck(ae, X)
    assert result.ok, str(result)


def test_autoencoder_independent_central_difference():
    ae = autoencoder(4, 2, depth=2, widths=(3,), activation="tanh", dtype=F64, seed=2)
    manual_check(ae, np.random.default_rng(2).uniform(size=(3, 4)))


# --- the contract: backward_update_gradient adds ---------------------------------------


def _modules_with_inputs():
    rng = np.random.default_rng(0)
    yield Linear(3, 2, dtype=F64, seed=0), rng.normal(size=(4, 3))
    yield Conv1D(3, 2, 2, stride=2, dtype=F64, seed=0), rng.normal(size=(4, 9, 2))
    yield Sequential(Linear(3, 4, dtype=F64, seed=0), TanH(), Linear(4, 2, dtype=F64, seed=1)), rng.normal(size=(4, 3))
    yield autoencoder(5, 2, depth=2, widths=(3,), dtype=F64, seed=0), rng.uniform(size=(4, 5))


@pytest.mark.parametrize("index", range(4))
def test_backward_update_gradient_accumulates(index):
    module, X = list(_modules_with_inputs())[index]
    out = module.forward(X)
    delta = np.random.default_rng(1).normal(size=out.shape)
    module.zero_grad()
    module.backward_update_gradient(X, delta)
    once = [p.grad.copy() for p in module.parameters()]
    module.backward_update_gradient(X, delta)
    for g1, p in zip(once, module.parameters(), strict=True):
        assert np.any(g1 != 0)
        np.testing.assert_allclose(p.grad, 2 * g1, rtol=1e-12)
    module.zero_grad()
    assert all(not p.grad.any() for p in module.parameters())


def test_update_parameters_is_a_plain_step():
    layer = Linear(3, 2, dtype=F64, seed=0)
    X = np.random.default_rng(0).normal(size=(4, 3))
    delta = np.ones((4, 2))
    layer.forward(X)
    layer.backward_update_gradient(X, delta)
    before = layer.weight.data.copy()
    layer.update_parameters(0.5)
    np.testing.assert_allclose(layer.weight.data, before - 0.5 * (X.T @ delta))


def test_sequential_backward_matches_contract_calls():
    rng = np.random.default_rng(0)
    net = Sequential(Linear(3, 4, dtype=F64, seed=0), ReLU(), Linear(4, 2, dtype=F64, seed=1), Sigmoid())
    X = rng.normal(size=(5, 3))
    delta = rng.normal(size=(5, 2))
    net.forward(X)
    net.zero_grad()
    dx_full = net.backward(delta)
    grads_full = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    net.backward_update_gradient(X, delta)
    dx_contract = net.backward_delta(X, delta)
    np.testing.assert_allclose(dx_full, dx_contract)
    for a, p in zip(grads_full, net.parameters(), strict=True):
        np.testing.assert_allclose(a, p.grad)
    net.forward(X)
    assert net.backward(delta, input_grad=False) is None


def test_sequential_backward_without_input_grad_skips_only_unneeded_deltas():
    """input_grad=False stops at the first module with parameters: the same parameter gradients,
    and the modules before it (here a Reshape and the first Linear) compute no input gradient."""
    from autoenc.nn.conv import Reshape

    rng = np.random.default_rng(0)
    net = Sequential(Reshape((6,)), Linear(6, 4, dtype=F64, seed=0), ReLU(), Linear(4, 2, dtype=F64, seed=1))
    X, delta = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2))
    net.forward(X)
    net.zero_grad()
    net.backward(delta)
    grads_full = [p.grad.copy() for p in net.parameters()]
    calls = []
    for m in net.modules:
        m.backward_delta = (lambda f, name: lambda i, d: (calls.append(name), f(i, d))[1])(
            m.backward_delta, type(m).__name__)
    net.forward(X)
    net.zero_grad()
    assert net.backward(delta, input_grad=False) is None
    assert calls == ["Linear", "ReLU"]  # the last Linear and the ReLU; not the first Linear, not the Reshape
    for a, p in zip(grads_full, net.parameters(), strict=True):
        np.testing.assert_array_equal(a, p.grad)


def test_sequential_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        Sequential(Linear(2, 2)).backward(np.zeros((1, 2), np.float32))
