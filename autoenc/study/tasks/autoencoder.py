"""The autoencoder task: train on the train split, store per-image reconstruction
errors of the whole test split under both metrics, whatever loss the run trained with."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...models import autoencoder, layer_sizes, relu_activity
from ...nn import fit, get_loss
from ...nn import predict as forward
from ..grid import RunConfig, resolve
from . import RunContext, batch_size, build_optimizer, load_split

#: the per-image metrics every run stores: the two training losses and L1 (mean absolute error
#: per pixel), which neither loss optimises (the study's stated secondary metric)
METRICS = ("mse", "bce", "l1")


def per_image_errors(X: np.ndarray, X_hat: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image MSE, BCE (probabilities clipped to [1e-7, 1 - 1e-7]) and L1, each a mean over
    pixels, in float64, pixels in [0, 1]."""
    from ...stats import reconstruction_metrics

    m = reconstruction_metrics(X, X_hat)
    return {k: np.asarray(m[k], np.float64) for k in METRICS}


def build(config: RunConfig, input_size: int) -> Any:
    """The autoencoder of a resolved run config."""
    m = config.model
    none = lambda v: None if v in (None, "none") else v  # noqa: E731
    return autoencoder(
        input_size,
        int(m["latent_size"]),
        depth=int(m["depth"]),
        widths=tuple(m["widths"]),
        activation=m["activation"],
        latent_activation=none(m["latent_activation"]),
        output_activation=none(m["output_activation"]),
        seed=config.seed,
        min_width_factor=float(m["min_width_factor"]),
    )


def _summary(errors: dict[str, np.ndarray], n_pixels: int, prefix: str) -> dict[str, float]:
    sse = errors["mse"] * n_pixels
    return {
        f"{prefix}_mse_mean": float(errors["mse"].mean()),
        f"{prefix}_mse_std": float(errors["mse"].std()),
        f"{prefix}_bce_mean": float(errors["bce"].mean()),
        f"{prefix}_bce_std": float(errors["bce"].std()),
        f"{prefix}_l1_mean": float(errors["l1"].mean()),
        f"{prefix}_sse_mean": float(sse.mean()),
        f"{prefix}_sse_std": float(sse.std()),
        f"{prefix}_l2_mean": float(np.sqrt(sse).mean()),
        f"{prefix}_l2_std": float(np.sqrt(sse).std()),
    }


def run(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    config = resolve(config)
    t = config.train
    for key in ("label_smoothing", "augment"):
        if key in t:
            raise ValueError(f"train.{key} is for classifiers; the autoencoder task does not support it")
    X_all, _ = load_split(config.data, "train")
    X_test, y_test = load_split(config.data, "test")
    n_val = int(round(len(X_all) * float(t["validation_split"])))
    if t["validation_split"] and not 0 < n_val < len(X_all):
        raise ValueError(f"train.validation_split = {t['validation_split']} of {len(X_all)} training images leaves "
                         f"{len(X_all) - n_val} to train on and {n_val} to validate; change it or the data size")
    # the last n_val training images validate (the same images for every seed)
    X_train, X_val = (X_all[:-n_val], X_all[-n_val:]) if n_val else (X_all, X_all[:0])
    model = build(config, X_all.shape[1])
    loss = get_loss(t["loss"])
    optimizer = build_optimizer(t, model)
    epochs = int(t["epochs"])
    snapshots = sorted(int(e) for e in t["snapshot_epochs"] if int(e) <= epochs)
    snapshot_arrays: dict[str, np.ndarray] = {}
    snapshot_val: dict[int, dict[str, np.ndarray]] = {}

    def after_epoch(epoch: int, values: dict[str, float]) -> None:
        if epoch in snapshots:  # description only: no setting is chosen on these test errors
            errors = per_image_errors(X_test, forward(model, X_test))
            for k in METRICS:
                snapshot_arrays[f"test_{k}_at_{epoch}"] = errors[k]
            if n_val:  # the validation errors at the same point: the better loss is chosen on these
                snapshot_val[epoch] = per_image_errors(X_val, forward(model, X_val))
        if ctx.verbose:
            ctx.log_epoch(epoch, epochs, values)

    start = time.perf_counter()
    history = fit(
        model, loss, optimizer, X_train,
        epochs=epochs, batch_size=batch_size(t, len(X_train)), seed=config.seed,
        validation_data=(X_val, X_val) if n_val else None,
        scheduler=optimizer.scheduler, patience=t["patience"], min_delta=float(t["min_delta"]), callback=after_epoch,
        stop_when_converged=bool(t["stop_when_converged"]), keep_best=t["checkpoint"] == "best",
    )
    train_seconds = time.perf_counter() - start
    test_errors = per_image_errors(X_test, forward(model, X_test))
    n_check = min(len(X_train), 10_000)  # train-set error on a fixed slice: an overfitting check
    train_errors = per_image_errors(X_train[:n_check], forward(model, X_train[:n_check]))
    arrays = {**{f"test_{k}": test_errors[k] for k in METRICS}, "test_labels": np.asarray(y_test)}
    metrics: dict[str, Any] = {}
    if n_val:  # validation errors per image: settings such as the best depth are chosen on these
        val_errors = per_image_errors(X_val, forward(model, X_val))
        arrays.update({f"val_{k}": val_errors[k] for k in METRICS})
        metrics.update(_summary(val_errors, X_val.shape[1], "val"))
    arrays.update(snapshot_arrays)
    ctx.save_arrays("per_image.npz", **arrays)
    ctx.save_model(model, optimizer, {"task": "autoencoder", "input_size": int(X_train.shape[1])})
    ctx.save_history(history)
    metrics.update(_summary(test_errors, X_test.shape[1], "test"))
    for epoch in snapshots:
        if f"test_mse_at_{epoch}" in snapshot_arrays:
            snap = {k: snapshot_arrays[f"test_{k}_at_{epoch}"] for k in METRICS}
            metrics.update(_summary(snap, X_test.shape[1], f"test_at_{epoch}"))
        if epoch in snapshot_val:
            metrics.update(_summary(snapshot_val[epoch], X_val.shape[1], f"val_at_{epoch}"))
    # the network's real shape and how much of each hidden ReLU layer the test images use
    activity = relu_activity(model, X_test)
    metrics.update({
        "train_mse_mean": float(train_errors["mse"].mean()),
        "train_bce_mean": float(train_errors["bce"].mean()),
        "final_train_loss": float(history.train_loss[-1]) if history.train_loss else float("nan"),
        "final_val_loss": float(history.val_loss[-1]) if history.val_loss else float("nan"),
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epoch),
        "checkpoint": t["checkpoint"],
        # relative improvement above the floor of the last 5 epochs' best validation loss over the
        # best before them: convergence measured, whatever stopped the run
        "plateau_improvement": history.plateau_improvement,
        "layer_sizes": layer_sizes(model),
        "relu_active_fraction": [a["active"] for a in activity],
        "relu_dead_fraction": [a["dead"] for a in activity],
        "stopped_early": history.stopped_early,
        "stopped_converged": history.stopped_converged,
        # the validation loss's least possible value (BCE: the images' own entropy); the rule
        # measures improvement above it
        "loss_floor": history.loss_floor,
        # the one convergence rule of every task (autoenc.nn.train.converged; docs/convergence.md)
        "converged": history.converged,
        "n_parameters": model.n_parameters(),
        "n_train": int(len(X_train)),
        "n_validation": int(n_val),
        "n_test": int(len(X_test)),
        "train_seconds": train_seconds,
    })
    return metrics


def predict(model: Any, X: np.ndarray, config: RunConfig | dict[str, Any] | None = None) -> np.ndarray:
    """Reconstructions (n, d) of images ``X`` by a trained run's autoencoder."""
    X = np.asarray(X, np.float32)
    return forward(model, X.reshape(len(X), -1))
