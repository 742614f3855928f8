"""The run store: ``<out>/<study>/runs/<run-id>/`` with atomic files and a ``DONE`` marker.

A run is done only when ``DONE`` (written last, atomically) exists and every file it lists
still has the recorded SHA-256. Anything else in a run folder is a leftover of an
interrupted or failed attempt and is cleared before the run is trained again. A per-run
``flock`` lock (released by the kernel if the process dies, even by SIGKILL) keeps two
sweeps from training the same run at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, read_npz
from .grid import RunConfig

if TYPE_CHECKING:
    import pandas as pd

    from ..nn import Module

DONE, FAILED = "DONE", "FAILED"
STATUSES = ("done", "failed", "partial", "pending")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Run:
    """One run folder. Read-only accessors; load what you need lazily."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @cached_property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads((self.path / "config.json").read_text()))

    @property
    def params(self) -> dict[str, Any]:
        return self.config.params

    @cached_property
    def metrics(self) -> dict[str, Any]:
        try:
            metrics = json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as e:
            raise RunFileError(f"{self.path / 'metrics.json'}: not readable ({type(e).__name__}: {e})") from e
        if not isinstance(metrics, dict):
            raise RunFileError(f"{self.path / 'metrics.json'}: not a JSON object")
        return metrics

    @cached_property
    def code(self) -> str | None:
        """The code version (git commit, ``+dirty`` if modified) that trained the run; None
        for runs stored before versions were recorded."""
        try:
            code = json.loads((self.path / DONE).read_text(encoding="utf-8")).get("code")
        except (OSError, ValueError, AttributeError):
            return None
        return code if isinstance(code, str) else None

    def history(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(self.path / "history.csv")

    def arrays(self, name: str = "per_image.npz") -> dict[str, np.ndarray]:
        """Arrays saved by the run (``per_image.npz`` for autoencoders: test_mse, test_bce, ...)."""
        return read_npz(self.path / name, error=RunFileError)  # within the reading budget

    def load_model(self) -> Module:
        from ..nn import load

        return load(self.path / "model.npz")

    @property
    def failure(self) -> str | None:
        p = self.path / FAILED
        return p.read_text() if p.exists() else None


class RunFileError(InputError, ValueError):
    """A run file that passes its checksum but is malformed (wrong types, shapes, NaN)."""


#: metrics that are numbers in every run a task writes (by name): a string or a list there is damage
_NUMERIC_METRIC = re.compile(r"^(n_|best_epoch$|epochs_run$)|_(mean|std|median|loss|accuracy|seconds)$")


def check_run_files(path: Path) -> str | None:
    """Why the files of a done run folder cannot be trusted although their checksums match, or
    None: ``metrics.json`` an object whose numeric metrics are numbers, ``history.csv`` a
    history table, every ``*.npz`` array numeric and finite (per-image arrays ``test_*``,
    ``val_*``, ``train_*``: 1-D, one value per image of the split), within the reading budget."""
    try:
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        return f"metrics.json is not readable JSON ({type(e).__name__})"
    if not isinstance(metrics, dict):
        return "metrics.json is not a JSON object"
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    for key, value in metrics.items():
        if str(key).startswith("per_class_"):  # one number per class (classifiers)
            if not (isinstance(value, list) and value and all(number(v) for v in value)):
                return f"metrics.json: {key} = {str(value)[:40]!r} is not a list of numbers"
        elif _NUMERIC_METRIC.search(str(key)) and not number(value):
            return f"metrics.json: {key} = {str(value)[:40]!r} is not a number"
    if (path / "history.csv").is_file():
        from ..nn.train import History

        try:
            History.from_csv((path / "history.csv").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return f"history.csv is not a history table ({e})"
    for npz in sorted(path.glob("*.npz")):
        if npz.name == "model.npz":
            continue  # checked by its own loader (autoenc.nn.io) when it is read
        try:
            arrays = read_npz(npz)
        except InputError as e:
            return str(e)
        for name, a in arrays.items():
            if a.dtype.kind not in "fiub" or (a.dtype.kind == "f" and not np.isfinite(a).all()):
                return f"{npz.name}: {name} is not numeric or holds NaN/inf"
            split = {"val": "validation", "train": "train", "test": "test"}.get(name.split("_")[0])
            n = metrics.get(f"n_{split}")  # per-image arrays by name: test_*, val_*, train_*
            if npz.name == "per_image.npz" and split and (a.ndim != 1 or (isinstance(n, int) and len(a) != n)):
                return f"{npz.name}: {name} has shape {a.shape}, not one value per {split} image ({n})"
    return None


class StoreLayoutError(InputError, ValueError):
    """A path of the run store is of the wrong kind (a file where a folder belongs, or the reverse)."""


#: the store's own paths and whether each is a folder
STORE_PATHS = {"runs": True, "locks": True, "results.csv": False, "spec.json": False, "sweeps.jsonl": False,
               "study.toml": False, "force.json": False}


class RunStore:
    """All runs of one study under ``root`` (= ``<out>/<study>``).

    Example:
        >>> store = RunStore("runs/fashion_ae")
        >>> df = store.results().to_frame()      # one row per done run, param_* columns
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.locks_dir = self.root / "locks"

    # --- layout -------------------------------------------------------------------
    def check_layout(self) -> None:
        """Every path of the store that exists has the right kind; StoreLayoutError naming the
        first that does not (checked before a command reads or writes anything)."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreLayoutError(f"the run store {self.root} is a file, not a folder; move it away or choose "
                                   "another --out")
        for name, folder in STORE_PATHS.items():
            path = self.root / name
            if folder and path.exists() and not path.is_dir():
                raise StoreLayoutError(f"{path} should be a folder of the run store but is a file; move it away")
            if not folder and path.exists() and not path.is_file():
                raise StoreLayoutError(f"{path} should be a file of the run store but is a "
                                       f"{'folder' if path.is_dir() else 'special file'}; move it away")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def run(self, run_id: str) -> Run:
        return Run(self.run_dir(run_id))

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))

    # --- status -------------------------------------------------------------------
    def verify(self, run_id: str) -> tuple[bool, str]:
        """(ok, why): does the DONE marker exist and do the listed files check out?"""
        d = self.run_dir(run_id)
        marker = d / DONE
        if not marker.is_file():
            return False, "no DONE marker"
        try:
            listed = json.loads(marker.read_text(encoding="utf-8"))["files"]
        except (ValueError, KeyError, TypeError, OSError) as e:  # ValueError covers bad UTF-8 and JSON
            return False, f"unreadable DONE marker ({type(e).__name__}); the run will be retrained"
        if not isinstance(listed, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in listed.items()):
            return False, "malformed DONE marker (no file checksums); the run will be retrained"
        for name, digest in listed.items():
            if "/" in name or "\\" in name or name in ("", ".", ".."):
                return False, f"malformed DONE marker (file name {name!r}); the run will be retrained"
            f = d / name
            if not f.is_file():
                return False, f"{name} is missing"
            if sha256_file(f) != digest:
                return False, f"{name} does not match its checksum (corrupted or edited)"
        problem = check_run_files(d) if "metrics.json" in listed else None
        if problem:
            return False, f"{problem}; the run will be retrained"
        return True, "ok"

    def status(self, run_id: str) -> str:
        """``done``, ``failed``, ``partial`` (folder without a valid DONE) or ``pending``."""
        d = self.run_dir(run_id)
        if not d.is_dir():
            return "pending"
        if (d / DONE).exists():
            return "done" if self.verify(run_id)[0] else "partial"
        if (d / FAILED).exists():
            return "failed"
        return "partial"

    # --- writing ------------------------------------------------------------------
    def staging_dir(self, run_id: str) -> Path:
        """Where a done run is retrained (``--force``) while its old result stays in place."""
        return self.runs_dir / f".{run_id}.retrain"

    def prepare(self, config: RunConfig, staging: bool = False) -> Path:
        """Empty the run folder (or, with ``staging``, its retraining folder) of any leftovers
        and write ``config.json``."""
        d = self.staging_dir(config.run_id) if staging else self.run_dir(config.run_id)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        atomic_write_json(d / "config.json", config.to_dict())
        return d

    def promote(self, run_id: str) -> None:
        """Replace a done run by its retrained version (``staging_dir``, itself done): the old
        folder is renamed away first, so an interruption leaves one of the two done runs."""
        new, final = self.staging_dir(run_id), self.run_dir(run_id)
        old = self.runs_dir / f".{run_id}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            final.rename(old)
        new.rename(final)
        if old.exists():
            shutil.rmtree(old)

    def done_time(self, run_id: str) -> float:
        """When the run's DONE marker was written (seconds since the epoch; 0 if none)."""
        try:
            return (self.run_dir(run_id) / DONE).stat().st_mtime
        except OSError:
            return 0.0

    def force_since(self, start: bool) -> float | None:
        """The start time of the ``--force`` sweep on this store: an interrupted one is
        continued (runs it already retrained are kept). ``start`` records a new one if none."""
        path = self.root / "force.json"
        try:
            since = float(json.loads(path.read_text(encoding="utf-8"))["since"])
            if math.isfinite(since):
                return since
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if not start:
            return None
        since = time.time()
        atomic_write_json(path, {"since": since})
        return since

    def finish_force(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / "force.json").unlink()

    def mark_done(self, run_id: str, directory: Path | None = None) -> None:
        """Checksum every file of the run and write the DONE marker last (with the code
        version that trained it, so a report can tell runs of different code apart)."""
        from ..codeversion import git_commit

        d = directory or self.run_dir(run_id)
        files = {
            p.name: sha256_file(p)
            for p in sorted(d.iterdir())
            if p.is_file() and p.name not in (DONE, FAILED) and not p.name.startswith(".")
        }
        atomic_write_json(d / DONE, {"files": files, "code": git_commit()})

    def mark_failed(self, run_id: str, text: str, directory: Path | None = None) -> None:
        atomic_write_text((directory or self.run_dir(run_id)) / FAILED, text)

    def clear(self, run_id: str) -> None:
        d = self.run_dir(run_id)
        if d.exists():
            shutil.rmtree(d)

    @contextlib.contextmanager
    def lock(self, run_id: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the run's lock; yields False (without waiting) if busy and not ``blocking``."""
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        with open(self.locks_dir / f"{run_id}.lock", "a+") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    yield False
                    return
                raise
            try:
                yield True
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def write_spec(self, spec_dict: dict[str, Any], source: Path | None) -> None:
        atomic_write_json(self.root / "spec.json", spec_dict)
        if source is not None and source.is_file():
            atomic_write_bytes(self.root / "study.toml", source.read_bytes())

    def log_sweep(self, record: dict[str, Any]) -> None:
        """Append one line to ``sweeps.jsonl``: which command trained what, when, how long."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "sweeps.jsonl", "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def sweeps(self) -> list[dict[str, Any]]:
        p = self.root / "sweeps.jsonl"
        if not p.is_file():
            return []
        out = []
        for line in p.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by a crash is skipped
                out.append(json.loads(line))
        return out

    def read_spec(self) -> dict[str, Any] | None:
        p = self.root / "spec.json"
        return json.loads(p.read_text()) if p.is_file() else None

    # --- reading ------------------------------------------------------------------
    def results(self, configs: list[RunConfig] | None = None) -> StudyResults:
        """Results of ``configs`` (default: every run folder in the store)."""
        if configs is None:
            runs = [self.run(i) for i in self.run_ids()]
            return StudyResults(self, [r for r in runs if self.status(r.run_id) == "done"], [], [])
        done, failed, missing = [], [], []
        for c in configs:
            s = self.status(c.run_id)
            (done if s == "done" else failed if s == "failed" else missing).append(
                self.run(c.run_id) if s in ("done", "failed") else c
            )
        return StudyResults(self, done, failed, missing)


def _flatten(prefix: str, obj: dict[str, Any], out: dict[str, Any]) -> None:
    """Nested dicts to dotted keys; lists (e.g. per-class arrays) are left out of the table."""
    for k, v in obj.items():
        if isinstance(v, dict):
            _flatten(f"{prefix}{k}.", v, out)
        elif not isinstance(v, list):
            out[f"{prefix}{k}"] = v


@dataclass
class StudyResults:
    """Done, failed and missing runs of a study; ``to_frame()`` gives one row per done run."""

    store: RunStore
    done: list[Run]
    failed: list[Run]
    missing: list[RunConfig]

    def to_frame(self) -> pd.DataFrame:
        """One row per done run: ``run_id``, the grid values (``param_*``), every resolved setting that
        differs between the rows and is not a grid value of every row (``train.epochs`` when runs of 30
        and 40 epochs share the store), then the metrics."""
        import pandas as pd

        from .grid import settings_table

        settings = settings_table([r.config for r in self.done])
        shown = [k for k in (settings[0] if settings else {})
                 if not all(k.partition(".")[2] in r.params and r.params[k.partition(".")[2]] == s[k]
                            for r, s in zip(self.done, settings, strict=True))]
        rows = []
        for r, s in zip(self.done, settings, strict=True):
            row: dict[str, Any] = {"run_id": r.run_id}
            row.update({f"param_{k}": v for k, v in r.params.items()})
            row.update({k: (json.dumps(s[k]) if isinstance(s[k], list | dict) else s[k]) for k in shown})
            flat: dict[str, Any] = {}
            _flatten("", r.metrics, flat)
            row.update(flat)
            rows.append(row)
        return pd.DataFrame(rows)

    def write_csv(self, path: Path | None = None) -> Path:
        path = path or self.store.root / "results.csv"
        atomic_write_text(path, self.to_frame().to_csv(index=False))
        return path

    def other_settings(self, configs: list[RunConfig]) -> tuple[list[Run], dict[str, list[Any]]]:
        """The done runs of this store outside ``configs`` (other presets or ``--set`` values), and
        for each resolved setting in which some of them differ from every config, their values."""
        from .grid import canonical_json, flat_settings

        ids = {c.run_id for c in configs}
        others = [r for r in self.done if r.run_id not in ids]
        if not others:
            return [], {}
        inside: dict[str, set[str]] = {}
        for c in configs:
            for k, v in flat_settings(c).items():
                inside.setdefault(k, set()).add(canonical_json(v))
        differ: dict[str, dict[str, Any]] = {}
        for r in others:
            for k, v in flat_settings(r.config).items():
                if canonical_json(v) not in inside.get(k, set()):
                    differ.setdefault(k, {})[canonical_json(v)] = v
        return others, {k: list(v.values()) for k, v in differ.items()}

    def select(self, **params: Any) -> list[Run]:
        """Done runs whose grid values match every given ``param=value``."""
        return [r for r in self.done if all(r.params.get(k) == v for k, v in params.items())]
