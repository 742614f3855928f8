"""Data sets for the autoencoder studies: real images from disk, synthetic course data.

>>> from autoenc import datasets
>>> X, y = datasets.load("fashion_mnist", "train")          # (60000, 784) float32 in [0, 1]
>>> X, y = datasets.load("usps", "test", shape="sequence")  # (2007, 256, 1) for Conv1D
>>> datasets.info("mnist").notes                            # says when train is the 5k subset
>>> datasets.register_dataset("patches", "patches.npz")     # your own: Keras mnist.npz layout or a folder

``python -m autoenc.datasets list`` prints what is found on this machine. Files are looked
for in ``data_dir``, ``$AUTOENC_DATA_DIR``, the project's ``data/`` folder and, for
Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian package
``dataset-fashion-mnist``); see ``data/README.md``.
"""

from __future__ import annotations

from .errors import DatasetFormatError, DatasetNotFoundError
from .files import register_dataset, registered, unregister_dataset
from .registry import DATASETS, DatasetInfo, class_names, info, load, stratified_indices
from .settings import load_settings

__all__ = [
    "DATASETS",
    "DatasetFormatError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "class_names",
    "info",
    "load",
    "load_settings",
    "register_dataset",
    "registered",
    "stratified_indices",
    "unregister_dataset",
]
