"""Optional online sources: tensorflow-datasets and OpenML (via scikit-learn).

Both are imported lazily: ``import autoenc`` and loads served from local files never import
TensorFlow. ``tfds`` also works offline, from data it prepared earlier or in its
``manual_dir`` mode (the archives downloaded beforehand). Before anything is downloaded the
host is probed (one socket connect, a short timeout, the failure remembered for a minute),
so an offline machine falls back in about a second instead of sitting through the
downloaders' retries; set ``AUTOENC_OFFLINE=1`` to never try. Results are returned as
:class:`~autoenc.datasets.cache.RawSplit` with their provenance (``files``, ``notes``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .cache import RawSplit
from .errors import DatasetFormatError

ENV_OFFLINE = "AUTOENC_OFFLINE"
TFDS_NAMES = {"fashion_mnist": "fashion_mnist", "mnist": "mnist"}
#: (host, port) the tfds builders download from (tensorflow_datasets/image_classification/mnist.py).
TFDS_HOSTS = {
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
}
#: File names tfds takes from ``manual_dir`` instead of downloading them (both data sets).
TFDS_ARCHIVES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
#: OpenML data ids; rows are the train split followed by the test split.
OPENML_IDS = {"mnist": 554, "fashion_mnist": 40996, "usps": 41082}
_OPENML_HOST = "api.openml.org"
PROBE_TIMEOUT = 1.0
_UNREACHABLE_FOR = 60.0
_unreachable_until: dict[tuple[str, int], float] = {}
# tf.data batches of this many rows; never batch_size=-1 (see _tfds_arrays)
_TFDS_BATCH = 10_000


class SourceUnavailable(Exception):
    """An optional source cannot be used here (not installed, offline, ...)."""


def offline() -> bool:
    """True when ``$AUTOENC_OFFLINE`` asks never to download."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def _array_sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _reachable(host: str, *, port: int = 443, timeout: float = PROBE_TIMEOUT) -> bool:
    """Quick probe so an offline machine fails in about a second, not after retries.

    One TCP connect to ``host:port``, run in a thread so that a hanging DNS lookup is cut off
    too. A failure is remembered for a minute per host; with a proxy configured the proxy
    decides, so the probe answers True.
    """
    key = (host, port)
    if time.monotonic() < _unreachable_until.get(key, 0.0):
        return False
    proxies = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    if port != 443:
        proxies += ("HTTP_PROXY", "http_proxy")
    if any(os.environ.get(v) for v in proxies):
        return True
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            ok.append(False)

    thread = threading.Thread(target=probe, name=f"probe {host}", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if ok and ok[0]:
        return True
    _unreachable_until[key] = time.monotonic() + _UNREACHABLE_FOR
    return False


# --------------------------------------------------------------------------- tensorflow-datasets
def tfds_installed() -> bool:
    """Whether ``tensorflow_datasets`` can be imported (without importing it or TensorFlow)."""
    if "tensorflow_datasets" in sys.modules:
        return sys.modules["tensorflow_datasets"] is not None
    return importlib.util.find_spec("tensorflow_datasets") is not None


def tfds_folder(tfds_data_dir: str | os.PathLike | None = None) -> str:
    """tfds's data folder: the argument, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
    if tfds_data_dir is not None:
        return os.fspath(tfds_data_dir)
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def tfds_prepared(name: str, tfds_data_dir: str | os.PathLike | None = None) -> bool:
    """Whether tfds has prepared ``name`` in its data folder (a ``dataset_info.json`` of any version).

    Remote folders (``gs://...``) count as prepared: only tfds can tell.
    """
    where = tfds_folder(tfds_data_dir)
    if "://" in where:
        return True
    return any(Path(where, TFDS_NAMES.get(name, name)).glob("*/dataset_info.json"))


def tfds_online(name: str) -> tuple[bool, str]:
    """May tfds download ``name`` from the internet? The answer and, when not, why."""
    if offline():
        return False, f"${ENV_OFFLINE} is set"
    host, port = TFDS_HOSTS[name]
    if _reachable(host, port=port):
        return True, ""
    return False, f"offline: {host}:{port} cannot be reached"


@contextlib.contextmanager
def _tfds_gcs_disabled() -> Iterator[None]:
    """Keep tfds off ``gs://tfds-data`` for the call (no GCS metadata look-ups and their retries).

    tfds 4.9.10 has this private switch on by default; earlier 4.9 releases query GCS for
    ``dataset_info`` unless it is set. ``try_gcs=False`` alone does not stop those look-ups.
    """
    try:
        from tensorflow_datasets.core.utils import gcs_utils
    except ImportError:  # a stand-in module in tests, or a tfds without the switch
        yield
        return
    before = getattr(gcs_utils, "_is_gcs_disabled", None)
    if before is None:
        yield
        return
    gcs_utils._is_gcs_disabled = True
    try:
        yield
    finally:
        gcs_utils._is_gcs_disabled = before


def _tfds_arrays(tfds, dataset) -> tuple[np.ndarray, np.ndarray]:
    """All (image, label) pairs of an unbatched ``as_supervised`` dataset, as two arrays.

    Not ``batch_size=-1``: tfds then batches by the recorded split sizes, or by
    ``sys.maxsize`` when they are unknown, and TensorFlow 2.21 aborts the interpreter
    (``std::length_error``) reserving that much.
    """
    images, labels = [], []
    for xb, yb in tfds.as_numpy(dataset.batch(_TFDS_BATCH)):
        images.append(np.asarray(xb))
        labels.append(np.asarray(yb))
    if not images:
        return np.zeros((0, 28, 28, 1), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(images), np.concatenate(labels)


def load_tfds(
    name: str,
    split: str,
    *,
    tfds_data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> RawSplit:
    """One split from tensorflow-datasets (``tfds.load(..., as_supervised=True)``).

    Downloads only when the download host answers (or ``manual_dir`` holds the archives);
    otherwise tfds is asked with ``download=False`` and reads only what it prepared before,
    and when there is nothing prepared tfds (and TensorFlow) are not even imported.

    Parameters
    ----------
    name : ``mnist`` or ``fashion_mnist``.
    split : ``"train"`` or ``"test"``.
    tfds_data_dir : tfds's own data folder (default ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
    manual_dir : folder holding the original archives (``train-images-idx3-ubyte.gz``, ...),
        for preparation without internet.

    Raises
    ------
    SourceUnavailable
        tfds is not installed, or offline with nothing prepared, or tfds failed; the
        message says what to do.
    """
    if name not in TFDS_NAMES:
        raise SourceUnavailable(f"tensorflow-datasets has no {name!r} data set")
    if not tfds_installed():
        raise SourceUnavailable("tensorflow-datasets is not installed (pip install 'autoenc[tfds]')")
    tname = TFDS_NAMES[name]
    where = tfds_folder(tfds_data_dir)
    online, why = tfds_online(name)
    prepared = tfds_prepared(name, tfds_data_dir)
    # Offline, tfds gets download=True only to prepare from manual_dir, and only when every
    # archive is there: a missing one would send it into its download retries.
    missing = [f for f in TFDS_ARCHIVES if manual_dir is None or not Path(manual_dir, f).is_file()]
    download = online or (manual_dir is not None and not missing)
    if not download and not prepared:
        todo = (f"manual_dir {os.fspath(manual_dir)} lacks {', '.join(missing)}"
                if manual_dir is not None else
                f"run once online, or pass manual_dir=DIR holding {', '.join(TFDS_ARCHIVES)}")
        raise SourceUnavailable(
            f"{why}, and tfds has not prepared {tname!r} in {where}; {todo}"
        )
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise SourceUnavailable(
            f"tensorflow-datasets cannot be imported ({exc}); pip install 'autoenc[tfds]'"
        ) from exc
    kwargs: dict = {"split": split, "as_supervised": True, "download": download, "try_gcs": False}
    if tfds_data_dir is not None:
        kwargs["data_dir"] = os.fspath(tfds_data_dir)
    if manual_dir is not None:
        kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        }
    gcs_off = _tfds_gcs_disabled() if not online else contextlib.nullcontext()
    try:
        with gcs_off:
            images, labels = _tfds_arrays(tfds, tfds.load(tname, **kwargs))
    except Exception as exc:  # tfds raises many kinds (download, missing manual files, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = f" ({why}; tfds was asked for its prepared copy only)" if not download else ""
        raise SourceUnavailable(f"tfds.load({tname!r}) failed{hint}: {first}") from exc
    X = images.reshape(images.shape[0], -1)
    if X.shape[1] != 784 or X.dtype != np.uint8:
        raise DatasetFormatError(
            f"tfds {name} {split}: images of shape {images.shape[1:]} {images.dtype}, "
            "expected 28x28(x1) uint8"
        )
    y = labels.astype(np.int64)
    return RawSplit(
        X=X, y=y, raw_range=(0.0, 255.0), fmt="tfds", location=where,
        files={f"tfds:{tname}/{split}": _array_sha256(X, y)},
        notes=[f"from tensorflow-datasets {tname!r} ({where})"],
    )


def source_status() -> list[tuple[str, str]]:
    """One ``(source, state)`` row per optional source, for ``python -m autoenc.datasets list``.

    Says whether tfds is installed, whether each source may download here (``$AUTOENC_OFFLINE``
    or a host probe) and what tfds has prepared, without importing tfds or TensorFlow.
    """
    from importlib.metadata import PackageNotFoundError, version

    rows = []
    if tfds_installed():
        try:
            what = f"installed (tensorflow-datasets {version('tensorflow-datasets')})"
        except PackageNotFoundError:
            what = "installed"
        if offline():
            net = f"${ENV_OFFLINE} is set: prepared copies only"
        else:
            down = [f"{h}:{p}" for h, p in TFDS_HOSTS.values() if not _reachable(h, port=p)]
            net = (f"offline ({' and '.join(down)} cannot be reached): prepared copies only"
                   if down else "downloads allowed")
        prepared = [n for n in TFDS_NAMES if tfds_prepared(n)]
        rows.append(("tfds", f"{what}; {net}; prepared in {tfds_folder()}: "
                             f"{', '.join(prepared) or 'none'}"))
    else:
        rows.append(("tfds", "not installed (pip install 'autoenc[tfds]')"))
    if offline():
        rows.append(("openml", f"${ENV_OFFLINE} is set: only copies already in the cache"))
    elif _reachable(_OPENML_HOST):
        rows.append(("openml", f"downloads allowed ({_OPENML_HOST} answers)"))
    else:
        rows.append(("openml", f"offline: {_OPENML_HOST} cannot be reached: only copies already "
                               "in the cache"))
    return rows


# --------------------------------------------------------------------------- OpenML
def load_openml(name: str, n_train: int, data_home: Path | None) -> dict[str, RawSplit]:
    """Both splits from OpenML via :func:`sklearn.datasets.fetch_openml`.

    Parameters
    ----------
    n_train : the first ``n_train`` rows are the train split, the rest the test split.
    data_home : scikit-learn's download cache folder.
    """
    if name not in OPENML_IDS:
        raise SourceUnavailable(f"no OpenML copy of {name!r} is known")
    if offline():
        raise SourceUnavailable(f"skipped: ${ENV_OFFLINE} is set")
    if not _reachable(_OPENML_HOST):
        raise SourceUnavailable(f"offline: {_OPENML_HOST} cannot be reached")
    from sklearn.datasets import fetch_openml

    data_id = OPENML_IDS[name]
    try:
        X, y = fetch_openml(
            data_id=data_id, as_frame=False, return_X_y=True,
            data_home=None if data_home is None else os.fspath(data_home),
        )
    except Exception as exc:  # network errors come in many types (URLError, HTTPError, ...)
        raise SourceUnavailable(f"fetch_openml(data_id={data_id}) failed: {exc}") from exc
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.float64)
    if not np.array_equal(y, np.round(y)):
        raise DatasetFormatError(f"OpenML data_id {data_id}: non-integer labels")
    y = y.astype(np.int64)
    if y.min() == 1 and y.max() == 10:
        y = y - 1
    lo, hi = float(X.min()), float(X.max())
    for rng in ((0.0, 255.0), (-1.0, 1.0), (0.0, 2.0), (0.0, 1.0)):
        if rng[0] - 1e-9 <= lo and hi <= rng[1] + 1e-9:
            break
    else:
        raise DatasetFormatError(f"OpenML data_id {data_id}: unexpected value range [{lo}, {hi}]")
    if rng == (0.0, 255.0):
        X = X.astype(np.uint8)
    url = f"https://www.openml.org/d/{data_id}"
    out = {}
    for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        Xs, ys = X[rows], y[rows]
        out[split] = RawSplit(
            X=Xs, y=ys, raw_range=rng, fmt="openml", location=url,
            files={f"openml:{data_id}/{split}": _array_sha256(Xs, ys)},
            notes=[f"downloaded from OpenML {url} (rows {rows.start}..{rows.stop or len(y)})"],
        )
    return out
