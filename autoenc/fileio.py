"""Atomic file writes, the one home for them: every file the package writes (models, run
stores, caches, reports) goes through a temporary file in the same folder, fsync and rename,
so a reader (or a crash) sees the old file or the new one, never half of it. And the one
reader of ``.npz`` files that checks what a file declares before anything is allocated.

Imports numpy alone, so that every layer, the ``nn`` core included, can use it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileFormatError

__all__ = ["atomic_savez", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "make_writable_dir",
           "max_read_bytes", "read_npz"]

#: Default budget of ``read_npz`` (bytes of array data a file may declare); override with the
#: environment variable AUTOENC_MAX_FILE_BYTES on a machine that needs bigger files.
MAX_READ_BYTES = 1 << 30


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


def make_writable_dir(path: Path, error: type[Exception], name: str) -> None:
    """Create the folder ``path`` (and its parents) and check this process may write in it;
    ``error`` naming it as ``name`` (``--out``, ``--report-dir``) otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"{name} {path}: cannot create the folder ({e.strerror or e})") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise error(f"{name} {path} is not writable; choose another folder")


def max_read_bytes() -> int:
    """The memory budget for reading one file: AUTOENC_MAX_FILE_BYTES, else 1 GiB."""
    value = os.environ.get("AUTOENC_MAX_FILE_BYTES", "")
    try:
        return int(value) if value else MAX_READ_BYTES
    except ValueError:
        raise FileFormatError(f"AUTOENC_MAX_FILE_BYTES={value!r} is not a number of bytes") from None


def read_npz(path: str | os.PathLike[str], *, max_bytes: int | None = None,
             error: type[Exception] = FileFormatError, kind: str = ".npz file", hint: str = ""
             ) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, after checking what each member declares.

    Every member must be a ``.npy`` array of a plain dtype (no objects, no pickle) whose header
    agrees with the member's size in the zip directory, and the arrays together must fit in
    ``max_bytes`` (default :func:`max_read_bytes`): a small crafted file (a zip bomb, a header
    declaring a huge shape) is refused before anything is allocated or decompressed.

    Raises
    ------
    error
        (default :class:`FileFormatError`) with a message naming the file (a ``kind``) and the
        problem, and ``hint`` (what to do) appended.
    """
    path = Path(path)
    budget = max_read_bytes() if max_bytes is None else int(max_bytes)
    if not path.is_file():
        raise error(f"{path}: not found or not a regular file")
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise error(f"{path}: not a readable {kind}: a single .npy array, not an .npz of named arrays")
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            shapes: list[tuple[str, tuple[int, ...], np.dtype]] = []
            total = 0
            for info in infos:
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise error(f"{path}: member {info.filename!r} is not a .npy array; not an .npz of arrays")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(f)
                    header_bytes = f.tell()
                if dtype.hasobject:
                    raise error(f"{path}: {info.filename} holds Python objects; refusing to unpickle")
                nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if nbytes != info.file_size - header_bytes:
                    raise error(f"{path}: {info.filename} declares {nbytes} bytes of data but holds "
                                f"{info.file_size - header_bytes}; the file is truncated or crafted")
                total += nbytes
                if total > budget:
                    raise error(f"{path}: its arrays declare more than {budget} bytes (the reading budget); "
                                "the file is damaged or crafted (set AUTOENC_MAX_FILE_BYTES to read a "
                                "genuinely bigger file)")
                shapes.append((info.filename, shape, dtype))
            arrays = {}
            for name, _, _ in shapes:
                with zf.open(name) as f:
                    arrays[name[:-len(".npy")]] = np.lib.format.read_array(f, allow_pickle=False)
            return arrays
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError,
            RuntimeError) as e:
        if isinstance(e, error):
            raise
        raise error(f"{path}: not a readable {kind} ({type(e).__name__}: {e}){hint}") from e
