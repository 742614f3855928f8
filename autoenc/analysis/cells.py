"""Cells of a study (grid values without the seed, seeds as replicates) and the pieces the
classifier and regressor reports share: collecting runs, Student-t intervals, the
``[study.original]`` rows, the study's settings in words, optional sections."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..study.grid import RunConfig, canonical_json
from ..study.store import Run
from .context import Alert, ReportContext, Section
from .factors import design

__all__ = ["CONFIDENCE", "Cell", "class_names", "collect_cells", "data_loader", "human", "matches", "optional_section",
           "original_rows", "settings_paragraphs", "show", "study_cells", "t_interval"]

CONFIDENCE = 0.95


@dataclass
class Cell:
    """The done runs (one per seed) of one combination of grid values."""

    params: dict[str, Any]
    label: str
    runs: list[Run] = field(default_factory=list)
    #: the label for figures: values only, in words (``conv1d · 500 train images``)
    short: str = ""

    def values(self, metric: str) -> np.ndarray:
        out = [r.metrics.get(metric) for r in self.runs]
        return np.array([np.nan if v is None else float(v) for v in out], dtype=float)

    def median(self, metric: str) -> float:
        v = self.values(metric)
        v = v[np.isfinite(v)]
        return float(np.median(v)) if len(v) else float("nan")

    def median_run(self, metric: str = "test_accuracy") -> Run:
        """The run whose metric is the (lower) median of the cell: a typical seed, not the best."""
        v = self.values(metric)
        order = np.argsort(np.where(np.isfinite(v), v, -np.inf), kind="stable")
        return self.runs[int(order[(len(order) - 1) // 2])]

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.runs]


def show(value: Any) -> str:
    """A grid value as text: lists as ``64-32-16`` (the original's way of naming networks)."""
    if isinstance(value, list | tuple):
        return "-".join(map(str, value))
    return str(value)


def human(key: str, value: Any) -> str:
    """One grid value in words for figure labels (tables keep ``key=value``)."""
    if key in ("variant", "dataset", "loss", "architecture", "activation", "optimizer"):
        return show(value)
    if key == "train_subset":
        return f"{int(value):,} train images" if isinstance(value, int) else f"train {show(value)}"
    if key in ("hidden", "widths"):
        return f"hidden {show(value)}"
    return f"{key.replace('_', ' ')} {show(value)}"


def collect_cells(ctx: ReportContext) -> list[Cell]:
    """Done runs grouped by grid values without the seed, in grid order.

    Grid keys with a single value are left out of the labels (they do not tell cells apart).
    """
    varying = design(ctx.spec).varying  # every grid axis but the seed is a factor; one-level ones name no cell
    cells: dict[str, Cell] = {}
    for config in ctx.configs:
        params = {k: v for k, v in config.params.items() if k != "seed"}
        key = canonical_json(params)
        if key not in cells:
            label = ", ".join(f"{k}={show(params[k])}" for k in varying if k in params) or "all runs"
            short = " · ".join(human(k, params[k]) for k in varying if k in params) or "all runs"
            cells[key] = Cell(params, label, short=short)
    for run in ctx.results.done:
        key = canonical_json({k: v for k, v in run.params.items() if k != "seed"})
        if key in cells:
            cells[key].runs.append(run)
    for c in cells.values():
        c.runs.sort(key=lambda r: r.config.seed)
    return [c for c in cells.values() if c.runs]


def study_cells(ctx: ReportContext) -> tuple[list[Cell], list[str]]:
    """The cells with completed runs, and the data sets those runs used (for the index)."""
    cells = collect_cells(ctx)
    return cells, sorted({str(r.config.data["dataset"]) for c in cells for r in c.runs})


def t_interval(values: np.ndarray | list[float], confidence: float = CONFIDENCE,
               bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(mean, low, high): two-sided Student-t interval of the mean; NaN bounds for < 2 values.

    ``bounds`` clip the interval to the metric's range (an accuracy cannot exceed 1).
    """
    from scipy import stats

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return mean, lo, hi


def matches(config: RunConfig, cell: dict[str, Any]) -> bool:
    """Whether a run config has every ``key = value`` of ``cell`` (grid values, else its settings)."""
    for key, want in cell.items():
        if key in config.params:
            have = config.params[key]
        else:
            have = next((s[key] for s in (config.model, config.train, config.data) if key in s), None)
        if have != want and not (isinstance(want, list | tuple) and list(want) == have):
            return False
    return True


def original_rows(ctx: ReportContext, cells: list[Cell]) -> list[dict[str, Any]]:
    """``[study.original.<row>]`` tables with the cell they select (``None`` when its runs are
    not done). Rows whose cell is not in this grid at all (e.g. a smaller preset) are left out."""
    given = ctx.spec.extra.get("original") or {}
    rows = []
    for name, row in given.items():
        if not isinstance(row, dict) or "latent_sizes" in row:  # a figure row, not an error table
            continue
        want = row.get("cell", {}) or {}
        if not any(matches(c, want) for c in ctx.configs):
            continue
        chosen = [c for c in cells if c.runs and all(matches(r.config, want) for r in c.runs)]
        rows.append({"name": name, **row, "cell": chosen[0] if chosen else None, "cell_settings": want,
                     "n_matching_cells": len(chosen)})
    return rows


def data_loader(ctx: ReportContext) -> Callable[[dict[str, Any], str], tuple[np.ndarray, np.ndarray]]:
    if ctx.options.data_loader is not None:
        return ctx.options.data_loader
    from ..datasets import load_settings

    return load_settings


def class_names(dataset: str, n: int) -> list[str]:
    try:
        from .. import datasets

        names = [str(x) for x in datasets.class_names(dataset)]
        if len(names) == n:
            return names
    except Exception:  # names are cosmetic: fall back to the label numbers
        pass
    return [str(i) for i in range(n)]


def optional_section(ctx: ReportContext, alerts: list[Alert], title: str, build: Callable[[], Section | None]
              ) -> Section | None:
    """A section that may need data or models the machine lacks: its failure becomes an alert."""
    try:
        with ctx.timed(title):
            return build()
    except Exception as e:
        alerts.append(Alert("warning", f"section '{title}' left out", f"{type(e).__name__}: {e}"))
        return None


def settings_paragraphs(ctx: ReportContext) -> list[str]:
    """The grid, the shared settings and the variants, as the study file states them."""
    spec = ctx.spec
    out = ["Grid: " + "; ".join(f"{k} ∈ {{{', '.join(show(x) for x in v)}}}" for k, v in spec.grid.items())
           + f" ({spec.grid_size} runs)."]
    def literal(v: Any) -> str:
        return f"[{', '.join(map(str, v))}]" if isinstance(v, list | tuple) else str(v).lower() \
            if isinstance(v, bool) else str(v)

    for section in ("data", "model", "train"):
        table = {k: v for k, v in getattr(spec, section).items() if k != "variants" and k not in spec.grid}
        if table:
            out.append(f"Shared [{section}] settings: " + ", ".join(f"`{k} = {literal(v)}`" for k, v in table.items())
                       + ".")
    used = set(spec.grid.get("variant", [spec.model.get("variant")]))
    for name, variant in (spec.model.get("variants") or {}).items():
        out.append(f"Variant `{name}`{'' if name in used else ' (not in this grid)'}: "
                   + ", ".join(f"`{k} = {literal(v)}`" for k, v in variant.items()) + ".")
    return out


# --------------------------------------------------------------------------- figures
