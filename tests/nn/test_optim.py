"""Optimizers against hand-written reference updates (PyTorch's formulas, written out),
state round trips, and the original ``Optim`` driver."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.nn import SGD, Adam, Linear, MSELoss, Optim, Parameter, Sequential, Sigmoid, TanH, get_optimizer

STEPS = 6


def _params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.normal(size=(3, 4)).astype(dtype)), Parameter(rng.normal(size=5).astype(dtype))]


def _grad(t: int, i: int, data: np.ndarray) -> np.ndarray:
    """A gradient that depends on the step, the parameter and its current value."""
    rng = np.random.default_rng(100 * t + i)
    return (0.5 * data + rng.normal(size=data.shape)).astype(data.dtype)


def _run(opt, params, steps=STEPS, start=0):
    for t in range(start, start + steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            p.grad += _grad(t, i, p.data)
        opt.step()
    return [p.data.copy() for p in params]


def reference_sgd(values, lr, momentum=0.0, nesterov=False, weight_decay=0.0, steps=STEPS):
    """torch.optim.SGD (dampening 0): buf = g on the first step, then buf = momentum * buf + g."""
    values = [v.astype(np.float64).copy() for v in values]
    bufs = [None] * len(values)
    for t in range(steps):
        for i, p in enumerate(values):
            g = _grad(t, i, p) + weight_decay * p
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            p -= lr * g
    return values


def reference_adam(values, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, steps=STEPS):
    """torch.optim.Adam: bias-corrected moments, p -= lr * m_hat / (sqrt(v_hat) + eps)."""
    b1, b2 = betas
    values = [v.astype(np.float64).copy() for v in values]
    m = [np.zeros_like(v) for v in values]
    s = [np.zeros_like(v) for v in values]
    for t in range(1, steps + 1):
        for i, p in enumerate(values):
            g = _grad(t - 1, i, p) + weight_decay * p
            m[i] = b1 * m[i] + (1 - b1) * g
            s[i] = b2 * s[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            v_hat = s[i] / (1 - b2**t)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return values


SGD_CASES = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 0.1},
    {"momentum": 0.5, "nesterov": True, "weight_decay": 0.01},
]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_reference(kwargs):
    params = _params()
    start = [p.data.copy() for p in params]
    got = _run(SGD(params, lr=0.05, **kwargs), params)
    for a, b in zip(got, reference_sgd(start, 0.05, **kwargs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs", [{}, {"betas": (0.8, 0.99), "eps": 1e-6}, {"weight_decay": 0.05}])
def test_adam_matches_reference(kwargs):
    params = _params()
    start = [p.data.copy() for p in params]
    got = _run(Adam(params, lr=0.01, **kwargs), params)
    for a, b in zip(got, reference_adam(start, 0.01, **kwargs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_adam_float32_in_place():
    params = _params(np.float32)
    start = [p.data.copy() for p in params]
    opt = Adam(params, lr=0.01)  # moves the parameters into its flat buffer (values kept)
    arrays = [p.data for p in params]
    got = _run(opt, params)
    assert all(p.data is a and a.dtype == np.float32 for p, a in zip(params, arrays, strict=True))
    for a, b in zip(got, reference_adam(start, 0.01), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_first_adam_step_is_lr_times_sign():
    p = Parameter(np.array([1.0, -2.0, 3.0]))
    p.grad[:] = [0.3, -5.0, 1e-3]
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.9, -1.9, 2.9], rtol=1e-6)


def test_against_torch_if_installed():
    torch = pytest.importorskip("torch")
    for kind, kwargs in (("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
                         ("adam", {"lr": 0.01, "weight_decay": 0.01})):
        params = _params()
        tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
        topt = (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)(tparams, **kwargs)
        for t in range(STEPS):
            topt.zero_grad()
            for i, tp in enumerate(tparams):
                tp.grad = torch.from_numpy(_grad(t, i, tp.detach().numpy()))
            topt.step()
        got = _run(get_optimizer(kind, params, **kwargs), params)
        for a, tp in zip(got, tparams, strict=True):
            np.testing.assert_allclose(a, tp.detach().numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(("cls", "kwargs"), [(SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                             (Adam, {"lr": 0.01, "betas": (0.8, 0.99)})])
def test_state_dict_round_trip_continues_identically(cls, kwargs):
    params = _params()
    opt = cls(params, **kwargs)
    _run(opt, params, steps=3)
    state = opt.state_dict()
    assert state["type"] == cls.__name__ and state["step_count"] == 3
    assert all(isinstance(v, np.ndarray) for v in state["arrays"].values())

    clone = [Parameter(p.data.copy()) for p in params]
    fresh = cls(clone, lr=1.0)  # hyperparameters come from the state
    fresh.load_state_dict(state)
    assert fresh.hyperparameters() == opt.hyperparameters() and fresh.step_count == 3
    a = _run(opt, params, steps=3, start=3)
    b = _run(fresh, clone, steps=3, start=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    # the state is a copy
    state["arrays"][next(iter(state["arrays"]))][...] = 123.0
    assert not np.any(next(iter(opt.state.values()))[0] == 123.0)


def test_load_state_dict_rejects_mismatch():
    params = _params()
    adam_state = Adam(params).state_dict()
    with pytest.raises(ValueError, match="optimizer state is for Adam, not SGD"):
        SGD(params).load_state_dict(adam_state)
    other = Adam([Parameter(np.zeros(2))]).state_dict()
    with pytest.raises(ValueError, match="exp_avg.0' is missing or has the wrong shape"):
        Adam(params).load_state_dict(other)


def test_optimizer_errors_and_names():
    with pytest.raises(ValueError, match="lr must be > 0"):
        SGD(_params(), lr=0)
    with pytest.raises(ValueError, match="got no parameters"):
        Adam([])
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        SGD(_params(), nesterov=True)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        get_optimizer("rmsprop", _params())
    assert isinstance(get_optimizer("Adam", Linear(2, 2), lr=0.1), Adam)  # a Module gives its parameters
    assert repr(SGD(_params(), lr=0.1)) == "SGD(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)"


def test_zero_grad():
    params = _params()
    for p in params:
        p.grad += 1
    SGD(params).zero_grad()
    assert not any(p.grad.any() for p in params)


# --- the original driver --------------------------------------------------------------


def test_optim_driver_with_learning_rate_equals_manual_step():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    net = Sequential(Linear(3, 4, dtype=np.float64, seed=0), TanH(), Linear(4, 2, dtype=np.float64, seed=1))
    twin = Sequential(Linear(3, 4, dtype=np.float64, seed=0), TanH(), Linear(4, 2, dtype=np.float64, seed=1))
    loss = MSELoss()
    driver = Optim(net, loss, 0.1)
    assert isinstance(driver.optimizer, SGD)
    value = driver.step(X, y)
    # the same four lines by hand, with the original update_parameters
    twin.zero_grad()
    yhat = twin.forward(X)
    assert value == loss.forward(y, yhat)
    twin.backward(loss.backward(y, yhat))
    twin.update_parameters(0.1)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_optim_driver_learns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 2))
    y = (X[:, :1] > 0).astype(np.float64)
    net = Sequential(Linear(2, 1, dtype=np.float64, seed=0), Sigmoid())
    driver = Optim(net, MSELoss(), Adam(net.parameters(), lr=0.1))
    first = driver.step(X, y)
    for _ in range(100):
        last = driver.step(X, y)
    assert last < 0.25 * first
