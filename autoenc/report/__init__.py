"""Study reports from the run store: ``report.html`` (self-contained) and ``README.md``.

:func:`build_report` writes one study's report, :func:`build_index` a page linking all of
them. The analyses live in :mod:`autoenc.analysis` (``autoenc.analysis.<name>.analyze``, e.g.
:mod:`autoenc.analysis.autoencoder`) and return :class:`Section` objects that the frame in
:mod:`autoenc.report.render` lays out around a verdict table, alerts and a provenance footer.
The content model and the context are re-exported here for convenience.
"""

from __future__ import annotations

from ..analysis.content import Alert, AnalysisResult, FigureRef, Section, Table, format_value
from ..analysis.context import ANALYSES, ReportContext, ReportOptions, get_analysis, register_analysis
from .render import build_index, build_report

__all__ = [
    "ANALYSES",
    "Alert",
    "AnalysisResult",
    "FigureRef",
    "ReportContext",
    "ReportOptions",
    "Section",
    "Table",
    "build_index",
    "build_report",
    "format_value",
    "get_analysis",
    "register_analysis",
]
