"""The classifier task: an MLP, the original's Conv1D network or a single Linear layer,
trained on class labels and evaluated on the whole test split.

How the network's head, the targets and the class probabilities follow from the loss:
``autoenc.models.heads`` (its module docstring has the table); ``model.output_activation``
overrides the default head. The predicted class is the most probable one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...models.heads import (  # noqa: F401  (re-exported: the task's public names)
    BINARY_LOSSES,
    READING_ORDERS,
    _none,
    n_outputs,
    output_activation,
    probabilities,
    reading_order,
    shape_inputs,
    targets,
)
from ...models.heads import predict_proba as _predict_proba
from ..grid import RunConfig, resolve
from . import RunContext, batch_size, build_optimizer, load_split

#: Rows of the training set used for the per-epoch train accuracy (a fixed slice: cheap).
TRAIN_MONITOR_ROWS = 10_000
#: Bounds of ``train.augment = "affine"``: uniform rotation, relative scaling and shift per image.
AFFINE = {"rotation_degrees": 10.0, "scale": 0.1, "shift_pixels": 1.5, "distortion": 0.0}


def apply_variant(config: RunConfig) -> RunConfig:
    """The run's resolved settings (``grid.resolve``: defaults filled, its variant merged).

    A variant is a named network and its training recipe (e.g. the original's TanH MLP with
    plain gradient descent vs a ReLU MLP with Adam), so that one grid axis can compare
    bundles of settings that do not cross meaningfully.
    """
    return resolve(config)


def build(config: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> Any:
    """The network of ``config.model`` for inputs of ``input_shape`` (one sample, no batch axis)."""
    from ...models import conv1d_net, mlp
    from ...models.builders import ACTIVATIONS
    from ...nn import Linear, Sequential

    config = resolve(config)
    m = config.model
    loss = config.train["loss"]
    arch = m["architecture"]
    out = n_outputs(loss, n_classes)
    head = output_activation(m, loss)
    n_in = int(np.prod(input_shape))
    if arch == "mlp":
        return mlp([n_in, *m["hidden"], out], activation=m["activation"],
                   output_activation=head, seed=config.seed, dropout=float(m["dropout"]))
    if arch == "linear":
        layers = [Linear(n_in, out, seed=np.random.default_rng(config.seed))]
        if head:
            layers.append(ACTIVATIONS[head]())
        return Sequential(*layers)
    if arch == "conv1d":
        hidden = m["hidden"]
        if len(hidden) != 1:
            raise ValueError(f"conv1d: model.hidden must hold one width (the dense layer), got {hidden}")
        net = conv1d_net(length=n_in, channels=int(m["channels"]), k_size=int(m["k_size"]),
                         pool=int(m["pool"]), hidden=int(hidden[0]), n_classes=out, seed=config.seed,
                         conv_activation=_none(m["conv_activation"]), dropout=float(m["dropout"]))
        if head:
            net = Sequential(*net.modules, ACTIVATIONS[head]())
        return net
    raise ValueError(f"classifier: model.architecture must be mlp, linear or conv1d, got {arch!r}")


def predict_proba(model: Any, X: np.ndarray, config: RunConfig | dict[str, Any]) -> np.ndarray:
    """Class probabilities of a trained run's model on ``X`` (flat or sequence inputs)."""
    cfg = apply_variant(config if isinstance(config, RunConfig) else RunConfig.from_dict(config))
    return _predict_proba(model, X, cfg.model, cfg.train["loss"])


def random_affine(X: np.ndarray, rng: np.random.Generator, *, rotation_degrees: float = AFFINE["rotation_degrees"],
                  scale: float = AFFINE["scale"], shift_pixels: float = AFFINE["shift_pixels"],
                  distortion: float = AFFINE["distortion"]) -> np.ndarray:
    """Each square image of ``X`` (N, side*side) rotated, scaled, distorted and shifted at random
    (uniform within the given bounds, about the image centre), bilinear interpolation, zero
    outside the image. ``distortion`` adds U(-d, d) to each entry of the 2x2 linear map (shear
    and unequal scaling of the two axes). Returns float32 (N, side*side)."""
    n, d = len(X), int(np.prod(X.shape[1:]))
    side = int(round(np.sqrt(d)))
    if side * side != d:
        raise ValueError(f"augment = 'affine' needs square images; got {d} values per sample")
    images = np.asarray(X, np.float32).reshape(n, side, side)
    angle = np.deg2rad(rng.uniform(-rotation_degrees, rotation_degrees, n))[:, None]
    zoom = 1 + rng.uniform(-scale, scale, n)[:, None]
    tx, ty = (rng.uniform(-shift_pixels, shift_pixels, (2, n)))[:, :, None]
    centre = (side - 1) / 2
    rows, cols = np.mgrid[0:side, 0:side].reshape(2, -1) - centre
    # the inverse map: where each output pixel comes from in the source image
    ox, oy = cols[None] - tx, rows[None] - ty
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    a, b, c, e = cos, sin, -sin, cos
    if distortion:  # drawn only when used, so the other settings keep their random stream
        a, b, c, e = (m + rng.uniform(-distortion, distortion, (n, 1)) for m in (a, b, c, e))
    sx, sy = a * ox + b * oy + centre, c * ox + e * oy + centre
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    out = np.zeros((n, d))
    index = np.arange(n)[:, None]
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < side) & (yi >= 0) & (yi < side)
        values = images[index, np.clip(yi, 0, side - 1), np.clip(xi, 0, side - 1)]
        out += np.where(inside, values * weight, 0.0)
    return out.astype(np.float32)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (true class x predicted class)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def data_note(data: dict[str, Any], n_train: int) -> str:
    """Where the training images come from, in words (says when MNIST is the 5k subset)."""
    from ... import datasets

    parts = []
    available = None
    try:
        info = datasets.info(data["dataset"])
        notes, available = info.notes, info.n_train
    except Exception as e:  # provenance is a nicety: never fail a trained run over it
        notes = f"(data set info unavailable: {type(e).__name__})"
    if notes:
        parts.append(notes)
    if data.get("train_subset") and (available is None or data["train_subset"] < available):
        parts.append(f"trained on a stratified subset of {data['train_subset']} training samples")
    parts.append(f"{n_train} training samples used")
    return "; ".join(parts)


def run(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    from ...nn import evaluate, fit, get_loss, predict

    config = resolve(config)
    t, m = config.train, config.model
    arch = m["architecture"]
    X_train, y_train = load_split(config.data, "train")
    X_test, y_test = load_split(config.data, "test")
    pixel_order = m["reading_order"]
    X_train, X_test = shape_inputs(X_train, arch, pixel_order), shape_inputs(X_test, arch, pixel_order)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    loss_name = t["loss"]
    head = output_activation(m, loss_name)
    model = build(config, X_train.shape[1:], n_classes)
    n_out = n_outputs(loss_name, n_classes)
    smoothing = float(t["label_smoothing"])
    if smoothing and loss_name != "cross_entropy":
        raise ValueError(f"train.label_smoothing needs loss = 'cross_entropy', not {loss_name!r}")
    loss = get_loss(loss_name, label_smoothing=smoothing) if smoothing else get_loss(loss_name)
    test_loss = get_loss(loss_name)  # the plain loss on the test set, smoothing or not
    optimizer = build_optimizer(t, model)
    T_train, T_test = targets(y_train, loss_name, head, n_out), targets(y_test, loss_name, head, n_out)

    epochs = int(t["epochs"])
    n_val = int(round(len(X_train) * float(t["validation_split"])))
    if n_val >= len(X_train):
        raise ValueError(f"train.validation_split = {t['validation_split']} of {len(X_train)} training samples "
                         "leaves none to train on; lower it")
    if n_val:
        # a stratified validation set, the same for every seed: some files are sorted by class
        # (the MNIST 5k subset), so the last rows would hold a single class
        from ...datasets import stratified_indices

        val_rows = stratified_indices(y_train, n_val, seed=0)
        order = np.concatenate([np.setdiff1d(np.arange(len(X_train)), val_rows), val_rows])
        X_train, y_train, T_train = X_train[order], y_train[order], T_train[order]
    n_fit = len(X_train) - n_val
    monitor = np.arange(min(n_fit, TRAIN_MONITOR_ROWS))
    extra: dict[str, list[float]] = {"train_accuracy": [], "val_accuracy": [], "test_loss": [], "test_accuracy": []}
    def accuracy(X: np.ndarray, y: np.ndarray) -> float:
        if len(X) == 0:
            return float("nan")
        return float((probabilities(predict(model, X), loss_name, head).argmax(axis=1) == y).mean())

    def after_epoch(epoch: int, values: dict[str, float]) -> None:
        # monitoring only: no setting is chosen on the test curves
        extra["train_accuracy"].append(accuracy(X_train[monitor], y_train[monitor]))
        extra["val_accuracy"].append(accuracy(X_train[n_fit:], y_train[n_fit:]))
        outputs = predict(model, X_test)  # one pass for both test loss and accuracy
        extra["test_loss"].append(test_loss.forward(T_test, outputs, reduction="mean"))
        extra["test_accuracy"].append(float((probabilities(outputs, loss_name, head).argmax(axis=1) == y_test).mean()))
        ctx.log_epoch(epoch, epochs, values, f" test accuracy {extra['test_accuracy'][-1]:.4f}")

    start = time.perf_counter()
    X_fit, T_fit = X_train[:n_fit], T_train[:n_fit]
    validation = (X_train[n_fit:], T_train[n_fit:]) if n_val else None
    size = batch_size(t, n_fit)
    epoch_data, sampler = None, None
    if t["augment"] != "none":
        bounds = {k: float(t[f"augment_{k}"]) for k in AFFINE}
        epoch_data = augmenter(config.seed, arch, pixel_order, bounds)
        # one shuffling stream per epoch, as the augmented runs have always used
        sampler = lambda epoch, n: np.random.default_rng(config.seed * 100_003 + epoch).permutation(n)  # noqa: E731
    history = fit(model, loss, optimizer, X_fit, T_fit, epochs=epochs, batch_size=size, seed=config.seed,
                  validation_data=validation, scheduler=optimizer.scheduler, patience=t["patience"],
                  min_delta=float(t["min_delta"]), epoch_data=epoch_data, sampler=sampler, callback=after_epoch,
                  stop_when_converged=bool(t["stop_when_converged"]), keep_best=t["checkpoint"] == "best")
    history.extra = extra
    train_seconds = time.perf_counter() - start

    # X_test and X_train are already in the model's input layout (predict_proba takes raw images)
    proba = probabilities(predict(model, X_test), loss_name, head)
    pred = proba.argmax(axis=1)
    cm = confusion_matrix(y_test, pred, n_classes)
    per_class = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    train_pred = probabilities(predict(model, X_train[:n_fit]), loss_name, head).argmax(axis=1)
    ctx.save_arrays(
        "predictions.npz",
        test_labels=np.asarray(y_test, np.int64), predicted_labels=pred.astype(np.int64),
        confidence=proba[np.arange(len(pred)), pred].astype(np.float32), probabilities=proba.astype(np.float32),
    )
    ctx.save_model(model, optimizer, {"task": "classifier", "n_classes": n_classes,
                                      "input_shape": list(X_train.shape[1:])})
    ctx.save_history(history)
    losses = np.asarray(history.train_loss, float)
    return {
        "test_accuracy": float((pred == y_test).mean()),
        "train_accuracy": float((train_pred == y_train[:n_fit]).mean()),
        "test_loss": evaluate(model, test_loss, X_test, T_test),
        "final_train_loss": float(losses[-1]) if len(losses) else float("nan"),
        "final_val_loss": float(history.val_loss[-1]) if history.val_loss else float("nan"),
        # accuracy on the held-out part of the training set after the last epoch (nan without one)
        "val_accuracy": extra["val_accuracy"][-1] if extra["val_accuracy"] else float("nan"),
        "per_class_accuracy": [float(a) for a in per_class],
        "confusion_matrix": cm.tolist(),
        "n_classes": n_classes,
        "n_train": int(n_fit),
        "n_validation": int(n_val),
        "n_test": int(len(X_test)),
        "data_note": data_note(config.data, n_fit),
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epoch),
        "stopped_early": history.stopped_early,
        # the one convergence rule of every task (autoenc.nn.train.converged; docs/convergence.md)
        "converged": history.converged,
        "loss_floor": history.loss_floor,  # the rule measures above it (label smoothing: > 0)
        "n_parameters": model.n_parameters(),
        "train_seconds": train_seconds,
    }


def augmenter(seed: int, architecture: str, order: str, bounds: dict[str, float]) -> Any:
    """The per-epoch batch provider of ``train.augment = "affine"``: fresh ``random_affine``
    copies of the training images each epoch (inputs held in ``reading_order(order)``)."""
    rng = np.random.default_rng([seed, 1])  # augmentation stream, apart from the shuffling stream

    def epoch_data(epoch: int, X: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = X.reshape(len(X), -1)
        images = images[:, np.argsort(reading_order(order, images.shape[1]))]  # back to row-major
        return shape_inputs(random_affine(images, rng, **bounds), architecture, order), T

    return epoch_data

