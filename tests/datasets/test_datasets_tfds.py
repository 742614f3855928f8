"""The tensorflow-datasets path for real: tfds's own ``mock_data`` fabricates the examples.

Skipped (with the reason in the summary) only where tensorflow_datasets is not installed;
``$AUTOENC_REQUIRE_TFDS=1`` (set by ``make test``) turns that skip into a failure, so CI
cannot pass without running these tests.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from autoenc import datasets
from autoenc.datasets import DatasetNotFoundError, online

pytestmark = pytest.mark.tfds
N = 24  # examples fabricated per split


@pytest.fixture(scope="module")
def tfds():
    if not online.tfds_installed():
        if os.environ.get("AUTOENC_REQUIRE_TFDS", "").strip() not in ("", "0"):
            pytest.fail("$AUTOENC_REQUIRE_TFDS is set but tensorflow_datasets is not installed")
        pytest.skip("tensorflow_datasets is not installed: pip install -e '.[tfds]'")
    import tensorflow_datasets  # installed but broken fails here, never skips

    return tensorflow_datasets


@pytest.fixture
def env(isolated):
    return isolated


@pytest.fixture
def mocked(tfds):
    with tfds.testing.mock_data(num_examples=N, policy=tfds.testing.MockPolicy.USE_CODE):
        yield tfds


@pytest.fixture
def load_calls(mocked, monkeypatch):
    """Every ``tfds.load`` call: its kwargs and whether tfds's GCS switch was off during it."""
    from tensorflow_datasets.core.utils import gcs_utils

    calls = []
    real_load = mocked.load

    def spy(name, **kwargs):
        calls.append({"name": name, **kwargs, "gcs_disabled": gcs_utils._is_gcs_disabled})
        return real_load(name, **kwargs)

    monkeypatch.setattr(mocked, "load", spy)
    return calls


def prepared_dir(root, name="mnist"):
    """A tfds data folder that holds a prepared ``name`` (what tfds looks for first)."""
    d = root / "tfds" / name / "3.0.1"
    d.mkdir(parents=True)
    (d / "dataset_info.json").write_text("{}")
    return root / "tfds"


def mock_arrays(tfds, name, split):
    """The fabricated split as tfds itself hands it out, for comparison."""
    ds = tfds.load(name, split=split, as_supervised=True)
    pairs = list(tfds.as_numpy(ds))
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


def test_load_through_tfds(env, mocked, load_calls, monkeypatch):
    monkeypatch.setattr(online, "_reachable", lambda host, **kw: True)
    X, y = datasets.load("mnist", "train", source="tfds")
    assert load_calls[0]["name"] == "mnist" and load_calls[0]["download"] is True
    assert load_calls[0]["try_gcs"] is False and load_calls[0]["as_supervised"] is True
    images, labels = mock_arrays(mocked, "mnist", "train")
    assert images.shape == (N, 28, 28, 1) and images.dtype == np.uint8 and images.max() > 128
    assert X.shape == (N, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(X, images.reshape(N, -1) / np.float32(255))
    assert y.dtype == np.int64 and np.array_equal(y, labels) and set(y) <= set(range(10))
    Xi, _ = datasets.load("fashion_mnist", "test", source="tfds", shape="image", scale="raw")
    assert Xi.shape == (N, 28, 28) and Xi.dtype == np.float32 and Xi.max() > 1


def test_provenance_record(env, mocked, monkeypatch):
    monkeypatch.setattr(online, "_reachable", lambda host, **kw: True)
    raw = online.load_tfds("fashion_mnist", "test", tfds_data_dir=env / "tfds")
    images, labels = mock_arrays(mocked, "fashion_mnist", "test")
    assert raw.fmt == "tfds" and raw.raw_range == (0.0, 255.0)
    assert raw.X.dtype == np.uint8 and np.array_equal(raw.X, images.reshape(N, -1))
    sha = hashlib.sha256(raw.X.tobytes() + labels.astype(np.int64).tobytes()).hexdigest()
    assert raw.files == {"tfds:fashion_mnist/test": sha}
    assert raw.location == str(env / "tfds") and str(env / "tfds") in raw.notes[0]


def test_unreachable_host_reads_the_prepared_copy_without_download(env, load_calls, monkeypatch):
    from tensorflow_datasets.core.utils import gcs_utils

    # GCS look-ups on, as in tfds releases before 4.9.10: the load must switch them off
    monkeypatch.setattr(gcs_utils, "_is_gcs_disabled", False)
    probed = []
    monkeypatch.setattr(online, "_reachable", lambda host, **kw: probed.append((host, kw)) or False)
    X, _ = datasets.load("mnist", "test", source="tfds", tfds_data_dir=prepared_dir(env))
    assert probed == [("storage.googleapis.com", {"port": 443})]
    (call,) = load_calls
    assert call["download"] is False and call["try_gcs"] is False and call["gcs_disabled"] is True
    assert X.shape == (N, 784) and gcs_utils._is_gcs_disabled is False  # restored


def test_autoenc_offline_never_probes(env, load_calls, monkeypatch):
    def no_probe(host, **kw):
        raise AssertionError(f"probed {host} although $AUTOENC_OFFLINE is set")

    monkeypatch.setattr(online, "_reachable", no_probe)
    monkeypatch.setenv("AUTOENC_OFFLINE", "1")
    datasets.load("mnist", "train", source="tfds", tfds_data_dir=prepared_dir(env))
    assert load_calls[0]["download"] is False and load_calls[0]["try_gcs"] is False


def test_offline_with_nothing_prepared_says_what_to_do(env, tfds, monkeypatch):
    from tensorflow_datasets.core.utils import gcs_utils

    gcs_before = gcs_utils._is_gcs_disabled

    def no_load(*a, **kw):
        raise AssertionError("tfds.load called although nothing can be had offline")

    monkeypatch.setattr(tfds, "load", no_load)
    monkeypatch.setattr(online, "_reachable", lambda host, **kw: False)
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.load("mnist", "train", source="tfds", tfds_data_dir=env / "empty")
    msg = str(err.value)
    assert "storage.googleapis.com:443 cannot be reached" in msg
    assert f"has not prepared 'mnist' in {env / 'empty'}" in msg and "manual_dir=DIR" in msg
    # auto falls through tfds and OpenML to the other sources, with both reasons listed
    with pytest.raises(DatasetNotFoundError, match=r"(?s)tfds: offline.*openml: offline"):
        datasets.load("mnist", "test", data_dir=env / "none", tfds_data_dir=env / "empty")
    assert gcs_utils._is_gcs_disabled == gcs_before
