"""What an analysis hands to the report frame: alerts, tables, figures, sections and the
result of an analysis, with the value formatting every table uses."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

__all__ = ["AnalysisResult", "Alert", "FigureRef", "Section", "Table", "format_p", "format_value"]

MAX_LISTED = 12  # runs named one by one in an alert before "... and N more"


@dataclass
class Alert:
    """Something the reader must know before trusting the numbers.

    ``level`` is ``"error"`` (failed runs), ``"warning"`` (missing or non-converged runs,
    seeds that disagree) or ``"info"``; ``items`` are listed under ``text``.
    """

    level: str
    title: str
    text: str = ""
    items: list[str] = field(default_factory=list)


def format_p(p: float) -> str:
    """p-values: 3 decimals down to 0.001, then 2 significant digits (``<1e-300`` at underflow)."""
    if not math.isfinite(p):
        return "–"
    if p == 0:
        return "<1e-300"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def format_value(value: Any, fmt: str | Callable[[Any], str] | None = None) -> str:
    """One table cell as text.

    ``fmt`` is a callable, a ``format()`` spec (``".3f"``) or one of ``"p"`` (p-value),
    ``"pct"`` (share as percent), ``"int"``, ``"sci"`` (``1.23e-04``), ``"signed"``
    (``+0.123``). Without ``fmt`` numbers get a general format with about four significant
    digits, integers thousands separators, NaN/None an en dash, booleans yes/no.
    """
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if callable(fmt):
        return fmt(value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer) and fmt in (None, "int"):
        return f"{int(value):,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if fmt == "p":
        return format_p(v)
    if fmt == "pct":
        return f"{v:.1%}"
    if fmt == "int":
        return f"{round(v):,}"
    if fmt == "sci":
        return f"{v:.2e}"
    if fmt == "signed":
        return f"{v:+.3f}"
    if fmt:
        return format(v, fmt)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.1f}"
    if a >= 1e-3:
        return f"{v:.4g}"
    return f"{v:.2e}"


_P_COLUMN = re.compile(r"(^p(\b|_| )|p-value|\bp\b|holm)", re.IGNORECASE)


@dataclass
class Table:
    """A table: a pandas DataFrame or a list of dicts (one per row), formatted at render time.

    Parameters
    ----------
    data
        The rows. A DataFrame's index is shown only with ``index=True``.
    title, caption
        Shown above / below the table.
    formats
        Column name to a format (see :func:`format_value`). Columns named like p-values
        (``p``, ``p one-sided``, ``Holm p``) default to ``"p"``.
    index
        Show a DataFrame's index as the first column(s).
    """

    data: Any
    title: str = ""
    caption: str = ""
    formats: dict[str, Any] = field(default_factory=dict)
    index: bool = False

    def cells(self) -> tuple[list[str], list[list[str]], list[bool]]:
        """``(header, rows, numeric)``: all cells as text; ``numeric[j]`` right-aligns column j."""
        records, columns = self._records()
        rows, numeric = [], []
        for c in columns:
            values = [r.get(c) for r in records]
            numeric.append(
                all(v is None or isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values)
                and any(v is not None for v in values)
            )
        for r in records:
            row = []
            for c in columns:
                fmt = self.formats.get(c)
                if fmt is None and _P_COLUMN.search(str(c)):
                    fmt = "p"
                row.append(format_value(r.get(c), fmt))
            rows.append(row)
        return [str(c) for c in columns], rows, numeric

    def _records(self) -> tuple[list[dict[str, Any]], list[Any]]:
        data = self.data
        if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a DataFrame
            frame = data.reset_index() if self.index else data
            columns = list(frame.columns)
            records = [dict(zip(columns, values, strict=True)) for values in frame.itertuples(index=False)]
            return [{k: _plain(v) for k, v in r.items()} for r in records], columns
        records = [dict(r) for r in data]
        columns: list[Any] = []
        for r in records:
            columns.extend(k for k in r if k not in columns)
        return records, columns

    def __len__(self) -> int:
        return len(self._records()[0])


def _plain(v: Any) -> Any:
    """NumPy scalars to Python ones (so ints stay ints in the formatter)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class FigureRef:
    """A rendered figure: PNG bytes, a file name under ``figures/`` and a caption."""

    name: str
    png: bytes
    caption: str = ""
    alt: str = ""
    vector: bytes | None = None  # the same figure as SVG or PDF (ReportOptions.figure_format)
    vector_format: str = ""

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def path(self) -> str:
        return f"figures/{self.name}.png"

    @property
    def vector_path(self) -> str:
        """The vector copy's path (empty when there is none)."""
        return f"figures/{self.name}.{self.vector_format}" if self.vector is not None else ""


@dataclass
class Section:
    """A titled part of the report: paragraphs, tables and figures in the order added.

    ``Section("Title", paragraphs=[...], tables=[...], figures=[...])`` adds them in that
    order; ``add_text`` / ``add_table`` / ``add_figure`` append in any order. Paragraph text
    is escaped; ``**bold**`` and ```code``` are the only markup.
    """

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)
    anchor: str = ""
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.blocks:
            self.blocks = [("text", p) for p in self.paragraphs]
            self.blocks += [("table", t) for t in self.tables]
            self.blocks += [("figure", f) for f in self.figures]
        if not self.anchor:
            self.anchor = "sec-" + (re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "x")

    def add_text(self, text: str) -> Section:
        self.blocks.append(("text", text))
        return self

    def add_note(self, text: str) -> Section:
        """A paragraph in small print (exact settings, caveats)."""
        self.blocks.append(("note", text))
        return self

    def add_table(self, table: Table) -> Section:
        self.blocks.append(("table", table))
        return self

    def add_figure(self, figure: FigureRef | None) -> Section:
        if figure is not None:
            self.blocks.append(("figure", figure))
        return self

    def add_figures(self, figures: Iterable[FigureRef | None]) -> Section:
        for f in figures:
            self.add_figure(f)
        return self

    def figure_refs(self) -> list[FigureRef]:
        return [b for kind, b in self.blocks if kind == "figure"]


@dataclass
class AnalysisResult:
    """What a task's analysis hands to the frame.

    ``headline`` is one or two sentences (the index quotes it); ``verdict`` a short phrase;
    ``verdict_table`` the headline verdict table shown first; ``datasets`` the dataset names
    whose checksums go into the provenance footer.
    """

    headline: str
    verdict: str = ""
    verdict_table: Table | None = None
    sections: list[Section] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: the analysis judged convergence itself (from the histories, above the loss floor) and
    #: raised its own alert: the frame's alert from the stored flags is dropped
    convergence_checked: bool = False
