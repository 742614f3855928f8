"""What an analysis works with: the report options, the context (store, runs, data, caches,
figures), the analysis registry and the generic alerts about the runs of a grid.

An analysis (``autoenc.analysis.<name>.analyze(ctx) -> AnalysisResult``) computes tables and
figures from the run store; :mod:`autoenc.report` only renders the content model
(:mod:`autoenc.analysis.content`) to HTML and Markdown.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..codeversion import group_versions
from ..fileio import atomic_savez, atomic_write_json
from ..study.grid import RunConfig
from ..study.store import RunStore, StudyResults
from .content import (  # noqa: F401  (re-exported: analyses import the content model from here)
    MAX_LISTED,
    Alert,
    AnalysisResult,
    FigureRef,
    Section,
    Table,
    _plain,
    format_p,
    format_value,
)

_log = logging.getLogger("autoenc.report")

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..study.spec import StudySpec

FIGURE_DPI = 100
FIGURE_FORMATS = ("svg", "pdf", "none")


@dataclass
class ReportOptions:
    """Knobs that trade detail for time; ``None`` means "choose from the data size".

    Attributes
    ----------
    tsne_train, tsne_test : int or None
        Points of the stratified train subset the t-SNE map is fitted on, and test points
        placed into it (default 2,000 / 1,000; 1,000 / 500 when the train split has fewer
        than 20,000 images).
    tsne_models : int or None
        How many trained models get t-SNE panels (default 2; 1 for small train splits);
        0 skips t-SNE.
    rd_images : int or None
        Test images every codec of the rate-distortion section codes (default: the whole test
        split; a class-stratified 2,000 when the train split has fewer than 20,000 images).
    probe_train : int
        Train images for the linear probes (the whole test split is scored).
    probe_max_iter : int
        L-BFGS iterations of each probe at most (``stats.linear_probe``; it converges in 50-150).
    n_boot : int
        Bootstrap resamples for the median-difference CIs of the main comparisons.
    n_jobs : int
        Threads for openTSNE (at most ``max_jobs``).
    max_jobs : int
        Cores every stage of the report may use: rate-distortion codec workers, BLAS threads,
        t-SNE threads (``--jobs`` sets it); 0 = all the cores this process may run on.
    data_loader : callable or None
        ``(data_settings, split) -> (X, y)``; default :func:`autoenc.datasets.load_settings`
        (tests inject synthetic data here).
    use_cache : bool
        Read and write cached PCA errors, probe accuracies and t-SNE maps in the store root.
    figure_format : str
        Vector copy of every figure beside its PNG: ``svg`` (default), ``pdf`` or ``none``
        (dense scatter layers are rasterized inside the vector file to keep it small).
    """

    tsne_train: int | None = None
    tsne_test: int | None = None
    tsne_models: int | None = None
    rd_images: int | None = None
    probe_train: int = 10_000
    probe_max_iter: int = 500
    n_boot: int = 2000
    n_jobs: int = 1
    max_jobs: int = 0
    data_loader: Callable[[dict[str, Any], str], tuple[np.ndarray, np.ndarray]] | None = None
    use_cache: bool = True
    figure_format: str = "svg"

    def cores(self) -> int:
        """The cores a stage may use: ``max_jobs``, else every core this process may run on."""
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(self.max_jobs, available) if self.max_jobs else available)

    @classmethod
    def from_env(cls, text: str | None = None) -> ReportOptions:
        """Options from ``$AUTOENC_REPORT_OPTIONS`` (or ``text``), e.g. ``"tsne_train=3000,tsne_models=2"``."""
        text = os.environ.get("AUTOENC_REPORT_OPTIONS", "") if text is None else text
        kwargs: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in cls.__dataclass_fields__ or key == "data_loader" or not value.strip():
                allowed = sorted(k for k in cls.__dataclass_fields__ if k != "data_loader")
                raise ValueError(f"report option {item!r} is not KEY=VALUE with KEY in {allowed}")
            value = value.strip()
            if key == "use_cache":
                kwargs[key] = value.lower() in ("1", "true", "yes")
            elif key == "figure_format":
                if value not in FIGURE_FORMATS:
                    raise ValueError(f"report option {item!r}: figure_format is one of {list(FIGURE_FORMATS)}")
                kwargs[key] = value
            elif value.isdigit():
                kwargs[key] = int(value)
            else:
                raise ValueError(f"report option {item!r}: {key} takes a whole number >= 0")
        return cls(**kwargs)


@dataclass
class ReportContext:
    """Everything an analysis may use: the spec, the store, the runs, options and helpers."""

    spec: StudySpec
    store: RunStore
    results: StudyResults
    configs: list[RunConfig]
    report_dir: Path
    options: ReportOptions
    verbose: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    _start: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        """Detail (cache notes, stage timings): shown with ``-v`` / ``AUTOENC_REPORT_VERBOSE``."""
        _log.log(logging.INFO if self.verbose else logging.DEBUG, f"[report {self.spec.name}] {message}")

    @contextlib.contextmanager
    def timed(self, step: str):
        # every stage announces itself: a cold report runs for minutes, and this is its progress
        _log.info(f"[report {self.spec.name}] {step} ({time.perf_counter() - self._start:.0f} s in)")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - start
            self.log(f"{step}: {self.timings[step]:.1f} s")

    @property
    def data_settings(self) -> dict[str, Any]:
        """The ``[data]`` settings of the runs (the first done run's, else the grid's first)."""
        if self.results.done:
            return self.results.done[0].config.data
        return self.configs[0].data if self.configs else dict(self.spec.data)

    def load_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``split`` exactly as the runs saw it."""
        loader = self.options.data_loader
        if loader is None:
            from ..datasets import load_settings as loader
        return loader(self.data_settings, split)

    def cache_path(self, name: str) -> Path:
        return self.store.root / "report_cache" / name

    # The one cache of the analyses: ``report_cache/<name>`` (``.json``: any JSON value;
    # ``.npz``: a dict of arrays, read without pickle), valid only for the ``key`` it was
    # written under: a key that names the content it came from (the data settings, a model
    # file's checksum, the settings of the computation) so a changed input is never shown with
    # stale numbers. A missing, damaged, foreign or invalid file reads as absent and is
    # recomputed; a store that cannot be written still gets its report.
    def cache_get(self, name: str, key: str, valid: Callable[[Any], bool] | None = None) -> Any:
        """The value cached as ``name`` under ``key``, or None."""
        path = self.cache_path(name)
        if not (self.options.use_cache and path.is_file()):
            return None
        try:
            if name.endswith(".npz"):
                with np.load(path, allow_pickle=False) as z:
                    if "__key__" not in z.files or str(z["__key__"]) != key:
                        return None
                    value: Any = {k: z[k] for k in z.files if k != "__key__"}
            else:
                stored = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(stored, dict) or stored.get("key") != key:
                    return None
                value = stored.get("value")
            return value if valid is None or valid(value) else None
        except Exception:  # noqa: BLE001  (any damage: truncated zip, bad CRC, bad JSON, wrong types) -> recompute
            return None

    def cache_put(self, name: str, key: str, value: Any) -> None:
        """Cache ``value`` (JSON value, or a dict of arrays for ``.npz``) as ``name`` under ``key``."""
        if not self.options.use_cache:
            return
        try:
            if name.endswith(".npz"):
                atomic_savez(self.cache_path(name), {**value, "__key__": np.array(key)})
            else:
                atomic_write_json(self.cache_path(name), {"key": key, "value": value})
        except OSError as e:  # read-only store
            self.log(f"cache {name} not written: {e}")

    def cached(self, name: str, key: str, compute: Callable[[], Any], valid: Callable[[Any], bool] | None = None
               ) -> Any:
        """``cache_get``, else ``compute()`` and ``cache_put``."""
        value = self.cache_get(name, key, valid)
        if value is None:
            value = compute()
            self.cache_put(name, key, value)
        return value

    def figure(self, fig: Figure, name: str, caption: str = "", alt: str = "", dpi: int = FIGURE_DPI) -> FigureRef:
        """Render a matplotlib figure to PNG bytes (and close it)."""
        import io

        buf = io.BytesIO()
        vector = None
        fmt = self.options.figure_format
        try:
            fig.savefig(buf, format="png", dpi=dpi)
            if fmt != "none":
                for ax in fig.axes:  # dense scatters, meshes and filled contours stay pixels (file size)
                    for artist in ax.collections:
                        n_points = len(getattr(artist, "get_offsets", lambda: [])())
                        n_paths = len(getattr(artist, "get_paths", lambda: [])())
                        vertices = sum(len(p.vertices) for p in getattr(artist, "get_paths", lambda: [])())
                        if n_points > 500 or n_paths > 200 or vertices > 5000:
                            artist.set_rasterized(True)
                import matplotlib

                vbuf = io.BytesIO()
                # a fixed salt for the SVG element ids: the same figure gives the same file
                with matplotlib.rc_context({"svg.hashsalt": "autoenc"}):
                    fig.savefig(vbuf, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
                vector = vbuf.getvalue()
        finally:
            if "matplotlib.pyplot" in sys.modules:
                sys.modules["matplotlib.pyplot"].close(fig)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "figure"
        return FigureRef(safe, buf.getvalue(), caption, alt or caption or safe, vector=vector,
                         vector_format=fmt if vector is not None else "")


# --------------------------------------------------------------------------- analysis registry
AnalysisFn = Callable[[ReportContext], AnalysisResult]
ANALYSES: dict[str, AnalysisFn] = {}
"""Analysis name -> function. ``name`` without an entry is looked up as
``autoenc.analysis.<name>.analyze`` on first use (``autoencoder``, ``classifier``,
``regressor``); ``generic`` is the run table every study can have."""


def register_analysis(name: str, fn: AnalysisFn) -> None:
    """Make ``fn`` the analysis ``name`` (a study selects it with ``[study].report``)."""
    ANALYSES[name] = fn


def get_analysis(name: str) -> AnalysisFn:
    """The analysis ``name`` (``[study].report``, by default the study's task): registered, or
    ``autoenc.analysis.<name>.analyze``; the generic run table for ``generic`` or a task
    without an analysis package."""
    if name == "generic":
        return generic_analysis
    if name not in ANALYSES:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"analysis name {name!r} is not a module name")
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{name}":
                raise  # the module exists but one of its imports is missing
            return generic_analysis
        fn = getattr(module, "analyze", None)
        if not callable(fn):  # e.g. a helper module of this package, not an analysis
            return generic_analysis
        ANALYSES[name] = fn
    return ANALYSES[name]


def generic_analysis(ctx: ReportContext) -> AnalysisResult:
    """Fallback for tasks without their own analysis: one row per done run, the grid axes that vary
    and the metrics; what is the same in every run is said once above the table."""
    from .factors import design

    frame = ctx.results.to_frame()
    d = design(ctx.spec)
    section = Section("Runs", paragraphs=[f"No task-specific analysis for task `{ctx.spec.task}`; "
                                          "the metrics of every completed run follow.", d.describe()])
    if len(frame):
        grid = [f"param_{k}" for k in d.factors if f"param_{k}" in frame]
        same = [c for c in frame.columns if c != "run_id" and frame[c].astype(str).nunique(dropna=False) == 1]
        # the test metrics (means and accuracies), the final validation loss and the time: every other
        # metric of every run is in results.csv
        headline = [c for c in frame.columns if c not in same and not c.startswith("param_") and c != "run_id" and (
            (c.startswith("test_") and c.endswith(("_mean", "accuracy"))) or c in ("final_val_loss", "train_seconds"))]
        shown = ["run_id", *[c for c in grid if c not in same], *(["param_seed"] if "param_seed" in frame else []),
                 *headline]
        if same:
            section.add_text("The same in every run: " + ", ".join(
                f"`{c.removeprefix('param_')} = {format_value(frame[c].iloc[0])}`" for c in same) + ".")
        section.add_table(Table(frame[list(dict.fromkeys(shown))].rename(
            columns=lambda c: c.removeprefix("param_")), title="Completed runs",
            caption="The grid values that vary, the test metrics, the final validation loss and the training time; "
                    "results.csv has every metric of every run."))
    n = len(ctx.results.done)
    return AnalysisResult(headline=f"{n} of {len(ctx.configs)} runs completed.", verdict=f"{n} runs",
                          sections=[section], datasets=[str(ctx.data_settings.get("dataset", ""))])


# --------------------------------------------------------------------------- generic alerts
def _cell(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "(no grid values)"


def _listed(items: Sequence[str]) -> list[str]:
    if len(items) <= MAX_LISTED:
        return list(items)
    return [*items[:MAX_LISTED], f"... and {len(items) - MAX_LISTED} more"]


CONVERGENCE_ALERT_TITLE = "runs do not meet the convergence rule"


def _converged(run: Any) -> bool | None:
    """The run's convergence flag; for cross-entropy with label smoothing recomputed from its
    history above the loss's floor (the smoothed targets' entropy), which runs trained before
    2026-12-03 did not subtract."""
    smoothing = float(run.config.train.get("label_smoothing", 0.0) or 0.0)
    n_classes = len(run.metrics.get("confusion_matrix") or [])
    if not smoothing or run.config.train.get("loss") != "cross_entropy" or n_classes < 2 or "loss_floor" in run.metrics:
        return run.metrics.get("converged")
    from ..nn import CrossEntropyLoss
    from ..nn.train import converged

    try:
        h = run.history()
    except (OSError, ValueError):
        return run.metrics.get("converged")
    column = "val_loss" if "val_loss" in h and h["val_loss"].notna().any() else "train_loss"
    floor = CrossEntropyLoss(label_smoothing=smoothing).floor(np.arange(n_classes))
    return converged(h[column].to_numpy(float), bool(run.metrics.get("stopped_early")), floor=floor)


def convergence_alert(items: list[str]) -> Alert:
    """The warning that lists runs not meeting the convergence rule (one line per run)."""
    return Alert("warning", f"{len(items)} {CONVERGENCE_ALERT_TITLE}",
                 "The rule (docs/convergence.md): the best validation loss (training loss without a "
                 "validation split) of the last 5 epochs improves on the best before them by less "
                 "than 0.5%, measured above the loss's floor, or early stopping fired. Their results hold "
                 "for their budget only; they are kept in the statistics.", _listed(items))


def run_alerts(store: RunStore, results: StudyResults, n_configs: int) -> list[Alert]:
    """Failed, missing (never run or interrupted) and non-converged runs of the grid."""
    alerts: list[Alert] = []
    if results.failed:
        items = []
        for r in results.failed:
            lines = [ln for ln in (r.failure or "").strip().splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else "no error text"
            items.append(f"{_cell(r.params)} (run {r.run_id}): {why}")
        alerts.append(Alert("error", f"{len(results.failed)} of {n_configs} runs failed",
                            "Their cells are left out of the statistics below; rerun them with "
                            "`sweep --retry-failed`.", _listed(items)))
    if results.missing:
        pending = [c for c in results.missing if store.status(c.run_id) == "pending"]
        partial = [c for c in results.missing if store.status(c.run_id) != "pending"]
        items = [f"{_cell(c.params)} (run {c.run_id}): not run yet" for c in pending]
        items += [f"{_cell(c.params)} (run {c.run_id}): interrupted or corrupted, "
                  f"{store.verify(c.run_id)[1]}" for c in partial]
        alerts.append(Alert("warning", f"{len(results.missing)} of {n_configs} runs missing",
                            "The report covers only the completed runs; `sweep` the study again to "
                            "finish the grid.", _listed(items)))
    not_converged = [r for r in results.done if _converged(r) is False]
    if not_converged:
        alerts.append(convergence_alert([
            f"{_cell(r.params)} (run {r.run_id}): epochs {r.metrics.get('epochs_run', '?')}, "
            f"final validation loss {format_value(r.metrics.get('final_val_loss'))}" for r in not_converged]))
    versions = Counter(r.code for r in results.done if r.code)
    groups = group_versions([v for v, _ in versions.most_common()]) if len(versions) > 1 else []
    if len(groups) > 1:  # e.g. code edited while a sweep ran, or a grid finished after an upgrade
        alerts.append(Alert("warning", f"the runs were trained by {len(groups)} versions of the code",
                            "Results may mix code changes. To make them uniform, rerun on one clean checkout "
                            "with `sweep --force`.",
                            _listed([" = ".join(f"{v}: {versions[v]} runs" for v in g) for g in groups])))
    if not results.done:
        alerts.append(Alert("error", "no completed runs", "Nothing to analyse yet: run `sweep` first."))
    others, differ = store.results().other_settings([*(r.config for r in results.done), *results.missing,
                                                     *(r.config for r in results.failed)])
    if others:
        alerts.append(Alert("info", f"the store holds {len(others)} more done runs of other settings",
                            f"This report uses the {len(results.done)} done runs of its grid; runs that differ in "
                            "any resolved setting are never pooled. results.csv lists every done run with a column "
                            "per setting that differs. Settings that tell them apart:",
                            _listed([f"{k}: {', '.join(map(str, v))}" for k, v in differ.items()]
                                    or ["other grid values"])))
    return alerts


