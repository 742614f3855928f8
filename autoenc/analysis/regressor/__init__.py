"""Analysis of the regressor task: linear regression y = a x + b + noise by gradient descent.

From the run store: ``metrics.json`` (fitted a and b, the closed-form least-squares fit of
the same training set, relative errors against the truth, converged/diverged flags),
``history.csv`` (loss, a and b per epoch) and ``predictions.npz`` (test x, y and prediction).

Two questions are kept apart: did gradient descent *converge* (reach the least-squares
solution of its training set, within 0.1%: ``reached_least_squares``), and did it *recover the truth* (a and b within
1%: this also depends on the noise and the number of points). For full-batch gradient
descent on the mean squared error the theory is exact: with A = [x, 1] the loss has Hessian
H = (2 / n) AᵀA and the iteration converges if and only if lr < 2 / λmax(H); the report
computes that threshold from the training data and shows it beside the grid's outcome.

"Original vs now" rows (``[study.original.<row>]``, see
:mod:`autoenc.analysis.classifier`) take ``goal`` as the largest relative error of
a and b allowed (0.01 = 1%).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..cells import Cell, original_rows, settings_paragraphs, show, study_cells
from ..cells import data_loader as _loader
from ..cells import optional_section as _optional
from ..context import Alert, AnalysisResult, ReportContext, Section, Table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyze", "critical_learning_rate", "outcome"]

OUTCOMES = ("converged", "not converged", "diverged")


def outcome(run_metrics: dict[str, Any]) -> str:
    """``converged``, ``diverged`` or ``not converged`` (finite, but not yet at the least-squares fit)."""
    if run_metrics.get("diverged"):
        return "diverged"
    return "converged" if run_metrics.get("reached_least_squares") else "not converged"


def critical_learning_rate(x: np.ndarray) -> float:
    """2 / λmax of the Hessian of the mean squared error of y ≈ a x + b: full-batch gradient
    descent converges for every learning rate below it and diverges above."""
    A = np.column_stack([np.asarray(x, np.float64).ravel(), np.ones(len(x))])
    H = 2.0 / len(A) * A.T @ A
    return float(2.0 / np.linalg.eigvalsh(H).max())


def _headline_cell(cells: list[Cell], originals: list[dict[str, Any]]) -> Cell:
    for row in originals:
        if row["cell"] is not None:
            return row["cell"]
    converged = [c for c in cells if all(outcome(r.metrics) == "converged" for r in c.runs)]
    pool = converged or cells
    return min(pool, key=lambda c: c.median("a_rel_error") + c.median("b_rel_error"))


def _percent(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{100 * v:.2f}%"


def _fit_text(cell: Cell) -> str:
    m = cell.runs[0].metrics
    a, b = cell.median("a_hat"), cell.median("b_hat")
    if "a_true" not in m:
        return f"a = {a:.4g}, b = {b:.4g}"
    return (f"a = {a:.4f} (truth {m['a_true']:g}, {_percent(cell.median('a_rel_error'))} off), "
            f"b = {b:.4f} (truth {m['b_true']:g}, {_percent(cell.median('b_rel_error'))} off)")


def analyze(ctx: ReportContext) -> AnalysisResult:
    """The regression report (see the module docstring)."""
    alerts: list[Alert] = []
    cells, datasets = study_cells(ctx)
    if not cells:
        return AnalysisResult("No completed regression runs.", "no runs", datasets=datasets)
    originals = original_rows(ctx, cells)
    head = _headline_cell(cells, originals)
    threshold = None
    try:
        x, _ = _loader(ctx)(head.runs[0].config.data, "train")
        threshold = critical_learning_rate(x)
    except Exception as e:  # the data may be unavailable: the report goes on without the theory
        alerts.append(Alert("warning", "critical learning rate not computed", f"{type(e).__name__}: {e}"))
    diverged = [r for c in cells for r in c.runs if r.metrics.get("diverged")]
    if diverged:
        alerts.append(Alert("info", f"{len(diverged)} runs diverged",
                            "Expected where the learning rate exceeds the critical one: divergence is one of "
                            "this study's results, not a failure.",
                            [f"{c.label}, seed {r.config.seed}" for c in cells for r in c.runs
                             if r.metrics.get("diverged")][:12]))
    table, headline, verdict = _verdicts(ctx, cells, originals, head, threshold)
    sections = [
        _section_settings(ctx, threshold),
        _section_fits(cells),
        _optional(ctx, alerts, "Fit and residuals", lambda: _section_fit_plot(ctx, head)),
        _optional(ctx, alerts, "Loss and parameters per epoch", lambda: _section_curves(ctx, cells, head)),
        _optional(ctx, alerts, "Where gradient descent converges",
                  lambda: _section_convergence(ctx, cells, threshold)),
    ]
    return AnalysisResult(headline, verdict, table, [s for s in sections if s is not None], alerts,
                          datasets=datasets)


def _verdicts(ctx: ReportContext, cells: list[Cell], originals: list[dict[str, Any]], head: Cell,
              threshold: float | None) -> tuple[Table, str, str]:
    rows, met_all, has_goal = [], True, False
    for row in originals or [{"name": "best", "what": head.label, "cell": head}]:
        cell: Cell | None = row["cell"]
        goal = row.get("goal")
        if cell is None:
            rows.append({"experiment": row.get("what", row["name"]), "original": row.get("original"),
                         "now (median over seeds)": "no runs", "goal": goal, "met": "–"})
            met_all = False
            continue
        worst = max(cell.median("a_rel_error"), cell.median("b_rel_error"))
        met = "–"
        if isinstance(goal, int | float) and not isinstance(goal, bool):
            has_goal = True
            met = "yes" if worst <= goal else "no"
            met_all &= met == "yes"
        outcomes = [outcome(r.metrics) for r in cell.runs]
        rows.append({"experiment": row.get("what", row["name"]), "original": row.get("original"),
                     "now (median over seeds)": _fit_text(cell) + f"; {outcomes.count('converged')} of "
                     f"{len(outcomes)} seeds converged",
                     "goal": f"a, b within {100 * goal:g}%" if isinstance(goal, int | float) else goal, "met": met})
    headline = (f"{ctx.spec.name}: gradient descent ({head.label}, {len(head.runs)} seeds) recovers "
                + _fit_text(head) + ".")
    if threshold is not None and "lr" in ctx.spec.grid:
        headline += f" Full-batch gradient descent converges for lr < {threshold:.3f} (2/λmax of the Hessian)"
        div = sorted({float(r.params["lr"]) for c in cells for r in c.runs if r.metrics.get("diverged")})
        headline += f"; the grid diverges from lr = {show(div[0])}." if div else "; no run of the grid diverged."
    verdict = ("bars met" if met_all else "bars missed") if has_goal else "fitted"
    return Table(rows, title="Original vs now"), headline, verdict


def _section_settings(ctx: ReportContext, threshold: float | None) -> Section:
    s = Section("Settings")
    for p in settings_paragraphs(ctx):
        s.add_text(p)
    s.add_note("Converged: the fitted (a, b) lie within 0.1% (relative distance) of the closed-form least-squares "
               "fit of the same training set. Diverged: the loss overflowed. Relative errors compare with the "
               "generator's a and b; even the exact least-squares fit is off by the noise's share.")
    if threshold is not None:
        s.add_note(f"Critical learning rate of full-batch gradient descent on this training set: 2/λmax(H) = "
                   f"{threshold:.4g}, with H = (2/n) AᵀA, A = [x, 1].")
    return s


def _cell_frame(cells: list[Cell]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for c in cells:
        outcomes = [outcome(r.metrics) for r in c.runs]
        m = c.runs[0].metrics
        if outcomes.count("diverged") * 2 > len(outcomes):  # overflowed numbers say nothing
            rows.append({"cell": c.label, "seeds": len(c.runs), "converged": outcomes.count("converged"),
                         "diverged": outcomes.count("diverged"), "a fitted": "diverged", "b fitted": "diverged",
                         "noise variance": m.get("noise_variance"), "epochs": c.median("epochs_run")})
            continue
        rows.append({
            "cell": c.label,
            "seeds": len(c.runs),
            "converged": outcomes.count("converged"),
            "diverged": outcomes.count("diverged"),
            "a fitted": c.median("a_hat"),
            "b fitted": c.median("b_hat"),
            "a least squares": c.median("a_least_squares"),
            "b least squares": c.median("b_least_squares"),
            "a error": _percent(c.median("a_rel_error")),
            "b error": _percent(c.median("b_rel_error")),
            "test MSE": c.median("test_mse"),
            "noise variance": m.get("noise_variance"),
            "epochs": c.median("epochs_run"),
        })
    return pd.DataFrame(rows)


def _section_fits(cells: list[Cell]) -> Section:
    s = Section("Fitted a and b against the truth")
    s.add_text("Medians over seeds. The least-squares columns are the exact minimiser of the training MSE: "
               "gradient descent cannot do better than them, so a gap between 'fitted' and 'least squares' is "
               "an optimisation failure, a gap between 'least squares' and the truth is the noise. The test "
               "MSE of a perfect model equals the noise variance.")
    s.add_table(Table(_cell_frame(cells), formats={"a fitted": ".4f", "b fitted": ".4f", "a least squares": ".4f",
                                                   "b least squares": ".4f", "test MSE": ".4g", "epochs": ".0f"}))
    return s


def _section_fit_plot(ctx: ReportContext, head: Cell) -> Section:
    from ...viz import regression_fit

    run = head.median_run("a_rel_error")
    p = run.arrays("predictions.npz")
    fig = regression_fit(p["test_x"][:, 0], p["test_y"][:, 0], p["test_pred"][:, 0],
                         title=f"{head.label}, seed {run.config.seed}: {_fit_text(head)}")
    s = Section("Fit and residuals")
    s.add_figure(ctx.figure(fig, "fit-residuals", f"{head.label}: test points, the fitted line and the residuals "
                                                  "y − ŷ (they should look like the noise: flat, centred on 0)."))
    return s


def _section_curves(ctx: ReportContext, cells: list[Cell], head: Cell) -> Section:
    from ...viz import learning_curves, new_figure

    # the cells that differ from the headline cell only in the learning rate
    others = {k: v for k, v in head.params.items() if k != "lr"}
    group = [c for c in cells if all(c.params.get(k) == v for k, v in others.items())] or [head]
    histories = {}
    for c in group:
        h = c.median_run("a_rel_error").history()
        h = h[np.isfinite(h["train_loss"]) & (h["train_loss"] < 1e12)]
        histories[c.label] = h
    s = Section("Loss and parameters per epoch")
    s.add_text(f"Cells that differ from {head.label} only in the learning rate (median seed each); curves stop "
               "where a run diverged.")
    s.add_figure(ctx.figure(learning_curves(histories, title="training MSE per epoch", log_y=True), "loss-curves",
                            "Training MSE per epoch (log scale); the noise variance is the floor."))
    truth = head.runs[0].metrics
    fig = new_figure(7.0, 4.0)
    ax_a, ax_b = fig.subplots(1, 2)
    for i, (label, h) in enumerate(histories.items()):
        ax_a.plot(h["epoch"], h["a"], color=f"C{i % 10}", lw=1.3, label=label)
        ax_b.plot(h["epoch"], h["b"], color=f"C{i % 10}", lw=1.3)
    for ax, key, name in ((ax_a, "a_true", "a"), (ax_b, "b_true", "b")):
        if key in truth:
            ax.axhline(truth[key], color="k", ls=":", lw=1)
            span = max(abs(truth[key]), 1.0)
            ax.set_ylim(truth[key] - 2 * span, truth[key] + 2 * span)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    ax_a.legend(fontsize=6, frameon=False)
    s.add_figure(ctx.figure(fig, "parameter-curves", "Fitted a (left) and b (right) per epoch; dotted: the truth."))
    return s


def _section_convergence(ctx: ReportContext, cells: list[Cell], threshold: float | None) -> Section | None:
    from matplotlib.colors import ListedColormap

    from ...viz import new_figure

    grid = ctx.spec.grid
    if "lr" not in grid:
        return None
    cols_key = next((k for k in grid if k not in ("lr", "seed") and len(grid[k]) > 1), None)
    lrs = sorted(grid["lr"])
    cols = list(grid[cols_key]) if cols_key else [None]
    code = np.full((len(lrs), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in lrs]
    for c in cells:
        if "lr" not in c.params:
            continue
        i = lrs.index(c.params["lr"])
        j = cols.index(c.params[cols_key]) if cols_key else 0
        outcomes = [outcome(r.metrics) for r in c.runs]
        worst = max(OUTCOMES.index(o) for o in outcomes)
        code[i, j] = worst
        word = OUTCOMES[worst]
        err = max(c.median("a_rel_error"), c.median("b_rel_error"))
        text[i][j] = word if word == "diverged" else f"{word}\nerror {_percent(err)}"
    fig = new_figure(1.6 * len(cols) + 2.6, 0.55 * len(lrs) + 1.4)
    ax = fig.subplots()
    cmap = ListedColormap(["#4daf4a", "#ffd92f", "#e41a1c"])
    ax.imshow(np.ma.masked_invalid(code), cmap=cmap, vmin=-0.5, vmax=2.5, aspect="auto")
    for i in range(len(lrs)):
        for j in range(len(cols)):
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=6.5)
    ax.set_yticks(range(len(lrs)), [show(v) for v in lrs])
    ax.set_xticks(range(len(cols)), [show(v) for v in cols])
    ax.set_ylabel("learning rate")
    ax.set_xlabel(cols_key or "")
    if threshold is not None:
        below = sum(v < threshold for v in lrs)
        ax.axhline(below - 0.5, color="k", lw=1.5, ls="--")
        ax.set_title(f"dashed: critical lr 2/λmax = {threshold:.3g}", fontsize=8)
    s = Section("Where gradient descent converges")
    s.add_text("Outcome per learning rate × " + (cols_key or "cell") + " (worst over seeds): green converged to the "
               "least-squares fit, yellow still on its way (or oscillating) after the last epoch, red diverged; "
               "the error is the larger relative error of a and b against the truth (median over seeds).")
    s.add_figure(ctx.figure(fig, "convergence-map", "Outcome of full-batch gradient descent over the grid."))
    return s
