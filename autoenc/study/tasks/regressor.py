"""The regressor task: one Linear layer (or an MLP) fitted with MSE by gradient descent.

For the course's ``linear`` data (y = a x + b + noise) the run reports the fitted slope and
intercept against the truth and against the closed-form least-squares fit of the same
training set, so "did gradient descent converge" and "did it recover the truth" are told
apart. A run whose loss overflows is recorded as diverged (not failed): where plain gradient
descent diverges is one of the study's results.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...nn import History
from ..grid import RunConfig, resolve
from . import RunContext, batch_size, build_optimizer, load_split

#: Fitted parameters within this relative distance of the least-squares solution: reached it.
CONVERGED_TOLERANCE = 1e-3


def build(config: RunConfig, n_in: int, n_out: int) -> Any:
    from ...models import mlp
    from ...nn import Linear, Sequential

    config = resolve(config)
    m = config.model
    arch = m["architecture"]
    if arch == "linear":
        return Sequential(Linear(n_in, n_out, init="xavier", seed=np.random.default_rng(config.seed)))
    if arch == "mlp":
        return mlp([n_in, *m["hidden"], n_out], activation=m["activation"],
                   output_activation=None if m["output_activation"] == "none" else m["output_activation"],
                   seed=config.seed)
    raise ValueError(f"regressor: model.architecture must be linear or mlp, got {arch!r}")


def least_squares(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form (W, b) minimising the training MSE, in float64."""
    A = np.column_stack([np.asarray(X, np.float64), np.ones(len(X))])
    coef, *_ = np.linalg.lstsq(A, np.asarray(y, np.float64), rcond=None)
    return coef[:-1], coef[-1]


def truth(data: dict[str, Any]) -> tuple[float, float, float] | None:
    """(a, b, noise standard deviation) of the generator for the ``linear`` data set, else None."""
    if data.get("dataset") != "linear":
        return None
    from ...datasets.synthetic import DEFAULTS

    d = {**DEFAULTS["linear"], **{k: data[k] for k in ("a", "b", "noise") if k in data}}
    return float(d["a"]), float(d["b"]), float(d["noise"])


def train(model: Any, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
          config: RunConfig) -> tuple[History, bool]:
    """Minibatch (or full-batch) gradient descent on the MSE through ``nn.fit``; stops at the
    first non-finite loss or parameter. Returns the history (extra columns: test loss, slope
    ``a`` and intercept ``b`` of a single Linear(1, 1)) and whether training diverged."""
    from ...nn import fit, get_loss, predict

    t = config.train
    loss = get_loss(t["loss"])
    optimizer = build_optimizer(t, model)
    size = batch_size(t, len(X))
    single = _single_linear(model)
    extra: dict[str, list[float]] = {"test_loss": [], "a": [], "b": []}

    overflowed = []

    def after_epoch(epoch: int, values: dict[str, float]) -> bool:
        try:
            test_loss = loss.forward(y_test, predict(model, X_test), reduction="mean")
        except FloatingPointError:  # the test loss overflowed: diverged within this epoch
            overflowed.append(epoch)
            return True
        a, b = (float(single.weight.data.ravel()[0]), float(single._parameters["bias"].data[0])) if single \
            else (float("nan"), float("nan"))
        extra["test_loss"].append(test_loss)
        extra["a"].append(a)
        extra["b"].append(b)
        return not all(np.isfinite(v) for v in (values["train_loss"], test_loss, a, b))  # stop: diverged

    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected, not warned about
        history = fit(model, loss, optimizer, X, y, epochs=int(t["epochs"]), batch_size=size,
                      shuffle=size < len(X), seed=config.seed, scheduler=optimizer.scheduler,
                      stop_on_divergence=True, callback=after_epoch,
                      stop_when_converged=bool(t["stop_when_converged"]), keep_best=t["checkpoint"] == "best")
    if overflowed:  # an epoch that diverged is not recorded (as a loss overflow inside fit)
        for column in (history.epoch, history.train_loss, history.val_loss, history.lr, history.wall_seconds):
            column.pop()
    history.extra = extra
    n = len(history.epoch)
    last_finite = n == 0 or all(np.isfinite(extra[k][-1]) for k in ("test_loss", "a", "b"))
    diverged = history.diverged or bool(overflowed) or not last_finite
    history.diverged = diverged
    return history, diverged


def _single_linear(model: Any) -> Any:
    from ...nn import Linear

    mods = getattr(model, "modules", [])
    if len(mods) == 1 and isinstance(mods[0], Linear) and mods[0].weight.data.size == 1 and mods[0].bias:
        return mods[0]
    return None


def run(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    from ...nn import predict

    config = resolve(config)
    X_train, y_train = load_split(config.data, "train")
    X_test, y_test = load_split(config.data, "test")
    X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    y_train, y_test = y_train.reshape(len(y_train), -1), y_test.reshape(len(y_test), -1)
    model = build(config, X_train.shape[1], y_train.shape[1])
    start = time.perf_counter()
    history, diverged = train(model, X_train, y_train, X_test, y_test, config)
    train_seconds = time.perf_counter() - start

    with np.errstate(over="ignore", invalid="ignore"):
        pred_test = predict(model, X_test).astype(np.float64)
        pred_train = predict(model, X_train).astype(np.float64)
    test_mse = float(np.mean((pred_test - y_test) ** 2))
    train_mse = float(np.mean((pred_train - y_train) ** 2))
    ctx.save_arrays("predictions.npz", test_x=np.asarray(X_test, np.float32), test_y=np.asarray(y_test, np.float32),
                    test_pred=pred_test.astype(np.float32))
    ctx.save_model(model, None, {"task": "regressor"})
    ctx.save_history(history)

    metrics: dict[str, Any] = {
        "test_mse": test_mse,
        "train_mse": train_mse,
        "diverged": diverged,
        "epochs_run": len(history.epoch),
        "n_train": int(len(X_train)),
        "n_test": int(len(X_test)),
        "n_parameters": model.n_parameters(),
        "train_seconds": train_seconds,
    }
    single = _single_linear(model)
    if single is not None:
        a_hat, b_hat = float(single.weight.data.ravel()[0]), float(single._parameters["bias"].data[0])
        W_ls, b_ls = least_squares(X_train, y_train)
        a_ls, b_ls = float(W_ls.ravel()[0]), float(np.ravel(b_ls)[0])
        distance = float(np.hypot(a_hat - a_ls, b_hat - b_ls) / max(np.hypot(a_ls, b_ls), 1e-12))
        ls_mse = float(np.mean((X_train[:, 0] * a_ls + b_ls - y_train[:, 0]) ** 2))
        metrics.update(a_hat=a_hat, b_hat=b_hat, a_least_squares=a_ls, b_least_squares=b_ls,
                       least_squares_train_mse=ls_mse, distance_to_least_squares=distance)
        metrics["reached_least_squares"] = bool(not diverged and np.isfinite(distance)
                                                and distance < CONVERGED_TOLERANCE)
        known = truth(config.data)
        if known is not None:
            a, b, noise = known
            metrics.update(a_true=a, b_true=b, a_rel_error=abs(a_hat - a) / abs(a) if a else float("nan"),
                           b_rel_error=abs(b_hat - b) / abs(b) if b else float("nan"),
                           noise_variance=noise**2)
            metrics["recovered"] = bool(metrics["a_rel_error"] <= 0.01 and metrics["b_rel_error"] <= 0.01)
    # the one convergence rule of every task (autoenc.nn.train.converged; docs/convergence.md)
    metrics["converged"] = history.converged
    return metrics



def predict(model: Any, X: np.ndarray, config: RunConfig | dict[str, Any] | None = None) -> np.ndarray:
    """Outputs (n, n_out) of a trained run's model on inputs ``X`` (n, n_in)."""
    from ...nn import predict as forward

    X = np.asarray(X, np.float32)
    return forward(model, X.reshape(len(X), -1))
