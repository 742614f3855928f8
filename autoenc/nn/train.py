"""The minibatch training loop: shuffling with a seed, validation, per-epoch history,
early stopping with best-weights restore, optional progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .losses import Loss
from .module import Module
from .optim import Optimizer, backward, output_gradient


@dataclass
class History:
    """Per-epoch record of a ``fit`` call (plain lists; ``to_rows`` for CSV/pandas)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    wall_seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def to_rows(self) -> list[dict[str, Any]]:
        return [
            {"epoch": e, "train_loss": t, "val_loss": v, "wall_seconds": w}
            for e, t, v, w in zip(self.epoch, self.train_loss, self.val_loss, self.wall_seconds, strict=True)
        ]


def _check_data(X: np.ndarray, name: str) -> None:
    if not isinstance(X, np.ndarray):
        raise TypeError(f"fit: {name} must be a NumPy array, got {type(X).__name__}")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        bad_rows = ~np.isfinite(X).reshape(len(X), -1).all(axis=1)
        bad = int(bad_rows.sum())
        raise ValueError(f"fit: {name} contains NaN or inf in {bad} sample(s); clean or impute the data first")


def evaluate(net: Module, loss: Loss, X: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    """Mean loss over a data set, in eval mode and in batches (no gradients)."""
    was_training = net.training
    net.eval()
    total = 0.0
    for i in range(0, len(X), batch_size):
        total += loss.forward(y[i : i + batch_size], net.forward(X[i : i + batch_size]), reduction="sum")
    net.train(was_training)
    return total / max(len(X), 1)


def predict(net: Module, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Forward pass over ``X`` in batches, in eval mode."""
    was_training = net.training
    net.eval()
    out = np.concatenate([net.forward(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    net.train(was_training)
    return out


def fit(
    net: Module,
    loss: Loss,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int = 0,
    validation_split: float = 0.0,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    progress: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train ``net`` with minibatches.

    Parameters
    ----------
    net, loss, optimizer
        The model, the loss (its ``reduction`` sets the gradient scale) and an optimizer
        built on ``net``'s parameters.
    X, y
        Inputs and targets; ``y=None`` trains an autoencoder (targets = inputs). Both are
        cast to the parameters' dtype once, up front.
    epochs, batch_size, shuffle, seed
        Passes over the data, minibatch size, and the seed of the shuffling generator (the
        same seed gives the same run).
    validation_split, validation_data
        Hold out the last fraction of ``X`` (before shuffling), or pass ``(X_val, y_val)``.
    patience, min_delta, restore_best
        Stop after ``patience`` epochs without a validation improvement of ``min_delta``,
        and (``restore_best``) put back the best epoch's weights.
    progress
        Show a tqdm bar over batches (if tqdm is installed).
    callback
        Called as ``callback(epoch, {"train_loss": ..., "val_loss": ...})`` after each epoch.

    Returns
    -------
    History
    """
    dtype = net.param_dtype or np.float32
    _check_data(X, "X")
    X = np.asarray(X, dtype=dtype) if X.dtype.kind == "f" else X
    if y is None:
        y = X
    else:
        _check_data(y, "y")
        if len(y) != len(X):
            raise ValueError(f"fit: X has {len(X)} samples but y has {len(y)}")
        if y.dtype.kind == "f":
            y = np.asarray(y, dtype=dtype)
    if validation_data is None and validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
        n_val = max(1, int(round(len(X) * validation_split)))
        validation_data = (X[-n_val:], y[-n_val:])
        X, y = X[:-n_val], y[:-n_val]
    if validation_data is not None:
        Xv, yv = validation_data
        Xv = np.asarray(Xv, dtype=dtype) if Xv.dtype.kind == "f" else Xv
        yv = np.asarray(yv, dtype=dtype) if yv.dtype.kind == "f" else yv
    if batch_size < 1 or epochs < 0:
        raise ValueError("fit: batch_size must be >= 1 and epochs >= 0")

    rng = np.random.default_rng(seed)
    history = History()
    best, best_state, since_best = np.inf, None, 0
    n = len(X)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs * ((n + batch_size - 1) // batch_size), unit="batch", leave=False)
        except ImportError:  # progress is optional
            bar = None
    net.train()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            xb, yb = X[idx], y[idx] if y is not X else None
            if yb is None:
                yb = xb
            optimizer.zero_grad()
            yhat = net.forward(xb)
            total += loss.forward(yb, yhat, reduction="sum")
            delta, skip = output_gradient(net, loss, yb, yhat)
            backward(net, delta, skip_last=skip)
            optimizer.step()
            if bar is not None:
                bar.update(1)
        train_loss = total / max(n, 1)
        val_loss = evaluate(net, loss, Xv, yv) if validation_data is not None else float("nan")
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.wall_seconds.append(time.perf_counter() - start)
        if bar is not None:
            bar.set_postfix(epoch=epoch, train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
        if callback is not None:
            callback(epoch, {"train_loss": train_loss, "val_loss": val_loss})
        monitored = val_loss if validation_data is not None else train_loss
        if monitored < best - min_delta:
            best, since_best, history.best_epoch = monitored, 0, epoch
            if patience is not None and restore_best:
                best_state = net.state_dict()
        else:
            since_best += 1
            if patience is not None and since_best >= patience:
                history.stopped_early = True
                break
    if bar is not None:
        bar.close()
    if best_state is not None and history.best_epoch != history.epoch[-1]:
        net.load_state_dict(best_state)
    return history
