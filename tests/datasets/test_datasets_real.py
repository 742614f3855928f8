"""The real data files: counts, shapes, ranges, label histograms, provenance, cache speed.

USPS and partial MNIST come from ``<repo>/../shared/data`` (CI copies ``shared/`` beside its
clone); Fashion-MNIST from the Debian package ``dataset-fashion-mnist``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest

from autoenc import datasets
from autoenc.datasets import DatasetNotFoundError

# $AUTOENC_DATA_DIR when set (a clone placed anywhere), else ../shared/data beside the checkout
SHARED = Path(os.environ.get("AUTOENC_DATA_DIR")
              or Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
USPS_HIST = {
    "train": [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644],
    "test": [359, 264, 198, 166, 200, 160, 170, 147, 166, 177],
}
MNIST_TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared data folder {SHARED} is absent (see data/README.md)"
)


@pytest.fixture(scope="module", autouse=True)
def shared_env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as m:
        m.setenv("AUTOENC_DATA_DIR", str(SHARED))
        m.setenv("AUTOENC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        m.setenv("AUTOENC_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def fashion_train():
    if not datasets.info("fashion_mnist").found:
        pytest.skip(f"Fashion-MNIST not installed: apt-get install dataset-fashion-mnist "
                    f"(files in {FASHION_DIR})")
    return datasets.load("fashion_mnist", "train")


@pytest.mark.needs_fashion
def test_fashion_mnist_full(fashion_train):
    X, y = fashion_train
    assert X.shape == (60000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.bincount(y), [6000] * 10)
    Xt, yt = datasets.load("fashion_mnist", "test", shape="image")
    assert Xt.shape == (10000, 28, 28) and np.array_equal(np.bincount(yt), [1000] * 10)
    assert 0.27 < Xt.mean() < 0.30  # Fashion-MNIST's known mean pixel (0.286)
    i = datasets.info("fashion_mnist")
    assert (i.n_train, i.n_test, i.shape, i.source) == (60000, 10000, (28, 28), "idx")
    assert i.class_names == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                             "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert len(i.files) == 4 and len(i.checksum) == 64


@pytest.mark.needs_fashion
def test_fashion_mnist_cached_load_is_fast(fashion_train):
    # CPU time, not wall time: the 2-core test machines are shared, and waiting for a core
    # is not the loader's cost (idle, the wall time is about 0.1-0.5 s).
    timings = []
    for _ in range(2):
        start = time.process_time()
        X, _ = datasets.load("fashion_mnist", "train")
        timings.append(time.process_time() - start)
    assert np.array_equal(X, fashion_train[0])
    assert min(timings) < 1.0, timings


@pytest.mark.parametrize("split,n", [("train", 7291), ("test", 2007)])
def test_usps(split, n):
    X, y = datasets.load("usps", split)
    assert X.shape == (n, 256) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == USPS_HIST[split]
    raw, _ = datasets.load("usps", split, scale="raw", shape="sequence")
    assert raw.shape == (n, 256, 1) and raw.min() == -1.0 and raw.max() == 1.0
    assert datasets.load("usps", split, shape="image")[0].shape == (n, 16, 16)


def test_usps_course_file_equals_esl_after_rescaling():
    Xe, ye = datasets.load("usps", "test", source="esl")
    Xc, yc = datasets.load("usps", "test", source="course")
    assert np.array_equal(ye, yc)
    np.testing.assert_allclose(Xc, Xe, atol=1e-6, rtol=0)
    raw_e, _ = datasets.load("usps", "test", source="esl", scale="raw")
    raw_c, _ = datasets.load("usps", "test", source="course", scale="raw")
    assert raw_c.min() == 0.0 and raw_c.max() == 2.0
    np.testing.assert_allclose(raw_c, raw_e + 1, atol=1e-6, rtol=0)


def test_mnist_test_set_and_provenance():
    X, y = datasets.load("mnist", "test")
    assert X.shape == (10000, 784) and np.bincount(y).tolist() == MNIST_TEST_HIST
    assert abs(datasets.load("mnist", "test", scale="raw")[0].mean() - 33.79) < 0.01
    payload = gzip.decompress((SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.md5(payload).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    files = datasets.info("mnist").files
    assert files[str(SHARED / "mnist" / "t10k-images-idx3-ubyte.gz")] == (
        hashlib.sha256(payload).hexdigest())


def test_mnist_train_is_the_5k_subset_when_images_are_missing():
    if (SHARED / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("full MNIST train images present")
    X, y = datasets.load("mnist", "train", shape="image")
    assert X.shape == (5000, 28, 28) and np.bincount(y).tolist() == [500] * 10
    assert X.min() == 0.0 and X.max() == 1.0
    i = datasets.info("mnist")
    assert i.found and (i.n_train, i.n_test) == (5000, 10000)
    assert "5,000-image subset mnist_5k.csv.gz" in i.notes
    assert "full 60,000-image train set was not found" in i.notes
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load("mnist", "train", source="idx")
    Xs, ys = datasets.load("mnist", "train", subset=1000, seed=0)
    assert Xs.shape == (1000, 784) and np.bincount(ys).tolist() == [100] * 10


def test_digits():
    X, y = datasets.load("digits", "train", shape="image")
    assert X.shape == (1347, 8, 8) and X.max() == 1.0 and len(np.unique(y)) == 10
    Xt, _ = datasets.load("digits", "test", scale="raw")
    assert Xt.shape == (450, 64) and Xt.max() == 16.0
