"""Where data files are looked for, and how their bytes are read.

Search order for file sources: the ``data_dir`` argument, ``$AUTOENC_DATA_DIR`` (several
folders may be joined with ``os.pathsep``), the project's ``data/`` folder, then places
specific to a data set (the Debian package folder for Fashion-MNIST). Inside each folder the
subfolders named after the data set are tried first (``fashion-mnist``, ``mnist``, ``usps``...),
so ``AUTOENC_DATA_DIR=/work/shared/data`` finds both ``usps/`` and ``mnist/``. An explicit
``data_dir`` is searched itself before its subfolders.

``$AUTOENC_DATA_DIR_ONLY`` (what the study command line's ``--data-dir`` sets) names the one
folder to use: its files and its data-set subfolders, and nothing else (no other folder, no
online source), so a study never trains silently on other data than the folder given.
"""

from __future__ import annotations

import bz2
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetFormatError

ENV_DATA_DIR = "AUTOENC_DATA_DIR"
ENV_DATA_DIR_ONLY = "AUTOENC_DATA_DIR_ONLY"


def only_data_dir() -> str | None:
    """The one data folder to use (``$AUTOENC_DATA_DIR_ONLY``, set by ``--data-dir``), or None."""
    return os.environ.get(ENV_DATA_DIR_ONLY, "").strip() or None


def project_root() -> Path | None:
    """The source checkout this package runs from, or None when installed elsewhere."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "autoenc").is_dir():
        return root
    return None


def project_data_dir() -> Path | None:
    """``<project>/data`` when running from a checkout."""
    root = project_root()
    return None if root is None else root / "data"


@dataclass(frozen=True)
class SearchDir:
    """One folder to look in, and why it is on the list."""

    path: Path
    origin: str


def search_dirs(
    folders: tuple[str, ...],
    data_dir: str | os.PathLike | None,
    extra: tuple[tuple[str, str], ...] = (),
    shared_names: bool = False,
) -> list[SearchDir]:
    """Folders to search for one data set, in priority order.

    Parameters
    ----------
    folders : subfolder names that identify the data set (``("fashion-mnist", ...)``).
    data_dir : the caller's explicit folder, searched first (itself and its subfolders).
    extra : ``(path, origin)`` pairs searched last (e.g. the Debian package folder).
    shared_names : the data set's file names are shared with another data set (MNIST and
        Fashion-MNIST IDX files). Then files lying directly in the general folders
        (``$AUTOENC_DATA_DIR``, ``data/``) are not used, only those in a named subfolder;
        an explicit ``data_dir`` is taken at its word.
    """
    bases: list[tuple[Path, str, bool]] = []
    if data_dir is None and only_data_dir():  # --data-dir: that folder itself, then its subfolders
        base = Path(only_data_dir()).expanduser()  # type: ignore[arg-type]
        return [SearchDir(base, "--data-dir"), *(SearchDir(base / sub, f"--data-dir, subfolder {sub}/")
                                                 for sub in folders)]
    if data_dir is not None:
        bases.append((Path(data_dir).expanduser(), "data_dir argument", True))
    for part in os.environ.get(ENV_DATA_DIR, "").split(os.pathsep):
        if part.strip():
            bases.append((Path(part.strip()).expanduser(), f"${ENV_DATA_DIR}", not shared_names))
    pdata = project_data_dir()
    if pdata is not None:
        bases.append((pdata, "project data/", not shared_names))
    out: list[SearchDir] = []
    for i, (base, origin, flat) in enumerate(bases):
        explicit = i == 0 and data_dir is not None
        if explicit:  # the caller pointed at the files themselves
            out.append(SearchDir(base, origin))
        for sub in folders:
            out.append(SearchDir(base / sub, f"{origin}, subfolder {sub}/"))
        if flat and not explicit:
            out.append(SearchDir(base, origin))
    for path, origin in extra:
        out.append(SearchDir(Path(path), origin))
    seen: set[str] = set()
    unique = []
    for d in out:
        key = os.path.abspath(d.path)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def find_file(directory: Path, name: str, suffixes: tuple[str, ...] = ("", ".gz")) -> Path | None:
    """``directory/name+suffix`` for the first suffix that names a regular file."""
    for suffix in suffixes:
        path = directory / (name + suffix)
        if path.is_file():
            return path
    return None


def read_payload(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip or bzip2 (by magic bytes).

    Raises
    ------
    DatasetFormatError
        When the compressed stream is truncated or corrupt.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetFormatError(f"{path}: cannot be read ({exc})") from exc
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        raise DatasetFormatError(
            f"{path}: truncated or corrupt compressed file ({exc}). "
            "Download it again; `python -m autoenc.datasets info NAME` lists the expected checksums."
        ) from exc
    if path.suffix in (".gz", ".bz2"):
        raise DatasetFormatError(
            f"{path}: the name ends in {path.suffix} but the file is not {path.suffix[1:]}-compressed"
        )
    return raw
