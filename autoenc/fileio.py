"""Atomic file writes, the one home for them: every file the package writes (models, run
stores, caches, reports) goes through a temporary file in the same folder, fsync and rename,
so a reader (or a crash) sees the old file or the new one, never half of it.

Imports numpy alone, so that every layer, the ``nn`` core included, can use it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_savez", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write through a temporary file in the same folder, fsync, then rename: readers see
    the old file or the new one, never half of it. Permissions follow the umask (not the
    0600 of ``mkstemp``), so stores and reports can be shared as they are.

    A symlink is written through (its target is replaced, the link stays); anything else
    that is not a regular file (a directory, a device, a FIFO) is never replaced.

    Raises
    ------
    IsADirectoryError, FileExistsError
        ``path`` (or the symlink's target) exists and is not a regular file.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # write the file the link points to, keep the link
    if path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file (a device, FIFO or socket)"
        error = IsADirectoryError if path.is_dir() else FileExistsError
        raise error(f"{path} is {kind}; refusing to replace it: name a file path instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_savez(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` into memory, then ``atomic_write_bytes`` (all or nothing)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """``atomic_write_bytes`` of ``text`` as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """``obj`` as indented JSON with sorted keys (stable diffs), written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")
