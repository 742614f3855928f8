"""Analysis of the autoencoder task (the compression study): BCE- vs MSE-trained models.

Everything is computed from the run store: each done run's ``per_image.npz`` (per-image
test MSE and BCE, test labels), ``metrics.json``, ``history.csv`` and ``model.npz``; the
data are reloaded only for the PCA baseline, the reconstruction grids, the t-SNE maps and
the linear probes. Expensive results that do not depend on the trained models (PCA errors)
or that depend on a run's content hash (probe accuracies, t-SNE maps) are cached in the
store root, so re-rendering a report is fast.

Sign convention (as in :mod:`autoenc.stats.paired`): per image ``d = BCE-trained error -
MSE-trained error``; errors are lower-is-better, so **negative values favour BCE**.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import Alert, AnalysisResult, ReportContext, Section, Table, convergence_alert

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["ALTERNATIVE", "analyze", "learning_curve_grid"]

from .data import (
    ALTERNATIVE,
    LOSS_A,
    LOSS_B,
    RunRecord,
    StudyData,
    _Builder,
    _collect,
    _mean_std,
    _pca_errors,
    _per_seed_comparisons,
    _unit,
    bce_floor,
)
from .figures import (
    _section_curves,
    _section_probes,
    _section_reconstructions,
    _section_tsne,
    learning_curve_grid,
)


def _converged(r: RunRecord, loaded: Any, floors: dict[int, tuple[float, float]]) -> tuple[bool | None, float]:
    """The rule on the run's history, measured above the loss floor (docs/convergence.md), and the
    relative improvement of its last 5 epochs; the stored flag when the history cannot be read."""
    from ...nn.train import CONVERGENCE_WINDOW, converged

    floor = r.metrics.get("loss_floor")
    if not isinstance(floor, int | float) or isinstance(floor, bool) or not math.isfinite(floor):
        floor = None  # absent (older runs) or not a number: recomputed from the images
    try:
        h = r.run.history()
        if floor is None:
            floor = bce_floor(r, loaded, floors)[0] if r.loss == "bce" else 0.0
    except (OSError, ValueError):  # no history or no data here: what the run recorded
        return r.metrics.get("converged"), math.nan
    column = "val_loss" if "val_loss" in h and np.isfinite(h["val_loss"].to_numpy(float)).any() else "train_loss"
    v = h[column].to_numpy(float) - float(floor)
    stopped_early = bool(r.metrics.get("stopped_early"))
    flag = converged(v, stopped_early)
    if len(v) <= CONVERGENCE_WINDOW or not np.isfinite(v).all():
        return flag, math.nan
    before, last = v[:-CONVERGENCE_WINDOW].min(), v[-CONVERGENCE_WINDOW:].min()
    return flag, float((before - last) / abs(before)) if before else math.nan


def _run_frame(data: StudyData, loaded: Any) -> pd.DataFrame:
    """One row per run: grid values, test errors (from the per-image arrays), validation and
    snapshot errors and training facts (from metrics.json); convergence from the history."""
    import pandas as pd

    rows = []
    floors: dict[int, tuple[float, float]] = {}
    for r in data.records:
        sse = r.per_image["mse"] * data.n_pixels
        m = r.metrics
        row = {
            "run_id": r.run_id, "depth": r.depth, "latent_size": r.latent, "loss": r.loss, "seed": r.seed,
            "mse_mean": float(r.per_image["mse"].mean()), "mse_std": float(r.per_image["mse"].std(ddof=1)),
            "bce_mean": float(r.per_image["bce"].mean()),
            "sse_mean": float(sse.mean()), "sse_std": float(sse.std(ddof=1)),
            "l2_mean": float(np.sqrt(sse).mean()), "l2_std": float(np.sqrt(sse).std(ddof=1)),
            "val_mse_mean": float(m.get("val_mse_mean", math.nan)),  # absent in runs without a validation split
            "converged": m.get("converged"), "epochs_run": m.get("epochs_run"), "best_epoch": m.get("best_epoch"),
            "train_seconds": m.get("train_seconds"), "last5_improvement": math.nan,
        }
        for key, value in m.items():  # per-image test errors stored after a snapshot epoch
            if key.startswith("test_at_") and key.endswith(("_mse_mean", "_l2_mean")):
                row[key] = float(value)
        row["converged"], row["last5_improvement"] = _converged(r, loaded, floors)
        rows.append(row)
    return pd.DataFrame(rows)


def _original(ctx: ReportContext) -> dict[str, Any] | None:
    """The original study's error table from ``[study.original]`` (docs/studies.md), or None."""
    entries = ctx.spec.extra.get("original")
    # one schema for every study: named entries [study.original.<name>]; the error table is the
    # entry with latent_sizes and mean (a table written directly under [study.original] also works)
    candidates = [entries, *entries.values()] if isinstance(entries, dict) else []
    given = next((c for c in candidates if isinstance(c, dict) and c.get("latent_sizes")
                  and isinstance(c.get("mean"), dict)), None)
    if given is None:
        return None
    sizes = [int(k) for k in given["latent_sizes"]]
    table = {loss: dict(zip(sizes, values, strict=False)) for loss, values in given["mean"].items()}
    stds = {loss: dict(zip(sizes, values, strict=False)) for loss, values in given.get("std", {}).items()}
    return {"metric": str(given.get("metric", "l2")), "depth": int(given.get("depth", 1)), "latent_sizes": sizes,
            "mean": table, "std": stds, "test": str(given.get("test", "")), "source": str(given.get("source", ""))}


def _error_tables(data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]],
                  original: dict[str, Any] | None) -> list[Table]:
    """The original study's table (mean (std) per loss x latent) in L2, SSE and per-pixel MSE,
    with the original's own values (as reported) on its scale."""
    tables = []
    scales = (("l2", "per-image L2 distance ||x - x̂||", ".3f"),
              ("sse", "per-image sum of squared errors", ".3f"),
              ("mse", "per-pixel MSE", ".5f"))
    for metric, name, digits in scales:
        rows = []
        if original and original["metric"] == metric:
            for loss, values in original["mean"].items():
                row: dict[str, Any] = {"model": f"original, depth {original['depth']}, {loss.upper()}-trained "
                                                f"(as reported)"}
                for k in data.latents:
                    mean, std = values.get(k), original["std"].get(loss, {}).get(k)
                    row[f"k={k}"] = "–" if mean is None else (f"{mean:{digits}}" + (f" ({std:{digits}})"
                                                                                  if std is not None else ""))
                rows.append(row)
        row = {"model": "PCA, k components"}
        for k in data.latents:
            if k in pca:
                v = {"mse": pca[k]["mse"], "sse": pca[k]["mse"] * data.n_pixels,
                     "l2": np.sqrt(pca[k]["mse"] * data.n_pixels)}[metric]
                row[f"k={k}"] = f"{v.mean():{digits}} ({v.std(ddof=1):{digits}})"
            else:
                row[f"k={k}"] = "–"
        rows.append(row)
        for depth in data.depths:
            for loss in data.losses:
                row = {"model": f"AE depth {depth}, {loss.upper()}-trained"}
                for k in data.latents:
                    sel = runs[(runs.depth == depth) & (runs.latent_size == k) & (runs.loss == loss)]
                    row[f"k={k}"] = (_mean_std(list(sel[f"{metric}_mean"]), list(sel[f"{metric}_std"]), digits)
                                     if len(sel) else "–")
                rows.append(row)
        tables.append(Table(rows, title=f"Test error, {name}: mean (std over the test images)",
                            caption="Autoencoder cells average the per-run mean and std over seeds."
                                    + (" The original's rows are its own figures, as reported."
                                       if original and original["metric"] == metric else "")))
    return tables


def analyze(ctx: ReportContext) -> AnalysisResult:
    """The compression study's report sections (see the module docstring)."""
    from ..seed_level import best_depth_on_validation, cell_verdicts
    from .seeds import section_budget, section_convergence, section_seed_level, seed_results

    b = _Builder(ctx)
    with ctx.timed("collect runs"):
        data = _collect(ctx)
    b.alerts += data.alerts
    if not data.records:
        return AnalysisResult("No usable autoencoder runs.", "no runs", alerts=b.alerts, datasets=[b.dataset])
    runs = _run_frame(data, b.loaded)
    bad = runs[runs.converged != True].sort_values(["depth", "latent_size", "loss", "seed"])  # noqa: E712
    if len(bad):
        b.alerts.append(convergence_alert([
            f"depth={r.depth}, latent_size={r.latent_size}, loss={r.loss}, seed={r.seed} (run {r.run_id}): "
            f"epochs {r.epochs_run}, last 5 epochs improved by {100 * r.last5_improvement:.2f}%"
            for r in bad.itertuples()]))
    best_depth, depth_how = best_depth_on_validation(runs)
    with ctx.timed("seed-level tests"):
        primary, cells = seed_results(runs, n_boot=max(ctx.options.n_boot, 1000))
        cells_bce = cell_verdicts(runs, "bce_mean")
    with ctx.timed("per-seed descriptions"):
        per_seed, skipped = _per_seed_comparisons(data, "mse")
    if skipped:
        b.alerts.append(Alert("warning", f"{len(skipped)} cells without both losses",
                              "These cells have no paired comparison.", skipped))
    disagree = [c for c in cells if c.n >= 2 and not c.agree]
    if disagree:
        b.alerts.append(Alert(
            "warning", f"seeds disagree in {len(disagree)} of {len(cells)} cells (mean test MSE, BCE vs MSE)",
            "The per-seed relative differences BCE − MSE do not all have the same sign: in these cells the "
            "difference between losses is smaller than the spread between seeds.",
            [f"depth {c.depth}, latent {c.latent}: r = " + ", ".join(f"{100 * v:+.2f}%" for v in c.differences.values())
             for c in disagree]))

    pca: dict[int, dict[str, np.ndarray]] = {}
    try:
        with ctx.timed("PCA baseline"):
            pca = _pca_errors(ctx, data, b.loaded)
    except Exception as e:  # no data on this machine: report without the baseline
        b.alerts.append(Alert("warning", "PCA baseline not computed", f"{type(e).__name__}: {e}"))
    original = _original(ctx)
    pca_rows = _pca_comparison(data, runs, pca)
    seed_section = section_seed_level(b, primary, cells, per_seed)
    seed_section.add_table(_bce_metric_table(cells_bce))
    _difference_figure(b, data, seed_section)
    snapshots = sorted({int(c.split("_")[2]) for c in runs.columns if c.startswith("test_at_")
                        and c.endswith("_mse_mean")})
    budget = [section_budget(b, runs, {k: float(v["mse"].mean()) for k, v in pca.items()}, e) for e in snapshots]

    sections = [
        _section_runs(ctx, data, runs, best_depth, depth_how),
        section_convergence(runs),
        seed_section,
        *[x for x in budget if x is not None],
        _section_original(data, runs, pca, original),
        _section_pca(b, pca_rows, pca),
        _section_trend(b, data, runs, pca),
        b.optional("Learning curves", lambda: _section_curves(b, data)),
        b.optional("Reconstructions", lambda: _section_reconstructions(b, data, best_depth)),
        b.optional("t-SNE maps", lambda: _section_tsne(b, data, runs, best_depth)),
        b.optional("Codes as features", lambda: _section_probes(b, data)),
    ]
    rd = _rate_distortion_section(b, data, runs)
    if rd is not None:
        sections.insert(sections.index(_find(sections, "Autoencoder vs PCA")) + 1, rd)
    verdict_table, headline, verdict = _verdicts(ctx, data, runs, primary, cells, pca_rows, original)
    return AnalysisResult(headline, verdict, verdict_table, sections, b.alerts, datasets=[b.dataset],
                          convergence_checked=True)


def _find(sections: list[Section], title: str) -> Section:
    return next(s for s in sections if s.title == title)


def _rate_distortion_section(b: _Builder, data: StudyData, runs: pd.DataFrame) -> Section | None:
    """Rate-distortion of the trained encoders as codecs (autoenc.analysis.rate_distortion)."""
    try:
        from .compression import section_rate_distortion
    except ImportError:  # the codec's optional dependencies are missing
        return None
    return b.optional("Compression in bits", lambda: section_rate_distortion(b, data, runs))


def _bce_metric_table(cells: list[Any]) -> Table:
    rows = [{"depth": c.depth, "latent": c.latent, "mean r": c.test["mean"], "Holm p (t)": c.holm_p,
             "seeds agree": f"{c.test['n_agree']}/{c.n}", "verdict": c.verdict()} for c in cells]
    return Table(rows, title="Second metric: BCE vs MSE on mean per-image test BCE, seeds as replicates",
                 formats={"mean r": "+.2%"},
                 caption="Same rules as on MSE. Each loss tends to win on its own metric.")


def _difference_figure(b: _Builder, data: StudyData, section: Section) -> None:
    """Violins of the per-image differences of one seed per cell (the lowest seed both losses have)."""
    from ...viz import difference_distribution

    diffs: dict[str, np.ndarray] = {}
    for depth, latent in data.cells:
        a = {r.seed: r for r in data.select(depth, latent, LOSS_A)}
        bb = {r.seed: r for r in data.select(depth, latent, LOSS_B)}
        common = sorted(a.keys() & bb.keys())
        if common:
            seed = common[0]
            diffs[f"depth {depth}, k={latent}"] = a[seed].per_image["mse"] - bb[seed].per_image["mse"]
    if not diffs:
        return
    everything = np.concatenate(list(diffs.values()))
    lo, hi = np.percentile(everything, [1, 99])
    scale, unit = _unit([lo, hi])
    fig = difference_distribution({k: v * scale for k, v in diffs.items()},
                                  xlabel=f"per-image MSE difference BCE − MSE{unit}, one seed per cell")
    if hi > lo:  # the tails would squash the bulk into a line
        pad = 0.05 * (hi - lo) * scale
        fig.axes[0].set_xlim(lo * scale - pad, hi * scale + pad)
    section.add_figure(b.fig(fig, "difference-distribution-mse",
                             "Per-image differences inside one pair of runs per cell (the lowest common seed; "
                             "violins, ticks: medians); x axis: the central 98% of all differences. A description "
                             "of one seed, not evidence about the training choice."))


def _protocol(ctx: ReportContext) -> str:
    """The training protocol of the runs, in words (from the resolved config of a done run)."""
    from ...study.grid import resolve

    if not ctx.results.done:
        return "no run done"
    t = resolve(ctx.results.done[0].config).train
    budget = f"at most {t['epochs']} epochs" if t["stop_when_converged"] else f"{t['epochs']} epochs"
    schedule = {
        "cosine": f"cosine learning-rate annealing to 0 over {t['epochs']} epochs",
        "constant": f"constant learning rate, {budget}",
        "plateau": f"learning rate × {t['plateau_factor']} after {t['plateau_patience'] + 1} "
                   f"epochs that improve the best validation loss by less than "
                   f"{100 * t['plateau_threshold']:.2g}%, {budget}",
    }.get(t["lr_schedule"], f"{t['lr_schedule']} schedule, {budget}")
    stop = f", early stopping (patience {t['patience']})" if t["patience"] else ""
    if t["stop_when_converged"]:
        stop += ", each run stopped at the first epoch at which the convergence rule holds"
    return f"{t['optimizer']} lr {t['lr']}, batch {t['batch_size']}, {schedule}{stop}"


def _section_runs(ctx: ReportContext, data: StudyData, runs: pd.DataFrame, best_depth: int,
                  depth_how: str) -> Section:
    from ...study.grid import resolve

    spec = ctx.spec
    grid = ", ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in spec.grid.items())
    t = resolve(ctx.results.done[0].config).train if ctx.results.done else {}
    s = Section("Runs and settings", paragraphs=[
        f"Grid: {grid} — {len(ctx.configs)} runs, {len(data.records)} analysed. Every run is evaluated on the "
        f"same {len(data.labels):,} test images under both per-image metrics (MSE and BCE in [0, 1] pixel space), "
        f"whatever loss it was trained with.",
        f"Training protocol: {_protocol(ctx)}; validation split {t.get('validation_split', '–')} (the last "
        f"training images, the same for every seed); per-image test errors also stored after epoch(s) "
        f"{', '.join(map(str, t.get('snapshot_epochs', []))) or 'none'}; data "
        f"`{json.dumps(ctx.data_settings, sort_keys=True)}`.",
        f"**Best depth: {best_depth}**, chosen on the {depth_how} (lowest mean log error over the cells all depths "
        "share), never on the test split; the reconstruction grids, t-SNE maps and probes use it, with the "
        "lowest seed.",
    ])
    if spec.extra.get("selection"):
        s.add_text(f"How the protocol was chosen: {spec.extra['selection']}")
    g = runs.groupby(["depth", "latent_size", "loss"])
    table = g.agg(seeds=("seed", "count"), mse=("mse_mean", "mean"), mse_sd=("mse_mean", "std"),
                  val=("val_mse_mean", "mean"), bce=("bce_mean", "mean"), epochs=("epochs_run", "mean"),
                  seconds=("train_seconds", "mean"),
                  converged=("converged", lambda v: f"{int(np.sum(v == True))}/{len(v)}")).reset_index()  # noqa: E712
    table = table.rename(columns={"latent_size": "latent", "mse": "test MSE (mean over seeds)",
                                  "mse_sd": "sd over seeds", "val": "validation MSE", "bce": "test BCE",
                                  "seconds": "train s"})
    table = table.sort_values(["depth", "latent", "loss"], ascending=[True, False, True])
    s.add_table(Table(table, title="Completed runs per cell", formats={
        "test MSE (mean over seeds)": ".5f", "sd over seeds": "sci", "validation MSE": ".5f", "test BCE": ".4f",
        "epochs": ".1f", "train s": ".1f"}))
    return s


def _section_original(data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]],
                      original: dict[str, Any] | None) -> Section:
    s = Section("Error table in the original study's three scales")
    s.add_text(
        "The original study reported one table of reconstruction errors (mean and std per loss × latent size). "
        "Three scales of the same squared error are easy to confuse, so all three are given: the per-image L2 "
        f"distance ||x − x̂|| = √(SSE), the per-image sum of squared errors SSE = {data.n_pixels} × MSE, and the "
        "per-pixel MSE. The std is over test images, as in the original.")
    if original:
        s.add_text(f"Original (as reported): {original['source']}; its figures match the {original['metric'].upper()} "
                   f"scale. Its test: {original['test']}.")
        n = len(original["latent_sizes"])
        s.add_text(
            f"What that p can and cannot mean: with {n} paired means, an exact one-sided Wilcoxon signed-rank test "
            f"cannot give a p below 1/2^{n} = {1 / 2 ** n:.5f}, and it reaches exactly that whenever all {n} "
            "differences have the same sign, whatever their size. So p = 0.031 says only that BCE was lower at every "
            "code size in that one training of each model. The latent sizes are not replicates of a training choice "
            "(they are five different models), no seed was repeated, and the seed-to-seed spread (see the per-cell "
            "table above) was never measured, so it cannot say whether BCE-training helps beyond the noise of a "
            "single training run.")
    for t in _error_tables(data, runs, pca, original):
        s.add_table(t)
    return s


def _pca_comparison(data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]]) -> list[dict]:
    """Per cell: the better loss (lower mean test MSE over seeds) against PCA with k components,
    unclipped and clipped to [0, 1]; "beats" means every seed's mean test MSE is below PCA's."""
    rows = []
    for depth, latent in data.cells:
        if latent not in pca:
            continue
        pca_mse = float(pca[latent]["mse"].mean())
        pca_clipped = float(pca[latent]["mse_clipped"].mean())
        row: dict[str, Any] = {"depth": depth, "latent": latent, "PCA": pca_mse, "PCA clipped": pca_clipped}
        best = None
        for loss in data.losses:
            sel = runs[(runs.depth == depth) & (runs.latent_size == latent) & (runs.loss == loss)]
            row[f"{loss.upper()}-trained"] = float(sel.mse_mean.mean()) if len(sel) else math.nan
            if len(sel) and (best is None or sel.mse_mean.mean() < best[1]):
                best = (loss, float(sel.mse_mean.mean()), sel)
        if best is None:
            continue
        loss, mean, sel = best

        def verdict(reference: float, sel: pd.DataFrame = sel) -> str:
            n_beat = int((sel.mse_mean < reference).sum())
            return ("beats PCA" if n_beat == len(sel) else "does not beat PCA" if n_beat == 0
                    else f"mixed ({n_beat}/{len(sel)} seeds)")

        row.update({"better loss": loss.upper(), "seeds": len(sel), "AE / PCA": mean / pca_mse,
                    "verdict": verdict(pca_mse), "AE / clipped PCA": mean / pca_clipped,
                    "verdict vs clipped": verdict(pca_clipped)})
        rows.append(row)
    return rows


def _section_pca(b: _Builder, rows: list[dict], pca: dict[int, dict[str, np.ndarray]]) -> Section:
    s = Section("Autoencoder vs PCA")
    if not pca:
        return s.add_text("The PCA baseline could not be computed (see the alerts).")
    s.add_text(
        "PCA with the same number of components as the code (fitted on the train split, exact covariance "
        "eigendecomposition) is the linear baseline, twice: reconstructions as they come, and clipped to [0, 1] "
        "(the autoencoder's sigmoid output cannot leave that range, so clipping puts PCA on equal footing; it "
        "can only lower PCA's error). Per cell the better loss (lower mean test MSE over seeds) is compared; "
        "“beats PCA” means every seed's mean test MSE is below PCA's.")
    s.add_table(Table(rows, title="Mean test MSE: autoencoder (mean over seeds) vs PCA with k components", formats={
        "PCA": ".5f", "PCA clipped": ".5f", "BCE-trained": ".5f", "MSE-trained": ".5f", "AE / PCA": ".3f",
        "AE / clipped PCA": ".3f"}))
    return s


def _section_trend(b: _Builder, data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]]) -> Section:
    from ...viz import error_heatmaps

    s = Section("Error vs latent size")
    s.add_text(
        "Trend test: Spearman's ρ between latent size and the mean test MSE over seeds per size (one point per "
        "size: the seeds of one size are replicates of one condition, not independent x values), one-sided "
        "alternative 'less' (error falls as the code grows), with a permutation p-value: exact over all n! "
        "pairings (the t approximation breaks down with 5 points and at |ρ| = 1). With 5 sizes the smallest "
        "possible one-sided p is 1/120 = 0.0083, reached by any perfectly monotone curve.")
    rows = []
    from ...stats.seeds import exact_spearman

    def trend_row(model: str, sizes: list[int], errors: list[float]) -> dict[str, Any]:
        if len(sizes) < 3:
            return {"model": model, "sizes": len(sizes), "note": "fewer than 3 latent sizes"}
        rho, p = exact_spearman(sizes, errors, alternative="less")
        return {"model": model, "sizes": len(sizes), "Spearman ρ": rho, "p (exact permutation)": p,
                "direction": "decreasing" if rho < 0 else "increasing" if rho > 0 else "none"}

    for depth in data.depths:
        for loss in data.losses:
            sel = runs[(runs.depth == depth) & (runs.loss == loss)].groupby("latent_size")["mse_mean"].mean()
            rows.append(trend_row(f"depth {depth}, {loss.upper()}", list(sel.index), list(sel.values)))
    if len(pca) >= 3:
        ks = sorted(pca)
        rows.append(trend_row("PCA", ks, [float(pca[k]["mse"].mean()) for k in ks]))
    s.add_table(Table(rows, title="Trend of test MSE with latent size", formats={"Spearman ρ": "signed"}))
    for metric, name in (("mse_mean", "per-image MSE"), ("bce_mean", "per-image BCE")):
        frame = runs.rename(columns={metric: f"test {name}"})
        s.add_figure(b.fig(error_heatmaps(frame, f"test {name}", fmt=".4f" if metric == "mse_mean" else ".3f"),
                           f"heatmap-{metric.split('_')[0]}",
                           f"Mean test {name} (over seeds) per depth × latent size, one panel per training loss; "
                           "one colour scale for both panels (brighter: lower error)."))
    return s


def _verdicts(ctx: ReportContext, data: StudyData, runs: pd.DataFrame, primary: dict[str, Any] | None,
              cells: list[Any], pca_rows: list[dict], original: dict[str, Any] | None) -> tuple[Table, str, str]:
    by_cell = {(c.depth, c.latent): c for c in cells}
    pca_by_cell = {(r["depth"], r["latent"]): r for r in pca_rows}
    rows = []
    for depth, latent in data.cells:
        c = by_cell.get((depth, latent))
        p = pca_by_cell.get((depth, latent))
        sel = runs[(runs.depth == depth) & (runs.latent_size == latent)]
        best_l2 = sel.groupby("loss")["l2_mean"].mean().min()
        row: dict[str, Any] = {
            "depth": depth, "latent": latent,
            "BCE vs MSE (seeds as replicates)": c.verdict() if c else "not compared (one loss missing)",
            "mean r": c.test["mean"] if c else math.nan,
            "Holm p (t)": c.holm_p if c else math.nan,
            "seeds needed": ("–" if not c or math.isnan(c.seeds_needed) else
                             "> 10,000" if math.isinf(c.seeds_needed) else int(c.seeds_needed)),
            "vs PCA": (f"{p['verdict']} (×{p['AE / PCA']:.2f})" if p else "–"),
            "vs clipped PCA": (f"{p['verdict vs clipped']} (×{p['AE / clipped PCA']:.2f})" if p else "–"),
            "best L2": best_l2,
        }
        if original and original["metric"] == "l2":
            values = [v.get(latent) for v in original["mean"].values() if v.get(latent) is not None]
            row["original L2 (best loss, as reported)"] = min(values) if values else math.nan
        rows.append(row)
    table = Table(rows, title="Verdicts per cell", formats={"mean r": "+.2%", "best L2": ".3f",
                                                            "original L2 (best loss, as reported)": ".2f"},
                  caption="BCE vs MSE: seed-level t-test of the per-seed relative difference r of mean test MSE "
                          "(BCE − MSE; negative favours BCE), Holm over cells; decided only when every seed agrees. "
                          "Seeds needed: for 80% power at the strictest Holm level. vs PCA: the cell's better loss, "
                          "all seeds below PCA's mean test MSE (ratio AE/PCA), PCA as is and clipped to [0, 1]. "
                          "best L2: mean per-image ||x − x̂|| of the cell's better loss.")
    parts = [f"Protocol: {_protocol(ctx)}; {len(set(runs.seed))} seeds per cell."]
    from .seeds import _primary_text

    parts.append(_primary_text(primary).replace("**Primary result:** ", "Primary test (BCE vs MSE over the whole "
                                                                          "grid, seeds as replicates): "))
    n = len(cells)
    wins = {w: sum(1 for c in cells if c.verdict() == f"{w} better") for w in ("BCE", "MSE")}
    if n:
        parts.append(f"Per cell: BCE better in {wins['BCE']}, MSE better in {wins['MSE']}, undecided in "
                     f"{n - wins['BCE'] - wins['MSE']} of {n}.")
    for key, label in (("verdict", "PCA"), ("verdict vs clipped", "PCA clipped to [0, 1]")):
        beat, not_beat = [], []
        for latent in data.latents:
            cells_k = [r for r in pca_rows if r["latent"] == latent]
            if cells_k:
                (beat if any(r[key] == "beats PCA" for r in cells_k) else not_beat).append(latent)
        if beat and not not_beat:
            parts.append(f"The best autoencoder beats {label} at every latent size.")
        elif beat:
            parts.append(f"The best autoencoder beats {label} at latent size {', '.join(map(str, beat))}, not at "
                         f"{', '.join(map(str, not_beat))}.")
        elif not_beat:
            parts.append(f"No autoencoder beats {label} at any latent size.")
    if original and original["metric"] == "l2":
        per_latent = runs.groupby(["depth", "latent_size", "loss"])["l2_mean"].mean().groupby(level="latent_size").min()
        below = [int(k) for k, v in per_latent.items()
                 if v < min((t.get(int(k), math.inf) for t in original["mean"].values()), default=math.inf)]
        parts.append(f"Best mean L2 error below the original's (as reported, per size) at {len(below)} of "
                     f"{len(per_latent)} sizes.")
    not_conv = int((runs.converged != True).sum())  # noqa: E712
    parts.append(f"{len(runs) - not_conv} of {len(runs)} runs meet the convergence rule.")
    headline = " ".join(parts)
    verdict = (f"primary: {'decided' if primary and primary['decided'] else 'undecided'}; "
               f"BCE better {wins['BCE']}/{n}, MSE better {wins['MSE']}/{n}" if n else "no paired cells")
    return table, headline, verdict
