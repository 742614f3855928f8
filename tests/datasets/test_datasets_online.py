"""tfds and OpenML adapters: the call contracts with fakes, the real thing where installed."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from autoenc import datasets
from autoenc.datasets import DatasetFormatError, DatasetNotFoundError, online

USPS_HIST = ([1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644],
             [359, 264, 198, 166, 200, 160, 170, 147, 166, 177])


@pytest.fixture
def env(isolated, monkeypatch):
    monkeypatch.setattr(online, "_reachable", lambda host, **kw: True)
    return isolated


def fake_usps_openml(shuffle=False):
    rng = np.random.default_rng(0)
    y = np.concatenate([np.repeat(np.arange(10), h) for h in USPS_HIST])
    if shuffle:
        rng.shuffle(y)
    X = np.round(rng.uniform(-1, 1, size=(len(y), 256)), 3)
    X[0, :2] = [-1, 1]
    return X, y.astype(str)


def test_openml_adapter_splits_validates_and_caches(env, monkeypatch):
    import sklearn.datasets

    calls = []
    X, y = fake_usps_openml()

    def fetch_openml(**kwargs):
        calls.append(kwargs)
        return X, y

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch_openml)
    Xtr, ytr = datasets.load("usps", "train", source="openml")
    assert calls[0]["data_id"] == 41082 and calls[0]["as_frame"] is False
    assert Xtr.shape == (7291, 256) and Xtr.min() == 0 and Xtr.max() == 1
    np.testing.assert_allclose(Xtr, (X[:7291] + 1) / 2, atol=1e-6)
    Xte, yte = datasets.load("usps", "test")  # auto: no local files, the cached download
    assert len(calls) == 1 and Xte.shape == (2007, 256)
    assert np.bincount(yte).tolist() == USPS_HIST[1]
    i = datasets.info("usps")
    assert i.found and i.source == "openml" and "openml.org/d/41082" in i.location


def test_openml_rows_in_unexpected_order_are_refused(env, monkeypatch):
    import sklearn.datasets

    monkeypatch.setattr(sklearn.datasets, "fetch_openml",
                        lambda **kw: fake_usps_openml(shuffle=True))
    with pytest.raises(DatasetFormatError, match="differ from the published usps train"):
        datasets.load("usps", "train", source="openml")


def test_openml_offline(env, monkeypatch):
    monkeypatch.setenv("AUTOENC_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="openml: skipped"):
        datasets.load("usps", "train", data_dir=env / "none")
    monkeypatch.delenv("AUTOENC_OFFLINE")
    monkeypatch.setattr(online, "_reachable", lambda host, **kw: False)
    with pytest.raises(DatasetNotFoundError, match="openml: offline"):
        datasets.load("usps", "train", data_dir=env / "none")


class _FakeDataset:
    """Stands in for an unbatched ``tf.data.Dataset`` of (image, label) pairs."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def batch(self, n):
        return [(self.images[i:i + n], self.labels[i:i + n]) for i in range(0, len(self.labels), n)]


def test_tfds_adapter_call_contract(env, monkeypatch):
    seen = {}

    class DownloadConfig:
        def __init__(self, manual_dir):
            self.manual_dir = manual_dir

    def load(name, **kwargs):
        seen["name"], seen["kwargs"] = name, kwargs
        images = np.arange(5 * 784, dtype=np.uint8).reshape(5, 28, 28, 1)
        return _FakeDataset(images, np.array([0, 1, 2, 3, 9]))

    fake = types.ModuleType("tensorflow_datasets")
    fake.load, fake.as_numpy = load, lambda x: x
    fake.download = types.SimpleNamespace(DownloadConfig=DownloadConfig)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    X, y = datasets.load("fashion_mnist", "test", source="tfds", manual_dir="/archives",
                         tfds_data_dir="/tfds", shape="image", scale="raw")
    kw = seen["kwargs"]
    assert seen["name"] == "fashion_mnist" and kw["split"] == "test"
    assert "batch_size" not in kw and kw["as_supervised"] is True and kw["data_dir"] == "/tfds"
    assert kw["download"] is True and kw["try_gcs"] is False
    assert kw["download_and_prepare_kwargs"]["download_config"].manual_dir == "/archives"
    assert X.shape == (5, 28, 28) and np.array_equal(y, [0, 1, 2, 3, 9])
    # offline, a prepared copy is read with download=False
    (env / "tfds" / "mnist" / "3.0.1").mkdir(parents=True)
    (env / "tfds" / "mnist" / "3.0.1" / "dataset_info.json").write_text("{}")
    monkeypatch.setenv("AUTOENC_OFFLINE", "1")
    datasets.load("mnist", "train", source="tfds", tfds_data_dir=env / "tfds")
    assert seen["name"] == "mnist" and seen["kwargs"]["download"] is False


def test_tfds_not_installed_is_reported(env, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(DatasetNotFoundError, match=r"pip install 'autoenc\[tfds\]'"):
        datasets.load("mnist", "test", source="tfds")


@pytest.mark.slow
@pytest.mark.tfds
def test_tfds_real_matches_idx_files(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("AUTOENC_CACHE_DIR", str(tmp_path / "cache"))
    if not datasets.info("fashion_mnist").found:
        pytest.skip("Fashion-MNIST IDX files not installed, nothing to compare with")
    if not (online.tfds_online("fashion_mnist")[0] or online.tfds_prepared("fashion_mnist")):
        pytest.skip("offline and tfds has no prepared fashion_mnist (the Debian archives are "
                    "recompressed, so tfds rejects them as manual_dir: checksums differ)")
    Xt, yt = datasets.load("fashion_mnist", "test", source="tfds")
    Xi, yi = datasets.load("fashion_mnist", "test", source="idx")
    assert Xt.shape == Xi.shape == (10000, 784)
    assert np.array_equal(np.bincount(yt), np.bincount(yi))


@pytest.fixture
def probe_env(monkeypatch):
    """A clean probe cache and no proxy settings; returns the connect attempts made."""
    import socket

    monkeypatch.setattr(online, "_unreachable_until", {})
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    attempts = []

    def refuse(address, timeout=None):
        attempts.append((address, timeout))
        raise ConnectionRefusedError(address)

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_probe_failure_is_remembered_per_host(probe_env):
    assert online._reachable("example.invalid") is False
    assert online._reachable("example.invalid") is False  # remembered: no second connect
    assert probe_env == [(("example.invalid", 443), online.PROBE_TIMEOUT)]
    assert online._reachable("example.invalid", port=80) is False  # another port, another probe
    assert len(probe_env) == 2 and online.PROBE_TIMEOUT <= 1.0


def test_probe_defers_to_a_proxy(probe_env, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert online._reachable("example.invalid") is True and probe_env == []
    assert online._reachable("example.invalid", port=80) is True


def test_probe_gives_up_on_a_hanging_lookup(probe_env, monkeypatch):
    import socket
    import threading

    release = threading.Event()

    def hang(address, timeout=None):
        release.wait(30)  # a DNS lookup that does not honour the socket timeout
        raise OSError("late")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert online._reachable("example.invalid", timeout=0.05) is False
    finally:
        release.set()


def test_tfds_offline_manual_dir_must_hold_every_archive(env, monkeypatch):
    def load(name, **kwargs):
        raise AssertionError("tfds.load must not be called: it would retry the downloads")

    fake = types.ModuleType("tensorflow_datasets")
    fake.load = load
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setenv("AUTOENC_OFFLINE", "1")
    (env / "archives").mkdir()
    (env / "archives" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=r"lacks train-labels-idx1-ubyte\.gz, t10k-images"):
        datasets.load("mnist", "train", source="tfds", manual_dir=env / "archives",
                      tfds_data_dir=env / "tfds")
