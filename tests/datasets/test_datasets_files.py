"""Loaders on small files written by the tests: formats, validation errors, cache, search."""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from autoenc import datasets
from autoenc.datasets import DatasetFormatError, DatasetNotFoundError, cache, locate, registry
from autoenc.datasets.idx import write_idx

USPS_TEST_HIST = (359, 264, 198, 166, 200, 160, 170, 147, 166, 177)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Hermetic search path: no $AUTOENC_DATA_DIR, no project data/, a fake Debian folder."""
    monkeypatch.setenv("AUTOENC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AUTOENC_OFFLINE", "1")
    monkeypatch.delenv("AUTOENC_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "project_data_dir", lambda: None)
    spec = registry.REGISTRY["fashion_mnist"]
    debian = ((str(tmp_path / "debian"), "Debian package dataset-fashion-mnist"),)
    monkeypatch.setitem(registry.REGISTRY, "fashion_mnist",
                        dataclasses.replace(spec, extra_dirs=debian))
    return tmp_path


def make_idx(folder: Path, split: str = "train", n: int = 20, *, gz: bool = True, seed: int = 0,
             size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Write one split of IDX files; labels cycle through 0..9."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if split == "train" else "t10k"
    ext = ".gz" if gz else ""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


# --------------------------------------------------------------------------- IDX
def test_idx_shapes_scales_and_exact_unit_values(env):
    images, labels = make_idx(env / "d", "train", 20)
    X, y = datasets.load("fashion_mnist", data_dir=env / "d")
    assert X.shape == (20, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.dtype == np.int64 and np.array_equal(y, labels)
    assert np.array_equal(X, images.reshape(20, -1).astype(np.float32) / np.float32(255))
    Xi, _ = datasets.load("fashion_mnist", data_dir=env / "d", shape="image")
    assert Xi.shape == (20, 28, 28)
    Xs, _ = datasets.load("fashion_mnist", data_dir=env / "d", shape="sequence")
    assert Xs.shape == (20, 784, 1)
    Xr, _ = datasets.load("fashion_mnist", data_dir=env / "d", scale="raw")
    assert Xr.dtype == np.float32 and np.array_equal(Xr, images.reshape(20, -1))


def test_idx_uncompressed_and_subfolder(env):
    images, _ = make_idx(env / "root" / "fashion-mnist", "test", 10, gz=False)
    X, _ = datasets.load("fashion_mnist", "test", data_dir=env / "root", scale="raw")
    assert np.array_equal(X, images.reshape(10, -1))


def test_truncated_gzip(env):
    make_idx(env / "d", "train", 20)
    path = env / "d" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DatasetFormatError, match="truncated or corrupt compressed") as err:
        datasets.load("fashion_mnist", data_dir=env / "d")
    assert str(path) in str(err.value)


def test_truncated_payload(env):
    make_idx(env / "d", "train", 20, gz=False)
    path = env / "d" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-784 * 3])
    with pytest.raises(DatasetFormatError, match="truncated: the header announces 20 items"):
        datasets.load("fashion_mnist", data_dir=env / "d")


def test_bad_magic(env):
    make_idx(env / "d", "train", 20, gz=False)
    path = env / "d" / "train-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[0:4] = b"\x12\x34\x56\x78"
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetFormatError, match="bad magic number 0x12345678") as err:
        datasets.load("fashion_mnist", data_dir=env / "d")
    assert "train-labels-idx1-ubyte" in str(err.value)


def test_swapped_image_and_label_files(env):
    make_idx(env / "d", "train", 20, gz=False)
    a, b = env / "d" / "train-images-idx3-ubyte", env / "d" / "train-labels-idx1-ubyte"
    tmp = env / "d" / "swap"
    os.replace(a, tmp)
    os.replace(b, a)
    os.replace(tmp, b)
    with pytest.raises(DatasetFormatError, match="swapped"):
        datasets.load("fashion_mnist", data_dir=env / "d")


def test_trailing_bytes_mean_wrong_count(env):
    make_idx(env / "d", "train", 20, gz=False)
    path = env / "d" / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x01\x02")
    with pytest.raises(DatasetFormatError, match="2 bytes after the 20 items"):
        datasets.load("fashion_mnist", data_dir=env / "d")


def test_image_label_count_mismatch(env):
    make_idx(env / "d", "train", 20)
    write_idx(env / "d" / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DatasetFormatError, match="holds 20 images but .* holds 19 labels"):
        datasets.load("fashion_mnist", data_dir=env / "d")


def test_wrong_image_size(env):
    make_idx(env / "d", "train", 20, size=16)
    with pytest.raises(DatasetFormatError, match="16x16 pixels, fashion_mnist images are 28x28"):
        datasets.load("fashion_mnist", data_dir=env / "d")


def test_label_out_of_range(env):
    make_idx(env / "d", "train", 20)
    write_idx(env / "d" / "train-labels-idx1-ubyte.gz", np.full(20, 12, np.uint8))
    with pytest.raises(DatasetFormatError, match=r"labels in \[12, 12\], expected 0..9"):
        datasets.load("fashion_mnist", data_dir=env / "d")


def test_published_size_with_wrong_histogram_is_mislabelled(env):
    d = env / "d"
    d.mkdir()
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((10000, 28, 28), np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8))
    with pytest.raises(DatasetFormatError, match="differ from the published fashion_mnist test"):
        datasets.load("fashion_mnist", "test", data_dir=d)


def test_gz_name_without_gzip_content(env):
    make_idx(env / "d", "train", 20, gz=False)
    for p in (env / "d").iterdir():
        p.rename(p.with_name(p.name + ".gz"))
    with pytest.raises(DatasetFormatError, match="not gz-compressed"):
        datasets.load("fashion_mnist", data_dir=env / "d")


# --------------------------------------------------------------------------- cache
def test_cache_hit_then_invalidated_by_changed_file(env, monkeypatch):
    d = env / "d"
    make_idx(d, "train", 20, seed=1)
    X1, _ = datasets.load("fashion_mnist", data_dir=d)
    entries = list((env / "cache").glob("fashion_mnist-train-idx-*.npz"))
    assert len(entries) == 1

    def no_parse(*args, **kwargs):
        raise AssertionError("served from the cache, should not parse")

    with monkeypatch.context() as m:
        m.setattr(registry, "_parse_local", no_parse)
        X2, _ = datasets.load("fashion_mnist", data_dir=d)
    assert np.array_equal(X1, X2)

    # Same size, same inode, same mtime: only the content changes. The memo entry was
    # recorded right after the file's mtime, so it is not trusted and the file is re-hashed.
    path = d / "train-images-idx3-ubyte.gz"
    st = path.stat()
    new = np.random.default_rng(2).integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    data = gzip.compress(b"\0\0\x08\x03" + np.array([20, 28, 28], ">u4").tobytes()
                         + new.tobytes(), mtime=0)
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    X3, _ = datasets.load("fashion_mnist", data_dir=d, scale="raw")
    assert np.array_equal(X3, new.reshape(20, -1))
    entries = list((env / "cache").glob("fashion_mnist-train-idx-*.npz"))
    assert len(entries) == 1  # the stale entry was dropped


def test_checksum_memo_trusted_for_old_files(env, monkeypatch):
    d = env / "d"
    make_idx(d, "train", 20)
    old = time.time_ns() - 3600 * 10**9
    for p in d.iterdir():
        os.utime(p, ns=(old, old))
    datasets.load("fashion_mnist", data_dir=d)
    calls = []
    real = cache._sha256_file
    monkeypatch.setattr(cache, "_sha256_file", lambda p: calls.append(p) or real(p))
    datasets.load("fashion_mnist", data_dir=d)
    assert calls == []  # size/mtime/inode unchanged and old: memo hit, nothing re-hashed
    os.utime(d / "train-labels-idx1-ubyte.gz", ns=(old, old + 10**9))
    datasets.load("fashion_mnist", data_dir=d)
    assert [p.name for p in calls] == ["train-labels-idx1-ubyte.gz"]


def test_corrupt_or_foreign_cache_entry_is_rebuilt(env):
    d = env / "d"
    images, _ = make_idx(d, "train", 20)
    datasets.load("fashion_mnist", data_dir=d)
    (entry,) = (env / "cache").glob("fashion_mnist-train-idx-*.npz")
    entry.write_bytes(b"not a zip file")
    X, _ = datasets.load("fashion_mnist", data_dir=d, scale="raw")
    assert np.array_equal(X, images.reshape(20, -1))
    # An entry recorded for another key is refused even under this key's file name.
    other = env / "other"
    make_idx(other, "train", 20, seed=5)
    datasets.load("fashion_mnist", data_dir=other)
    (foreign,) = (env / "cache").glob("fashion_mnist-train-idx-*.npz")
    os.replace(foreign, entry)
    X, _ = datasets.load("fashion_mnist", data_dir=d, scale="raw")
    assert np.array_equal(X, images.reshape(20, -1))


def test_no_writable_cache_still_loads(env, monkeypatch):
    monkeypatch.setattr(cache, "cache_dir", lambda: None)
    images, _ = make_idx(env / "d", "train", 20)
    X, _ = datasets.load("fashion_mnist", data_dir=env / "d", scale="raw")
    assert np.array_equal(X, images.reshape(20, -1))


# --------------------------------------------------------------------------- search order
def test_search_order_and_debian_folder(env, monkeypatch):
    deb_images, _ = make_idx(env / "debian", "test", 10, seed=1)
    X, _ = datasets.load("fashion_mnist", "test", scale="raw")
    assert np.array_equal(X, deb_images.reshape(10, -1))
    # $AUTOENC_DATA_DIR beats the Debian folder, but only through a named subfolder ...
    flat = env / "envdir"
    make_idx(flat, "test", 10, seed=2)
    monkeypatch.setenv("AUTOENC_DATA_DIR", f"{env / 'nowhere'}{os.pathsep}{flat}")
    X, _ = datasets.load("fashion_mnist", "test", scale="raw")
    assert np.array_equal(X, deb_images.reshape(10, -1))
    env_images, _ = make_idx(flat / "fashion_mnist", "test", 10, seed=3)
    X, _ = datasets.load("fashion_mnist", "test", scale="raw")
    assert np.array_equal(X, env_images.reshape(10, -1))
    # ... and an explicit data_dir beats both, flat files included.
    X, _ = datasets.load("fashion_mnist", "test", data_dir=flat, scale="raw")
    flat_images = np.random.default_rng(2).integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    assert np.array_equal(X, flat_images.reshape(10, -1))


def test_not_found_lists_places_and_remedies(env, monkeypatch):
    monkeypatch.setenv("AUTOENC_DATA_DIR", str(env / "shared"))
    (env / "shared" / "fashion-mnist").mkdir(parents=True)
    make_idx(env / "shared" / "fashion-mnist", "test", 10)
    (env / "shared" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.load("fashion_mnist", "test", data_dir=env / "mine")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for needle in (
        "t10k-images-idx3-ubyte[.gz] + t10k-labels-idx1-ubyte[.gz]",
        f"{env / 'mine'}  (data_dir argument): folder does not exist",
        f"{env / 'shared' / 'fashion-mnist'}  ($AUTOENC_DATA_DIR, subfolder fashion-mnist/): "
        "has t10k-images-idx3-ubyte.gz; missing t10k-labels-idx1-ubyte[.gz]",
        f"{env / 'debian'}  (Debian package dataset-fashion-mnist)",
        "apt-get install dataset-fashion-mnist",
        "tfds:", "openml: skipped: $AUTOENC_OFFLINE is set", "autoenc[tfds]",
        "source='openml'", "data/README.md",
    ):
        assert needle in msg, needle


def test_info_not_found_and_found(env):
    i = datasets.info("fashion_mnist")
    assert not i.found and i.n_train is None and i.checksum is None
    assert "dataset-fashion-mnist" in i.notes and "train-images-idx3-ubyte[.gz]" in i.notes
    make_idx(env / "debian", "train", 20)
    make_idx(env / "debian", "test", 10)
    i = datasets.info("fashion_mnist")
    assert i.found and (i.n_train, i.n_test) == (20, 10) and i.source == "idx"
    assert i.location == str(env / "debian")
    assert i.class_names[0] == "T-shirt/top" and i.class_names[9] == "Ankle boot"
    assert datasets.class_names("fashion-mnist") == i.class_names
    assert datasets.class_names("usps") == [str(d) for d in range(10)]
    assert len(i.files) == 4 and len(i.checksum) == 64
    assert "the published set has 60,000" in i.notes


# --------------------------------------------------------------------------- USPS text formats
def _usps_rows(n_hist=USPS_TEST_HIST, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n_hist)
    rng.shuffle(y)
    X = np.round(rng.uniform(-1, 1, size=(len(y), 256)), 3)
    X[:, :5] = [-1, 1, 0, -0.5, 0.999]
    return X, y


def write_esl(path: Path, X, y) -> None:
    buf = io.BytesIO()
    np.savetxt(buf, np.column_stack([y, X]), fmt="%.4f")
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)


def write_course(path: Path, X, y) -> None:
    buf = io.BytesIO()
    np.savetxt(buf, np.column_stack([y, np.round(X + 1, 3)]), fmt="%g", header="10 256",
               footer="-1", comments="")
    path.write_bytes(buf.getvalue())


def test_usps_three_formats_agree(env):
    from sklearn.datasets import dump_svmlight_file

    X, y = _usps_rows()
    d = env / "d"
    d.mkdir()
    write_esl(d / "zip.test.gz", X, y)
    write_course(d / "USPS_test.txt", X, y)
    dump_svmlight_file(X, y + 1, str(d / "usps.t"), zero_based=False)
    esl = datasets.load("usps", "test", data_dir=d)
    assert esl[0].shape == (2007, 256) and np.array_equal(esl[1], y)
    assert esl[0].min() == 0 and esl[0].max() == 1
    for source in ("course", "libsvm"):
        Xs, ys = datasets.load("usps", "test", data_dir=d, source=source)
        assert np.array_equal(ys, y)
        np.testing.assert_allclose(Xs, esl[0], atol=1e-6, rtol=0)
    raw_esl, _ = datasets.load("usps", "test", data_dir=d, source="esl", scale="raw")
    raw_course, _ = datasets.load("usps", "test", data_dir=d, source="course", scale="raw")
    np.testing.assert_allclose(raw_course, raw_esl + 1, atol=1e-6, rtol=0)
    assert raw_esl.min() == -1 and raw_course.max() == 2
    seq, _ = datasets.load("usps", "test", data_dir=d, shape="sequence", subset=100)
    assert seq.shape == (100, 256, 1)


def test_usps_errors(env):
    X, y = _usps_rows()
    d = env / "d"
    d.mkdir()
    write_esl(d / "zip.test", X[:10], y[:10])
    with pytest.raises(DatasetFormatError, match="10 rows, the USPS test split has 2007"):
        datasets.load("usps", "test", data_dir=d)
    write_esl(d / "zip.test", X, y)
    text = (d / "zip.test").read_text().splitlines()
    text[41] = " ".join(text[41].split()[:100])
    (d / "zip.test").write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetFormatError, match=r"zip.test, line 42: 100 values, expected 257"):
        datasets.load("usps", "test", data_dir=d)
    write_course(d / "USPS_test.txt", X, y)
    lines = (d / "USPS_test.txt").read_text().splitlines()[1:]
    (d / "USPS_test.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match="expected the header line '10 256'"):
        datasets.load("usps", "test", data_dir=d, source="course")
    write_esl(d / "zip.test", X * 3, y)
    with pytest.raises(DatasetFormatError, match=r"expected \[-1, 1\]"):
        datasets.load("usps", "test", data_dir=d)
    y_bad = y.copy()
    y_bad[:400] = 0
    write_esl(d / "zip.test", X, y_bad)
    with pytest.raises(DatasetFormatError, match="mislabelled"):
        datasets.load("usps", "test", data_dir=d)


# --------------------------------------------------------------------------- MNIST CSV subset
def test_mnist_csv_subset_used_when_train_images_missing(env):
    d = env / "shared" / "mnist"
    make_idx(d, "test", 10)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(30, 784))
    labels = np.arange(30) % 10
    table = np.column_stack([pixels, labels])
    lines = "\n".join(",".join(map(str, row)) for row in table) + "\n"
    (d / "mnist_5k.csv.gz").write_bytes(gzip.compress(lines.encode()))
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(60000, np.uint8))  # no images
    X, y = datasets.load("mnist", data_dir=env / "shared", scale="raw")
    assert X.shape == (30, 784) and np.array_equal(X, pixels) and np.array_equal(y, labels)
    i = datasets.info("mnist", data_dir=env / "shared")
    assert i.found and i.n_train == 30 and i.source == "train=csv, test=idx"
    assert "30-image CSV subset mnist_5k.csv.gz" in i.notes
    assert "full 60,000-image train set was not found" in i.notes
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load("mnist", data_dir=env / "shared", source="idx")
    with pytest.raises(ValueError, match="no 'test' split"):
        datasets.load("mnist", "test", data_dir=env / "shared", source="csv")
    (d / "mnist_5k.csv.gz").write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(DatasetFormatError, match="3 columns per row, expected 785"):
        datasets.load("mnist", data_dir=env / "shared")


# --------------------------------------------------------------------------- arguments
def test_bad_arguments(env):
    make_idx(env / "d", "train", 20)
    kw = {"data_dir": env / "d"}
    with pytest.raises(ValueError, match="unknown data set"):
        datasets.load("cifar10")
    with pytest.raises(ValueError, match="split must be"):
        datasets.load("fashion_mnist", "valid", **kw)
    with pytest.raises(ValueError, match="shape must be"):
        datasets.load("fashion_mnist", shape="cube", **kw)
    with pytest.raises(ValueError, match="scale must be"):
        datasets.load("fashion_mnist", scale="z", **kw)
    with pytest.raises(ValueError, match="source 'esl' is not available"):
        datasets.load("fashion_mnist", source="esl", **kw)
    with pytest.raises(ValueError, match="unexpected parameters"):
        datasets.load("fashion_mnist", sigma=3, **kw)
    with pytest.raises(ValueError, match=r"unexpected parameters \['manual_dir'\].*none"):
        datasets.load("usps", manual_dir="/x")
    with pytest.raises(ValueError, match=r"subset must be an integer in 1..20"):
        datasets.load("fashion_mnist", subset=21, **kw)
    assert datasets.load("fashion-mnist", **kw)[0].shape == (20, 784)


def test_stratified_subset():
    y = np.repeat(np.arange(3), [50, 30, 20])
    idx = datasets.stratified_indices(y, 10, seed=0)
    assert np.array_equal(np.bincount(y[idx]), [5, 3, 2])
    assert np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, datasets.stratified_indices(y, 10, seed=0))
    assert not np.array_equal(idx, datasets.stratified_indices(y, 10, seed=1))
    assert np.bincount(y[datasets.stratified_indices(y, 7, seed=0)]).sum() == 7
    with pytest.raises(ValueError):
        datasets.stratified_indices(y, 0)
