"""The regressor task: least squares, divergence recorded (not failed), the critical learning rate."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.analysis.regressor import critical_learning_rate, outcome
from autoenc.study.grid import RunConfig
from autoenc.study.tasks import RunContext, get_task
from autoenc.study.tasks.regressor import least_squares, truth


def config(lr: float, epochs: int = 300, **data) -> RunConfig:
    return RunConfig("regressor", {"dataset": "linear", "n_train": 500, "n_test": 200, **data},
                     {"architecture": "linear"}, {"loss": "mse", "optimizer": "sgd", "lr": lr, "epochs": epochs,
                                                  "full_batch": True}, 0, {})


def test_least_squares_is_exact():
    x = np.linspace(-1, 1, 50)[:, None]
    W, b = least_squares(x, -3 * x + 2)
    assert W[0, 0] == pytest.approx(-3) and b[0] == pytest.approx(2)


def test_truth_defaults():
    assert truth({"dataset": "linear"}) == (-20.0, -10.0, 1.0)
    assert truth({"dataset": "linear", "a": 2, "noise": 0.5}) == (2.0, -10.0, 0.5)
    assert truth({"dataset": "xor"}) is None


def test_gradient_descent_recovers_a_and_b(tmp_path):
    m = get_task("regressor")(config(0.5), RunContext(tmp_path))
    assert m["reached_least_squares"] and m["converged"] and not m["diverged"]
    assert m["a_hat"] == pytest.approx(m["a_least_squares"], rel=1e-3)
    assert m["a_rel_error"] < 0.01 and m["b_rel_error"] < 0.01
    assert m["test_mse"] == pytest.approx(m["noise_variance"], rel=0.2)
    with np.load(tmp_path / "predictions.npz", allow_pickle=False) as p:
        assert p["test_x"].shape == p["test_y"].shape == p["test_pred"].shape == (200, 1)
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,val_loss,lr,test_loss,a,b,wall_seconds"


def test_divergence_is_a_result_not_a_failure(tmp_path):
    m = get_task("regressor")(config(1.5), RunContext(tmp_path))
    assert m["diverged"] and not m["converged"] and not m["reached_least_squares"]
    assert m["epochs_run"] < 300 and outcome(m) == "diverged"


def test_critical_learning_rate_separates_convergence_from_divergence(tmp_path):
    from autoenc import datasets

    x, _ = datasets.load("linear", "train", n=500)
    lr_crit = critical_learning_rate(x)
    assert 0.9 < lr_crit < 1.1  # x ~ U(-1, 1): H ≈ 2 diag(1/3, 1), λmax ≈ 2
    below = get_task("regressor")(config(0.95 * lr_crit, epochs=2000), RunContext(tmp_path / "a"))
    above = get_task("regressor")(config(1.05 * lr_crit, epochs=2000), RunContext(tmp_path / "b"))
    assert below["reached_least_squares"] and above["diverged"]
