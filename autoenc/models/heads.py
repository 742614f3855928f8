"""Classifier heads: how a network's inputs are laid out (reading orders of the pixels, flat
or sequence), which targets a loss trains on, and how outputs become class probabilities.

==============  ==========================  ===============================  ===========================
loss            output layer (default)      targets                          probability of class c
==============  ==========================  ===============================  ===========================
cross_entropy   C logits                    labels 0..C-1                    softmax(logits)
nll             C units + LogSoftmax        labels 0..C-1                    exp(log-probabilities)
bce             1 unit + Sigmoid (2-class)  0/1                              p(1) = output
bce_logits      1 logit (2-class)           0/1                              p(1) = sigmoid(output)
mse, 2 classes  1 unit, no activation       -1/+1 (the original's coding)    p(1) = clip((out + 1) / 2)
mse, C classes  C units                     one-hot rows                     softmax(output)
==============  ==========================  ===============================  ===========================

Used by the classifier task (training) and its report (predictions of stored models), so both
read a network the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BINARY_LOSSES", "READING_ORDERS", "n_outputs", "output_activation", "predict_proba", "probabilities",
           "reading_order", "shape_inputs", "targets"]

BINARY_LOSSES = ("bce", "bce_logits", "mse")


def _none(value: Any) -> Any:
    return None if value in (None, "none") else value


def output_activation(model: dict[str, Any], loss: str) -> str | None:
    """The head's activation: ``model.output_activation`` if given, else the loss's default."""
    return _none(model["output_activation"]) if "output_activation" in model else \
        {"nll": "log_softmax", "bce": "sigmoid"}.get(loss)


def n_outputs(loss: str, n_classes: int) -> int:
    """One output unit for a two-class problem under a binary loss, else one per class."""
    return 1 if n_classes == 2 and loss in BINARY_LOSSES else n_classes


READING_ORDERS = ("row", "column", "snake", "morton", "hilbert")


def _hilbert_xy(side: int, d: int) -> tuple[int, int]:
    """Column and row of the ``d``-th cell of the Hilbert curve over a ``side`` x ``side`` grid."""
    x = y = 0
    s, t = 1, d
    while s < side:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        if ry == 0:  # rotate the quadrant so that the sub-curves join up
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x, y = x + s * rx, y + s * ry
        t //= 4
        s *= 2
    return x, y


def reading_order(name: str, n_pixels: int) -> np.ndarray:
    """The pixel indices (row-major numbering) of a square image in the order ``name`` reads them.

    ``row``: row by row (the original); ``column``: column by column; ``snake``: row by row,
    every other row right to left; ``morton`` (Z-order) and ``hilbert``: space-filling curves
    (side a power of two) along which consecutive pixels stay close in 2-D, so that a Conv1D
    window and a pooling pair cover a compact patch instead of a strip of one row.
    """
    if name not in READING_ORDERS:
        raise ValueError(f"model.reading_order must be one of {READING_ORDERS}, got {name!r}")
    if name == "row":
        return np.arange(n_pixels)
    side = int(round(np.sqrt(n_pixels)))
    if side * side != n_pixels:
        raise ValueError(f"model.reading_order = {name!r} needs square images; got {n_pixels} values per sample")
    rows, cols = np.divmod(np.arange(n_pixels), side)
    if name == "column":
        return np.lexsort((rows, cols))
    if name == "snake":
        return rows * side + np.where(rows % 2 == 0, cols, side - 1 - cols)
    if side & (side - 1):
        raise ValueError(f"model.reading_order = {name!r} needs a side that is a power of two, got {side}")
    if name == "morton":
        bits = int(side).bit_length() - 1
        key = sum((((cols >> i) & 1) << (2 * i)) | (((rows >> i) & 1) << (2 * i + 1)) for i in range(bits))
        return np.argsort(key, kind="stable")
    return np.array([y * side + x for x, y in (_hilbert_xy(side, d) for d in range(n_pixels))])


def shape_inputs(X: np.ndarray, architecture: str, order: str = "row") -> np.ndarray:
    """(N, D) for mlp/linear, (N, D, 1) for conv1d, whatever ``data.shape`` gave; the pixels
    of each sample in ``reading_order(order)``."""
    flat = X.reshape(len(X), -1)
    if order != "row":
        flat = flat[:, reading_order(order, flat.shape[1])]
    return flat[:, :, None] if architecture == "conv1d" else flat


def targets(y: np.ndarray, loss: str, head: str | None, n_out: int) -> np.ndarray:
    """Training targets for integer labels ``y`` (see the module table)."""
    y = np.asarray(y, dtype=np.int64)
    if loss in ("cross_entropy", "nll"):
        return y
    if n_out == 1:
        t = y.astype(np.float32)[:, None]
        if loss == "mse" and head is None:
            t = 2 * t - 1  # the original's -1/+1 coding, decided by the sign of the output
        return t
    onehot = np.zeros((len(y), n_out), dtype=np.float32)
    onehot[np.arange(len(y)), y] = 1
    return onehot


def probabilities(outputs: np.ndarray, loss: str, head: str | None) -> np.ndarray:
    """Class probabilities (N, C) from network outputs (N, 1 or C); rows sum to 1."""
    from ..nn.activations import log_softmax

    out = np.asarray(outputs, dtype=np.float64)
    if out.shape[1] == 1:
        z = out[:, 0]
        if head in ("sigmoid", "softmax"):
            p1 = z
        elif loss == "mse":
            p1 = (z + 1) / 2
        else:  # a logit
            p1 = 0.5 * (1 + np.tanh(0.5 * z))
        p1 = np.clip(p1, 0.0, 1.0)
        return np.column_stack([1 - p1, p1])
    if head == "log_softmax":
        return np.exp(out)
    if head == "softmax":
        return out
    return np.exp(log_softmax(out))


def predict_proba(model: Any, X: np.ndarray, model_settings: dict[str, Any], loss: str) -> np.ndarray:
    """Class probabilities of a trained network on ``X`` (flat or sequence inputs), given its
    resolved ``[model]`` settings and training loss."""
    from ..nn import predict

    X = shape_inputs(np.asarray(X, dtype=np.float32), model_settings["architecture"], model_settings["reading_order"])
    return probabilities(predict(model, X), loss, output_activation(model_settings, loss))
