"""The compiled kernels (numba) and the NumPy path give the same bits; the optimizer's flat
buffers and the lazily zeroed gradients change speed, not numbers."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.models import autoencoder, mlp
from autoenc.nn import SGD, Adam, Linear, Module, MSELoss, Parameter, ReLU, Sequential, Sigmoid, fit, kernels


def _with_kernels(fn):
    kernels._KERNELS = None  # reload: compiled if numba is importable
    return fn()


def _both(fn, monkeypatch):
    compiled = _with_kernels(fn)
    monkeypatch.setattr(kernels, "_KERNELS", {})
    plain = fn()
    monkeypatch.setattr(kernels, "_KERNELS", None)
    return compiled, plain


def test_numba_is_used_when_installed():
    pytest.importorskip("numba")
    kernels._KERNELS = None
    assert kernels.numba_enabled()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_adam_update_same_bits(dtype, weight_decay, monkeypatch):
    rng = np.random.default_rng(0)
    n = 10_001
    p0 = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    g[:50] = 0.0
    g[50:60] = -0.0
    m0 = (rng.standard_normal(n) * 1e-4).astype(dtype)
    v0 = (rng.random(n) * 1e-7).astype(dtype)
    c2 = np.sqrt(1 - 0.999**7)

    def run():
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        for _ in range(3):
            kernels.adam_update(p, g, m, v, np.empty_like(p), 0.9, 0.999, weight_decay, 1e-8 * c2,
                                1e-3 * c2 / (1 - 0.9**7))
        return p, m, v

    compiled, plain = _both(run, monkeypatch)
    for a, b in zip(compiled, plain, strict=True):
        np.testing.assert_array_equal(a, b)


def test_elementwise_kernels_same_bits(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 33)).astype(np.float32)
    x[0, :4] = [0.0, -0.0, np.nan, np.inf]
    delta = rng.standard_normal((64, 33)).astype(np.float32)
    delta[1, :3] = [np.nan, -0.0, -np.inf]
    yhat = (1 / (1 + np.exp(-x))).astype(np.float32)
    y = rng.random((64, 33), dtype=np.float32)

    def run():
        return (kernels.relu_backward(x, delta), kernels.mse_sigmoid_grad(yhat, y, 2.0 / 33, 1.0 / 64),
                kernels.mse_sigmoid_grad(yhat, y, 2.0 / 33, None))

    compiled, plain = _both(run, monkeypatch)
    for a, b in zip(compiled, plain, strict=True):
        np.testing.assert_array_equal(a, b)  # NaN in the same places, same bits elsewhere
        assert np.array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, image_hw, stride", [((3, 4, 4, 5, 5, 3), (11, 12), (2, 2)),
                                                     ((2, 3, 5, 3, 2, 1), (7, 6), (2, 1)),
                                                     ((2, 2, 2, 2, 2, 2), (4, 4), (2, 2))])
def test_col2im_same_bits(dtype, shape, image_hw, stride, monkeypatch):
    cols = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    compiled, plain = _both(lambda: kernels.col2im(cols, image_hw, stride), monkeypatch)
    np.testing.assert_array_equal(compiled, plain)
    # every window value lands where the window says
    n, ho, wo, kh, kw, c = shape
    ref = np.zeros((n, *image_hw, c), dtype)
    for i in range(ho):
        for j in range(wo):
            ref[:, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw] += cols[:, i, j]
    np.testing.assert_allclose(plain, ref, atol=1e-5 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="do not fit"):
        kernels.col2im(cols, (image_hw[0] - 1, image_hw[1]), stride)


def _train(seed: int = 0, flat: bool = True, depth: int = 2) -> list[np.ndarray]:
    X = np.random.default_rng(seed).random((300, 20), dtype=np.float32)
    net = autoencoder(20, 4, depth=depth, widths=(8,), seed=seed)
    opt = Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    if not flat:
        opt._flat = None  # the per-parameter path
    fit(net, MSELoss(), opt, X, epochs=3, batch_size=32, seed=seed)
    return [p.data.copy() for p in net.parameters()]


def test_training_same_bits_with_and_without_kernels_and_flat_buffers(monkeypatch):
    compiled, plain = _both(_train, monkeypatch)
    per_param = _train(flat=False)
    for a, b, c in zip(compiled, plain, per_param, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_optimizer_flattens_parameters_into_one_buffer():
    net = mlp([5, 4, 3], seed=0)
    before = [p.data.copy() for p in net.parameters()]
    opt = Adam(net.parameters())
    flat = opt._flat
    assert flat is not None
    for p, b in zip(net.parameters(), before, strict=True):
        assert np.shares_memory(p.data, flat.data) and np.shares_memory(p.grad, flat.grad)
        np.testing.assert_array_equal(p.data, b)  # values kept
    # state arrays are views of the flat moments, and a state dict round trip still works
    state = opt.state_dict()
    assert set(state["arrays"]) == {f"{k}.{i}" for k in ("exp_avg", "exp_avg_sq") for i in range(4)}
    opt.load_state_dict(state)


def test_replaced_parameters_fall_back_to_the_per_parameter_path():
    net = mlp([5, 4, 3], seed=0)
    opt = SGD(net.parameters(), lr=0.1)
    net.astype(np.float64)  # replaces every Parameter's arrays: the flat buffers no longer apply
    assert opt._buffers() is None
    x = np.ones((2, 5))
    out = net.forward(x)
    opt.zero_grad()
    net.backward(np.ones_like(out))
    before = [p.data.copy() for p in net.parameters()]
    opt.step()
    for p, b in zip(net.parameters(), before, strict=True):
        np.testing.assert_allclose(p.data, b - 0.1 * p.grad)


def test_shared_parameter_is_not_flattened():
    layer = Linear(3, 3, seed=0)
    net = Sequential(layer, ReLU(), layer)
    opt = Adam(net.parameters())
    assert opt._flat is None  # the same Parameter twice: each occurrence keeps its own update
    out = net.forward(np.ones((2, 3), np.float32))
    net.backward(np.ones_like(out))
    opt.step()


class _AddingLayer(Module):
    """A layer written against the original contract: it adds into ``grad``."""

    def __init__(self) -> None:
        super().__init__()
        self._parameters["scale"] = Parameter(np.ones(3, np.float32))

    def forward(self, X):
        return X * self._parameters["scale"].data

    def backward_update_gradient(self, input, delta):
        self._parameters["scale"].grad += (input * delta).sum(axis=0)

    def backward_delta(self, input, delta):
        return delta * self._parameters["scale"].data


def test_lazily_zeroed_gradients_read_as_zero_and_accumulate():
    p = Parameter(np.ones((2, 3), np.float32))
    p.grad[...] = 5
    p.zero()
    np.testing.assert_array_equal(p.grad, 0)  # reading after zero() gives zeros
    p.grad[...] = 5
    p.zero()
    a, b = np.ones((2, 4), np.float32), np.ones((4, 3), np.float32)
    p.add_matmul(a, b)  # written straight in
    np.testing.assert_array_equal(p.grad, 4)
    p.add_matmul(a, b)  # then accumulated
    np.testing.assert_array_equal(p.grad, 8)
    q = Parameter(np.zeros(3, np.float32))
    q.grad[...] = 7
    q.zero()
    q.add_sum(np.ones((5, 3), np.float32))
    q.add_sum(np.ones((5, 3), np.float32))
    np.testing.assert_array_equal(q.grad, 10)


def test_layers_of_the_original_contract_still_accumulate_from_zero():
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    net = Sequential(Linear(3, 3, seed=0), _AddingLayer(), Sigmoid())
    opt = SGD(net.parameters(), lr=0.1)
    scale = net.modules[1]._parameters["scale"]
    scale.grad[...] = 1e3  # what a lazy zero must not leave behind
    opt.zero_grad()
    out = net.forward(x)
    net.backward(np.ones_like(out), input_grad=False)
    # the same gradient into freshly zero-filled arrays
    ref = Sequential(Linear(3, 3, seed=0), _AddingLayer(), Sigmoid())
    for p in ref.parameters():
        p.grad = np.zeros_like(p.data)
    ref.backward(np.ones_like(ref.forward(x)), input_grad=False)
    for p, q in zip(ref.parameters(), net.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_untouched_parameter_gets_a_zero_gradient_in_the_step():
    used, unused = Linear(2, 2, seed=0), Linear(2, 2, seed=1)
    params = used.parameters() + unused.parameters()
    opt = Adam(params, lr=0.1)
    unused.weight.grad[...] = 1e6  # stale garbage that a lazy zero must not apply
    before = unused.weight.data.copy()
    opt.zero_grad()
    out = used.forward(np.ones((1, 2), np.float32))
    used.backward_update_gradient(np.ones((1, 2), np.float32), np.ones_like(out))
    opt.step()
    np.testing.assert_array_equal(unused.weight.data, before)


def test_a_numba_that_cannot_compile_falls_back_with_a_warning(monkeypatch, caplog):
    def broken():
        raise RuntimeError("LLVM exploded")

    import logging

    monkeypatch.setattr(kernels, "_compile", broken)
    monkeypatch.setattr(kernels, "_KERNELS", None)
    monkeypatch.setattr(logging.getLogger("autoenc"), "propagate", True)  # the CLI may have turned it off
    with caplog.at_level("WARNING", logger="autoenc"):
        assert not kernels.numba_enabled()
    assert "NumPy path" in caplog.text
    a = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(kernels.relu_backward(a, a), a)  # still computes, on the NumPy path
    monkeypatch.setattr(kernels, "_KERNELS", None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_symbol_counts_same_counts(dtype, monkeypatch):
    """The codec tables' counts: compiled and NumPy paths agree, ties (x.5 steps) included, and
    a symbol outside the stated range is refused on both paths."""
    rng = np.random.default_rng(2)
    Z = (rng.standard_normal((3000, 7)) * [0.1, 1, 3, 10, 0.5, 2, 1e-3]).astype(dtype)
    Z[:8, 0] = np.array([-0.25, -0.15, -0.05, 0.05, 0.15, 0.25, 0.35, 0.45], dtype)  # halfway values at step 0.1
    center, step = np.zeros(7), np.array([0.1, 0.25, 0.5, 1.0, 0.05, 0.3, 1e-4])
    low = np.rint((Z.min(axis=0).astype(np.float64) - center) / step)
    n_symbols = int((np.rint((Z.max(axis=0).astype(np.float64) - center) / step) - low).max()) + 1

    compiled, plain = _both(lambda: kernels.symbol_counts(Z, center, step, low, n_symbols), monkeypatch)
    np.testing.assert_array_equal(compiled, plain)
    assert compiled.shape == (7, n_symbols) and (compiled.sum(axis=1) == len(Z)).all()
    for kernel in (None, {}):
        monkeypatch.setattr(kernels, "_KERNELS", kernel)
        with pytest.raises((ValueError, IndexError)):
            kernels.symbol_counts(Z, center, step, low + 1, n_symbols)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_symbols_same_symbols(dtype, monkeypatch):
    """The compiled quantizer and the NumPy path give the same symbols, clipped at both ends,
    and both refuse a non-finite code."""
    rng = np.random.default_rng(3)
    Z = (rng.normal(0, 3, (500, 7)) * np.arange(1, 8)).astype(dtype)
    Z[0, 0], Z[1, 1] = 1e9, -1e9  # beyond max_code and beyond the tables
    Z[2, 2] = 0.5  # a tie: rounded half to even in both
    center, step = rng.normal(0, 0.1, 7), rng.uniform(0.2, 2.0, 7)
    offset, support = rng.integers(-20, -5, 7), rng.integers(5, 40, 7)
    args = (center, step, offset, support, 2.0**30)
    fast, slow = _both(lambda: kernels.quantize_symbols(Z, *args), monkeypatch)
    assert fast.dtype == slow.dtype == np.int32
    np.testing.assert_array_equal(fast, slow)
    assert fast.min() == 0 and (fast.max(axis=0) <= support - 1).all()
    Z[3, 4] = np.nan
    for kernel in (None, {}):
        monkeypatch.setattr(kernels, "_KERNELS", kernel)
        with pytest.raises(ValueError, match="non-finite"):
            kernels.quantize_symbols(Z, *args)
