"""The minibatch training loop: shuffling with a seed, validation, per-epoch history,
early stopping with best-weights restore, optional progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .losses import Loss
from .module import Module
from .optim import Optimizer, backward, output_gradient

#: The one convergence rule of every task: the best monitored loss (validation, else train) of
#: the last ``CONVERGENCE_WINDOW`` epochs improves on the best before them by less than
#: ``CONVERGENCE_TOLERANCE`` (relative), or early stopping fired. See docs/convergence.md.
CONVERGENCE_WINDOW = 5
CONVERGENCE_TOLERANCE = 0.005


def plateau_improvement(losses: Sequence[float], *, window: int = CONVERGENCE_WINDOW, floor: float = 0.0) -> float:
    """How much the last ``window`` epochs still moved the curve: ``(before - last) / before``,
    where ``before`` is the best loss above ``floor`` before them and ``last`` the best of them.

    The quantity the convergence rule thresholds, reported as a measurement (a run trained for a
    fixed budget converged when it is below ``CONVERGENCE_TOLERANCE``). nan for a curve of
    ``window`` epochs or fewer, or with a non-finite value.
    """
    values = np.asarray(list(losses), dtype=np.float64) - float(floor)
    if len(values) <= window or not np.isfinite(values).all():
        return float("nan")
    before, last = values[:-window].min(), values[-window:].min()
    if before == 0:  # at the floor already
        return 0.0 if last >= 0 else float("inf")
    return float((before - last) / abs(before))


def converged(losses: Sequence[float], stopped_early: bool = False, *, window: int = CONVERGENCE_WINDOW,
              tolerance: float = CONVERGENCE_TOLERANCE, floor: float = 0.0) -> bool:
    """Whether a loss curve has reached its plateau (the rule every task reports).

    Parameters
    ----------
    losses
        The monitored loss per epoch (validation loss, or the training loss without one).
    stopped_early
        Early stopping fired (the curve stopped improving by the stopping rule's own measure).
    window, tolerance
        The plateau is ``window`` epochs whose best improves on the earlier best by less than
        ``tolerance`` (relative): ``plateau_improvement < tolerance``. A curve shorter than
        ``window + 1`` epochs cannot show one.
    floor
        The least value the loss can take on these targets (``Loss.floor``): the relative
        improvement is measured on the loss above it. BCE on grey-level images never falls below
        the pixels' own entropy (about 0.24 on Fashion-MNIST), so measured on the raw loss every
        BCE run would look converged long before it is.

    Returns
    -------
    bool
        False for any non-finite loss.
    """
    values = np.asarray(list(losses), dtype=np.float64)
    if len(values) == 0 or not np.isfinite(values).all():
        return False
    if stopped_early:
        return True
    if len(values) < window + 1:
        return False
    return bool(plateau_improvement(values, window=window, floor=floor) <= tolerance)


@dataclass
class History:
    """Per-epoch record of a ``fit`` call (plain lists; ``to_rows`` for CSV/pandas).

    ``extra`` holds further per-epoch columns a caller records (accuracies, test loss);
    ``to_csv``/``from_csv`` round-trip all of them.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    wall_seconds: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    stopped_early: bool = False
    diverged: bool = False
    #: the monitored loss's least possible value on its targets (``Loss.floor``); the rule
    #: measures improvement above it
    loss_floor: float = 0.0
    #: ``fit(stop_when_converged=True)`` stopped because the rule held
    stopped_converged: bool = False

    @property
    def monitored(self) -> list[float]:
        """The loss the convergence rule and early stopping watch: validation, else train."""
        if self.val_loss and np.isfinite(np.asarray(self.val_loss, float)).any():
            return list(self.val_loss)
        return list(self.train_loss)

    @property
    def plateau_improvement(self) -> float:
        """Relative improvement of the last ``CONVERGENCE_WINDOW`` epochs above the loss floor
        (``plateau_improvement``): how much the curve still moved at the end."""
        return plateau_improvement(self.monitored, floor=self.loss_floor)

    @property
    def converged(self) -> bool:
        """``converged(self.monitored, self.stopped_early, floor=self.loss_floor)``: the one rule."""
        return not self.diverged and converged(self.monitored, self.stopped_early, floor=self.loss_floor)

    def columns(self) -> list[str]:
        return ["epoch", "train_loss", "val_loss", "lr", *self.extra, "wall_seconds"]

    def to_rows(self) -> list[dict[str, Any]]:
        n = len(self.epoch)
        lr = self.lr if len(self.lr) == n else [float("nan")] * n
        rows = []
        for i in range(n):
            row: dict[str, Any] = {"epoch": self.epoch[i], "train_loss": self.train_loss[i],
                                   "val_loss": self.val_loss[i], "lr": lr[i]}
            row.update({k: v[i] for k, v in self.extra.items()})
            row["wall_seconds"] = self.wall_seconds[i]
            rows.append(row)
        return rows

    def to_csv(self) -> str:
        """The history as CSV text (floats written with ``repr``: exact round trip)."""
        lines = [",".join(self.columns())]
        for row in self.to_rows():
            lines.append(",".join(str(v) if isinstance(v, (int, np.integer)) else repr(float(v)) for v in row.values()))
        return "\n".join(lines) + "\n"

    @classmethod
    def from_csv(cls, text: str) -> History:
        """Parse ``to_csv`` output (or an older history.csv with a subset of the columns).

        Raises
        ------
        ValueError
            The text is not a history table (no ``epoch`` column, ragged or non-numeric rows).
        """
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError("empty history table")
        header = lines[0].split(",")
        if "epoch" not in header or len(set(header)) != len(header):
            raise ValueError(f"not a history table (columns {header})")
        columns: dict[str, list[float]] = {h: [] for h in header}
        for number, line in enumerate(lines[1:], start=2):
            cells = line.split(",")
            if len(cells) != len(header):
                raise ValueError(f"history row {number} has {len(cells)} values for {len(header)} columns")
            for h, cell in zip(header, cells, strict=True):
                columns[h].append(float(cell))
        h = cls()
        h.epoch = [int(e) for e in columns.pop("epoch")]
        for name in ("train_loss", "val_loss", "lr", "wall_seconds"):
            values = columns.pop(name, [float("nan")] * len(h.epoch))
            setattr(h, name, values)
        h.extra = columns
        monitored = np.asarray(h.monitored, float)
        if len(monitored) and np.isfinite(monitored).any():
            h.best_epoch = h.epoch[int(np.nanargmin(monitored))]
        return h


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


def predict(net: Module, X: np.ndarray, batch_size: int = 1024, compute_dtype: Any = None, *,
            out_dtype: Any = None) -> np.ndarray:
    """Forward pass over ``X`` in batches, in eval mode.

    ``compute_dtype=np.float64`` runs a float64 copy of ``net`` on ``X`` converted to float64 and
    rounds the outputs once to ``out_dtype`` (default: ``X``'s dtype when ``net`` computes in
    another): each row's output then does not depend on the rows it is batched with. In float32,
    BLAS picks its kernel by the batch's shape (a matrix product for a batch, a matrix-vector
    product for one row) and the two round differently in the last bits; in float64 the difference
    (~1e-16) is far below what the final rounding to float32 keeps. The conversions are made batch
    by batch (no float64 copy of a large ``X``). The published study runs are evaluated in the
    network's own dtype (the default, None).
    """
    if compute_dtype is not None and np.dtype(compute_dtype) != net.param_dtype:
        net = net.astype(compute_dtype, copy=True)
        out_dtype = X.dtype if out_dtype is None else out_dtype
    dtype = None if compute_dtype is None else np.dtype(compute_dtype)
    was_training = net.training
    net.eval()
    parts = []
    for i in range(0, len(X), batch_size):
        batch = X[i : i + batch_size]
        out = net.forward(batch if dtype is None else batch.astype(dtype, copy=False))
        parts.append(out if out_dtype is None else out.astype(out_dtype, copy=False))
    net.train(was_training)
    return np.concatenate(parts)


class Float64Forward:
    """A network run in float64 with float32 outputs (rounded once): a codec's image code, symbols
    and bits do not depend on the images it is coded with (``predict``, ``compute_dtype``). The
    float64 copy of the weights is made once, on first use."""

    def __init__(self, net: Any, batch_size: int = 256) -> None:  # conv at 2,048: 640 MB im2col, slower
        self.net, self.batch_size = net, batch_size
        self._twin: Any = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if not len(X):
            return np.zeros((0, 0), np.float32)
        if self._twin is None:
            self._twin = self.net.astype(np.float64, copy=True).eval()
        return predict(self._twin, X, self.batch_size, np.float64, out_dtype=np.float32)

    def approximate(self, X: np.ndarray) -> np.ndarray:
        """The same network in its own dtype, batched (``LatentCodec.decode_values(exact=False)``)."""
        X = np.asarray(X, self.net.param_dtype or np.float32)
        if not len(X):
            return np.zeros((0, 0), np.float32)
        return predict(self.net, X, self.batch_size, out_dtype=np.float32)


#: ``epoch_data(epoch, X, y) -> (X_epoch, y_epoch)``: the training samples of one epoch
#: (e.g. freshly augmented images); same length as ``X``.
EpochData = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: ``sampler(epoch, n) -> indices``: the order of the samples in one epoch.
Sampler = Callable[[int, int], np.ndarray]


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
    scheduler: Any = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    keep_best: bool = False,
    epoch_data: EpochData | None = None,
    sampler: Sampler | None = None,
    stop_on_divergence: bool = False,
    stop_when_converged: bool = False,
    progress: bool = False,
    callback: Callable[[int, dict[str, float]], bool | None] | None = None,
    eval_batch_size: int = 1024,
) -> History:
    """Train ``net`` with minibatches: the one epoch loop of every task.

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
    scheduler
        An ``autoenc.nn.schedulers.LRScheduler``; ``scheduler.step(monitored - floor)`` runs after
        each epoch (after ``callback``), with the monitored loss above ``loss.floor``: every reader
        of the loss (plateau schedule, early stopping, convergence rule) reads the same quantity,
        so a relative threshold means the same for BCE on grey levels as for MSE.
    patience, min_delta, restore_best
        Early stopping: stop after ``patience`` epochs without an improvement of the monitored loss
        above its floor by ``min_delta`` (absolute), and (``restore_best``) put back the best
        epoch's weights.
    keep_best
        Put back the weights of the epoch with the lowest monitored loss at the end, with or
        without early stopping (the best-validation checkpoint of a fixed budget).
    epoch_data
        Per-epoch batch provider ``epoch_data(epoch, X, y) -> (X_epoch, y_epoch)`` (augmentation,
        reading orders); ``None`` trains on ``X, y`` every epoch.
    sampler
        ``sampler(epoch, n) -> indices``: the sample order of each epoch (default: a permutation
        from the seeded generator when ``shuffle``, else the natural order).
    stop_on_divergence
        Stop (``history.diverged``) at a non-finite training loss or a ``FloatingPointError``
        instead of raising; the diverged epoch is not recorded.
    stop_when_converged
        Stop at the first epoch at which the convergence rule (``converged``, on the monitored
        loss above ``loss.floor``) holds; ``epochs`` is then the cap (``history.stopped_converged``).
    progress
        Show a tqdm bar over batches (if tqdm is installed).
    callback
        Called as ``callback(epoch, {"train_loss": ..., "val_loss": ..., "lr": ...})`` after each
        epoch; a true return value stops training (``history.diverged`` is then the caller's call).
    eval_batch_size
        Batch size of the validation pass (same loss for any value, up to float rounding; convolutional
        networks validate faster in batches of about 128, whose im2col matrices stay in cache).

    Returns
    -------
    History
        Its ``converged`` property applies the one convergence rule (``converged``).
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
        if n_val >= len(X):
            raise ValueError(f"fit: validation_split = {validation_split} of {len(X)} samples leaves none to train "
                             "on; lower it or use more data")
        validation_data = (X[-n_val:], y[-n_val:])
        X, y = X[:-n_val], y[:-n_val]
    if validation_data is not None:
        Xv, yv = validation_data
        Xv = np.asarray(Xv, dtype=dtype) if Xv.dtype.kind == "f" else Xv
        yv = np.asarray(yv, dtype=dtype) if yv.dtype.kind == "f" else yv
    if batch_size < 1 or epochs < 0:
        raise ValueError("fit: batch_size must be >= 1 and epochs >= 0")
    if len(X) == 0:
        raise ValueError("fit: no training samples")

    rng = np.random.default_rng(seed)
    history = History()
    # the floor of the monitored loss: on the validation targets, else on the training targets
    history.loss_floor = loss.floor(yv if validation_data is not None else y)
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
        X_epoch, y_epoch = (X, y) if epoch_data is None else epoch_data(epoch, X, y)
        if sampler is not None:
            order = sampler(epoch, n)
        else:
            order = rng.permutation(n) if shuffle else np.arange(n)
        lr = float(optimizer.lr)
        total = 0.0
        try:
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                xb = X_epoch[idx]
                yb = xb if y_epoch is X_epoch else y_epoch[idx]
                optimizer.zero_grad()
                yhat = net.forward(xb)
                total += loss.forward(yb, yhat, reduction="sum")
                delta, skip = output_gradient(net, loss, yb, yhat)
                backward(net, delta, skip_last=skip)
                optimizer.step()
                if bar is not None:
                    bar.update(1)
        except FloatingPointError:
            if not stop_on_divergence:
                raise
            history.diverged = True
            break
        train_loss = total / max(n, 1)
        if stop_on_divergence and not np.isfinite(train_loss):
            history.diverged = True
            break
        val_loss = evaluate(net, loss, Xv, yv, eval_batch_size) if validation_data is not None else float("nan")
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.lr.append(lr)
        history.wall_seconds.append(time.perf_counter() - start)
        if bar is not None:
            bar.set_postfix(epoch=epoch, train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
        stop = False
        if callback is not None:
            stop = bool(callback(epoch, {"train_loss": train_loss, "val_loss": val_loss, "lr": lr}))
        # the one quantity every rule reads: the monitored loss above its floor
        above = (val_loss if validation_data is not None else train_loss) - history.loss_floor
        if scheduler is not None:
            scheduler.step(above)
        if above < best - min_delta:
            best, since_best, history.best_epoch = above, 0, epoch
            if keep_best or (patience is not None and restore_best):
                best_state = net.state_dict()
        else:
            since_best += 1
        if stop:
            break
        if stop_when_converged and converged(history.monitored, floor=history.loss_floor):
            history.stopped_converged = True
            break
        if patience is not None and since_best >= patience:
            history.stopped_early = True
            break
    if bar is not None:
        bar.close()
    if best_state is not None and history.best_epoch != history.epoch[-1]:
        net.load_state_dict(best_state)
    return history
