"""Your own images as a data set: a ``.npz`` in the Keras ``mnist.npz`` layout or a folder of images.

A study names one with a path (``[data] dataset = "patches.npz"``, relative to the study file);
Python code can also give a name to a file, a folder or arrays with :func:`register_dataset`.
Either way the data go through the same steps as the built-in sets (``datasets.load``): parsed
once into the ``.npz`` cache (keyed by the sha256 of the source files), then ``subset``,
``scale`` and ``shape``.

**.npz** (``numpy.load(..., allow_pickle=False)``): ``x_train`` and ``x_test``, images
``N x H x W`` or vectors ``N x D``; ``uint8`` 0..255 or floats in [0, 1] (no NaN); optional
``y_train``, ``y_test``: one non-negative integer label per image (absent: every label 0).

**Folder of images** (PNG or JPEG, read with Pillow and converted to 8-bit grey; every image the
same size). Either ``train/`` and ``test/`` subfolders (each split as given), or no split:
:data:`SPLIT_RULE`. Inside a split (or the folder), one subfolder per class gives the labels
(class names: the subfolder names, sorted); images directly in it are one class.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import cache as _cache
from .cache import RawSplit
from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["IMAGE_SUFFIXES", "SPLIT_RULE", "FileDataset", "find", "is_path", "register_dataset", "registered",
           "unregister_dataset"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TEST_EVERY = 5
SPLIT_RULE = (f"within each class the images are sorted by file name and every {TEST_EVERY}th one (the "
              f"{TEST_EVERY}th, {2 * TEST_EVERY}th, ...) is a test image, the rest train images: deterministic, "
              f"stratified, about {100 // TEST_EVERY}% test")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass
class FileDataset:
    """One data set of the user's: where it comes from and, once read, what it holds."""

    name: str
    path: Path | None = None
    arrays: dict[str, np.ndarray] | None = None
    class_names: tuple[str, ...] | None = None
    _splits: dict[str, RawSplit] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """``npz``, ``folder`` or ``arrays``."""
        if self.arrays is not None:
            return "arrays"
        return "folder" if self.path is not None and self.path.is_dir() else "npz"

    def read(self, split: str, *, use_cache: bool = True) -> RawSplit:
        """One split, through the ``.npz`` cache for files (keyed by their sha256)."""
        if split not in self._splits:
            self._splits.update(self._read_all(use_cache))
        return self._splits[split]

    def files(self) -> dict[str, str]:
        """Source file -> sha256 of its bytes (memoised like the built-in sets' files)."""
        if self.arrays is not None:
            h = hashlib.sha256()
            for key in sorted(self.arrays):
                a = np.ascontiguousarray(self.arrays[key])
                h.update(f"{key}|{a.dtype.str}|{a.shape}".encode())
                h.update(a.tobytes())
            return {f"<arrays {self.name}>": h.hexdigest()}
        assert self.path is not None
        if not self.path.exists():
            raise DatasetNotFoundError(f"data set {self.name!r}: {self.path} does not exist")
        cdir = _cache.cache_dir()
        paths = [self.path] if self.path.is_file() else sorted(p for p, _ in _folder_images(self.path))
        return {str(p): _cache.file_sha256(p, cdir) for p in paths}

    def checksum(self) -> str:
        """sha256 of the manifest ``sha256  relative path`` of every source file (provenance)."""
        base = self.path if self.path is not None and self.path.is_dir() else None
        lines = sorted(f"{sha}  {Path(p).relative_to(base) if base else Path(p).name}\n"
                       for p, sha in self.files().items())
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    def _read_all(self, use_cache: bool) -> dict[str, RawSplit]:
        if self.arrays is not None:
            return _from_arrays(self.arrays, f"data set {self.name!r}", {})
        files = self.files()
        cdir = _cache.cache_dir() if use_cache else None
        slug = "file-" + hashlib.sha256(str(self.path).encode()).hexdigest()[:12]
        keys = {s: _cache.split_key(slug, s, self.kind, sorted(files.values())) for s in ("train", "test")}
        if cdir is not None:
            entries = {s: _cache.read_entry(_cache.entry_path(cdir, slug, s, self.kind, keys[s]), keys[s])
                       for s in keys}
            if all(e is not None for e in entries.values()):
                return {s: e for s, e in entries.items() if e is not None}
        splits = _read_npz(self.path, files) if self.kind == "npz" else _read_folder(self.path, files)
        if cdir is not None:
            for s, raw in splits.items():
                _cache.write_entry(_cache.entry_path(cdir, slug, s, self.kind, keys[s]), keys[s], raw)
        return splits

    def names(self, n_classes: int) -> list[str]:
        """Class names in label order (the folder names, given names, else the label numbers)."""
        if self.class_names is None and self.kind == "folder":
            self.class_names = tuple(_folder_classes(self.path))  # type: ignore[arg-type]
        if self.class_names and len(self.class_names) >= n_classes:
            return list(self.class_names)
        return [str(i) for i in range(n_classes)]


# --------------------------------------------------------------------------- the registry of the user's sets
_REGISTERED: dict[str, FileDataset] = {}
_BY_PATH: dict[str, FileDataset] = {}


def is_path(name: str) -> bool:
    """Whether a ``[data] dataset`` value names a file or folder rather than a built-in set."""
    name = str(name)
    return name.endswith(".npz") or "/" in name or os.sep in name or name.startswith((".", "~"))


def register_dataset(name: str, source: str | os.PathLike[str] | Mapping[str, np.ndarray], *,
                     class_names: list[str] | None = None, replace: bool = False) -> None:
    """Give a name to your own data: a ``.npz`` (Keras ``mnist.npz`` layout), a folder of images or
    a mapping of arrays with the same keys (``x_train``, ``x_test``, optional ``y_train``,
    ``y_test``); validated now. ``datasets.load(name)``, ``datasets.info(name)`` and reports read it.

    A study file that runs in worker processes (``sweep --jobs 2``) should name the file itself
    (``[data] dataset = "path/to/data.npz"``): a name registered in this Python process is not
    known to other processes.

    Examples
    --------
    >>> register_dataset("patches", "data/patches.npz")            # doctest: +SKIP
    >>> X, y = load("patches", "train")                            # doctest: +SKIP
    """
    from .specs import REGISTRY

    key = str(name).strip().lower().replace("-", "_")
    if not _NAME.fullmatch(key):
        raise ValueError(f"data set name {name!r}: use lower-case letters, digits and '_' (at most 64)")
    if key in REGISTRY:
        raise ValueError(f"data set name {name!r} is a built-in data set; choose another name")
    if key in _REGISTERED and not replace:
        raise ValueError(f"data set {name!r} is already registered; pass replace=True to replace it")
    if isinstance(source, Mapping):
        ds = FileDataset(key, arrays={k: np.asarray(v) for k, v in source.items()},
                         class_names=tuple(class_names) if class_names else None)
    else:
        path = Path(source).expanduser().resolve()
        if not path.exists():
            raise DatasetNotFoundError(f"register_dataset({name!r}): {path} does not exist")
        ds = FileDataset(key, path=path, class_names=tuple(class_names) if class_names else None)
    ds.read("train")  # validated now: a bad file fails here, not in the middle of a sweep
    _REGISTERED[key] = ds


def unregister_dataset(name: str) -> None:
    """Forget a name given by :func:`register_dataset` (tests, notebooks)."""
    _REGISTERED.pop(str(name).strip().lower().replace("-", "_"), None)


def registered() -> list[str]:
    """The names given with :func:`register_dataset` in this process."""
    return sorted(_REGISTERED)


def find(name: str) -> FileDataset | None:
    """The user's data set ``name`` (a registered name or a path), or None for a built-in name."""
    key = str(name).strip().lower().replace("-", "_")
    if key in _REGISTERED:
        return _REGISTERED[key]
    if not is_path(name):
        return None
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = path.resolve()
    if not path.exists():
        raise DatasetNotFoundError(
            f"data set {name}: no such file or folder. A study file names its own data relative to the study "
            "file ([data] dataset = \"my_data.npz\"): a .npz with x_train, x_test (and optional y_train, y_test) "
            "or a folder of PNG/JPEG images (docs/own_studies.md)")
    key = str(path)
    if key not in _BY_PATH:
        _BY_PATH[key] = FileDataset(key, path=path)
    return _BY_PATH[key]


# --------------------------------------------------------------------------- .npz
def _read_npz(path: Path | None, files: dict[str, str]) -> dict[str, RawSplit]:
    assert path is not None
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays need pickle: refused
        raise DatasetFormatError(f"{where}: holds Python objects, not plain arrays ({e}); save it with "
                                 "numpy.savez(path, x_train=..., x_test=..., y_train=..., y_test=...)") from e
    except (OSError, EOFError) as e:  # not a zip, truncated, bad CRC
        raise DatasetFormatError(f"{where}: not a readable .npz file ({e})") from e
    except Exception as e:  # noqa: BLE001  (zipfile.BadZipFile, zlib.error: a damaged archive)
        raise DatasetFormatError(f"{where}: damaged .npz file ({type(e).__name__}: {e})") from e
    return _from_arrays(arrays, where, files)


def _from_arrays(arrays: Mapping[str, np.ndarray], where: str, files: dict[str, str]) -> dict[str, RawSplit]:
    """Validate the Keras layout and return both splits in their native scale."""
    missing = [k for k in ("x_train", "x_test") if k not in arrays]
    if missing:
        raise DatasetFormatError(f"{where}: no {' or '.join(missing)} (found {sorted(arrays) or 'nothing'}); the "
                                 "Keras mnist.npz layout has x_train, x_test and optional y_train, y_test")
    unknown = sorted(set(arrays) - {"x_train", "x_test", "y_train", "y_test"})
    if unknown:
        raise DatasetFormatError(f"{where}: unexpected arrays {unknown}; expected x_train, x_test, y_train, y_test")
    out: dict[str, RawSplit] = {}
    shapes = {}
    for split in ("train", "test"):
        X, raw_range = _pixels(np.asarray(arrays[f"x_{split}"]), f"{where}: x_{split}")
        shapes[split] = X.shape[1:]
        y = _labels(arrays.get(f"y_{split}"), len(X), f"{where}: y_{split}")
        out[split] = RawSplit(X=X.reshape(len(X), -1), y=y, raw_range=raw_range, fmt="npz", location=where,
                              files=dict(files), notes=[_shape_note(X.shape[1:])])
    if shapes["train"] != shapes["test"]:
        raise DatasetFormatError(f"{where}: x_train images are {_shape_words(shapes['train'])}, x_test images "
                                 f"{_shape_words(shapes['test'])}; both splits need the same size")
    if out["train"].raw_range != out["test"].raw_range:
        raise DatasetFormatError(f"{where}: x_train and x_test have different scales ({out['train'].raw_range} vs "
                                 f"{out['test'].raw_range}); store both as uint8 or both as floats in [0, 1]")
    return out


def _pixels(X: np.ndarray, where: str) -> tuple[np.ndarray, tuple[float, float]]:
    if X.ndim not in (2, 3) or X.shape[0] == 0 or 0 in X.shape[1:]:
        raise DatasetFormatError(f"{where}: shape {X.shape}; expected N x H x W images or N x D vectors, N >= 1")
    if X.dtype == np.uint8:
        return X, (0.0, 255.0)
    if X.dtype == np.bool_:
        return X.astype(np.uint8), (0.0, 1.0)
    if np.issubdtype(X.dtype, np.integer):
        lo, hi = int(X.min()), int(X.max())
        if lo < 0 or hi > 255:
            raise DatasetFormatError(f"{where}: integer values in [{lo}, {hi}]; expected 0..255 (8-bit pixels)")
        return X.astype(np.uint8), (0.0, 255.0)
    if np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
        if not np.isfinite(X).all():
            raise DatasetFormatError(f"{where}: {int((~np.isfinite(X)).sum())} values are NaN or infinite")
        lo, hi = float(X.min()), float(X.max())
        if lo < 0 or hi > 1:
            raise DatasetFormatError(f"{where}: float values in [{lo:.4g}, {hi:.4g}]; expected [0, 1] (divide 8-bit "
                                     "pixels by 255, or store them as uint8)")
        return X, (0.0, 1.0)
    raise DatasetFormatError(f"{where}: dtype {X.dtype}; expected uint8 0..255 or floats in [0, 1]")


def _labels(y: np.ndarray | None, n: int, where: str) -> np.ndarray:
    if y is None:
        return np.zeros(n, np.int64)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DatasetFormatError(f"{where}: shape {y.shape}; expected one label per image ({n},)")
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise DatasetFormatError(f"{where}: labels must be integers >= 0 (class numbers), got dtype {y.dtype}"
                                 + (f", minimum {y.min()}" if np.issubdtype(y.dtype, np.number) and len(y) else ""))
    return y.astype(np.int64)


def _shape_words(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape)) + (" pixels" if len(shape) == 2 else " values")


def _shape_note(shape: tuple[int, ...]) -> str:
    return f"images {_shape_words(shape)}"


# --------------------------------------------------------------------------- folder of images
def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def _subdirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))


def _split_dirs(root: Path) -> dict[str, Path] | None:
    names = {d.name.lower(): d for d in _subdirs(root)}
    if "train" in names and "test" in names:
        return {"train": names["train"], "test": names["test"]}
    return None


def _folder_classes(root: Path) -> list[str]:
    split = _split_dirs(root)
    tops = list(split.values()) if split else [root]
    return sorted({d.name for top in tops for d in _subdirs(top)})


def _folder_images(root: Path) -> list[tuple[Path, str]]:
    """(image, split) for every image: ``train``/``test`` from the subfolders, else by SPLIT_RULE."""
    split = _split_dirs(root)
    out: list[tuple[Path, str]] = []
    for top, fixed in ([(split["train"], "train"), (split["test"], "test")] if split else [(root, None)]):
        groups = [sorted(p for p in d.iterdir() if _is_image(p)) for d in _subdirs(top)] or \
            [sorted(p for p in top.iterdir() if _is_image(p))]
        for images in groups:
            for i, p in enumerate(images):
                out.append((p, fixed or ("test" if i % TEST_EVERY == TEST_EVERY - 1 else "train")))
    return out


def _read_folder(root: Path | None, files: dict[str, str]) -> dict[str, RawSplit]:
    from PIL import Image, UnidentifiedImageError

    assert root is not None
    images = _folder_images(root)
    if not images:
        raise DatasetFormatError(f"{root}: no PNG or JPEG images (looked in the folder, its class subfolders and "
                                 "train/ and test/ subfolders)")
    classes = _folder_classes(root)
    arrays: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    size: tuple[int, int] | None = None
    first = ""
    for p, split in images:
        try:
            with Image.open(p) as im:
                grey = np.asarray(im.convert("L"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DatasetFormatError(f"{p}: not a readable image ({e})") from e
        if size is None:
            size, first = grey.shape, p.name
        elif grey.shape != size:
            raise DatasetFormatError(f"{p}: {grey.shape[1]} x {grey.shape[0]} pixels, but {first} is {size[1]} x "
                                     f"{size[0]}; every image of a data set must have the same size (resize them "
                                     "first)")
        arrays[split].append(grey)
        labels[split].append(classes.index(p.parent.name) if p.parent.name in classes else 0)
    out = {}
    for split in ("train", "test"):
        if not arrays[split]:
            raise DatasetFormatError(f"{root}: no {split} images ({len(images)} images in all; {SPLIT_RULE}, so "
                                     f"a class needs at least {TEST_EVERY} images; or give train/ and test/ "
                                     "subfolders)")
        X = np.stack(arrays[split])
        note = "train/ and test/ subfolders" if _split_dirs(root) else f"split rule: {SPLIT_RULE}"
        out[split] = RawSplit(X=X.reshape(len(X), -1), y=np.array(labels[split], np.int64), raw_range=(0.0, 255.0),
                              fmt="folder", location=str(root), files=dict(files),
                              notes=[_shape_note(X.shape[1:]), note, "PNG/JPEG read with Pillow as 8-bit grey"])
    return out


def sample_shape(raw: RawSplit) -> tuple[int, ...]:
    """(H, W) of a split's images from its note, else (D,) (flat vectors)."""
    for note in raw.notes:
        m = re.fullmatch(r"images (\d+) x (\d+) pixels", note)
        if m:
            return int(m.group(1)), int(m.group(2))
    return (int(raw.X.shape[1]),)


def describe(ds: FileDataset) -> dict[str, Any]:
    """What ``show`` prints: counts, image shape, value range, classes, checksum."""
    train, test = ds.read("train"), ds.read("test")
    lo, hi = train.raw_range
    n_classes = int(max(train.y.max(initial=0), test.y.max(initial=0))) + 1
    return {"kind": ds.kind, "n_train": len(train.y), "n_test": len(test.y), "shape": sample_shape(train),
            "range": (lo, hi), "dtype": "uint8 0..255" if hi == 255 else "float in [0, 1]",
            "classes": ds.names(n_classes)[:n_classes], "checksum": ds.checksum(),
            "notes": list(dict.fromkeys(train.notes))}
