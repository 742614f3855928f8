"""The fit loop: reproducibility, validation, history, early stopping, progress, errors,
and small problems that must actually be learned (XOR, linear regression)."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.models import autoencoder, mlp
from autoenc.nn import (
    SGD,
    Adam,
    BCELoss,
    CrossEntropyLoss,
    History,
    Linear,
    MSELoss,
    Optim,
    Sequential,
    Sigmoid,
    TanH,
    evaluate,
    fit,
    predict,
)


def xor_data(n_per_blob: int, sigma: float, seed: int):
    """Four Gaussian blobs at (+-1, +-1); label 1 where the coordinates' signs differ."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=float)
    labels = np.array([0, 0, 1, 1])
    X = np.concatenate([c + sigma * rng.normal(size=(n_per_blob, 2)) for c in centres])
    y = np.repeat(labels, n_per_blob)[:, None].astype(float)
    order = rng.permutation(len(X))
    return X[order], y[order]


def xor_net(seed: int = 0) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Linear(2, 10, seed=rng), TanH(), Linear(10, 1, seed=rng), Sigmoid())


def _ae_data(n=64, d=12, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, d)).astype(np.float32)


def _weights(net):
    return [p.data.copy() for p in net.parameters()]


# --- learning -------------------------------------------------------------------------


@pytest.mark.parametrize(("loss", "batch_size", "lr"), [(BCELoss(), 200, 0.05), (MSELoss(), 200, 0.05),
                                                        (BCELoss(), 800, 0.1)])
def test_xor_learns(loss, batch_size, lr):
    X, y = xor_data(200, 0.1, seed=0)
    X_test, y_test = xor_data(250, 0.1, seed=1)
    net = xor_net()
    fit(net, loss, Adam(net.parameters(), lr=lr), X, y, epochs=150, batch_size=batch_size, seed=0)
    accuracy = ((predict(net, X_test.astype(np.float32)) > 0.5) == (y_test > 0.5)).mean()
    assert accuracy >= 0.99


def test_xor_learns_with_plain_sgd_driver():
    X, y = xor_data(100, 0.1, seed=2)
    net = xor_net(seed=1)
    driver = Optim(net, MSELoss(), 0.5)  # the original Optim(net, loss, eps)
    Xf, yf = X.astype(np.float32), y.astype(np.float32)
    for _ in range(3000):
        driver.step(Xf, yf)
    assert ((net.forward(Xf) > 0.5) == (yf > 0.5)).mean() >= 0.99


def test_linear_regression_recovers_coefficients():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(2000, 1))
    y = -20 * x - 10 + rng.normal(scale=1.0, size=x.shape)
    net = Linear(1, 1, dtype=np.float64, seed=0)
    history = fit(Sequential(net), MSELoss(), SGD(net.parameters(), lr=0.1), x, y, epochs=30, batch_size=50, seed=0)
    a, b = float(net.weight.data[0, 0]), float(net._parameters["bias"].data[0])
    assert abs(a + 20) < 0.2 and abs(b + 10) < 0.1, (a, b)
    assert history.train_loss[-1] < 1.2  # the noise variance is 1


def test_classifier_with_integer_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    labels = np.argmax(X[:, :3], axis=1)
    net = mlp([4, 16, 3], activation="tanh", seed=0)
    history = fit(net, CrossEntropyLoss(), Adam(net.parameters(), lr=0.02), X, labels, epochs=40, batch_size=32)
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]
    assert (predict(net, X).argmax(axis=1) == labels).mean() > 0.9


def test_autoencoder_fit_with_fused_bce_and_y_none():
    X = _ae_data(128, 16)
    ae = autoencoder(16, 4, depth=2, widths=(8,), seed=0)
    history = fit(ae, BCELoss(), Adam(ae.parameters(), lr=0.01), X, epochs=15, batch_size=32)
    assert history.train_loss[-1] < history.train_loss[0]
    assert ae.param_dtype == np.float32


# --- reproducibility ------------------------------------------------------------------


def _train(seed_model, seed_fit, **kwargs):
    X = _ae_data()
    ae = autoencoder(12, 3, depth=2, widths=(6,), seed=seed_model)
    fit(ae, MSELoss(), Adam(ae.parameters(), lr=0.01), X, epochs=3, batch_size=16, seed=seed_fit, **kwargs)
    return _weights(ae)


def test_seeded_runs_are_reproducible():
    a, b = _train(0, 0), _train(0, 0)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(a, _train(0, 1), strict=True))  # shuffling seed
    assert any(not np.array_equal(x, y) for x, y in zip(a, _train(1, 0), strict=True))  # model seed
    no_shuffle = _train(0, 0, shuffle=False), _train(0, 5, shuffle=False)
    for x, y in zip(*no_shuffle, strict=True):
        np.testing.assert_array_equal(x, y)


# --- validation, history, early stopping ----------------------------------------------


def test_validation_split_holds_out_the_last_fraction():
    X = _ae_data(80)
    runs = []
    for kwargs in ({"validation_split": 0.25}, {"validation_data": (X[-20:], X[-20:])}):
        ae = autoencoder(12, 3, depth=1, seed=0)
        h = fit(ae, MSELoss(), Adam(ae.parameters(), lr=0.01), X[:60] if "validation_data" in kwargs else X,
                epochs=4, batch_size=16, **kwargs)
        runs.append((h, _weights(ae)))
    (h1, w1), (h2, w2) = runs
    assert h1.val_loss == h2.val_loss and h1.train_loss == h2.train_loss
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(h1.epoch) == 4 and all(np.isfinite(h1.val_loss))


def test_eval_batch_size_changes_only_the_validation_batches():
    X = _ae_data(80)
    losses = []
    for eval_batch_size in (1024, 7):
        ae = autoencoder(12, 3, depth=1, seed=0)
        h = fit(ae, MSELoss(), Adam(ae.parameters(), lr=0.01), X[:60], epochs=3, batch_size=16,
                validation_data=(X[60:], X[60:]), eval_batch_size=eval_batch_size)
        losses.append((h.train_loss, h.val_loss))
    assert losses[0][0] == losses[1][0]  # training untouched
    np.testing.assert_allclose(losses[0][1], losses[1][1], rtol=1e-5)  # same loss, other batching


def test_history_contents():
    X = _ae_data()
    ae = autoencoder(12, 3, depth=1, seed=0)
    seen = []
    h = fit(ae, MSELoss(), Adam(ae.parameters(), lr=0.01), X, epochs=3, batch_size=16,
            callback=lambda epoch, logs: seen.append((epoch, logs)))
    assert isinstance(h, History) and h.epoch == [1, 2, 3]
    assert all(np.isnan(v) for v in h.val_loss) and h.best_epoch == 3 and not h.stopped_early
    assert h.wall_seconds == sorted(h.wall_seconds) and h.wall_seconds[0] > 0
    assert [e for e, _ in seen] == [1, 2, 3] and seen[0][1]["train_loss"] == h.train_loss[0]
    rows = h.to_rows()
    assert len(rows) == 3 and set(rows[0]) == {"epoch", "train_loss", "val_loss", "lr", "wall_seconds"}
    # train loss is the mean per-sample loss over the epoch (as evaluate reports it)
    assert h.train_loss[0] > 0
    assert fit(ae, MSELoss(), Adam(ae.parameters()), X, epochs=0).epoch == []


def test_early_stopping_restores_best_weights():
    # Train targets y = x, validation targets y = -x: validation only gets worse after epoch 1.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 1))
    net = Sequential(Linear(1, 1, bias=False, init="zeros", dtype=np.float64))
    snapshots = []
    h = fit(net, MSELoss(), SGD(net.parameters(), lr=0.05), x, x, epochs=50, batch_size=16,
            validation_data=(x, -x), patience=3, callback=lambda e, logs: snapshots.append(net.state_dict()))
    assert h.stopped_early and h.best_epoch == 1 and h.epoch == [1, 2, 3, 4]
    assert h.val_loss[0] == min(h.val_loss)
    np.testing.assert_array_equal(net.state_dict()["0.weight"], snapshots[0]["0.weight"])
    assert not np.array_equal(snapshots[-1]["0.weight"], snapshots[0]["0.weight"])


def test_early_stopping_without_restore_keeps_last_weights():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 1))
    net = Sequential(Linear(1, 1, bias=False, init="zeros", dtype=np.float64))
    snapshots = []
    h = fit(net, MSELoss(), SGD(net.parameters(), lr=0.05), x, x, epochs=50, batch_size=16,
            validation_data=(x, -x), patience=2, restore_best=False,
            callback=lambda e, logs: snapshots.append(net.state_dict()))
    assert h.stopped_early and len(h.epoch) == 3
    np.testing.assert_array_equal(net.state_dict()["0.weight"], snapshots[-1]["0.weight"])


def test_min_delta_counts_small_gains_as_no_improvement():
    X = _ae_data()
    ae = autoencoder(12, 3, depth=1, seed=0)
    h = fit(ae, MSELoss(), Adam(ae.parameters(), lr=1e-4), X, epochs=20, validation_split=0.25,
            patience=2, min_delta=10.0)
    assert h.stopped_early and h.best_epoch == 1 and len(h.epoch) == 3


def test_progress_bar(capsys):
    X = _ae_data()
    ae = autoencoder(12, 3, depth=1, seed=0)
    h = fit(ae, MSELoss(), Adam(ae.parameters()), X, epochs=2, batch_size=16, progress=True)
    assert h.epoch == [1, 2]


def test_evaluate_and_predict_batch_and_restore_mode():
    X = _ae_data(50)
    ae = autoencoder(12, 3, depth=1, seed=0)
    ae.train()
    full = ae.forward(X)
    np.testing.assert_allclose(predict(ae, X, batch_size=7), full, rtol=1e-6)
    value = evaluate(ae, MSELoss(), X, X, batch_size=7)
    assert np.isclose(value, MSELoss().forward(X, full), rtol=1e-5)
    assert ae.training
    ae.eval()
    predict(ae, X)
    assert not ae.training


def test_fit_casts_data_to_parameter_dtype():
    X = np.random.default_rng(0).uniform(size=(32, 12))  # float64 data, float32 model
    ae = autoencoder(12, 3, depth=1, seed=0)
    fit(ae, MSELoss(), Adam(ae.parameters()), X, epochs=1)
    assert all(p.data.dtype == np.float32 for p in ae.parameters())


# --- errors ---------------------------------------------------------------------------


def test_nan_in_fit_data():
    X = _ae_data()
    X[3, 2] = np.nan
    X[5, 0] = np.inf
    ae = autoencoder(12, 3, depth=1, seed=0)
    with pytest.raises(ValueError, match=r"X contains NaN or inf in 2 sample\(s\)"):
        fit(ae, MSELoss(), Adam(ae.parameters()), X)
    y = _ae_data()
    y[0, 0] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        fit(ae, MSELoss(), Adam(ae.parameters()), _ae_data(), y)


def test_fit_argument_errors():
    X = _ae_data()
    ae = autoencoder(12, 3, depth=1, seed=0)
    opt = Adam(ae.parameters())
    with pytest.raises(ValueError, match="X has 64 samples but y has 10"):
        fit(ae, MSELoss(), opt, X, X[:10])
    with pytest.raises(ValueError, match=r"validation_split must be in \(0, 1\)"):
        fit(ae, MSELoss(), opt, X, validation_split=1.5)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        fit(ae, MSELoss(), opt, X, batch_size=0)
    with pytest.raises(TypeError, match="X must be a NumPy array"):
        fit(ae, MSELoss(), opt, X.tolist())
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 12\)"):
        fit(ae, MSELoss(), opt, X[:, :10])


def test_divergence_is_reported():
    X = _ae_data() * 1e30
    net = Sequential(Linear(12, 12, seed=0))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        with np.errstate(over="ignore", invalid="ignore"):
            fit(net, MSELoss(), SGD(net.parameters(), lr=1e3), X, epochs=3)


def test_float64_predict_does_not_depend_on_the_batch_split():
    """Row by row (BLAS matrix-vector kernels) and in one batch (matrix products) give the same bits
    with compute_dtype=float64, whatever kernel OpenBLAS picks (OPENBLAS_CORETYPE)."""
    net = autoencoder(784, 64, depth=2, widths=(512,), seed=0).eval()
    X = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    whole = predict(net, X, compute_dtype=np.float64)
    rows = np.concatenate([predict(net, X[i:i + 1], compute_dtype=np.float64) for i in range(len(X))])
    chunks = predict(net, X, batch_size=7, compute_dtype=np.float64)
    assert whole.dtype == np.float32 and net.param_dtype == np.float32  # the network itself is unchanged
    np.testing.assert_array_equal(whole, rows)
    np.testing.assert_array_equal(whole, chunks)
    np.testing.assert_allclose(whole, predict(net, X), rtol=1e-5, atol=1e-6)  # float32 agrees to rounding


def test_astype_copy_leaves_the_module_alone():
    net = mlp([3, 4, 2], seed=0)
    twin = net.astype(np.float64, copy=True)
    assert twin is not net and twin.param_dtype == np.float64 and net.param_dtype == np.float32
    for (_, a), (_, b) in zip(net.named_parameters(), twin.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
