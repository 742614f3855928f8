"""The autoencoder task: train on the train split, store per-image reconstruction
errors of the whole test split under both metrics, whatever loss the run trained with."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...models import autoencoder
from ...nn import fit, get_loss, predict
from ..grid import RunConfig
from . import RunContext, batch_size, build_optimizer, load_split, next_learning_rate


def per_image_errors(X: np.ndarray, X_hat: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image MSE (mean over pixels) and BCE (mean over pixels, probabilities clipped
    to [1e-7, 1 - 1e-7]), in float64, pixels in [0, 1]."""
    from ...stats import reconstruction_metrics

    m = reconstruction_metrics(X, X_hat)
    return {"mse": np.asarray(m["mse"], np.float64), "bce": np.asarray(m["bce"], np.float64)}


def build(config: RunConfig, input_size: int) -> Any:
    m = config.model
    none = lambda v: None if v in (None, "none") else v  # noqa: E731
    return autoencoder(
        input_size,
        int(m["latent_size"]),
        depth=int(m.get("depth", 2)),
        widths=tuple(m.get("widths", (256, 128))),
        activation=m.get("activation", "relu"),
        latent_activation=none(m.get("latent_activation")),
        output_activation=none(m.get("output_activation", "sigmoid")),
        seed=config.seed,
    )


def run(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    t = config.train
    X_train, _ = load_split(config.data, "train")
    X_test, y_test = load_split(config.data, "test")
    model = build(config, X_train.shape[1])
    loss = get_loss(t.get("loss", "mse"))
    optimizer = build_optimizer(t, model)
    epochs = int(t.get("epochs", 10))
    for key in ("label_smoothing", "augment"):
        if t.get(key, "none") not in ("none", 0, 0.0):
            raise ValueError(f"train.{key} is for classifiers; the autoencoder task does not support it")
    log_epoch = ctx.epoch_callback(epochs) if ctx.verbose else None

    def after_epoch(epoch: int, values: dict[str, float]) -> None:
        optimizer.lr = next_learning_rate(t, optimizer.lr, epoch)
        if log_epoch is not None:
            log_epoch(epoch, values)

    start = time.perf_counter()
    history = fit(
        model, loss, optimizer, X_train,
        epochs=epochs, batch_size=batch_size(t, len(X_train)), seed=config.seed,
        validation_split=float(t.get("validation_split", 0.1)), patience=t.get("patience"),
        callback=after_epoch,
    )
    train_seconds = time.perf_counter() - start
    test_errors = per_image_errors(X_test, predict(model, X_test))
    n_check = min(len(X_train), 10_000)  # train-set error on a fixed slice: an overfitting check
    train_errors = per_image_errors(X_train[:n_check], predict(model, X_train[:n_check]))
    ctx.save_arrays(
        "per_image.npz",
        test_mse=test_errors["mse"], test_bce=test_errors["bce"], test_labels=np.asarray(y_test),
    )
    ctx.save_model(model, optimizer, {"task": "autoencoder", "input_size": int(X_train.shape[1])})
    ctx.save_history(history)
    n_pixels = X_test.shape[1]
    sse = test_errors["mse"] * n_pixels
    val = np.asarray(history.val_loss, float)
    if not np.isfinite(val).any():  # no validation split: judge convergence on the train loss
        val = np.asarray(history.train_loss, float)
    return {
        "test_mse_mean": float(test_errors["mse"].mean()),
        "test_mse_std": float(test_errors["mse"].std()),
        "test_bce_mean": float(test_errors["bce"].mean()),
        "test_bce_std": float(test_errors["bce"].std()),
        "test_sse_mean": float(sse.mean()),
        "test_sse_std": float(sse.std()),
        "test_l2_mean": float(np.sqrt(sse).mean()),
        "test_l2_std": float(np.sqrt(sse).std()),
        "train_mse_mean": float(train_errors["mse"].mean()),
        "train_bce_mean": float(train_errors["bce"].mean()),
        "final_train_loss": float(history.train_loss[-1]) if history.train_loss else float("nan"),
        "final_val_loss": float(history.val_loss[-1]) if history.val_loss else float("nan"),
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epoch),
        "stopped_early": history.stopped_early,
        # converged: the loss is finite and the last epoch improved on the first by > 1%
        "converged": bool(np.isfinite(val).all() and (len(val) < 2 or val[-1] < 0.99 * val[0])),
        "n_parameters": model.n_parameters(),
        "n_train": int(len(X_train)),
        "n_test": int(len(X_test)),
        "train_seconds": train_seconds,
    }
