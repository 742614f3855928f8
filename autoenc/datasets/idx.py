"""IDX files (LeCun's MNIST format, also used by Fashion-MNIST): read, validate, write.

Layout: two zero bytes, a type code (0x08 = uint8), the number of dimensions ``k``, then
``k`` big-endian uint32 sizes, then the data in C order. Labels are magic 2049 (0x801,
1-D), images 2051 (0x803, 3-D).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from .errors import DatasetFormatError

_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
LABELS_MAGIC = 0x801
IMAGES_MAGIC = 0x803


def parse_idx(payload: bytes, path: str | os.PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Decode one IDX payload (already decompressed), checking header and length.

    Parameters
    ----------
    payload : the file's bytes.
    path : the file's name, for error messages.
    ndim : the expected number of dimensions (1 for labels, 3 for images), or None.

    Returns
    -------
    np.ndarray
        Read-only array of the shape the header announces.

    Raises
    ------
    DatasetFormatError
        Bad magic number, wrong number of dimensions, truncated data or trailing bytes.
    """
    if len(payload) < 4:
        raise DatasetFormatError(f"{path}: {len(payload)} bytes, too short for an IDX header")
    magic = int.from_bytes(payload[:4], "big")
    code, nd = payload[2], payload[3]
    if payload[:2] != b"\0\0" or code not in _TYPES or nd == 0:
        raise DatasetFormatError(
            f"{path}: bad magic number 0x{magic:08x}: not an IDX file (IDX labels start with "
            f"0x{LABELS_MAGIC:08x} = {LABELS_MAGIC}, images with 0x{IMAGES_MAGIC:08x} = "
            f"{IMAGES_MAGIC})"
        )
    if ndim is not None and nd != ndim:
        kind = {1: "labels", 3: "images"}.get(ndim, f"{ndim}-D data")
        raise DatasetFormatError(
            f"{path}: magic number {magic} announces {nd}-D data but {kind} are {ndim}-D "
            f"(magic {0x800 + ndim}); are the image and label files swapped?"
        )
    header = 4 + 4 * nd
    if len(payload) < header:
        raise DatasetFormatError(f"{path}: truncated inside the IDX header ({len(payload)} bytes)")
    dims = struct.unpack(f">{nd}I", payload[4:header])
    dtype = np.dtype(_TYPES[code])
    count = math.prod(dims)
    expected = count * dtype.itemsize
    have = len(payload) - header
    what = f"{dims[0]} items" + (f" of {'x'.join(map(str, dims[1:]))}" if nd > 1 else "")
    if have < expected:
        raise DatasetFormatError(
            f"{path}: truncated: the header announces {what} ({expected} data bytes) but the "
            f"file holds {have} data bytes"
        )
    if have > expected:
        raise DatasetFormatError(
            f"{path}: {have - expected} bytes after the {what} the header announces "
            "(wrong count in the header, or concatenated files)"
        )
    return np.frombuffer(payload, dtype, count=count, offset=header).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed when ``path`` ends in ``.gz``."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".gz":
        tmp.write_bytes(gzip.compress(data, mtime=0))
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
