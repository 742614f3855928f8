"""The report frame: HTML and Markdown from an analysis's content.

A report is built in three steps:

1. :func:`build_report` reads the run store for the study's grid and collects the generic
   alerts (failed, missing, interrupted and non-converged runs; :func:`autoenc.analysis.context.run_alerts`);
2. the study's analysis (``[study].report``, else its task: ``autoenc.analysis.<name>.analyze``,
   e.g. :mod:`autoenc.analysis.autoencoder`) turns the runs into an
   :class:`~autoenc.analysis.content.AnalysisResult`: a headline, a verdict table, more alerts
   and a list of sections made of paragraphs, tables and figures;
3. the same content goes through two Jinja2 templates: ``report.html`` (self-contained,
   figures embedded as base64 PNG, autoescaped, no JavaScript, nothing from the network) and
   ``README.md`` (figures as files under ``figures/``), plus ``headline.json`` for the index.

Nothing here computes a statistic: this module only lays out what the analysis returned.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.content import Alert, AnalysisResult, Table
from ..analysis.context import (
    CONVERGENCE_ALERT_TITLE,
    ReportContext,
    ReportOptions,
    get_analysis,
    run_alerts,
)
from ..study.grid import expand
from ..study.registry import task
from ..study.store import RunStore
from .output import claim

_log = logging.getLogger("autoenc.report")

if TYPE_CHECKING:

    from ..study.spec import StudySpec

TEMPLATES = Path(__file__).resolve().parent / "templates"


# --------------------------------------------------------------------------- files
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
        env.filters["inline"] = lambda v: Markup(md_block_safe(md_escape(v)))
    return env


#: line breaks and control characters (C0, DEL, C1, Unicode line and paragraph separators)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
#: what makes the start of a line a block of its own: heading, quote, list, fence, rule, table
_BLOCK_START = re.compile(r"^(\s*)([#>+*=|`~_-]|\d+(?=[.)]))")


def md_escape(value: Any) -> str:
    """Text for Markdown, the one place every interpolated string passes through: one line
    (line breaks and control characters become spaces, so no text starts a heading or a
    ``[x]: javascript:`` definition on a line of its own), ``&``, ``<`` and ``>`` as entities
    (no raw HTML), and ``](`` / ``]:`` broken up (no link, no link definition)."""
    text = _CONTROL.sub(" ", str(value))
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("](", "]\\(")
            .replace("]:", "]\\:"))


def md_block_safe(text: str) -> str:
    """``text`` (already ``md_escape``d) placed at the start of a line stays a paragraph: a
    leading ``#``, ``-``, ``>``, ``1.`` ... is escaped."""
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2) if not m.group(2)[0].isdigit()
                            else m.group(1) + m.group(2) + "\\", text, count=1)


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
    force: bool = False,
) -> Path:
    """Write ``report.html``, ``README.md``, ``figures/`` and ``headline.json`` for ``spec``.

    The report owns only what it writes (``autoenc.report.output``): the folder is checked
    before the analysis runs, and only files of the folder's manifest are replaced or removed.

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
    force
        Write into a non-empty folder the report did not create (nothing of it is removed).

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
    folder = claim(report_dir, force=force)  # every check of the output paths, before the analysis
    store = RunStore(store_root)
    store.check_layout()
    configs = expand(spec)
    results = store.results(configs)
    if verbose is None:
        verbose = bool(os.environ.get("AUTOENC_REPORT_VERBOSE"))
    ctx = ReportContext(spec, store, results, configs, report_dir, options or ReportOptions.from_env(), verbose=verbose)
    alerts = run_alerts(store, results, len(configs))
    if results.done:
        from threadpoolctl import threadpool_limits

        # [study].report, else the task's own analysis (autoenc.study.registry); BLAS threads
        # (PCA, probes, encoders) within the report's cores (--jobs)
        with threadpool_limits(ctx.options.cores()):
            result = get_analysis(str(spec.extra.get("report") or task(spec.task).analysis))(ctx)
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

    figures = [f for s in result.sections for f in s.figure_refs()]
    names = [f.name for f in figures]
    if len(set(names)) != len(names):
        raise ValueError(f"figure names repeat in the {spec.task} analysis: {sorted(names)}")
    for f in figures:
        folder.write(f"figures/{f.name}.png", f.png)
        if f.vector is not None:
            folder.write(f"figures/{f.name}.{f.vector_format}", f.vector)
    folder.write("report.html", _environment("html").get_template("report.html.j2").render(**view))
    folder.write("README.md", _environment("md").get_template("report.md.j2").render(**view))
    headline = {"study": spec.name, "headline": result.headline, "verdict": result.verdict, "preset": spec.preset,
                "description": spec.description}
    folder.write("headline.json", json.dumps(headline, indent=2) + "\n")
    folder.finish()  # figures of the last render that this one no longer has: removed (only those)
    ctx.log(f"written in {time.perf_counter() - start:.1f} s: {report_dir / 'report.html'}")
    return report_dir / "report.html"


def build_index(report_root: Path, *, force: bool = False) -> Path:
    """Write ``index.html`` and ``README.md`` in ``report_root`` linking every study report below it.

    Each report folder (one holding ``report.html``) contributes one line: its study name,
    the headline from its ``headline.json`` and links to ``report.html`` / ``README.md``.
    An ``index.html`` or ``README.md`` there that the report did not write is refused (replaced
    with ``force``).
    """
    report_root = Path(report_root)
    out = claim(report_root, kind="index", force=force)
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
    out.write("index.html", _environment("html").get_template("index.html.j2").render(**view))
    out.write("README.md", _environment("md").get_template("index.md.j2").render(**view))
    out.finish()
    return report_root / "index.html"
