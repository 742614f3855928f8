"""The report's folder: it writes only there, and touches only the files it wrote.

Each report folder holds a manifest (``.autoenc-report.json``) listing the files the report
wrote. A new render replaces those files and removes the ones of the last render it no longer
has; it never removes or replaces a file outside its manifest. A folder that is not empty and
has no manifest is refused unless ``force`` (then the report writes its files beside the
others, and still removes nothing it did not write); the one exception is a folder holding
nothing but an earlier render of this program (a report from before manifests), adopted as is.

``claim`` checks everything about the output paths (a file where the folder should be, a
dangling link, a system folder, no write permission, ``figures/`` a file, a README.md or
index.html of the user's) before any analysis runs, so a bad path costs nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError
from ..fileio import atomic_write_bytes, atomic_write_text, make_writable_dir

__all__ = ["MANIFEST", "ReportFolder", "ReportPathError", "claim"]

MANIFEST = ".autoenc-report.json"
_FORMAT = "autoenc-report-manifest"
#: the files of a study report and of the index of ``report --all``, with what marks an earlier
#: render of this program (reports written before manifests existed are adopted by these)
_FILES = {"report": ("report.html", "README.md", "headline.json"), "index": ("index.html", "README.md")}
_SIGNATURES = {"report.html": "autoenc report</title>", "index.html": "autoenc study reports</title>"}
_FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
_SYSTEM = ("proc", "sys", "dev")


class ReportPathError(InputError, ValueError):
    """An output path of the report cannot be used; the message says why and what to do."""


class ReportFolder:
    """A claimed report folder: ``write`` files into it, then ``finish`` (stale files of the
    last render removed, the manifest written)."""

    def __init__(self, path: Path, owned: set[str], kind: str) -> None:
        self.path, self.owned, self.kind = path, owned, kind
        self.written: set[str] = set()

    def write(self, relative: str, data: bytes | str) -> Path:
        """Write one file of the report (``relative`` to the folder, ``/``-separated)."""
        target = self.path / relative
        if isinstance(data, str):
            atomic_write_text(target, data)
        else:
            atomic_write_bytes(target, data)
        self.written.add(relative)
        return target

    def finish(self) -> None:
        """Remove the files of the last render this one did not write again, then record what
        this render wrote (the new manifest)."""
        for relative in sorted(self.owned - self.written):
            target = self.path / relative
            if target.is_file() and not target.is_symlink():
                target.unlink()
        _write_manifest(self.path, self.written)
        self.owned = set(self.written)


def _write_manifest(folder: Path, files: Iterable[str]) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps({"format": _FORMAT, "version": 1, "files": sorted(files)},
                                                    indent=1) + "\n")


def _read_manifest(folder: Path) -> set[str] | None:
    """The files of the manifest, None without one; ReportPathError for a damaged one."""
    path = folder / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if not path.is_file() or path.stat().st_size > 1 << 20:
            raise ValueError("not a small regular file")
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"] if isinstance(doc, dict) and doc.get("format") == _FORMAT else None
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError("not a manifest of this program")
    except (OSError, ValueError, KeyError, RecursionError) as e:
        raise ReportPathError(f"{path}: damaged report manifest ({e}); delete it, or pass --force to write the "
                              "report beside the folder's files") from e
    return {f for f in files if _safe(f)}


def _safe(relative: str) -> bool:
    """A manifest entry names a file inside the folder (no absolute path, no ``..``)."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts and relative != MANIFEST


def _signed(path: Path) -> bool:
    """``path`` is a file written by this program (its signature within the first 4 KB)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    return _SIGNATURES.get(path.name, "") in head if path.name in _SIGNATURES else \
        ("\nStudy `" in head or head.startswith("# Study reports"))


def _legacy(folder: Path, kind: str) -> set[str] | None:
    """The files of an earlier render without a manifest, or None when the folder holds
    anything else (then it is not adopted)."""
    names = {p.name for p in folder.iterdir()}
    signature = "report.html" if kind == "report" else "index.html"
    if signature not in names or not _signed(folder / signature):
        return None
    owned = set()
    for name in names:
        path = folder / name
        if name in _FILES[kind] and path.is_file() and _signed(path) | (name == "headline.json"):
            owned.add(name)
        elif kind == "report" and name == "figures" and path.is_dir() and not path.is_symlink():
            figures = list(path.iterdir())
            if not all(f.is_file() and f.suffix in _FIGURE_SUFFIXES for f in figures):
                return None
            owned |= {f"figures/{f.name}" for f in figures}
        elif kind == "report":
            return None
    return owned


def _check_kind(path: Path, flag: str) -> None:
    if path.is_symlink() and not path.exists():
        raise ReportPathError(f"{flag} {path} is a dangling symbolic link; remove it or choose another folder")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as e:
        raise ReportPathError(f"{flag} {path}: cannot resolve the path ({e})") from e
    if len(resolved.parts) > 1 and resolved.parts[1] in _SYSTEM:
        raise ReportPathError(f"{flag} {path} is under /{resolved.parts[1]}, a system folder; choose a folder of "
                              "your own")
    if path.exists() and not path.is_dir():
        raise ReportPathError(f"{flag} {path} is a file, not a folder; choose a folder for the report")


def claim(path: str | os.PathLike[str], *, kind: str = "report", force: bool = False,
          flag: str = "--report-dir") -> ReportFolder:
    """Check and take a report folder before any analysis runs (created when missing).

    Parameters
    ----------
    kind
        ``"report"`` (a study's report: report.html, README.md, headline.json, figures/) or
        ``"index"`` (the index of ``report --all``: index.html and README.md beside the study
        folders; its folder may hold other things, its two files must be the program's).
    force
        Write into a non-empty folder without a manifest, and replace files of the report's
        names that it did not write; files outside the report's names are never touched.

    Raises
    ------
    ReportPathError
        The path is a file, a dangling link, a system folder, not writable; ``figures/`` is
        not a folder; the folder or one of the report's files is the user's (without ``force``).
    """
    folder = Path(path)
    _check_kind(folder, flag)
    make_writable_dir(folder, ReportPathError, flag)
    for name in _FILES[kind]:  # the kinds of the report's paths first: no --force replaces those
        target = folder / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ReportPathError(f"{target} is not a regular file; the report will not replace it")
    figures = folder / "figures"
    if kind == "report" and (figures.is_symlink() or (figures.exists() and not figures.is_dir())):
        raise ReportPathError(f"{figures} is not a folder; the report keeps its figures there: move it away")
    hint = "move them away, choose another folder, or pass --force to write the report beside them"
    try:
        owned = _read_manifest(folder)
    except ReportPathError:
        if not force:
            raise
        owned = None
    if owned is None:
        owned = _legacy(folder, kind) if any(folder.iterdir()) else set()
        if owned is None:
            if kind == "report" and not force:
                sample = ", ".join(sorted(p.name for p in folder.iterdir())[:5])
                raise ReportPathError(f"{flag} {folder} is not empty and was not written by the report ({sample}); "
                                      f"{hint}")
            owned = set()
    for name in _FILES[kind]:
        if (folder / name).exists() and name not in owned and not force:
            raise ReportPathError(f"{folder / name} was not written by the report; {hint}")
    if kind == "report" and figures.is_dir():
        foreign = sorted(p.name for p in figures.iterdir() if f"figures/{p.name}" not in owned)
        if foreign and not force:
            raise ReportPathError(f"{figures} holds files the report did not write ({', '.join(foreign[:5])}); "
                                  f"{hint}")
    if not (folder / MANIFEST).is_file():
        _write_manifest(folder, owned)  # from now on the folder is the report's
    return ReportFolder(folder, owned, kind)
