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

from ..grid import RunConfig
from . import RunContext, batch_size, build_optimizer, load_split, next_learning_rate, register_task
from .classifier import apply_variant

#: Fitted parameters within this relative distance of the least-squares solution: reached it.
CONVERGED_TOLERANCE = 1e-3


def build(config: RunConfig, n_in: int, n_out: int) -> Any:
    from ...models import mlp
    from ...nn import Linear, Sequential

    m = config.model
    arch = m.get("architecture", "linear")
    if arch == "linear":
        return Sequential(Linear(n_in, n_out, init="xavier", seed=np.random.default_rng(config.seed)))
    if arch == "mlp":
        return mlp([n_in, *m.get("hidden", [16]), n_out], activation=m.get("activation", "tanh"),
                   output_activation=None if m.get("output_activation", "none") == "none" else m["output_activation"],
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
          config: RunConfig) -> tuple[dict[str, list[float]], bool]:
    """Minibatch (or full-batch) gradient descent on the MSE; stops at the first non-finite
    loss. Returns the per-epoch history and whether training diverged."""
    from ...nn import get_loss, predict
    from ...nn.optim import backward, output_gradient

    t = config.train
    loss = get_loss(t.get("loss", "mse"))
    optimizer = build_optimizer(t, model)
    epochs = int(t.get("epochs", 100))
    size = batch_size(t, len(X))
    rng = np.random.default_rng(config.seed)
    single = _single_linear(model)
    history: dict[str, list[float]] = {k: [] for k in ("epoch", "train_loss", "val_loss", "test_loss", "a", "b",
                                                       "wall_seconds")}
    start = time.perf_counter()
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, not warned about
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(X)) if size < len(X) else np.arange(len(X))
            total = 0.0
            try:
                for i in range(0, len(X), size):
                    idx = order[i:i + size]
                    optimizer.zero_grad()
                    yhat = model.forward(X[idx])
                    total += loss.forward(y[idx], yhat, reduction="sum")
                    delta, skip = output_gradient(model, loss, y[idx], yhat)
                    backward(model, delta, skip_last=skip)
                    optimizer.step()
                test_loss = loss.forward(y_test, predict(model, X_test), reduction="mean")
            except FloatingPointError:  # the loss overflowed: gradient descent diverged
                diverged = True
                break
            optimizer.lr = next_learning_rate(t, optimizer.lr, epoch)
            history["epoch"].append(epoch)
            history["train_loss"].append(total / len(X))
            history["val_loss"].append(float("nan"))
            history["test_loss"].append(test_loss)
            a, b = (float(single.weight.data.ravel()[0]), float(single._parameters["bias"].data[0])) if single \
                else (float("nan"), float("nan"))
            history["a"].append(a)
            history["b"].append(b)
            history["wall_seconds"].append(time.perf_counter() - start)
            if not all(np.isfinite(v) for v in (total, test_loss, a, b)):
                diverged = True
                break
    return history, diverged


def _single_linear(model: Any) -> Any:
    from ...nn import Linear

    mods = getattr(model, "modules", [])
    if len(mods) == 1 and isinstance(mods[0], Linear) and mods[0].weight.data.size == 1 and mods[0].bias:
        return mods[0]
    return None


def run(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    from ...nn import predict
    from ..store import atomic_write_text

    config = apply_variant(config)
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
    cols = list(history)
    lines = [",".join(cols)] + [",".join(repr(float(history[c][i])) if c != "epoch" else str(history[c][i])
                                         for c in cols) for i in range(len(history["epoch"]))]
    atomic_write_text(ctx.run_dir / "history.csv", "\n".join(lines) + "\n")

    metrics: dict[str, Any] = {
        "test_mse": test_mse,
        "train_mse": train_mse,
        "diverged": diverged,
        "epochs_run": len(history["epoch"]),
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
    # converged (the engine's meaning, as for every task): finite losses, the last epoch better than the first by > 1%
    losses = history["train_loss"]
    metrics["converged"] = bool(not diverged and len(losses) > 1 and losses[-1] < 0.99 * losses[0])
    return metrics


register_task("regressor", run)
