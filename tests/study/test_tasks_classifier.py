"""The classifier task's pieces: heads and targets per loss, probabilities, variants,
augmentation, model building, and one tiny run end to end (synthetic data, no files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoenc.study.grid import RunConfig
from autoenc.study.tasks import RunContext, get_task
from autoenc.study.tasks.classifier import (
    apply_variant,
    build,
    confusion_matrix,
    n_outputs,
    output_activation,
    predict_proba,
    probabilities,
    random_affine,
    reading_order,
    shape_inputs,
    targets,
)


def config(model=None, train=None, data=None, seed=0) -> RunConfig:
    return RunConfig("classifier", data or {"dataset": "xor"}, model or {}, train or {}, seed, {})


@pytest.mark.parametrize(("loss", "classes", "units", "head"), [
    ("cross_entropy", 10, 10, None),
    ("nll", 10, 10, "log_softmax"),
    ("bce", 2, 1, "sigmoid"),
    ("bce_logits", 2, 1, None),
    ("mse", 2, 1, None),
    ("mse", 10, 10, None),
    ("cross_entropy", 2, 2, None),
])
def test_head_follows_the_loss(loss, classes, units, head):
    assert n_outputs(loss, classes) == units
    assert output_activation({}, loss) == head


def test_explicit_output_activation_wins():
    assert output_activation({"output_activation": "sigmoid"}, "mse") == "sigmoid"
    assert output_activation({"output_activation": "none"}, "nll") is None


def test_targets_per_loss():
    y = np.array([0, 1, 1])
    np.testing.assert_array_equal(targets(y, "cross_entropy", None, 2), y)
    np.testing.assert_array_equal(targets(y, "bce", "sigmoid", 1)[:, 0], [0, 1, 1])
    np.testing.assert_array_equal(targets(y, "mse", None, 1)[:, 0], [-1, 1, 1])  # the original's coding
    np.testing.assert_array_equal(targets(y, "mse", "sigmoid", 1)[:, 0], [0, 1, 1])
    np.testing.assert_array_equal(targets(y, "mse", None, 3), np.eye(3)[y])


def test_probabilities_sum_to_one_and_match_the_decision():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4))
    p = probabilities(logits, "cross_entropy", None)
    np.testing.assert_allclose(p.sum(axis=1), 1)
    np.testing.assert_array_equal(p.argmax(1), logits.argmax(1))
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(probabilities(log_p, "nll", "log_softmax"), p)
    z = np.array([[-0.3], [0.2]])
    np.testing.assert_array_equal(probabilities(z, "mse", None).argmax(1), [0, 1])  # sign decides
    np.testing.assert_allclose(probabilities(np.array([[0.8]]), "bce", "sigmoid"), [[0.2, 0.8]])
    np.testing.assert_allclose(probabilities(np.array([[0.0]]), "bce_logits", None), [[0.5, 0.5]])


def test_apply_variant_merges_model_and_train_keys():
    c = config(model={"architecture": "mlp", "hidden": [8], "variant": "big",
                      "variants": {"big": {"hidden": [32, 16], "optimizer": "adam", "lr": 0.01}}},
               train={"optimizer": "sgd", "lr": 0.5, "epochs": 3})
    merged = apply_variant(c)
    assert merged.model["hidden"] == [32, 16] and "variants" not in merged.model
    assert (merged.train["optimizer"], merged.train["lr"], merged.train["epochs"]) == ("adam", 0.01, 3)
    assert apply_variant(merged) == merged  # idempotent
    # every default is filled in: downstream code reads settings, never guesses them
    from autoenc.study.spec import DEFAULTS

    plain = apply_variant(config())
    assert set(DEFAULTS["classifier"]["model"]) <= set(plain.model)
    assert set(DEFAULTS["classifier"]["train"]) <= set(plain.train)
    with pytest.raises(ValueError, match="not defined"):
        apply_variant(config(model={"variant": "x", "variants": {"y": {"lr": 1.0}}}))


def test_build_architectures():
    mlp = build(config({"architecture": "mlp", "hidden": [8, 4], "activation": "relu"}, {"loss": "bce"}), (2,), 2)
    assert mlp.forward(np.zeros((3, 2), np.float32)).shape == (3, 1)
    lin = build(config({"architecture": "linear"}, {"loss": "mse"}), (2,), 2)
    assert lin.n_parameters() == 3
    conv = build(config({"architecture": "conv1d", "hidden": [100]}), (256, 1), 10)
    assert conv.n_parameters() == 3 * 32 + 32 + 4064 * 100 + 100 + 100 * 10 + 10  # the original's network
    X = shape_inputs(np.zeros((2, 256), np.float32), "conv1d")
    assert X.shape == (2, 256, 1) and conv.forward(X).shape == (2, 10)
    with pytest.raises(ValueError, match="one width"):
        build(config({"architecture": "conv1d", "hidden": [100, 50]}), (256,), 10)


def test_dropout_is_training_only_and_keeps_the_initial_weights():
    from autoenc.nn import Dropout

    for model, shape in (({"architecture": "conv1d", "hidden": [100]}, (256, 1)),
                         ({"architecture": "mlp", "hidden": [16, 8]}, (256,))):
        plain = build(config(model), shape, 10)
        dropped = build(config({**model, "dropout": 0.5}), shape, 10)
        kinds = [type(m).__name__ for m in dropped.modules]
        if model["architecture"] == "conv1d":
            assert kinds[kinds.index("Flatten") + 1] == "Dropout" and kinds.count("Dropout") == 1
        else:
            assert kinds == ["Linear", "TanH", "Dropout", "Linear", "TanH", "Dropout", "Linear"]
        assert all(m.p == 0.5 for m in dropped.modules if isinstance(m, Dropout))
        # dropout draws from its own stream: the same initial weights as without it
        a, b = plain.state_dict(), dropped.state_dict()
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a.values(), b.values(), strict=True))
        X = np.random.default_rng(0).random((3, *shape)).astype(np.float32)
        np.testing.assert_array_equal(dropped.eval().forward(X), plain.forward(X))
        assert not np.allclose(dropped.train().forward(X), plain.forward(X))


def test_random_affine():
    rng = np.random.default_rng(0)
    X = rng.random((4, 16 * 16)).astype(np.float32)
    same = random_affine(X, rng, rotation_degrees=0, scale=0, shift_pixels=0)
    np.testing.assert_allclose(same, X, atol=1e-6)
    moved = random_affine(X, np.random.default_rng(1))
    assert moved.shape == X.shape and moved.dtype == np.float32 and not np.allclose(moved, X)
    # an integer shift moves the image by whole pixels
    img = np.zeros((1, 16, 16), np.float32)
    img[0, 5, 7] = 1
    out = random_affine(img.reshape(1, -1), np.random.default_rng(0), rotation_degrees=0, scale=0,
                        shift_pixels=1e-9).reshape(16, 16)
    assert out[5, 7] == pytest.approx(1, abs=1e-6)
    with pytest.raises(ValueError, match="square"):
        random_affine(np.zeros((2, 10), np.float32), rng)


def test_random_affine_distortion():
    # distortion = 0 keeps the earlier random stream: same images as before the option existed
    X = np.random.default_rng(0).random((3, 16 * 16)).astype(np.float32)
    np.testing.assert_array_equal(random_affine(X, np.random.default_rng(2)),
                                  random_affine(X, np.random.default_rng(2), distortion=0.0))
    # a pure linear distortion about the centre keeps the centre pixel of an odd-sized image
    # and moves an off-centre dot
    img = np.zeros((2, 15, 15), np.float32)
    img[0, 7, 7] = 1
    img[1, 7, 13] = 1
    out = random_affine(img.reshape(2, -1), np.random.default_rng(3), rotation_degrees=0, scale=0, shift_pixels=0,
                        distortion=0.2).reshape(2, 15, 15)
    assert out[0, 7, 7] == pytest.approx(1, abs=1e-6)
    assert out[1, 7, 13] < 0.99 and out[1].sum() > 0


@pytest.mark.parametrize("name", ["row", "column", "snake", "morton", "hilbert"])
def test_reading_orders_are_permutations(name):
    for side in (2, 4, 16):
        order = reading_order(name, side * side)
        np.testing.assert_array_equal(np.sort(order), np.arange(side * side))


def test_reading_order_geometry():
    rows, cols = np.divmod(reading_order("hilbert", 256), 16)
    # along the Hilbert curve every step goes to one of the 4 neighbours
    assert set(np.abs(np.diff(rows)) + np.abs(np.diff(cols))) == {1}
    rows, cols = np.divmod(reading_order("snake", 256), 16)
    assert set(np.abs(np.diff(rows)) + np.abs(np.diff(cols))) == {1}
    for name in ("morton", "hilbert"):
        # each run of 4 pixels (a pooled pair of Conv1D outputs' span) is a 2x2 block
        rows, cols = np.divmod(reading_order(name, 256).reshape(-1, 4), 16)
        assert (np.ptp(rows, axis=1) == 1).all() and (np.ptp(cols, axis=1) == 1).all()
    np.testing.assert_array_equal(reading_order("column", 9), [0, 3, 6, 1, 4, 7, 2, 5, 8])
    np.testing.assert_array_equal(reading_order("morton", 16)[:8], [0, 1, 4, 5, 2, 3, 6, 7])
    np.testing.assert_array_equal(reading_order("row", 10), np.arange(10))  # any length
    X = np.arange(2 * 16, dtype=np.float32).reshape(2, 16)
    np.testing.assert_array_equal(shape_inputs(X, "conv1d", "column")[1, :4, 0], [16, 20, 24, 28])
    with pytest.raises(ValueError, match="square"):
        reading_order("snake", 10)
    with pytest.raises(ValueError, match="power of two"):
        reading_order("hilbert", 9)
    with pytest.raises(ValueError, match="one of"):
        reading_order("spiral", 16)


def test_reading_order_run_augments_the_images_not_the_sequence(tmp_path, monkeypatch):
    import autoenc.study.tasks.classifier as task
    from autoenc.nn import load

    rng = np.random.default_rng(0)
    X = rng.random((40, 16)).astype(np.float32)
    y = np.arange(40) % 2
    monkeypatch.setattr(task, "load_split", lambda data, split: (X, y))
    seen = []
    real = task.random_affine
    monkeypatch.setattr(task, "random_affine", lambda Xa, r, **kw: seen.append(Xa.copy()) or real(Xa, r, **kw))
    model = {"architecture": "conv1d", "hidden": [4], "channels": 2, "reading_order": "hilbert"}
    c = config(model, {"epochs": 1, "augment": "affine", "batch_size": 8})
    task.run(c, RunContext(tmp_path))
    np.testing.assert_array_equal(seen[0], X)  # random_affine got the images in row-major order
    with np.load(tmp_path / "predictions.npz", allow_pickle=False) as p:
        net = load(tmp_path / "model.npz")
        np.testing.assert_allclose(predict_proba(net, X, c), p["probabilities"], atol=1e-6)
        # the stored model reads Hilbert sequences: row-major input gives other outputs
        plain = config({**model, "reading_order": "row"}, c.train)
        assert not np.allclose(predict_proba(net, X, plain), p["probabilities"], atol=1e-4)


def test_confusion_matrix():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])


def test_classifier_run_end_to_end(tmp_path):
    c = config({"architecture": "mlp", "hidden": [10], "activation": "tanh", "output_activation": "sigmoid"},
               {"loss": "bce", "optimizer": "sgd", "lr": 0.5, "epochs": 150, "full_batch": True,
                "validation_split": 0.2}, {"dataset": "xor", "n_train": 400, "n_test": 300})
    metrics = get_task("classifier")(c, RunContext(tmp_path))
    assert metrics["test_accuracy"] > 0.97 and metrics["n_train"] == 320 and metrics["n_validation"] == 80
    json.dumps(metrics)  # plain JSON
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].split(",") == ["epoch", "train_loss", "val_loss", "lr", "train_accuracy", "val_accuracy",
                                     "test_loss", "test_accuracy", "wall_seconds"]
    assert len(history) == 151
    # the final validation accuracy is the last row's, on the 80 held-out training points
    assert metrics["val_accuracy"] == float(history[-1].split(",")[5]) and metrics["val_accuracy"] > 0.9
    assert metrics["val_accuracy"] * 80 == pytest.approx(round(metrics["val_accuracy"] * 80), abs=1e-9)
    from autoenc.nn import load

    model = load(tmp_path / "model.npz")
    with np.load(tmp_path / "predictions.npz", allow_pickle=False) as p:
        from autoenc import datasets

        X, _ = datasets.load("xor", "test", n=300)
        np.testing.assert_allclose(predict_proba(model, X, c), p["probabilities"], atol=1e-6)


def test_augmented_run(tmp_path, monkeypatch):
    import autoenc.study.tasks.classifier as task

    rng = np.random.default_rng(0)
    X = rng.random((60, 16)).astype(np.float32)  # 4x4 "images"
    y = np.arange(60) % 3
    monkeypatch.setattr(task, "load_split", lambda data, split: (X, y))
    c = config({"architecture": "mlp", "hidden": [8]}, {"epochs": 3, "augment": "affine", "batch_size": 16,
                                                         "validation_split": 0.2})
    metrics = task.run(c, RunContext(tmp_path))
    assert metrics["epochs_run"] == 3 and metrics["n_classes"] == 3 and metrics["best_epoch"] in (1, 2, 3)
    # early stopping now works with augmentation too (one training loop)
    stopped = task.run(config({"hidden": [8]}, {"epochs": 2, "augment": "affine", "patience": 2}),
                       RunContext(tmp_path / "patience"))
    assert stopped["epochs_run"] <= 2
    # the study's bounds reach the augmentation
    seen = []
    real = task.random_affine
    monkeypatch.setattr(task, "random_affine", lambda X, rng, **kw: seen.append(kw) or real(X, rng, **kw))
    bounded = {"epochs": 2, "augment": "affine", "augment_rotation_degrees": 4, "augment_scale": 0.05,
               "augment_distortion": 0.1, "batch_size": 16}
    task.run(config({"architecture": "mlp", "hidden": [8]}, bounded), RunContext(tmp_path / "a"))
    assert seen == [{"rotation_degrees": 4.0, "scale": 0.05, "shift_pixels": 1.5, "distortion": 0.1}] * 2
    # shared bounds are ignored by runs without augmentation (a study's plain variant)
    seen.clear()
    task.run(config({"hidden": [8]}, {"epochs": 1, "augment_scale": 0.1}), RunContext(tmp_path / "b"))
    assert seen == []


def test_optimizer_schedules_from_train_settings():
    from autoenc.nn import Linear
    from autoenc.nn.schedulers import ConstantLR, CosineAnnealingLR, ExponentialLR
    from autoenc.study.grid import resolve
    from autoenc.study.tasks import build_optimizer

    def sched(**train):
        return build_optimizer(resolve(config(train=train)).train, Linear(2, 1)).scheduler

    assert isinstance(sched(), ConstantLR)
    decay = sched(lr=0.1, lr_decay=0.5)
    assert isinstance(decay, ExponentialLR)
    decay.step()
    assert decay.optimizer.lr == pytest.approx(0.05)
    cosine = sched(lr=0.2, epochs=4, lr_schedule="cosine")
    assert isinstance(cosine, CosineAnnealingLR)
    rates = [cosine.optimizer.lr]
    for _ in range(4):
        cosine.step()
        rates.append(cosine.optimizer.lr)
    np.testing.assert_allclose(rates, [0.2 * 0.5 * (1 + np.cos(np.pi * e / 4)) for e in range(5)], atol=1e-15)
    with pytest.raises(ValueError, match="keep one"):
        sched(lr_schedule="cosine", lr_decay=0.9)


def test_label_smoothing_and_cosine_run(tmp_path, monkeypatch):
    import autoenc.study.tasks.classifier as task
    from autoenc.nn import CrossEntropyLoss, load

    rng = np.random.default_rng(0)
    X = rng.random((60, 16)).astype(np.float32)
    y = np.arange(60) % 3
    monkeypatch.setattr(task, "load_split", lambda data, split: (X, y))
    train = {"epochs": 3, "batch_size": 16, "lr": 0.01, "lr_schedule": "cosine", "label_smoothing": 0.1}
    metrics = task.run(config({"architecture": "mlp", "hidden": [8]}, train), RunContext(tmp_path))
    # the reported test loss is the plain cross-entropy, not the smoothed training objective
    model = load(tmp_path / "model.npz")
    assert metrics["test_loss"] == pytest.approx(CrossEntropyLoss().forward(y, model.forward(X)), rel=1e-5)
    # the optimizer state saved with the model holds the annealed rate after the last epoch (~0)
    from autoenc.nn import load_checkpoint

    state = load_checkpoint(tmp_path / "model.npz").optimizer_state
    assert state["hyperparameters"]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="cross_entropy"):
        task.run(config({"hidden": [8]}, {"loss": "nll", "label_smoothing": 0.1, "epochs": 1}), RunContext(tmp_path))
