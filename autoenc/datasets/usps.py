"""USPS handwritten digits (16x16, 10 classes) in its three text formats.

- ESL (``zip.train.gz`` / ``zip.test.gz``): one image per line, the label (``6.0000``) then
  256 grey values in [-1, 1].
- The course files (``USPS_train.txt`` / ``USPS_test.txt``): a header line ``10 256``, then
  ``label v1 ... v256`` with values in [0, 2] (exactly the ESL values + 1), then a final
  ``-1`` line.
- LIBSVM (``usps`` / ``usps.t``, optionally ``.bz2``): ``label index:value ...`` with labels
  1..10 for digits 0..9 and values in [-1, 1].

None of these formats stores the number of rows, so the parsers check it against the
published counts (7291 train, 2007 test): a file cut at a line boundary is caught too.
"""

from __future__ import annotations

import io
import os

import numpy as np

from .errors import DatasetFormatError

N_PIXELS = 256
ESL_RANGE = (-1.0, 1.0)
COURSE_RANGE = (0.0, 2.0)
_TOL = 1e-9


def _decode(payload: bytes, path: str | os.PathLike) -> str:
    try:
        return payload.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(
            f"{path}: not a text file (byte {exc.start} is 0x{payload[exc.start]:02x})"
        ) from exc


def _table(lines: list[str], first_line: int, path: str | os.PathLike) -> np.ndarray:
    """Parse ``label v1..v256`` rows, naming the first bad line on error."""
    for i, line in enumerate(lines):
        n = len(line.split())
        if n != N_PIXELS + 1:
            raise DatasetFormatError(
                f"{path}, line {first_line + i}: {n} values, expected {N_PIXELS + 1} "
                "(the label then 256 pixels); the file is truncated or corrupt"
            )
    try:
        return np.loadtxt(lines, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: non-numeric value ({exc})") from exc


def _split_labels(
    table: np.ndarray, path: str | os.PathLike, value_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    labels, X = table[:, 0], table[:, 1:]
    if not np.array_equal(labels, np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise DatasetFormatError(f"{path}: labels must be the integers 0..9 (first column)")
    lo, hi = value_range
    if X.min() < lo - _TOL or X.max() > hi + _TOL:
        raise DatasetFormatError(
            f"{path}: pixel values in [{X.min():g}, {X.max():g}], expected [{lo:g}, {hi:g}] "
            "for this format"
        )
    return X, labels.astype(np.int64)


def parse_esl(payload: bytes, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """ESL ``zip.*`` payload -> ``(X float64 (n, 256) in [-1, 1], y int64)``."""
    lines = [line for line in _decode(payload, path).splitlines() if line.strip()]
    if not lines:
        raise DatasetFormatError(f"{path}: the file holds no rows")
    return _split_labels(_table(lines, 1, path), path, ESL_RANGE)


def parse_course(payload: bytes, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Course ``USPS_*.txt`` payload -> ``(X float64 (n, 256) in [0, 2], y int64)``."""
    lines = _decode(payload, path).splitlines()
    header = lines[0].split() if lines else []
    if len(header) != 2 or header[1] != str(N_PIXELS):
        raise DatasetFormatError(
            f"{path}, line 1: expected the header line '10 256', found {lines[0][:40]!r}"
            if lines else f"{path}: the file is empty"
        )
    body = lines[1:]
    while body and body[-1].strip() in ("", "-1"):
        body.pop()  # the course files end with a stray '-1' line
    if not body:
        raise DatasetFormatError(f"{path}: the file holds no rows after its header")
    return _split_labels(_table(body, 2, path), path, COURSE_RANGE)


def parse_libsvm(payload: bytes, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """LIBSVM ``usps`` / ``usps.t`` payload -> ``(X float64 (n, 256) in [-1, 1], y int64)``.

    Labels 1..10 are mapped to digits 0..9 (LIBSVM's convention for this data set).
    """
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(io.BytesIO(payload), n_features=N_PIXELS, dtype=np.float64)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: not a LIBSVM file with 256 features ({exc})") from exc
    X = X.toarray()
    if X.shape[0] == 0:
        raise DatasetFormatError(f"{path}: the file holds no rows")
    if not np.array_equal(y, np.round(y)) or y.min() < 0 or y.max() > 10:
        raise DatasetFormatError(f"{path}: labels must be integers in 1..10 (or 0..9)")
    if y.min() >= 1:
        y = y - 1
    elif y.max() > 9:
        raise DatasetFormatError(f"{path}: labels mix 0 and 10; expected 1..10 or 0..9")
    table = np.column_stack([y, X])
    return _split_labels(table, path, ESL_RANGE)
