"""Study reports from the run store: ``report.html`` (self-contained) and ``README.md``.

:func:`build_report` writes one study's report, :func:`build_index` a page linking all of
them. Each task's analysis (``ANALYSES``; the autoencoder one is
:mod:`autoenc.report.analysis_autoencoder`) returns :class:`Section` objects that the
generic frame in :mod:`autoenc.report.render` lays out around a verdict table, alerts and a
provenance footer.
"""

from __future__ import annotations

from .render import (
    ANALYSES,
    Alert,
    AnalysisResult,
    FigureRef,
    ReportContext,
    ReportOptions,
    Section,
    Table,
    build_index,
    build_report,
    format_value,
    get_analysis,
    register_analysis,
)

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
