"""Layers and activations: forward values against naive references, shapes, initialisation,
dtypes, state dicts, configs and error messages."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.nn import (
    Conv1D,
    Dropout,
    Flatten,
    Linear,
    LogSoftmax,
    MaxPool1D,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    TanH,
    module_from_config,
)
from autoenc.nn.layers import INITS


def naive_conv1d(X, W, b, stride):
    """Reference: explicit loops over samples, positions and channels."""
    n, length, chan_in = X.shape
    k, _, chan_out = W.shape
    n_out = (length - k) // stride + 1
    out = np.zeros((n, n_out, chan_out))
    for s in range(n):
        for i in range(n_out):
            for o in range(chan_out):
                acc = 0.0 if b is None else b[o]
                for j in range(k):
                    for c in range(chan_in):
                        acc += X[s, i * stride + j, c] * W[j, c, o]
                out[s, i, o] = acc
    return out


def naive_maxpool1d(X, k, stride):
    n, length, c = X.shape
    n_out = (length - k) // stride + 1
    out = np.empty((n, n_out, c))
    for i in range(n_out):
        out[:, i, :] = X[:, i * stride : i * stride + k, :].max(axis=1)
    return out


# --- Linear ---------------------------------------------------------------------------


def test_linear_forward_and_shapes():
    layer = Linear(4, 3, seed=0)
    layer._parameters["bias"].data[:] = [1, 2, 3]
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = layer.forward(X)
    assert out.shape == (5, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, X @ layer.weight.data + [1, 2, 3], rtol=1e-6)
    assert layer.weight.shape == (4, 3) and layer.n_parameters() == 15
    assert Linear(4, 3, bias=False).n_parameters() == 12
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_linear_inits():
    fan_in, fan_out = 400, 300
    w = {init: Linear(fan_in, fan_out, init=init, dtype=np.float64, seed=0).weight.data for init in INITS}
    xavier = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w["xavier"]).max() <= xavier and np.abs(w["xavier"]).max() > 0.99 * xavier
    assert np.isclose(w["he"].std(), np.sqrt(2 / fan_in), rtol=0.02) and abs(w["he"].mean()) < 1e-3
    uniform = 1 / np.sqrt(fan_in)
    assert np.abs(w["uniform"]).max() <= uniform and np.abs(w["uniform"]).max() > 0.99 * uniform
    assert np.isclose(w["normal"].std(), 0.01, rtol=0.02)
    assert not w["zeros"].any()
    for init in INITS:
        layer = Linear(3, 2, init=init, seed=0)
        assert layer.weight.data.dtype == np.float32 and not layer._parameters["bias"].data.any()


def test_linear_seed_determinism():
    a, b, c = (Linear(5, 4, seed=s).weight.data for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g = np.random.default_rng(7)
    l1, l2 = Linear(5, 4, seed=g), Linear(5, 4, seed=g)  # a shared generator advances
    assert not np.array_equal(l1.weight.data, l2.weight.data)


def test_linear_bad_arguments():
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        Linear(3, 2, init="glorot")
    with pytest.raises(ValueError, match="sizes must be positive"):
        Linear(0, 2)


# --- Conv1D ---------------------------------------------------------------------------


@pytest.mark.parametrize("k_size", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize(("chan_in", "chan_out"), [(1, 1), (1, 4), (3, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_matches_naive_loops(k_size, stride, chan_in, chan_out, bias):
    rng = np.random.default_rng(k_size + 10 * stride)
    conv = Conv1D(k_size, chan_in, chan_out, stride=stride, bias=bias, dtype=np.float64, seed=0)
    b = None
    if bias:
        b = rng.normal(size=chan_out)
        conv._parameters["bias"].data[:] = b
    X = rng.normal(size=(3, 13, chan_in))
    out = conv.forward(X)
    assert out.shape == (3, (13 - k_size) // stride + 1, chan_out)
    np.testing.assert_allclose(out, naive_conv1d(X, conv._parameters["weight"].data, b, stride), rtol=1e-12)


def test_conv1d_float32_and_course_shapes():
    conv = Conv1D(3, 1, 32, seed=0)
    X = np.random.default_rng(0).normal(size=(8, 256, 1)).astype(np.float32)
    out = conv.forward(X)
    assert out.shape == (8, 254, 32) and out.dtype == np.float32
    assert conv._parameters["weight"].shape == (3, 1, 32) and conv._parameters["bias"].shape == (32,)
    ref = naive_conv1d(X[:1].astype(np.float64), conv._parameters["weight"].data.astype(np.float64), None, 1)
    np.testing.assert_allclose(out[:1], ref, rtol=1e-5, atol=1e-6)
    assert Conv1D(3, 1, 4, stride=2).forward(np.zeros((1, 10, 1), np.float32)).shape == (1, 4, 4)


def test_conv1d_sees_in_place_changes_of_its_input():
    # Regression: forward once reused a cached im2col copy when given the same array object.
    conv = Conv1D(3, 2, 4, dtype=np.float64, seed=0)
    X = np.random.default_rng(0).normal(size=(2, 8, 2))
    conv.forward(X)
    X[...] = np.random.default_rng(1).normal(size=X.shape)
    np.testing.assert_allclose(conv.forward(X), naive_conv1d(X, conv._parameters["weight"].data, np.zeros(4), 1))


def test_conv1d_backward_matches_naive_adjoint():
    rng = np.random.default_rng(3)
    conv = Conv1D(3, 2, 3, stride=2, dtype=np.float64, seed=0)
    X = rng.normal(size=(2, 9, 2))
    delta = rng.normal(size=conv.forward(X).shape)
    dx = np.zeros_like(X)
    dw = np.zeros_like(conv._parameters["weight"].data)
    W = conv._parameters["weight"].data
    for s in range(2):
        for i in range(delta.shape[1]):
            dx[s, 2 * i : 2 * i + 3, :] += W @ delta[s, i]
            dw += X[s, 2 * i : 2 * i + 3, :, None] * delta[s, i][None, None, :]
    conv.zero_grad()
    conv.backward_update_gradient(X, delta)
    np.testing.assert_allclose(conv.backward_delta(X, delta), dx, rtol=1e-12)
    np.testing.assert_allclose(conv._parameters["weight"].grad, dw, rtol=1e-12)
    np.testing.assert_allclose(conv._parameters["bias"].grad, delta.sum(axis=(0, 1)), rtol=1e-12)


def test_conv1d_errors():
    conv = Conv1D(3, 2, 4)
    with pytest.raises(ValueError, match=r"Conv1D\(k_size=3, chan_in=2.*expected input of shape \(N, L >= 3, 2\)"):
        conv.forward(np.zeros((4, 10, 1), np.float32))
    with pytest.raises(ValueError, match="expected input of shape"):
        conv.forward(np.zeros((4, 10), np.float32))
    with pytest.raises(ValueError, match="shorter than the kernel"):
        conv.forward(np.zeros((4, 2, 2), np.float32))
    with pytest.raises(ValueError, match=">= 1"):
        Conv1D(3, 1, 4, stride=0)


# --- MaxPool1D, Flatten ---------------------------------------------------------------


@pytest.mark.parametrize(("k_size", "stride"), [(2, 2), (3, 1), (3, 2), (4, 3)])
def test_maxpool_matches_naive(k_size, stride):
    X = np.random.default_rng(0).normal(size=(3, 11, 4))
    out = MaxPool1D(k_size, stride).forward(X)
    assert out.shape == (3, (11 - k_size) // stride + 1, 4)
    np.testing.assert_array_equal(out, naive_maxpool1d(X, k_size, stride))


def test_maxpool_backward_routes_to_the_max():
    X = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]])  # (1, 5, 1)
    pool = MaxPool1D(3, 1)  # windows [1,3,2], [3,2,0], [2,0,5]
    np.testing.assert_array_equal(pool.forward(X)[0, :, 0], [3, 3, 5])
    dx = pool.backward_delta(X, np.array([[[1.0], [10.0], [100.0]]]))
    np.testing.assert_array_equal(dx[0, :, 0], [0, 11, 0, 0, 100])
    # backward on a different input object recomputes the argmax
    X2 = X[:, ::-1].copy()
    dx2 = pool.backward_delta(X2, np.ones((1, 3, 1)))
    np.testing.assert_array_equal(dx2[0, :, 0], [1, 0, 0, 2, 0])


@pytest.mark.parametrize(("k_size", "stride"), [(2, 2), (3, 1), (3, 2), (2, 3)])
def test_maxpool_ties_go_to_the_first_offset_like_argmax(k_size, stride):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(4, 12, 3)).astype(np.float64)  # many ties
    pool = MaxPool1D(k_size, stride)
    out = pool.forward(X)
    n_out = out.shape[1]
    win = np.stack([X[:, i * stride : i * stride + k_size] for i in range(n_out)], axis=1)  # (N, n_out, k, C)
    first = win.argmax(axis=2)
    np.testing.assert_array_equal(out, win.max(axis=2))
    delta = rng.normal(size=out.shape)
    expected = np.zeros_like(X)
    for s, i, c in np.ndindex(*out.shape):
        expected[s, i * stride + first[s, i, c], c] += delta[s, i, c]
    np.testing.assert_allclose(pool.backward_delta(X, delta), expected, rtol=1e-12)


def test_maxpool_wide_window():
    X = np.random.default_rng(0).normal(size=(2, 300, 2))
    pool = MaxPool1D(200, 50)
    np.testing.assert_array_equal(pool.forward(X), naive_maxpool1d(X, 200, 50))
    dx = pool.backward_delta(X, np.ones((2, 3, 2)))
    assert dx.sum() == 12 and set(np.unique(dx)) <= {0.0, 1.0, 2.0, 3.0}


def test_relu_backward_masks():
    X = np.array([[-1.0, 2.0, 0.0, 3.0]], dtype=np.float32)
    dx = ReLU().backward_delta(X, np.array([[5.0, 6.0, 7.0, 8.0]], dtype=np.float32))
    np.testing.assert_array_equal(dx, [[0, 6, 0, 8]])
    assert dx.dtype == np.float32


def test_maxpool_defaults_and_errors():
    pool = MaxPool1D(2)
    assert pool.stride == 2
    assert pool.forward(np.zeros((8, 254, 32), np.float32)).shape == (8, 127, 32)
    with pytest.raises(ValueError, match="shorter than the window"):
        MaxPool1D(3).forward(np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match=r"MaxPool1D.*expected input of shape \(N, L >= 2, C\)"):
        pool.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=">= 1"):
        MaxPool1D(0)


def test_flatten():
    X = np.arange(24.0).reshape(2, 3, 4)
    out = Flatten().forward(X)
    assert out.shape == (2, 12)
    np.testing.assert_array_equal(Flatten().backward_delta(X, out), X)
    with pytest.raises(ValueError, match=r"Flatten: expected input of shape \(N, ...\)"):
        Flatten().forward(np.zeros(3))


# --- activations ----------------------------------------------------------------------


def test_activation_values():
    X = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    np.testing.assert_allclose(TanH().forward(X), np.tanh(X))
    np.testing.assert_allclose(Sigmoid().forward(X), 1 / (1 + np.exp(-X)), rtol=1e-12)
    np.testing.assert_array_equal(ReLU().forward(X), [[0, 0, 0, 0.5, 3]])
    s = Softmax().forward(X)
    np.testing.assert_allclose(s, np.exp(X) / np.exp(X).sum(), rtol=1e-12)
    np.testing.assert_allclose(LogSoftmax().forward(X), np.log(s), rtol=1e-12)


def test_activations_stable_and_keep_dtype():
    X = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for act in (TanH(), Sigmoid(), ReLU(), Softmax(), LogSoftmax()):
            out = act.forward(X)
            assert out.dtype == np.float32 and np.all(np.isfinite(out)), type(act).__name__
            assert act.backward_delta(X, np.ones_like(X)).dtype == np.float32
    sig = Sigmoid().forward(X)
    assert sig[0, 0] == 0.0 and sig[0, -1] == 1.0
    np.testing.assert_allclose(Softmax().forward(X).sum(axis=1), 1.0, rtol=1e-6)


def test_activation_backward_without_forward_recomputes():
    X = np.random.default_rng(0).normal(size=(3, 4))
    for act in (TanH(), Sigmoid(), Softmax(), LogSoftmax()):
        fresh = type(act)()
        act.forward(X)
        np.testing.assert_allclose(fresh.backward_delta(X, np.ones_like(X)), act.backward_delta(X, np.ones_like(X)))


def test_activation_errors():
    with pytest.raises(TypeError, match="TanH: expected a NumPy array"):
        TanH().forward([1.0, 2.0])
    with pytest.raises(ValueError, match=r"Softmax: expected input of shape \(N, C\)"):
        Softmax().forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"LogSoftmax: expected input of shape \(N, C\)"):
        LogSoftmax().forward(np.zeros(3))


# --- input checks: shapes and dtypes --------------------------------------------------


def test_linear_wrong_shape_names_layer_and_expected_shape():
    layer = Linear(784, 256)
    expected = r"Linear\(in_features=784.*expected input of shape \(N, 784\), got \(32, 100\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((32, 100), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 784\), got \(784,\)"):
        layer.forward(np.zeros(784, np.float32))


def test_wrong_dtype():
    with pytest.raises(TypeError, match=r"input dtype float64 does not match the parameters' float32.*astype"):
        Linear(3, 2).forward(np.zeros((1, 3)))
    with pytest.raises(TypeError, match="int64"):
        Conv1D(2, 1, 1).forward(np.zeros((1, 5, 1), dtype=np.int64))
    with pytest.raises(TypeError, match="expected a NumPy array"):
        Linear(3, 2).forward([[0.0, 0.0, 0.0]])


def test_sequential_error_names_inner_layer():
    net = Sequential(Linear(4, 3), ReLU(), Linear(5, 2))
    with pytest.raises(ValueError, match=r"Linear\(in_features=5.*\(N, 5\), got \(2, 3\)"):
        net.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="item 1 is str"):
        Sequential(Linear(2, 2), "relu")


# --- dtype conversion, state dicts, configs -------------------------------------------


def _net(dtype=np.float32):
    return Sequential(Conv1D(3, 1, 2, dtype=dtype, seed=0), ReLU(), MaxPool1D(2), Flatten(),
                      Linear(8, 3, dtype=dtype, seed=1), Softmax())


def test_astype_float64_and_back():
    net = _net()
    X = np.random.default_rng(0).normal(size=(2, 10, 1))
    out32 = net.forward(X.astype(np.float32))
    assert net.astype(np.float64) is net and net.param_dtype == np.float64
    out64 = net.forward(X)
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, out32, rtol=1e-5)
    assert all(p.grad.dtype == np.float64 for p in net.parameters())
    assert net.to_config()["children"][0]["args"]["dtype"] == "float64"
    net.astype(np.float32)
    assert net.forward(X.astype(np.float32)).dtype == np.float32


def test_state_dict_round_trip_bit_identical():
    a, b = _net(), Sequential(Conv1D(3, 1, 2, seed=5), ReLU(), MaxPool1D(2), Flatten(), Linear(8, 3, seed=6), Softmax())
    X = np.random.default_rng(0).normal(size=(4, 10, 1)).astype(np.float32)
    state = a.state_dict()
    assert set(state) == {"0.weight", "0.bias", "4.weight", "4.bias"}
    b.load_state_dict(state)
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    state["0.weight"][...] = 0  # copies, not views
    assert a._modules["0"]._parameters["weight"].data.any()
    # loading is in place: an optimizer holding the Parameter objects sees the new values
    p = b.parameters()[0]
    b.load_state_dict(_net().state_dict())
    assert b.parameters()[0] is p


def test_load_state_dict_rejects_mismatches():
    net = _net()
    state = net.state_dict()
    with pytest.raises(KeyError, match=r"missing keys \['4.bias'\]"):
        net.load_state_dict({k: v for k, v in state.items() if k != "4.bias"})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        net.load_state_dict({**state, "extra": np.zeros(1)})
    net.load_state_dict({"4.bias": np.ones(3)}, strict=False)
    np.testing.assert_array_equal(net._modules["4"]._parameters["bias"].data, 1)
    with pytest.raises(ValueError, match=r"'4.weight' has shape \(3, 8\), the module expects \(8, 3\)"):
        net.load_state_dict({**state, "4.weight": np.zeros((3, 8))})


def test_config_round_trip():
    net = _net(np.float64)
    rebuilt = module_from_config(net.to_config())
    assert repr(rebuilt) == repr(net)
    rebuilt.load_state_dict(net.state_dict())
    X = np.random.default_rng(0).normal(size=(2, 10, 1))
    np.testing.assert_array_equal(rebuilt.forward(X), net.forward(X))
    with pytest.raises(ValueError, match="unknown module type 'Nope'"):
        module_from_config({"type": "Nope"})


def test_train_eval_flags_and_misc():
    net = _net()
    assert net.eval() is net and not any(m.training for _, m in net.named_modules())
    net.train()
    assert all(m.training for _, m in net.named_modules())
    assert len(net) == 6 and isinstance(net[0], Conv1D) and net.final_module() is net[-1]
    assert net.n_parameters() == 3 * 2 + 2 + 8 * 3 + 3
    assert "Conv1D(k_size=3" in repr(net)
    assert repr(Parameter(np.zeros((2, 3), np.float32))) == "Parameter(shape=(2, 3), dtype=float32)"
    assert MaxPool1D(2).param_dtype is None
    with pytest.raises(NotImplementedError):
        Module().forward(np.zeros(1))


# --- Dropout --------------------------------------------------------------------------


def test_dropout_scales_the_kept_values_and_is_the_identity_in_eval_mode():
    X = np.ones((400, 50), np.float32)
    layer = Dropout(0.3, seed=0)
    out = layer.forward(X)
    assert out.dtype == np.float32 and out.shape == X.shape
    kept = out != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)  # expectation preserved
    np.testing.assert_array_equal(layer.backward_delta(X, np.full_like(X, 2.0)), 2 * out)
    assert not np.array_equal(layer.forward(X), out)  # a new mask every pass
    layer.eval()
    assert layer.forward(X) is X and layer.backward_delta(X, X) is X
    net = Sequential(Linear(50, 3, seed=0), Dropout(0.5)).eval()
    np.testing.assert_array_equal(net.forward(X), net.modules[0].forward(X))
    assert Dropout(0.0).forward(X) is X
    # same seed, same masks: a run's config determines its training
    np.testing.assert_array_equal(Dropout(0.5, seed=3).forward(X), Dropout(0.5, seed=3).forward(X))


def test_dropout_config_and_errors():
    rebuilt = module_from_config(Dropout(0.25, seed=4).to_config())
    assert isinstance(rebuilt, Dropout) and rebuilt.p == 0.25 and rebuilt.n_parameters() == 0
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            Dropout(p)
    with pytest.raises(TypeError, match="NumPy array"):
        Dropout(0.5).forward([1.0, 2.0])
