"""On-disk cache of parsed splits (``.npz``, no pickle) and a memo of file checksums.

A cached split is keyed by the sha256 of its source files, so an edited or replaced file is
never served stale. Hashing is cheap but not free (26 MB for Fashion-MNIST train), so the
file checksums are memoised by ``(path, size, mtime, inode)``, git-style: an entry recorded
less than two seconds after the file's mtime is not trusted ("racily clean") and the file is
hashed again. Every cached file also records the key it was built for, checked on read.

The cache folder is ``$AUTOENC_CACHE_DIR``, else ``<project>/data/cache``, else
``$XDG_CACHE_HOME/autoenc`` (``~/.cache/autoenc``): the first that is writable. The data
folders themselves may be read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .locate import project_data_dir

ENV_CACHE_DIR = "AUTOENC_CACHE_DIR"
#: Bump when the parsed content of a cached split changes meaning.
CACHE_FORMAT = 1
_MEMO_NAME = "file-checksums.json"
_RACY_NS = 2_000_000_000


@dataclass
class RawSplit:
    """One split as parsed from its source, before subset/scale/shape are applied.

    ``X`` is 2-D in the source's native dtype and scale (uint8 pixels, float32 USPS values),
    ``raw_range`` the (low, high) of that scale, ``files`` maps each source file to the
    sha256 of its decompressed payload.
    """

    X: np.ndarray
    y: np.ndarray
    raw_range: tuple[float, float]
    fmt: str
    location: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict:
        return {
            "raw_range": list(self.raw_range),
            "fmt": self.fmt,
            "location": self.location,
            "files": self.files,
            "notes": self.notes,
        }


def _usable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_dir() -> Path | None:
    """The writable cache folder, or None when none is (then nothing is cached)."""
    env = os.environ.get(ENV_CACHE_DIR, "").strip()
    candidates: list[Path] = []
    if env:
        candidates.append(Path(env).expanduser())
    pdata = project_data_dir()
    if pdata is not None:
        candidates.append(pdata / "cache")
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    candidates.append((Path(xdg) if xdg else Path.home() / ".cache") / "autoenc")
    for i, path in enumerate(candidates):
        if _usable(path):
            if env and i > 0:
                warnings.warn(
                    f"${ENV_CACHE_DIR}={env} is not writable; caching in {path} instead",
                    stacklevel=3,
                )
            return path
    return None


@contextlib.contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target`` that replaces it on success."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache should be readable
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path: Path, cache: Path | None = None) -> str:
    """sha256 of the file's bytes as stored (not decompressed), memoised in ``cache``."""
    path = Path(path)
    st = path.stat()
    if cache is None:
        return _sha256_file(path)
    memo_path = cache / _MEMO_NAME
    try:
        memo = json.loads(memo_path.read_text())
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    key = os.path.abspath(path)
    entry = memo.get(key)
    if (
        isinstance(entry, dict)
        and entry.get("size") == st.st_size
        and entry.get("mtime_ns") == st.st_mtime_ns
        and entry.get("ino") == st.st_ino
        and st.st_mtime_ns < int(entry.get("checked_ns", 0)) - _RACY_NS
    ):
        return str(entry["sha256"])
    digest = _sha256_file(path)
    memo[key] = {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ino": st.st_ino,
        "sha256": digest,
        "checked_ns": time.time_ns(),
    }
    try:
        with _atomic_path(memo_path) as tmp:
            tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
    except OSError:
        pass  # a lost memo only costs a re-hash next time
    return digest


def split_key(dataset: str, split: str, fmt: str, sources: list[str]) -> str:
    """Cache key of one split: what was parsed, how, and the checksums of its sources."""
    blob = json.dumps(
        {"cache_format": CACHE_FORMAT, "dataset": dataset, "split": split, "fmt": fmt,
         "sources": sources},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_path(cache: Path, dataset: str, split: str, fmt: str, key: str) -> Path:
    return cache / f"{dataset}-{split}-{fmt}-{key[:16]}.npz"


def read_entry(path: Path, key: str, *, arrays: bool = True) -> RawSplit | None:
    """The cached split at ``path`` if it exists, is readable and was built for ``key``.

    With ``arrays=False`` only ``y`` and the metadata are read (``X`` is an empty array).
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"][()]))
            if meta.get("key") != key or meta.get("cache_format") != CACHE_FORMAT:
                return None
            y = z["y"]
            X = z["X"] if arrays else np.empty((0, 0), np.uint8)
    except (OSError, ValueError, KeyError, EOFError, TypeError, AttributeError, zipfile.BadZipFile, zlib.error):
        return None  # corrupt (truncated, bit-flipped) or foreign file: rebuild it
    if arrays and (X.ndim != 2 or X.shape[0] != y.shape[0]):
        return None
    try:
        return RawSplit(
            X=X, y=y, raw_range=tuple(meta["raw_range"]), fmt=meta["fmt"],
            location=meta.get("location"), files=dict(meta.get("files", {})),
            notes=list(meta.get("notes", [])),
        )
    except (KeyError, TypeError, ValueError):  # metadata of the wrong shape: rebuild
        return None


def write_entry(path: Path, key: str, raw: RawSplit) -> None:
    """Store ``raw`` at ``path`` atomically and drop stale entries of the same split."""
    meta = dict(raw.meta(), key=key, cache_format=CACHE_FORMAT)
    try:
        with _atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, X=raw.X, y=raw.y, meta=np.array(json.dumps(meta)))
    except OSError as exc:
        warnings.warn(f"could not write cache file {path}: {exc}", stacklevel=3)
        return
    stem = path.name.rsplit("-", 1)[0]
    for old in path.parent.glob(f"{stem}-*.npz"):
        if old != path and len(old.name) == len(path.name):
            with contextlib.suppress(OSError):
                old.unlink()
