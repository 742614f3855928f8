"""Analysis of the classifier task: XOR, linear classification, MNIST and USPS digits, Conv1D.

Everything comes from the run store: each done run's ``metrics.json`` (accuracies, confusion
matrix), ``history.csv`` (loss and accuracy per epoch), ``predictions.npz`` (predicted class
and its probability per test sample) and ``model.npz`` (decision boundaries); the test
split is reloaded only for the images and the 2-D points.

A *cell* is one combination of grid values other than the seed; seeds are the replicates.
Per cell the report gives the median test accuracy (the bar of the study) and the mean with
a two-sided 95% Student-t interval over seeds (``mean ± t(0.975, n-1) · sd / sqrt(n)``).

"Original vs now" rows come from the study file::

    [study.original.<row>]
    what = "XOR, Linear(2,10)-TanH-Linear(10,1)-Sigmoid, full batch"
    original = 0.995          # the original study's figure (a number, or words)
    goal = 0.995              # our bar on the median over seeds (optional)
    metric = "test_accuracy"  # optional
    cell = { dataset = "xor", full_batch = true, variant = "original" }   # runs that reproduce it
    note = "..."              # optional
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cells import (
    CONFIDENCE,
    Cell,
    class_names,
    collect_cells,
    original_rows,
    settings_paragraphs,
    study_cells,
    t_interval,
)
from ..cells import data_loader as _loader
from ..cells import optional_section as _optional
from ..context import Alert, AnalysisResult, ReportContext, Section, Table, format_value

if TYPE_CHECKING:
    import pandas as pd

    from ...study.store import Run

__all__ = ["Cell", "analyze", "collect_cells", "original_rows", "t_interval"]

MAX_MISCLASSIFIED = 24
MAX_BOUNDARY_FIGURES = 12


def accuracy_curves(cells: list[Cell], *, title: str = "") -> Any:
    """Train (left) and test (right) accuracy per epoch: one colour per cell, the line the mean
    over its seeds and the band their range."""
    from ...viz import new_figure

    fig = new_figure(9.0, 3.8)
    axes = fig.subplots(1, 2, sharey=True)
    palette = "tab10" if len(cells) <= 10 else "tab20"
    import matplotlib

    colors = matplotlib.colormaps[palette]
    for i, c in enumerate(cells):
        histories = [r.history() for r in c.runs]
        for ax, column in zip(axes, ("train_accuracy", "test_accuracy"), strict=True):
            curves = [h[column].to_numpy(float) for h in histories if column in h]
            if not curves:
                continue
            n = min(len(v) for v in curves)
            stack = np.vstack([v[:n] for v in curves])
            epochs = np.arange(1, n + 1)
            color = colors(i % colors.N)
            ax.fill_between(epochs, stack.min(axis=0), stack.max(axis=0), color=color, alpha=0.2, lw=0)
            ax.plot(epochs, stack.mean(axis=0), color=color, lw=1.5, label=c.short if ax is axes[0] else None)
    for ax, name in zip(axes, ("train accuracy", "test accuracy"), strict=True):
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    seeds = max(len(c.runs) for c in cells)
    fig.legend(loc="outside right upper", fontsize=8, frameon=False,
               title=f"mean of {seeds} seeds (band: range)", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def seed_dots(cells: list[Cell], metric: str = "test_accuracy", *, targets: dict[str, float] | None = None,
              panels: list[list[Cell]] | None = None) -> Any:
    """Per-seed values of each cell (dots), the mean's t-interval (grey bar) and the median
    (red tick); one panel per group of cells (e.g. per data set), each with its own x range.
    ``targets`` (cell label -> value, e.g. the original study's figure for that cell) are drawn
    as a purple diamond on the cell's own row."""
    from ...viz import new_figure

    panels = panels or [cells]
    fig = new_figure(7.0, 0.42 * len(cells) + 0.9 * len(panels) + 0.4)
    axes = fig.subplots(len(panels), 1, squeeze=False,
                        height_ratios=[max(len(p), 1) + 1 for p in panels])[:, 0]
    for ax, group in zip(axes, panels, strict=True):
        for i, c in enumerate(group):
            v = c.values(metric)
            _, lo, hi = t_interval(v, bounds=(0.0, 1.0) if "accuracy" in metric else None)
            if np.isfinite(lo):
                ax.plot([lo, hi], [i, i], color="0.55", lw=3, solid_capstyle="butt",
                        label="95% t-interval of the mean" if i == 0 else None)
            ax.plot([c.median(metric)] * 2, [i - 0.3, i + 0.3], color="C3", lw=2, label="median" if i == 0 else None)
            ax.scatter(v, np.full(len(v), i), s=18, color="C0", zorder=3, label="seeds" if i == 0 else None)
            if targets and c.label in targets:
                ax.scatter([targets[c.label]], [i], marker="D", s=36, color="C4", zorder=4,
                           label="original study (as reported)")
        ax.set_yticks(range(len(group)), [c.short or c.label for c in group], fontsize=8)
        ax.set_ylim(len(group) - 0.5, -0.5)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="lower left", frameon=False)
        ax.grid(alpha=0.3, axis="x")
        ax.tick_params(axis="x", labelsize=8)
    axes[-1].set_xlabel(metric.replace("_", " "))
    return fig


# --------------------------------------------------------------------------- analysis
def analyze(ctx: ReportContext) -> AnalysisResult:
    """The classifier report (see the module docstring)."""
    alerts: list[Alert] = []
    cells, datasets = study_cells(ctx)
    if not cells:
        return AnalysisResult("No completed classifier runs.", "no runs", datasets=datasets)
    originals = original_rows(ctx, cells)
    for row in originals:
        if row["cell"] is None:
            alerts.append(Alert("warning", f"original row '{row['name']}' selects no completed cell",
                                f"cell = {row['cell_settings']}"))
    frame = _cell_frame(cells)
    verdict_table, headline, verdict = _verdicts(ctx, cells, originals)
    sections = [
        _section_settings(ctx, cells),
        _section_accuracy(ctx, cells, frame, originals),
        _section_original(originals),
        _optional(ctx, alerts, "Agreement between seeds", lambda: _section_seed_agreement(cells)),
        _optional(ctx, alerts, "Decision boundaries", lambda: _section_boundaries(ctx, cells)),
        _optional(ctx, alerts, "Reading orders", lambda: _section_reading_orders(ctx, cells)),
        _optional(ctx, alerts, "Confusion matrices and per-class accuracy",
                  lambda: _section_confusion(ctx, cells, originals)),
        _optional(ctx, alerts, "Most confidently misclassified test images",
                  lambda: _section_misclassified(ctx, cells, originals)),
        _optional(ctx, alerts, "Learning curves", lambda: _section_curves(ctx, cells)),
    ]
    return AnalysisResult(headline, verdict, verdict_table, [s for s in sections if s is not None], alerts,
                          datasets=datasets)


def _cell_frame(cells: list[Cell]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for c in cells:
        mean, lo, hi = t_interval(c.values("test_accuracy"), bounds=(0.0, 1.0))
        rows.append({
            "cell": c.label,
            "seeds": len(c.runs),
            "median test accuracy": c.median("test_accuracy"),
            "mean": mean,
            "95% CI low": lo,
            "95% CI high": hi,
            "min": float(np.nanmin(c.values("test_accuracy"))),
            "max": float(np.nanmax(c.values("test_accuracy"))),
            "median train accuracy": c.median("train_accuracy"),
            "n train": int(c.runs[0].metrics.get("n_train", 0)),
            "epochs": int(c.runs[0].metrics.get("epochs_run", 0)),
            "median train seconds": c.median("train_seconds"),
        })
    return pd.DataFrame(rows)


def _fmt_ci(cell: Cell, metric: str = "test_accuracy") -> str:
    mean, lo, hi = t_interval(cell.values(metric), bounds=(0.0, 1.0) if "accuracy" in metric else None)
    if not np.isfinite(lo):
        return f"{mean:.4f} (1 seed)"
    return f"{mean:.4f} [{lo:.4f}, {hi:.4f}]"


def _goal_met(value: float, goal: Any) -> str:
    if not isinstance(goal, int | float) or isinstance(goal, bool):
        return "–"
    return "yes" if value >= goal else "no"


def _verdicts(ctx: ReportContext, cells: list[Cell], originals: list[dict[str, Any]]
              ) -> tuple[Table, str, str]:
    rows, parts, met_all = [], [], True
    for row in originals:
        cell: Cell | None = row["cell"]
        metric = row.get("metric", "test_accuracy")
        if cell is None:
            rows.append({"experiment": row.get("what", row["name"]), "original": row.get("original"),
                         "now (median)": None, "mean [95% CI]": "no runs", "seeds": 0, "goal": row.get("goal"),
                         "met": "–"})
            met_all = False
            continue
        med = cell.median(metric)
        met = _goal_met(med, row.get("goal"))
        met_all &= met != "no"
        rows.append({"experiment": row.get("what", row["name"]), "original": row.get("original"),
                     "now (median)": med, "mean [95% CI]": _fmt_ci(cell, metric), "seeds": len(cell.runs),
                     "goal": row.get("goal"), "met": met})
        original = row.get("original")
        parts.append(f"{row['name'].replace('_', ' ')} {med:.4f}"
                     + (f" (original {format_value(original, '.3f')})" if original is not None else ""))
    best = max(cells, key=lambda c: c.median("test_accuracy"))
    if not rows:  # no [study.original] table: the best cell speaks for the study
        rows.append({"experiment": best.label, "original": None, "now (median)": best.median("test_accuracy"),
                     "mean [95% CI]": _fmt_ci(best), "seeds": len(best.runs), "goal": None, "met": "–"})
    seeds = sorted({len(c.runs) for c in cells})
    n_seeds = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    headline = (f"{ctx.spec.name}: median test accuracy over {n_seeds} seed{'s' if n_seeds != '1' else ''}: "
                + "; ".join(parts) + "."
                if parts else f"{ctx.spec.name}: best cell {best.label}: median test accuracy "
                f"{best.median('test_accuracy'):.4f} over {len(best.runs)} seeds.")
    has_goal = any(isinstance(r.get("goal"), int | float) for r in originals)
    if has_goal:
        headline += " Every bar met." if met_all else " Not every bar met (see the table)."
    verdict = (("bars met" if met_all else "bars missed") if has_goal
               else f"best {best.median('test_accuracy'):.4f}")
    table = Table(rows, title="Original vs now (test accuracy; median over seeds is the figure compared)",
                  formats={"now (median)": ".4f", "original": ".3f"})
    return table, headline, verdict


def _section_settings(ctx: ReportContext, cells: list[Cell]) -> Section:
    s = Section("Settings")
    for p in settings_paragraphs(ctx):
        s.add_text(p)
    notes = sorted({str(r.metrics.get("data_note", "")) for c in cells for r in c.runs} - {""})
    for n in notes:
        s.add_note(f"Data: {n}.")
    selection = ctx.spec.extra.get("selection")
    if selection:  # the study file says how its settings were picked (e.g. a search that saw the test set)
        s.add_note("Accuracies are on the whole test split. Learning curves also show the test accuracy after "
                   f"every epoch; no epoch is chosen on it. How the settings were chosen: {selection}")
    else:
        s.add_note("Accuracies are on the whole test split. Learning curves also show the test accuracy after "
                   "every epoch: it is monitored only, no setting or epoch is chosen on it.")
    return s


def _section_accuracy(ctx: ReportContext, cells: list[Cell], frame: pd.DataFrame,
                      originals: list[dict[str, Any]]) -> Section:
    s = Section("Test accuracy per cell")
    s.add_text(f"One row per combination of grid values; seeds are the replicates. The interval is the two-sided "
               f"{CONFIDENCE:.0%} Student-t interval of the mean over seeds (clipped to [0, 1]).")
    s.add_table(Table(frame, formats={c: ".4f" for c in ("median test accuracy", "mean", "95% CI low",
                                                           "95% CI high", "min", "max", "median train accuracy")}
                      | {"median train seconds": ".1f"}))
    targets = {r["cell"].label: float(r["original"]) for r in originals if r.get("cell") is not None
               and isinstance(r.get("original"), int | float) and not isinstance(r.get("original"), bool)}
    by_dataset: dict[str, list[Cell]] = {}
    for c in cells:
        by_dataset.setdefault(str(c.runs[0].config.data["dataset"]), []).append(c)
    s.add_figure(ctx.figure(seed_dots(cells, targets=targets, panels=list(by_dataset.values())),
                            "accuracy-per-cell",
                            "Test accuracy of every run (dots: seeds; red tick: median; grey bar: 95% t-interval "
                            "of the mean, clipped to [0, 1]); purple diamonds: the original study's figure for the "
                            "cell that reproduces it (as reported); one panel per data set."))
    return s


def _section_original(originals: list[dict[str, Any]]) -> Section | None:
    if not originals:
        return None
    s = Section("Original vs now")
    rows = []
    for row in originals:
        cell: Cell | None = row["cell"]
        metric = row.get("metric", "test_accuracy")
        rows.append({
            "row": row["name"],
            "experiment": row.get("what", ""),
            "original figure": row.get("original"),
            "now: median": cell.median(metric) if cell else None,
            "now: mean [95% CI]": _fmt_ci(cell, metric) if cell else "no runs",
            "cell": cell.label if cell else str(row["cell_settings"]),
            "goal": row.get("goal"),
            "met": _goal_met(cell.median(metric), row.get("goal")) if cell else "–",
        })
    s.add_table(Table(rows, formats={"now: median": ".4f", "original figure": ".3f"}))
    for row in originals:
        if row.get("note"):
            s.add_note(f"{row['name']}: {row['note']}")
    return s


def seed_agreement(predictions: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """How the seeds of one cell err on the same test set.

    ``predictions``: per seed, ``test_labels``, ``predicted_labels`` and ``probabilities``
    (the arrays of ``predictions.npz``). Returns the errors per seed, the test images that
    every seed gets wrong (systematic errors) and that at least one gets wrong, and the
    accuracy of the seeds' averaged probabilities (an ensemble: a diagnostic, not one network).
    """
    labels = predictions[0]["test_labels"]
    if any(not np.array_equal(p["test_labels"], labels) for p in predictions[1:]):
        raise ValueError("the seeds were scored on different test sets")
    wrong = np.array([p["predicted_labels"] != labels for p in predictions])
    mean_proba = np.mean([p["probabilities"] for p in predictions], axis=0)
    return {
        "errors per seed": [int(w.sum()) for w in wrong],
        "shared by every seed": int(wrong.all(axis=0).sum()),
        "made by any seed": int(wrong.any(axis=0).sum()),
        "ensemble accuracy": float((mean_proba.argmax(axis=1) == labels).mean()),
        "n test": int(len(labels)),
    }


def _section_seed_agreement(cells: list[Cell]) -> Section | None:
    rows = []
    for c in cells:
        if len(c.runs) < 2:
            continue
        a = seed_agreement([dict(r.arrays("predictions.npz")) for r in c.runs])
        rows.append({"cell": c.label, "seeds": len(c.runs),
                     "test errors per seed": ", ".join(map(str, a["errors per seed"])),
                     "errors shared by every seed": a["shared by every seed"],
                     "errors of at least one seed": a["made by any seed"],
                     "median accuracy": c.median("test_accuracy"),
                     "seed-ensemble accuracy": a["ensemble accuracy"]})
    if not rows:
        return None
    s = Section("Agreement between seeds")
    s.add_text("Test errors that every seed makes are systematic (the network and recipe, or ambiguous images); "
               "errors of some seeds only are what averaging seeds could remove. The seed ensemble averages the "
               "seeds' predicted probabilities: a diagnostic of how much the seeds differ, not a single network, "
               "and never the figure compared with the original.")
    s.add_table(Table(rows, formats={"median accuracy": ".4f", "seed-ensemble accuracy": ".4f"}))
    return s


def _is_points(X: np.ndarray) -> bool:
    return X.ndim == 2 and X.shape[1] == 2


def _is_images(X: np.ndarray) -> bool:
    d = int(np.prod(X.shape[1:]))
    return d > 4 and int(round(math.sqrt(d))) ** 2 == d


def _section_boundaries(ctx: ReportContext, cells: list[Cell]) -> Section | None:
    from ...models.heads import predict_proba
    from ...study.grid import resolve
    from ...viz import decision_boundary

    load = _loader(ctx)
    figures = []
    for i, c in enumerate(cells[:MAX_BOUNDARY_FIGURES]):
        run = c.median_run()
        X, y = load(run.config.data, "test")
        if not _is_points(X):
            continue
        model = run.load_model()
        acc = float(run.metrics["test_accuracy"])
        cfg = resolve(run.config)
        fig = decision_boundary(lambda G, m=model, cfg=cfg: predict_proba(m, G, cfg.model, cfg.train["loss"])[:, 1],
                                X, y,
                                title=f"{c.label}\ntest accuracy {acc:.4f} (seed {run.config.seed})")
        figures.append(ctx.figure(fig, f"boundary-{i}", f"{c.label}: P(label 1) over the plane with the test "
                                                        f"points; black line: P = 0.5 (median seed)."))
    if not figures:
        return None
    s = Section("Decision boundaries")
    s.add_text("Each cell's model of median test accuracy, evaluated on a grid over the plane; points are the "
               "test set, coloured by their true label.")
    s.add_figures(figures)
    return s


def _section_reading_orders(ctx: ReportContext, cells: list[Cell]) -> Section | None:
    from ...models.heads import reading_order
    from ...study.grid import resolve as apply_variant
    from ...viz import reading_order_plot

    used: dict[str, Run] = {}
    for c in cells:
        for r in c.runs:
            model = apply_variant(r.config).model
            if model.get("architecture") == "conv1d":
                used.setdefault(str(model.get("reading_order", "row")), r)
    if set(used) <= {"row"}:
        return None
    run = next(iter(used.values()))
    X, _ = _loader(ctx)(run.config.data, "test")
    if not _is_images(X):
        return None
    d = int(np.prod(X.shape[1:]))
    model = apply_variant(run.config).model
    span = int(model.get("k_size", 3)) + int(model.get("pool", 2)) - 1
    names = ["row", *sorted(set(used) - {"row"})]
    orders = {("row (the original)" if n == "row" else n): reading_order(n, d) for n in names}
    fig = reading_order_plot(orders, int(round(math.sqrt(d))), image=np.asarray(X[0]).reshape(-1), span=span)
    s = Section("Reading orders")
    s.add_text(f"The Conv1D network reads each image as a sequence of {d} pixels. Along the path drawn here "
               f"(dark to light), each pooled feature sees {span} consecutive pixels (kernel plus pooling; three "
               "examples outlined in red): a strip of one row in the original's row order, a compact patch along "
               "a space-filling curve. The layers and their sizes are the same in every order.")
    s.add_figure(ctx.figure(fig, "reading-orders", "Pixel order of each variant's input sequence over a test "
                                                   "image; red: the pixels behind one pooled feature."))
    return s


def _highlight_cells(cells: list[Cell], originals: list[dict[str, Any]]) -> list[Cell]:
    """The cells of the original rows and the best cell, each once, in that order."""
    chosen: list[Cell] = [r["cell"] for r in originals if r["cell"] is not None]
    chosen.append(max(cells, key=lambda c: c.median("test_accuracy")))
    out: list[Cell] = []
    for c in chosen:
        if all(c is not o for o in out):
            out.append(c)
    return out


def _section_confusion(ctx: ReportContext, cells: list[Cell], originals: list[dict[str, Any]]) -> Section:
    from ...viz import confusion_matrix_plot

    s = Section("Confusion matrices and per-class accuracy")
    s.add_text("Confusion matrices are the mean over the seeds of a cell (rows: true class; each row sums to the "
               "class's number of test samples); the title gives the median test accuracy over seeds, the figure "
               "of the tables and the headline. Per-class accuracy is the median over seeds of each class's share "
               "of correctly classified test samples.")
    for i, c in enumerate(_highlight_cells(cells, originals)):
        cms = [np.asarray(r.metrics["confusion_matrix"]) for r in c.runs if "confusion_matrix" in r.metrics]
        if not cms:
            continue
        cm = np.mean(cms, axis=0)
        names = class_names(str(c.runs[0].config.data["dataset"]), len(cm))
        fig = confusion_matrix_plot(cm, names, title=c.short or c.label, accuracy=c.median("test_accuracy"),
                                    accuracy_label=f"median test accuracy over {len(cms)} seeds")
        s.add_figure(ctx.figure(fig, f"confusion-{i}", f"{c.label}: test confusion matrix, mean over {len(cms)} "
                                                       "seeds."))
    n_classes = max(len(r.metrics.get("per_class_accuracy", [])) for c in cells for r in c.runs)
    rows = []
    for k in range(n_classes):
        row: dict[str, Any] = {"class": k}
        for c in cells:
            v = [r.metrics["per_class_accuracy"][k] for r in c.runs if len(r.metrics.get("per_class_accuracy", []))
                 > k]
            row[c.label] = float(np.median(v)) if v else None
        rows.append(row)
    names = class_names(str(cells[0].runs[0].config.data["dataset"]), n_classes)
    for row in rows:
        row["class"] = names[row["class"]]
    s.add_table(Table(rows, title="Per-class test accuracy (median over seeds)",
                      formats={c.label: ".3f" for c in cells}))
    return s


def _section_misclassified(ctx: ReportContext, cells: list[Cell], originals: list[dict[str, Any]]
                           ) -> Section | None:
    from ...viz import misclassified_grid

    load = _loader(ctx)
    s = Section("Most confidently misclassified test images")
    any_figure = False
    for i, c in enumerate(_highlight_cells(cells, originals)):
        run = c.median_run()
        X, y = load(run.config.data, "test")
        if not _is_images(X):
            return None
        p = run.arrays("predictions.npz")
        wrong = np.flatnonzero(p["predicted_labels"] != p["test_labels"])
        if len(wrong) == 0:
            continue
        order = wrong[np.argsort(-p["confidence"][wrong], kind="stable")][:MAX_MISCLASSIFIED]
        n_classes = p["probabilities"].shape[1]
        names = class_names(str(run.config.data["dataset"]), n_classes)
        fig = misclassified_grid(np.asarray(X)[order].reshape(len(order), -1), p["test_labels"][order],
                                 p["predicted_labels"][order], p["confidence"][order], names,
                                 title=f"{c.label} (seed {run.config.seed}): {len(wrong)} errors")
        s.add_figure(ctx.figure(fig, f"misclassified-{i}", f"{c.label}: the {len(order)} test images misclassified "
                                                           "with the highest confidence (true → predicted, "
                                                           "probability of the predicted class)."))
        any_figure = True
    return s if any_figure else None


def _section_curves(ctx: ReportContext, cells: list[Cell]) -> Section:
    from ...viz import learning_curves

    histories = {}
    for c in cells:
        run = c.median_run()
        histories[f"{c.short} (seed {run.config.seed})" if len(cells) > 1 else f"seed {run.config.seed}"] = \
            run.history()
    s = Section("Learning curves")
    s.add_text("Per cell, the run of median test accuracy: loss per epoch (solid: training; dashed: validation "
               "when the study holds one out); then train and test accuracy per epoch over all seeds.")
    log_y = any(float(h["train_loss"].min()) > 0 and float(h["train_loss"].max() / h["train_loss"].min()) > 50
                for h in histories.values())
    s.add_figure(ctx.figure(learning_curves(histories, title="training loss", log_y=log_y), "loss-curves",
                            "Training loss per epoch (mean over the epoch's minibatches)."))
    s.add_figure(ctx.figure(accuracy_curves(cells), "accuracy-curves",
                            "Train and test accuracy after each epoch, one colour per cell: the mean over its "
                            "seeds, the band their range."))
    return s
