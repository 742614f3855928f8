"""The generic report frame: content objects, the analysis registry, HTML and Markdown output.

A report is built in three steps:

1. :func:`build_report` reads the run store for the study's grid and collects the generic
   alerts (failed, missing, interrupted and non-converged runs);
2. the task's analysis (``ANALYSES[spec.task]``, e.g.
   :func:`autoenc.report.analysis_autoencoder.analyze`) turns the runs into an
   :class:`AnalysisResult`: a headline, a verdict table, more alerts and a list of
   :class:`Section` objects made of paragraphs, :class:`Table` and :class:`FigureRef` blocks;
3. the same content goes through two Jinja2 templates: ``report.html`` (self-contained,
   figures embedded as base64 PNG, autoescaped, no JavaScript, nothing from the network) and
   ``README.md`` (figures as files under ``figures/``), plus ``headline.json`` for the index.

Analyses for other tasks live in ``autoenc/report/analysis_<task>.py`` and define
``analyze(ctx: ReportContext) -> AnalysisResult``; they are found by name, or registered
with :func:`register_analysis`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
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
from ..nn.io import atomic_write_bytes
from ..study.grid import RunConfig, expand
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

TEMPLATES = Path(__file__).resolve().parent / "templates"
FIGURE_DPI = 100


# --------------------------------------------------------------------------- files
def write_atomic(path: Path, data: bytes | str) -> None:
    """Atomic write (see ``autoenc.nn.io.atomic_write_bytes``); text is written as UTF-8."""
    atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)


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
        lbfgs iterations of each probe.
    n_boot : int
        Bootstrap resamples for the median-difference CIs of the main comparisons.
    n_jobs : int
        Threads for openTSNE.
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
    probe_max_iter: int = 200
    n_boot: int = 2000
    n_jobs: int = 1
    data_loader: Callable[[dict[str, Any], str], tuple[np.ndarray, np.ndarray]] | None = None
    use_cache: bool = True
    figure_format: str = "svg"

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
"""Task name -> analysis. ``autoencoder`` is in :mod:`.analysis_autoencoder`; a task ``t``
without an entry is looked up as ``autoenc.report.analysis_t.analyze`` on first use."""


def register_analysis(task: str, fn: AnalysisFn) -> None:
    ANALYSES[task] = fn


def get_analysis(task: str) -> AnalysisFn:
    """The analysis of ``task``; the generic run table if no task-specific one exists."""
    if task not in ANALYSES:
        try:
            module = importlib.import_module(f"{__package__}.analysis_{task}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.analysis_{task}":
                raise  # the module exists but one of its imports is missing
            return generic_analysis
        ANALYSES[task] = module.analyze
    return ANALYSES[task]


def generic_analysis(ctx: ReportContext) -> AnalysisResult:
    """Fallback for tasks without their own analysis: one row per done run, its metrics."""
    frame = ctx.results.to_frame()
    section = Section("Runs", paragraphs=[f"No task-specific analysis for task `{ctx.spec.task}`; "
                                          "the metrics of every completed run follow."])
    if len(frame):
        section.add_table(Table(frame, title="Completed runs"))
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
    return alerts


# --------------------------------------------------------------------------- templating
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _environment(kind: str):
    import jinja2
    from markupsafe import Markup, escape

    def inline_html(text: str) -> Markup:
        # escape first, then turn the two allowed markers into tags: user text cannot add markup
        s = str(escape(text))
        s = _CODE.sub(r"<code>\1</code>", s)
        return Markup(_BOLD.sub(r"<strong>\1</strong>", s))

    if kind == "html":
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        env.filters["inline"] = inline_html
    else:
        # Markdown renders inline HTML, so every interpolated value is escaped unless marked safe
        def finalize(value: Any) -> Any:
            return value if isinstance(value, Markup) else md_escape(value)

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, finalize=finalize,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                 keep_trailing_newline=True)
        env.filters["cell"] = lambda v: Markup(md_escape(v).replace("|", "\\|").replace("\n", " "))
        env.filters["inline"] = lambda v: Markup(md_escape(v))
    return env


def md_escape(value: Any) -> str:
    """Text for Markdown: ``&``, ``<`` and ``>`` as entities, so no raw HTML gets through, and
    ``](`` broken up, so no interpolated text becomes a link."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("](", "]\\(")


def _table_view(table: Table) -> dict[str, Any]:
    header, rows, numeric = table.cells()
    return {"title": table.title.strip(), "caption": table.caption.strip(), "header": header, "rows": rows,
            "numeric": numeric}


def _view(result: AnalysisResult, alerts: list[Alert], spec: StudySpec, provenance: list[tuple[str, str]],
          title: str) -> dict[str, Any]:
    sections = []
    for s in result.sections:
        blocks = []
        for kind, b in s.blocks:
            if kind == "table":
                blocks.append({"kind": "table", **_table_view(b)})
            elif kind == "figure":
                blocks.append({"kind": "figure", "figure": b})
            else:
                blocks.append({"kind": kind, "text": str(b)})
        sections.append({"title": s.title, "anchor": s.anchor, "blocks": blocks})
    return {
        "title": title,
        "study": spec.name,
        "description": spec.description,
        "preset": spec.preset,
        "headline": result.headline,
        "verdict_table": _table_view(result.verdict_table) if result.verdict_table is not None else None,
        "alerts": alerts,
        "sections": sections,
        "provenance": provenance,
    }


# --------------------------------------------------------------------------- entry points
def build_report(
    store_root: Path,
    report_dir: Path,
    *,
    spec: StudySpec,
    command: str,
    options: ReportOptions | None = None,
    verbose: bool | None = None,
) -> Path:
    """Write ``report.html``, ``README.md``, ``figures/`` and ``headline.json`` for ``spec``.

    Parameters
    ----------
    store_root
        The study's run store (``<out>/<study>``).
    report_dir
        Where the report goes (created).
    spec
        The resolved study; its grid decides which runs the report expects.
    command
        The command line that produced the report (provenance footer).
    options
        Detail/time trade-offs, see :class:`ReportOptions`.
    verbose
        Log each step's time to stderr (default: ``$AUTOENC_REPORT_VERBOSE``).

    Without ``options``, ``$AUTOENC_REPORT_OPTIONS`` (``"tsne_train=3000,n_boot=5000"``)
    adjusts the defaults, so the command line can change them too.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.
    """
    from .provenance import collect_provenance

    start = time.perf_counter()
    store_root, report_dir = Path(store_root), Path(report_dir)
    store = RunStore(store_root)
    configs = expand(spec)
    results = store.results(configs)
    if verbose is None:
        verbose = bool(os.environ.get("AUTOENC_REPORT_VERBOSE"))
    ctx = ReportContext(spec, store, results, configs, report_dir, options or ReportOptions.from_env(), verbose=verbose)
    alerts = run_alerts(store, results, len(configs))
    if results.done:
        result = get_analysis(str(spec.extra.get("report") or spec.task))(ctx)  # [study].report, else the task
        if result.convergence_checked:
            alerts = [a for a in alerts if not a.title.endswith(CONVERGENCE_ALERT_TITLE)]
    else:
        result = AnalysisResult(headline=f"No completed runs yet (0 of {len(configs)}).", verdict="no runs")
    alerts += result.alerts
    seconds = time.perf_counter() - start
    provenance = collect_provenance(spec, store_root, command, datasets=result.datasets or
                                    [str(ctx.data_settings.get("dataset", ""))],
                                    runs=(len(results.done), len(configs)), seconds=seconds,
                                    timings={**ctx.timings, **result.timings},
                                    run_codes=[r.code for r in results.done])
    title = f"{spec.name}: {spec.description}" if len(spec.description) < 80 else spec.name
    view = _view(result, alerts, spec, provenance, title)

    report_dir.mkdir(parents=True, exist_ok=True)
    figures = [f for s in result.sections for f in s.figure_refs()]
    names = [f.name for f in figures]
    if len(set(names)) != len(names):
        raise ValueError(f"figure names repeat in the {spec.task} analysis: {sorted(names)}")
    fig_dir = report_dir / "figures"
    written = set()
    for f in figures:
        write_atomic(fig_dir / f"{f.name}.png", f.png)
        written.add(f"{f.name}.png")
        if f.vector is not None:
            write_atomic(fig_dir / f"{f.name}.{f.vector_format}", f.vector)
            written.add(f"{f.name}.{f.vector_format}")
    if fig_dir.is_dir():  # figures of an earlier render that this one no longer has
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("*.svg"), *fig_dir.glob("*.pdf")]:
            if old.name not in written:
                old.unlink()
    html = _environment("html").get_template("report.html.j2").render(**view)
    md = _environment("md").get_template("report.md.j2").render(**view)
    write_atomic(report_dir / "report.html", html)
    write_atomic(report_dir / "README.md", md)
    headline = {"study": spec.name, "headline": result.headline, "verdict": result.verdict, "preset": spec.preset,
                "description": spec.description}
    write_atomic(report_dir / "headline.json", json.dumps(headline, indent=2) + "\n")
    ctx.log(f"written in {time.perf_counter() - start:.1f} s: {report_dir / 'report.html'}")
    return report_dir / "report.html"


def build_index(report_root: Path) -> Path:
    """Write ``index.html`` and ``README.md`` in ``report_root`` linking every study report below it.

    Each report folder (one holding ``report.html``) contributes one line: its study name,
    the headline from its ``headline.json`` and links to ``report.html`` / ``README.md``.
    """
    report_root = Path(report_root)
    report_root.mkdir(parents=True, exist_ok=True)
    entries = []
    for html in sorted(report_root.rglob("report.html")):
        folder = html.parent
        if folder == report_root:
            continue
        meta: dict[str, Any] = {}
        with contextlib.suppress(OSError, json.JSONDecodeError):
            meta = json.loads((folder / "headline.json").read_text())
        rel = folder.relative_to(report_root).as_posix()
        entries.append({
            "study": str(meta.get("study", folder.name)),
            "headline": str(meta.get("headline", "(no headline.json)")),
            "verdict": str(meta.get("verdict", "")),
            "html": f"{rel}/report.html",
            "md": f"{rel}/README.md" if (folder / "README.md").is_file() else None,
        })
    view = {"entries": entries, "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    write_atomic(report_root / "index.html", _environment("html").get_template("index.html.j2").render(**view))
    write_atomic(report_root / "README.md", _environment("md").get_template("index.md.j2").render(**view))
    return report_root / "index.html"
