"""Your own data as a data set (autoenc.datasets.files): a Keras-layout .npz, a folder of images,
register_dataset, and a study file that names its data by a path relative to itself."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autoenc import datasets
from autoenc.cli import main
from autoenc.datasets import DatasetFormatError, DatasetNotFoundError, files
from autoenc.study import expand, load_spec
from autoenc.study.spec import SpecError


def _images(n: int, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.integers(0, 40, size=(n, side, side), dtype=np.uint8)
    for i, c in enumerate(y):
        X[i, c * 2: c * 2 + 2, :] = 230  # class c: a bright band at rows 2c, 2c+1
    return X, y


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture
def npz(isolated):
    X, y = _images(60)
    Xt, yt = _images(30, seed=1)
    return _npz(isolated / "mine.npz", x_train=X, y_train=y, x_test=Xt, y_test=yt)


def test_npz_in_the_keras_layout_loads_like_a_builtin_set(npz, isolated):
    X, y = datasets.load(str(npz), "train")
    assert X.shape == (60, 64) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert np.array_equal(y, np.arange(60) % 3)
    img, _ = datasets.load(str(npz), "test", shape="image")
    assert img.shape == (30, 8, 8)
    raw, _ = datasets.load(str(npz), "train", scale="raw")
    assert raw.max() == 230
    sub, ys = datasets.load(str(npz), "train", subset=30)
    assert len(sub) == 30 and np.bincount(ys).tolist() == [10, 10, 10]  # stratified like every set
    info = datasets.info(str(npz))
    assert (info.n_train, info.n_test, info.shape, info.n_classes) == (60, 30, (8, 8), 3)
    assert info.checksum and len(info.checksum) == 64
    assert list((isolated / "cache").glob("file-*-train-npz-*.npz"))  # cached like the built-in sets


def test_npz_floats_vectors_and_no_labels(isolated):
    rng = np.random.default_rng(0)
    p = _npz(isolated / "vectors.npz", x_train=rng.random((20, 10)), x_test=rng.random((5, 10)))
    X, y = datasets.load(str(p), "train")
    assert X.shape == (20, 10) and (y == 0).all()
    assert datasets.info(str(p)).shape == (10,)


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((4, 8, 8), np.uint8)}, "no x_test"),
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "x_test": np.zeros((2, 8, 7), np.uint8)}, "same size"),
    ({"x_train": np.full((4, 9), 2.0), "x_test": np.zeros((2, 9))}, "expected [0, 1]"),
    ({"x_train": np.full((4, 9), np.nan), "x_test": np.zeros((2, 9))}, "NaN"),
    ({"x_train": np.zeros((4, 9)), "x_test": np.zeros((2, 9)), "y_train": np.zeros(3, int)}, "one label per image"),
    ({"x_train": np.zeros((4, 9)), "x_test": np.zeros((2, 9)), "y_train": -np.ones(4, int)}, "integers >= 0"),
    ({"x_train": np.zeros((4, 9), np.int32) + 300, "x_test": np.zeros((2, 9))}, "0..255"),
    ({"x_train": np.zeros(4), "x_test": np.zeros(2)}, "N x H x W"),
])
def test_bad_npz_gets_one_clear_error(isolated, arrays, message):
    p = _npz(isolated / "bad.npz", **arrays)
    with pytest.raises(DatasetFormatError, match=re.escape(message)):
        datasets.load(str(p), "train")


def test_pickled_or_damaged_npz_is_refused(isolated):
    p = isolated / "objects.npz"
    np.savez(p, x_train=np.array([{"a": 1}], dtype=object), x_test=np.zeros((1, 4)))
    with pytest.raises(DatasetFormatError, match="Python objects"):
        datasets.load(str(p), "train")
    p.write_bytes(b"not a zip")
    with pytest.raises(DatasetFormatError):
        datasets.load(str(p), "train")
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        datasets.load(str(isolated / "missing.npz"), "train")


def _folder(root: Path, per_class: int = 5, classes: tuple[str, ...] = ("cat", "dog"), side: int = 6) -> Path:
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((side, side), 40 * c + i, np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def test_folder_of_images_with_the_stated_split_rule(isolated):
    root = _folder(isolated / "pets", per_class=10)
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(root / "dog" / "zz.jpg")  # colour JPEG: read as grey
    X, y = datasets.load(str(root), "train", scale="raw")
    Xt, yt = datasets.load(str(root), "test", scale="raw")
    # per class, every 5th file by name is a test image: cat 004, 009; dog 004, 009 (zz.jpg is the 11th)
    assert len(Xt) == 4 and len(X) == 17 and sorted(yt.tolist()) == [0, 0, 1, 1]
    assert sorted(Xt[:, 0].tolist()) == [4, 9, 44, 49]
    assert datasets.class_names(str(root)) == ["cat", "dog"]
    assert "every 5th" in datasets.info(str(root)).notes


def test_folder_with_train_and_test_subfolders(isolated):
    _folder(isolated / "split" / "train", per_class=3)
    _folder(isolated / "split" / "test", per_class=2)
    assert len(datasets.load(str(isolated / "split"), "train")[0]) == 6
    assert len(datasets.load(str(isolated / "split"), "test")[0]) == 4


def test_folder_problems_are_named(isolated):
    root = _folder(isolated / "mixed")
    Image.fromarray(np.zeros((7, 6), np.uint8)).save(root / "cat" / "big.png")
    with pytest.raises(DatasetFormatError, match="same size"):
        datasets.load(str(root), "train")
    (root / "cat" / "big.png").write_bytes(b"broken")
    with pytest.raises(DatasetFormatError, match="big.png: not a readable image"):
        datasets.load(str(root), "train")
    few = _folder(isolated / "few", per_class=2)
    with pytest.raises(DatasetFormatError, match="no test images"):
        datasets.load(str(few), "test")


def test_register_dataset(npz):
    try:
        datasets.register_dataset("my_digits", npz, class_names=["a", "b", "c"])
        X, _ = datasets.load("my_digits", "train")
        assert X.shape == (60, 64) and datasets.class_names("my_digits") == ["a", "b", "c"]
        rng = np.random.default_rng(0)
        datasets.register_dataset("in_memory", {"x_train": rng.random((8, 4, 4)), "x_test": rng.random((3, 4, 4))})
        assert datasets.load("in_memory", "test", shape="image")[0].shape == (3, 4, 4)
        assert set(datasets.registered()) >= {"my_digits", "in_memory"}
        assert datasets.info("in_memory").checksum
        with pytest.raises(ValueError, match="already registered"):
            datasets.register_dataset("my_digits", npz)
        with pytest.raises(ValueError, match="built-in"):
            datasets.register_dataset("usps", npz)
        with pytest.raises(DatasetFormatError, match="no x_test"):
            datasets.register_dataset("broken", {"x_train": np.zeros((2, 4))})
    finally:
        for name in ("my_digits", "in_memory"):
            files.unregister_dataset(name)
    assert "my_digits" not in datasets.registered()


STUDY = """
[study]
name = "own"
description = "my data"
task = "autoencoder"

[data]
dataset = "{dataset}"
{pin}

[model]
widths = [16]

[train]
epochs = 1

[grid]
latent_size = [4]
"""


def test_study_names_its_data_relative_to_the_study_file(npz, isolated, capsys):
    folder = isolated / "studies"
    folder.mkdir()
    study = folder / "own.toml"
    study.write_text(STUDY.format(dataset="../mine.npz", pin=""))
    spec = load_spec(study)
    assert spec.data["dataset"] == str(npz.resolve())
    checksum = spec.data["dataset_sha256"]
    assert checksum == datasets.info(str(npz)).checksum
    assert main(["show", str(study), "--out", str(isolated / "runs")]) == 0
    out = capsys.readouterr().out
    assert "60 train / 30 test images of 8 x 8" in out and checksum in out
    first = expand(spec)[0].run_id
    X, y = _images(60, seed=5)  # a changed file: new run ids, never the old runs' results
    _npz(npz, x_train=X, y_train=y, x_test=X[:30], y_test=y[:30])
    assert expand(load_spec(study))[0].run_id != first
    study.write_text(STUDY.format(dataset="../mine.npz", pin=f'dataset_sha256 = "{checksum}"'))
    with pytest.raises(SpecError, match="has changed"):
        load_spec(study)
    study.write_text(STUDY.format(dataset="nothere.npz", pin=""))
    with pytest.raises(SpecError, match="relative to the study file"):
        load_spec(study)
    bad = _npz(folder / "bad.npz", x_train=np.full((3, 4), 7.0), x_test=np.zeros((1, 4)))
    study.write_text(STUDY.format(dataset=bad.name, pin=""))
    assert main(["show", str(study)]) == 2 and "expected [0, 1]" in capsys.readouterr().err
    assert main(["sweep", str(study), "--out", str(isolated / "runs")]) == 2
    assert not (isolated / "runs" / "own" / "runs").exists()
