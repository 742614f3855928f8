"""Where a report's numbers come from: code version, study file, data, libraries, machine."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ..codeversion import git_commit

if TYPE_CHECKING:
    from ..study.spec import StudySpec

__all__ = ["collect_provenance", "data_checksum", "git_commit", "library_versions"]

LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "seaborn", "jinja2", "openTSNE", "joblib")


def library_versions(names: Sequence[str] = LIBRARIES) -> str:
    """``python 3.11.9, numpy 2.1.0, ...`` (``not installed`` where missing)."""
    out = [f"python {platform.python_version()}"]
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def data_checksum(dataset: str) -> str:
    """``datasets.info(dataset).checksum``, or why it is not available."""
    try:
        from .. import datasets

        info = datasets.info(dataset)
    except Exception as e:  # provenance must never stop a report
        return f"n/a ({type(e).__name__}: {e})"
    checksum = getattr(info, "checksum", None)
    return str(checksum) if checksum else "n/a (the loader records none)"


def shown_path(path: Path | str | None) -> str:
    """``path`` relative to the working directory when it lies below it (reports get published)."""
    if path is None:
        return "(none)"
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(p)


def machine() -> str:
    return f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs"


def collect_provenance(
    spec: StudySpec,
    store_root: Path,
    command: str,
    *,
    datasets: Sequence[str] = (),
    runs: tuple[int, int] = (0, 0),
    seconds: float | None = None,
    timings: Mapping[str, float] | None = None,
    run_codes: Sequence[str | None] = (),
) -> list[tuple[str, str]]:
    """``(label, value)`` rows of the report's provenance footer; ``run_codes`` are the code
    versions that trained the analysed runs (None where a run predates the record)."""
    from .. import __version__

    rows = [
        ("autoenc version", __version__),
        ("git commit", git_commit()),
        ("study file", f"{shown_path(spec.path)} (preset {spec.preset})"),
        ("study file sha256", spec.file_sha256 or "n/a"),
    ]
    for name in dict.fromkeys(d for d in datasets if d):
        rows.append((f"data checksum ({name})", data_checksum(name)))
    rows += [
        ("run store", f"{shown_path(store_root)} ({runs[0]} of {runs[1]} runs done)"),
        ("command", command),
    ]
    if run_codes:
        counts = Counter(code or "not recorded" for code in run_codes)
        rows.append(("code that trained the runs", "; ".join(f"{code} ({n} runs)" for code, n in counts.most_common())))
    from ..study.store import RunStore

    for sweep in RunStore(store_root).sweeps()[-3:]:
        rows.append(("sweep", f"{sweep.get('command', '?')}: {sweep.get('done', 0)} trained, "
                              f"{sweep.get('skipped', 0)} already done, {sweep.get('failed', 0)} failed in "
                              f"{sweep.get('wall_seconds', '?')} s ({sweep.get('jobs', '?')} jobs x "
                              f"{sweep.get('threads_per_run', '?')} threads), "
                              f"finished {sweep.get('finished_utc', '?')}"))
    rows += [
        ("libraries", library_versions()),
        ("date", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("machine", machine()),
    ]
    if seconds is not None:
        detail = ", ".join(f"{k} {v:.1f} s" for k, v in (timings or {}).items() if v >= 0.05)
        rows.append(("analysis time", f"{seconds:.1f} s" + (f" ({detail})" if detail else "")))
    return rows
