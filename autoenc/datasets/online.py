"""Optional online sources: tensorflow-datasets and OpenML (via scikit-learn).

Both are imported lazily. ``tfds`` also works offline in its ``manual_dir`` mode (the
archives downloaded beforehand). OpenML downloads need internet; set ``AUTOENC_OFFLINE=1``
to never try. Results are returned as :class:`~autoenc.datasets.cache.RawSplit` so the
registry can cache them like local files.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import numpy as np

from .cache import RawSplit
from .errors import DatasetFormatError

ENV_OFFLINE = "AUTOENC_OFFLINE"
TFDS_NAMES = {"fashion_mnist": "fashion_mnist", "mnist": "mnist"}
#: OpenML data ids; rows are the train split followed by the test split.
OPENML_IDS = {"mnist": 554, "fashion_mnist": 40996, "usps": 41082}
_OPENML_HOST = "api.openml.org"
_unreachable_until = 0.0


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


def load_tfds(
    name: str,
    split: str,
    *,
    tfds_data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> RawSplit:
    """One split from tensorflow-datasets: ``tfds.load(..., batch_size=-1, as_supervised=True)``.

    Parameters
    ----------
    tfds_data_dir : tfds's own data folder (default ``~/tensorflow_datasets``).
    manual_dir : folder holding the original archives, for offline preparation.
    """
    if name not in TFDS_NAMES:
        raise SourceUnavailable(f"tensorflow-datasets has no {name!r} data set")
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise SourceUnavailable(
            "tensorflow-datasets is not installed (pip install 'autoenc[tfds]')"
        ) from exc
    # Offline, only data tfds has already prepared (or can prepare from manual_dir) is used.
    kwargs: dict = {"split": split, "batch_size": -1, "as_supervised": True,
                    "download": not offline() or manual_dir is not None}
    if tfds_data_dir is not None:
        kwargs["data_dir"] = os.fspath(tfds_data_dir)
    if manual_dir is not None:
        kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        }
    try:
        images, labels = tfds.as_numpy(tfds.load(TFDS_NAMES[name], **kwargs))
    except Exception as exc:  # tfds raises many kinds (download, missing manual files, ...)
        raise SourceUnavailable(f"tfds.load({TFDS_NAMES[name]!r}) failed: {exc}") from exc
    images = np.asarray(images)
    X = images.reshape(images.shape[0], -1)
    if X.shape[1] != 784 or X.dtype != np.uint8:
        raise DatasetFormatError(
            f"tfds {name} {split}: images of shape {images.shape[1:]} {images.dtype}, "
            "expected 28x28(x1) uint8"
        )
    y = np.asarray(labels).astype(np.int64)
    where = os.fspath(tfds_data_dir) if tfds_data_dir else "~/tensorflow_datasets"
    return RawSplit(
        X=X, y=y, raw_range=(0.0, 255.0), fmt="tfds", location=where,
        files={f"tfds:{TFDS_NAMES[name]}/{split}": _array_sha256(X, y)},
        notes=[f"from tensorflow-datasets {TFDS_NAMES[name]!r} ({where})"],
    )


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """Quick probe so an offline machine fails in milliseconds, not after retries."""
    global _unreachable_until
    if time.monotonic() < _unreachable_until:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return True  # the proxy decides; let urllib try
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        _unreachable_until = time.monotonic() + 60.0
        return False


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
