"""The data set registry: what each data set is, where it may come from, and ``load``/``info``.

Every ``load`` goes through the same steps: resolve a source (local files first, then the
optional online sources), read the split in its native dtype and scale (through the
``.npz`` cache for files and downloads), then apply ``subset``, ``scale`` and ``shape``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cache as _cache
from . import files as _files
from . import online, synthetic
from .cache import RawSplit
from .errors import DatasetFormatError, DatasetNotFoundError
from .idx import parse_idx
from .locate import ENV_DATA_DIR, SearchDir, find_file, only_data_dir, read_payload, search_dirs
from .mnist_csv import parse_mnist_csv
from .specs import (  # noqa: F401  (re-exported: the registry's public table)
    _SYNTHETIC_NOTE,
    _TFDS_PARAMS,
    DATASETS,
    DEBIAN_FASHION_DIR,
    DEBIAN_FASHION_PACKAGE,
    DIGITS_N_TRAIN,
    FORMATS,
    MNIST_5K_PER_CLASS,
    REGISTRY,
    SCALES,
    SHAPES,
    SPLITS,
    DatasetSpec,
    FileFormat,
    get_spec,
)
from .specs import class_names as _builtin_class_names
from .usps import parse_course, parse_esl, parse_libsvm


# --------------------------------------------------------------------------- the user's own data sets
def _file_spec(ds: _files.FileDataset, raw: RawSplit) -> DatasetSpec:
    n_classes = int(raw.y.max(initial=0)) + 1
    shape = _files.sample_shape(raw)
    return DatasetSpec(ds.name, "image", shape, tuple(ds.names(n_classes)), f"your data ({ds.kind}: {ds.name})")


def class_names(name: str) -> list[str]:
    """The class names of ``name`` in label order (empty for regression data; your own data:
    the class folder names or the label numbers)."""
    ds = _files.find(name)
    if ds is None:
        return _builtin_class_names(name)
    train, test = ds.read("train"), ds.read("test")
    return ds.names(int(max(train.y.max(initial=0), test.y.max(initial=0))) + 1)


# --------------------------------------------------------------------------- reading files
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_labels(spec: DatasetSpec, split: str, y: np.ndarray, where: str) -> None:
    """Label range, and the published histogram when the split has the published size."""
    k = len(spec.class_names)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise DatasetFormatError(f"{where}: labels in [{y.min()}, {y.max()}], expected 0..{k - 1}")
    expected = spec.histograms.get(split)
    if expected is not None and y.size == spec.counts.get(split):
        hist = tuple(int(c) for c in np.bincount(y, minlength=k))
        if hist != expected:
            raise DatasetFormatError(
                f"{where}: label counts {list(hist)} differ from the published {spec.name} "
                f"{split} counts {list(expected)}: the labels do not belong to these images "
                "(mislabelled, reordered or mixed-up files)"
            )


def _parse_local(spec: DatasetSpec, fmt: str, split: str, paths: list[Path]) -> RawSplit:
    payloads = [read_payload(p) for p in paths]
    files = {str(p): _sha256(b) for p, b in zip(paths, payloads, strict=True)}
    notes: list[str] = []
    if fmt == "idx":
        images = parse_idx(payloads[0], paths[0], ndim=3)
        labels = parse_idx(payloads[1], paths[1], ndim=1)
        if images.shape[1:] != spec.sample_shape:
            raise DatasetFormatError(
                f"{paths[0]}: images of {images.shape[1]}x{images.shape[2]} pixels, "
                f"{spec.name} images are {spec.sample_shape[0]}x{spec.sample_shape[1]}"
            )
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise DatasetFormatError(f"{paths[0]}: IDX data type is not unsigned byte")
        if len(images) != len(labels):
            raise DatasetFormatError(
                f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} "
                "labels; the two files must come from the same split"
            )
        X, y = images.reshape(len(images), -1), labels.astype(np.int64)
        raw_range = (0.0, 255.0)
        canonical = spec.counts.get(split)
        if canonical is not None and len(y) != canonical:
            notes.append(f"{split} has {len(y):,} images, the published set has {canonical:,}")
    elif fmt == "csv":
        X, y = parse_mnist_csv(payloads[0], paths[0])
        raw_range = (0.0, 255.0)
        hist = np.bincount(y, minlength=10)
        if len(y) == 10 * MNIST_5K_PER_CLASS and np.all(hist == MNIST_5K_PER_CLASS):
            notes.append(
                f"{split} = {len(y):,}-image subset {paths[0].name} (the first 500 images of "
                "each class of the MNIST training set)"
            )
        else:
            notes.append(f"{split} = {len(y):,}-image CSV subset {paths[0].name}")
    else:
        parser = {"esl": parse_esl, "course": parse_course, "libsvm": parse_libsvm}[fmt]
        X, y = parser(payloads[0], paths[0])
        raw_range = {"course": (0.0, 2.0)}.get(fmt, (-1.0, 1.0))
        if len(y) != spec.counts[split]:
            raise DatasetFormatError(
                f"{paths[0]}: {len(y)} rows, the USPS {split} split has {spec.counts[split]} "
                "(the file is truncated or is not the standard USPS split)"
            )
    _check_labels(spec, split, y, " and ".join(map(str, paths)) if fmt == "idx" else str(paths[0]))
    return RawSplit(X=X, y=y, raw_range=raw_range, fmt=fmt, location=str(paths[0].parent),
                    files=files, notes=notes)


def _find_local(spec: DatasetSpec, fmt: str, split: str, dirs: list[SearchDir]):
    ff = FORMATS[fmt]
    for d in dirs:
        paths = [find_file(d.path, name, ff.suffixes) for name in ff.files[split]]
        if all(p is not None for p in paths):
            return paths, d
    return None


def _read_local(spec: DatasetSpec, fmt: str, split: str, paths: list[Path], arrays: bool):
    """Parse through the cache: hit when every source file still has the recorded sha256."""
    cdir = _cache.cache_dir()
    shas = []
    for p in paths:
        try:
            shas.append(_cache.file_sha256(p, cdir))
        except OSError as exc:
            raise DatasetFormatError(f"{p}: cannot be read ({exc})") from exc
    key = _cache.split_key(spec.name, split, fmt, shas)
    entry = None
    if cdir is not None:
        target = _cache.entry_path(cdir, spec.name, split, fmt, key)
        entry = _cache.read_entry(target, key, arrays=arrays)
    if entry is None:
        entry = _parse_local(spec, fmt, split, paths)
        if cdir is not None:
            _cache.write_entry(target, key, entry)
    entry.location = str(paths[0].parent)
    entry.files = dict(zip(map(str, paths), entry.files.values(), strict=True))
    return entry


def _read_openml(spec: DatasetSpec, split: str, allow_download: bool, arrays: bool) -> RawSplit:
    cdir = _cache.cache_dir()
    data_id = online.OPENML_IDS[spec.name]
    keys = {s: _cache.split_key(spec.name, s, "openml", [f"openml:{data_id}"]) for s in SPLITS}
    if cdir is not None:
        entry = _cache.read_entry(
            _cache.entry_path(cdir, spec.name, split, "openml", keys[split]), keys[split],
            arrays=arrays,
        )
        if entry is not None:
            return entry
    if not allow_download:
        raise online.SourceUnavailable("no downloaded copy in the cache")
    both = online.load_openml(
        spec.name, spec.counts["train"], None if cdir is None else cdir / "openml"
    )
    for s, raw in both.items():
        _check_labels(spec, s, raw.y, f"OpenML data_id {data_id} ({s} rows)")
        if raw.X.shape[1] != int(np.prod(spec.sample_shape)):
            raise DatasetFormatError(f"OpenML data_id {data_id}: {raw.X.shape[1]} features")
        if cdir is not None:
            _cache.write_entry(_cache.entry_path(cdir, spec.name, s, "openml", keys[s]), keys[s], raw)
    return both[split]


def _read_digits(split: str) -> RawSplit:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rows = slice(0, DIGITS_N_TRAIN) if split == "train" else slice(DIGITS_N_TRAIN, None)
    files: dict[str, str] = {}
    location = None
    try:
        path = Path(str(importlib.resources.files("sklearn.datasets") / "data" / "digits.csv.gz"))
        files[str(path)] = _sha256(read_payload(path))
        location = str(path.parent)
    except (OSError, DatasetFormatError, ModuleNotFoundError):
        pass  # provenance only; the arrays come from load_digits
    return RawSplit(
        X=X[rows].astype(np.uint8), y=y[rows].astype(np.int64), raw_range=(0.0, 16.0),
        fmt="sklearn", location=location, files=files,
        notes=["sklearn.datasets.load_digits (the 1,797-image UCI test set), unshuffled split: "
               f"rows 0..{DIGITS_N_TRAIN - 1} train, {DIGITS_N_TRAIN}..1796 test"],
    )


# --------------------------------------------------------------------------- resolution
def _dir_status(path: Path, fmts: list[str], split: str) -> str:
    if not path.is_dir():
        return "folder does not exist"
    have, missing = [], []
    for fmt in fmts:
        ff = FORMATS[fmt]
        for name in ff.files[split]:
            p = find_file(path, name, ff.suffixes)
            if p is not None:
                have.append(p.name)
            else:
                missing.append(name + "[" + "|".join(x for x in ff.suffixes if x) + "]")
    if not have:
        return "no matching files"
    return f"has {', '.join(have)}; missing {', '.join(missing)}"


def _not_found(spec, split, dirs, fmts, attempts) -> DatasetNotFoundError:
    lines = [f"data set {spec.name!r} ({spec.title}), split {split!r}: not found."]
    if fmts:
        lines.append("Expected files (any one format):")
        lines += [f"  {f}: {FORMATS[f].expected(split)}  ({FORMATS[f].description})" for f in fmts]
        lines.append("Looked in:")
        lines += [f"  {d.path}  ({d.origin}): {_dir_status(d.path, fmts, split)}" for d in dirs]
        if not os.environ.get(ENV_DATA_DIR, "").strip():
            lines.append(f"  (${ENV_DATA_DIR} is not set)")
        if spec.shared_names:
            lines.append(
                "  (MNIST and Fashion-MNIST IDX files have the same names, so in "
                f"${ENV_DATA_DIR} and data/ they are only taken from a subfolder named "
                f"{' or '.join(s + '/' for s in spec.folders)})"
            )
    if attempts:
        lines.append("Other sources:")
        lines += [f"  {a}" for a in attempts]
    lines.append("How to get it:")
    lines += [f"  - {h}" for h in spec.how_to_get]
    return DatasetNotFoundError("\n".join(lines))


def _check_params(spec: DatasetSpec, params: dict) -> None:
    allowed = _TFDS_PARAMS if "tfds" in spec.online else ()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "none"
        raise ValueError(
            f"unexpected parameters {unknown} for data set {spec.name!r} (accepted: {accepted})"
        )


def _load_raw(
    spec: DatasetSpec,
    split: str,
    data_dir,
    source: str,
    params: dict,
    *,
    allow_download: bool = True,
    arrays: bool = True,
) -> tuple[RawSplit, list[str]]:
    """Resolve and read one split; returns it and notes on how it was resolved."""
    if spec.name == "digits":
        return _read_digits(split), []
    if source == "auto":
        order = spec.auto_order(split)
        if only_data_dir() and data_dir is None:  # --data-dir: the files there, no online source
            order = [s for s in order if s in FORMATS]
    elif source == "files":
        order = [f for f in spec.formats if split in FORMATS[f].files]
    else:
        if source in FORMATS and split not in FORMATS[source].files:
            raise ValueError(f"source {source!r} has no {split!r} split for {spec.name!r}")
        order = [source]
    dirs = search_dirs(spec.folders, data_dir, spec.extra_dirs, spec.shared_names)
    local_fmts = [s for s in order if s in FORMATS]
    attempts: list[str] = []
    missed: list[str] = []
    for src in order:
        if src in FORMATS:
            hit = _find_local(spec, src, split, dirs)
            if hit is None:
                missed.append(src)
                continue
            paths, _ = hit
            raw = _read_local(spec, src, split, paths, arrays)
            notes = []
            if src == "csv" and "idx" in missed:
                notes.append(
                    f"the full {spec.counts[split]:,}-image {split} set was not found "
                    f"({FORMATS['idx'].expected(split)})"
                )
            return raw, notes
        try:
            if src == "tfds":
                if not allow_download:
                    raise online.SourceUnavailable("not probed by info()")
                raw = online.load_tfds(spec.name, split, **params)
                _check_labels(spec, split, raw.y, f"tfds {spec.name} {split}")
            else:
                raw = _read_openml(spec, split, allow_download, arrays)
            return raw, []
        except online.SourceUnavailable as exc:
            attempts.append(f"{src}: {exc}")
    raise _not_found(spec, split, dirs, local_fmts, attempts)


# --------------------------------------------------------------------------- post-processing
def stratified_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` rows drawn per class in proportion to the class sizes.

    Quotas are rounded by largest remainder, so they sum to ``n`` exactly.
    """
    total = len(y)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 < n <= total:
        raise ValueError(f"subset must be an integer in 1..{total}, got {n!r}")
    rng = np.random.default_rng(seed)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return np.sort(rng.choice(total, size=int(n), replace=False))
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = counts * (n / total)
    quota = np.floor(exact).astype(np.int64)
    short = int(n - quota.sum())
    if short:
        quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    picks = [
        rng.choice(np.flatnonzero(inverse == k), size=int(q), replace=False)
        for k, q in enumerate(quota) if q
    ]
    return np.sort(np.concatenate(picks))


def _finish(spec, X, y, raw_range, *, subset, shape, scale, seed):
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if shape == "image" and spec.kind != "image":
        raise ValueError(f"{spec.name!r} is not image data; use shape='flat' or 'sequence'")
    if subset is not None:
        rows = stratified_indices(y, subset, seed)
        X, y = X[rows], y[rows]
    if spec.kind != "image" or scale == "raw":
        X = X.astype(np.float32)
    elif X.dtype == np.uint8 and raw_range[0] == 0:
        X = np.divide(X, np.float32(raw_range[1]), dtype=np.float32)  # exact pixel/255
    else:
        lo, hi = raw_range
        X = ((X.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
    n = X.shape[0]
    if shape == "flat":
        X = X.reshape(n, -1)
    elif shape == "image":
        X = X.reshape(n, *spec.sample_shape)
    else:
        X = X.reshape(n, -1, 1)
    return np.ascontiguousarray(X), y


def load(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    subset: int | None = None,
    shape: str = "flat",
    scale: str = "unit",
    seed: int = 0,
    **params,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of a data set as ``(X, y)``.

    Parameters
    ----------
    name : ``fashion_mnist``, ``mnist``, ``usps``, ``digits``, ``gaussians``, ``xor``,
        ``checkerboard`` or ``linear``.
    split : ``"train"`` or ``"test"``.
    data_dir : folder searched first for the data files (then ``$AUTOENC_DATA_DIR``,
        ``data/``, the Debian package folder); subfolders named after the data set count.
    source : ``"auto"`` (local files, then tfds, then OpenML, then subsets such as
        ``mnist_5k.csv.gz``), ``"files"`` (local files only), or one source by name:
        ``idx``, ``csv``, ``esl``, ``course``, ``libsvm``, ``tfds``, ``openml``.
    subset : ``n`` takes a stratified subset of ``n`` rows (deterministic given ``seed``).
    shape : ``"flat"`` (n, d), ``"image"`` (n, H, W) or ``"sequence"`` (n, d, 1).
    scale : ``"unit"``: pixels in [0, 1] (pixel/255, USPS (x+1)/2); ``"raw"``: the source's
        own scale (USPS ESL [-1, 1], course [0, 2], pixels 0..255). Synthetic data keep the
        generator's coordinates either way.
    seed : seeds the subset draw and the synthetic generators.
    **params : synthetic generator parameters (``n``, ``center``, ``sigma``, ``noise``;
        ``linear``: ``n``, ``a``, ``b``, ``noise``, ``low``, ``high``), or tfds options
        ``tfds_data_dir`` and ``manual_dir``.

    Returns
    -------
    X : float32 array.
    y : int64 labels (n,), or float32 targets (n, 1) for ``linear``.

    Raises
    ------
    DatasetNotFoundError
        No source holds the data; the message says where it looked and how to get it.
    DatasetFormatError
        A file is truncated, corrupt or mislabelled; the message names it.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    own = _files.find(name)
    if own is not None:  # a path or a name given with register_dataset (autoenc.datasets.files)
        if params:
            raise ValueError(f"unexpected parameters {sorted(params)} for your data set {name!r}")
        raw = own.read(split)
        return _finish(_file_spec(own, raw), raw.X, raw.y, raw.raw_range, subset=subset, shape=shape, scale=scale,
                       seed=seed)
    spec = get_spec(name)
    if source not in spec.sources:
        raise ValueError(
            f"source {source!r} is not available for {spec.name!r}; use one of {spec.sources}"
        )
    if spec.name in synthetic.DEFAULTS:
        X, y = synthetic.generate(spec.name, split, seed, **params)
        return _finish(spec, X, y, (0.0, 1.0), subset=subset, shape=shape, scale=scale, seed=seed)
    _check_params(spec, params)
    raw, _ = _load_raw(spec, split, data_dir, source, params)
    return _finish(spec, raw.X, raw.y, raw.raw_range, subset=subset, shape=shape, scale=scale,
                   seed=seed)


# --------------------------------------------------------------------------- info
@dataclass
class DatasetInfo:
    """What ``load(name)`` would give on this machine, and where it comes from.

    ``checksum`` is the sha256 of a ``sha256sum``-style manifest of the decompressed source
    payloads (``files`` maps each source to its own sha256), for provenance in reports.
    """

    name: str
    found: bool
    source: str | None
    location: str | None
    n_train: int | None
    n_test: int | None
    shape: tuple[int, ...]
    n_classes: int
    class_names: list[str]
    notes: str
    checksum: str | None
    files: dict[str, str] = field(default_factory=dict)


def _manifest_sha(files: dict[str, str]) -> str | None:
    if not files:
        return None
    lines = sorted(f"{sha}  {Path(p).name}\n" for p, sha in files.items())
    return _sha256("".join(lines).encode())


def info(name: str, *, data_dir: str | os.PathLike | None = None) -> DatasetInfo:
    """Describe ``name`` as ``load(name, source='auto')`` would find it, without downloading.

    Local files are parsed (and cached) once to count and validate them; OpenML copies
    count only when already downloaded into the cache. Your own data (a path or a registered
    name) are read and validated (shape, range, labels).
    """
    own = _files.find(name)
    if own is not None:
        d = _files.describe(own)
        raw = own.read("train")
        notes = [f"pixels {d['dtype']}", *(n for n in d["notes"] if not n.startswith("images "))]
        return DatasetInfo(name=own.name, found=True, source=own.kind,
                           location=str(own.path) if own.path else None, n_train=d["n_train"], n_test=d["n_test"],
                           shape=tuple(d["shape"]), n_classes=len(d["classes"]), class_names=d["classes"],
                           notes="; ".join(notes), checksum=d["checksum"],
                           files=dict(raw.files))
    spec = get_spec(name)
    base = dict(name=spec.name, shape=spec.sample_shape, n_classes=len(spec.class_names),
                class_names=list(spec.class_names))
    if spec.name in synthetic.DEFAULTS:
        n = synthetic.DEFAULTS[spec.name]["n"]
        h = hashlib.sha256()
        for split in SPLITS:
            X, y = synthetic.generate(spec.name, split, 0)
            h.update(X.tobytes())
            h.update(y.tobytes())
        return DatasetInfo(**base, found=True, source="synthetic", location=None, n_train=n,
                           n_test=n, notes=f"{synthetic.describe(spec.name)}; {_SYNTHETIC_NOTE}",
                           checksum=h.hexdigest())
    counts: dict[str, int | None] = {}
    fmts: dict[str, str] = {}
    locations: list[str] = []
    files: dict[str, str] = {}
    notes: list[str] = []
    for split in SPLITS:
        try:
            raw, extra = _load_raw(spec, split, data_dir, "auto", {}, allow_download=False,
                                   arrays=False)
        except DatasetNotFoundError:
            counts[split] = None
            local = [f for f in spec.auto_order(split) if f in FORMATS]
            expected = " or ".join(FORMATS[f].expected(split) for f in local)
            notes.append(f"{split}: not found (expected {expected}); {spec.how_to_get[0]}")
            continue
        except DatasetFormatError as exc:
            counts[split] = None
            notes.append(f"{split}: unusable file: {exc}")
            continue
        counts[split] = len(raw.y)
        fmts[split] = raw.fmt
        if raw.location:
            locations.append(raw.location)
        files.update(raw.files)
        notes += raw.notes + extra
    found = all(c is not None for c in counts.values())
    kinds = sorted(set(fmts.values()))
    if len(kinds) == 1:
        source = kinds[0]
    elif kinds:
        source = ", ".join(f"{s}={fmts[s]}" for s in SPLITS if s in fmts)
    else:
        source = None
    location = None
    if locations:
        uniq = list(dict.fromkeys(locations))
        location = uniq[0] if len(uniq) == 1 else "; ".join(uniq)
    return DatasetInfo(**base, found=found, source=source, location=location,
                       n_train=counts.get("train"), n_test=counts.get("test"),
                       notes="; ".join(dict.fromkeys(notes)), checksum=_manifest_sha(files), files=files)
