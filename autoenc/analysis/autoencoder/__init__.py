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
    RunRecord,
    StudyData,
    _Builder,
    _collect,
    _mean_std,
    _pca_errors,
    _per_seed_comparisons,
    _show,
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
from .verdicts import protocol, verdicts


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


def _bce_floors(data: StudyData, loaded: Any) -> list[float]:
    """The validation BCE floors of the BCE-trained runs: recorded in metrics.json, else computed
    from the images; none when the data are not on this machine."""
    floors: list[float] = []
    cache: dict[int, tuple[float, float]] = {}
    for r in data.records:
        if r.loss != "bce":
            continue
        value = r.metrics.get("loss_floor")
        if not isinstance(value, int | float) or isinstance(value, bool):
            if not r.metrics.get("n_validation"):  # no validation split recorded: no floor to state
                continue
            try:
                value = bce_floor(r, loaded, cache)[0]
            except Exception:  # noqa: BLE001  (no data here: the text leaves the number out)
                continue
        floors.append(float(value))
    return floors


def _layers(r: RunRecord, n_pixels: int) -> str:
    """The run's real layer widths, encoder side (784-800-400): recorded by the run, else from its
    resolved config (older runs)."""
    sizes = r.metrics.get("layer_sizes")
    if isinstance(sizes, list) and sizes:
        return "-".join(map(str, sizes[: len(sizes) // 2 + 1]))
    from ...study.grid import resolve

    try:
        m = resolve(r.run.config).model
    except (OSError, ValueError, KeyError):
        return "–"
    return "-".join(map(str, [n_pixels, *m.get("hidden_widths", []), m["latent_size"]]))


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
            "run_id": r.run_id, **r.factors, "seed": r.seed,
            "mse_mean": float(r.per_image["mse"].mean()), "mse_std": float(r.per_image["mse"].std(ddof=1)),
            "bce_mean": float(r.per_image["bce"].mean()),
            "sse_mean": float(sse.mean()), "sse_std": float(sse.std(ddof=1)),
            "l2_mean": float(np.sqrt(sse).mean()), "l2_std": float(np.sqrt(sse).std(ddof=1)),
            "l1_mean": float(r.per_image["l1"].mean()) if "l1" in r.per_image else math.nan,  # runs since 2026-12-04
            "val_mse_mean": float(m.get("val_mse_mean", math.nan)),  # absent in runs without a validation split
            "converged": m.get("converged"), "epochs_run": m.get("epochs_run"), "best_epoch": m.get("best_epoch"),
            "train_seconds": m.get("train_seconds"), "last5_improvement": math.nan,
            "layer_sizes": _layers(r, data.n_pixels),
            "relu_active": "–" if not m.get("relu_active_fraction") else
            " / ".join(f"{100 * a:.0f}%" for a in m["relu_active_fraction"]),
        }
        for key, value in m.items():  # per-image test (and validation) errors stored after a snapshot epoch
            if key.startswith(("test_at_", "val_at_")) and key.endswith(("_mse_mean", "_l2_mean")):
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


def _arm_runs(data: StudyData, runs: pd.DataFrame, arm: tuple[Any, ...], **values: Any) -> pd.DataFrame:
    """The rows of ``runs`` of one arm (and the given depth, latent size, ...)."""
    from ..factors import hashable

    mask = np.ones(len(runs), bool)
    for f, v in [*zip(data.arm_factors, arm, strict=True), *values.items()]:
        mask &= (runs[f].map(hashable) == hashable(v)).to_numpy()
    return runs[mask]


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
            for arm in data.arms:
                row = {"model": f"AE depth {depth}, {data.arm_long(arm)}"}
                for k in data.latents:
                    sel = _arm_runs(data, runs, arm, depth=depth, latent_size=k)
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
    from ..seed_level import adjust_primary, best_depth_on_validation, cell_verdicts
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
            f"{data.run_label(r)} (run {r.run_id}): "
            f"epochs {r.epochs_run}, last 5 epochs improved by {100 * r.last5_improvement:.2f}%"
            for r in bad.itertuples()]))
    best_depth, depth_how = best_depth_on_validation(runs, others=("latent_size", *data.arm_factors),
                                                     validation=_validation_words(data))
    comparisons = data.comparisons()
    with ctx.timed("seed-level tests"):
        tested = [seed_results(runs, n_boot=max(ctx.options.n_boot, 1000), comparison=c) for c in comparisons]
        adjust_primary([primary for primary, _ in tested])
        cells_bce = [cell_verdicts(runs, "bce_mean", c) for c in comparisons]
        with_l1 = bool(np.isfinite(runs["l1_mean"].to_numpy(float)).all())
        cells_l1 = [cell_verdicts(runs, "l1_mean", c) if with_l1 else [] for c in comparisons]
    with ctx.timed("per-seed descriptions"):
        described = [_per_seed_comparisons(data, "mse", c) for c in comparisons]
    skipped = [line for _, lines in described for line in lines]
    if skipped:
        what = "both losses" if data.design is None or data.design.compared == "loss" else \
            f"both {data.design.compared} values"
        b.alerts.append(Alert("warning", f"{len(skipped)} cells without {what}",
                              "These cells have no paired comparison.", skipped))
    for comparison, (_, cells) in zip(comparisons, tested, strict=True):
        disagree = [c for c in cells if c.n >= 2 and not c.agree]
        if disagree:
            a, bb = comparison.labels
            b.alerts.append(Alert(
                "warning", f"seeds disagree in {len(disagree)} of {len(cells)} cells (mean test MSE, {a} vs {bb})",
                f"The per-seed relative differences {a} − {bb} do not all have the same sign: in these cells the "
                f"difference between {_levels_noun(comparison)} is smaller than the spread between seeds.",
                [f"{_cell_words(c)}: r = " + ", ".join(f"{100 * v:+.2f}%" for v in c.differences.values())
                 for c in disagree]))

    pca: dict[int, dict[str, np.ndarray]] = {}
    try:
        with ctx.timed("PCA baseline"):
            pca = _pca_errors(ctx, data, b.loaded)
    except Exception as e:  # no data on this machine: report without the baseline
        b.alerts.append(Alert("warning", "PCA baseline not computed", f"{type(e).__name__}: {e}"))
    original = _original(ctx)
    pca_rows = _pca_comparison(data, runs, pca)
    seed_sections = []
    for comparison, (primary, cells), cells_b, cells_a, (per_seed, _) in zip(comparisons, tested, cells_bce, cells_l1,
                                                                              described, strict=True):
        section = section_seed_level(b, primary, cells, per_seed, comparison, data)
        section.add_table(_metric_table(cells_b, comparison, "BCE", " Each loss tends to win on its own metric."
                                        if comparison.factor == "loss" else ""))
        if cells_a:
            section.add_table(_metric_table(cells_a, comparison, "L1 (mean absolute error per pixel)",
                                            " Stated in advance as the secondary metric that neither training loss "
                                            "optimises."))
        _difference_figure(b, data, section, comparison)
        seed_sections.append(section)
    if not comparisons:
        seed_sections.append(Section("Seed-level comparison", paragraphs=[data.design.describe()
                                                                            if data.design else ""]))
    snapshots = sorted({int(c.split("_")[2]) for c in runs.columns if c.startswith("test_at_")
                        and c.endswith("_mse_mean")})
    budget = [section_budget(b, runs, {k: float(v["mse"].mean()) for k, v in pca.items()}, e, c)
              for c in comparisons[:1] for e in snapshots]

    sections = [
        _section_runs(ctx, data, runs, best_depth, depth_how),
        section_convergence(runs, data, _bce_floors(data, b.loaded)),
        *seed_sections,
        *[x for x in budget if x is not None],
        _section_original(data, runs, pca, original),
        _section_pca(b, data, pca_rows, pca),
        _section_trend(b, data, runs, pca),
        b.optional("Learning curves", lambda: _section_curves(b, data)),
        b.optional("Reconstructions", lambda: _section_reconstructions(b, data, best_depth)),
        b.optional("t-SNE maps", lambda: _section_tsne(b, data, runs, best_depth)),
        b.optional("Codes as features", lambda: _section_probes(b, data)),
    ]
    rd = _rate_distortion_section(b, data, runs)
    if rd is not None:
        sections.insert(sections.index(_find(sections, "Autoencoder vs PCA")) + 1, rd)
    verdict_table, headline, verdict = verdicts(ctx, data, runs, comparisons, tested, pca_rows, original)
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


def _validation_words(data: StudyData) -> str:
    """``validation MSE (last 6,000 training images)``: the size from the runs' metrics."""
    sizes = sorted({int(r.metrics.get("n_validation") or 0) for r in data.records} - {0})
    if not sizes:
        return "validation MSE (the last training images)"
    return f"validation MSE (last {' or '.join(f'{n:,}' for n in sizes)} training images)"


def _levels_noun(comparison: Any) -> str:
    return "losses" if comparison.factor == "loss" else f"{comparison.factor.replace('_', ' ')} values"


def _cell_words(c: Any) -> str:
    """``depth 1, latent 64`` (and ``, activation tanh``): a verdict's stratum in an alert."""
    parts = [f"depth {c.depth}, latent {c.latent}"]
    parts += [f"{k.replace('_', ' ')} {_show(v)}" for k, v in c.stratum.items() if k not in ("depth", "latent_size")]
    return ", ".join(parts)


def _stratum_columns(c: Any) -> dict[str, Any]:
    """The stratum of a verdict as table columns: depth, latent, then the other strata."""
    return {"depth": c.depth, "latent": c.latent,
            **{k: _show(v) for k, v in c.stratum.items() if k not in ("depth", "latent_size")}}


def _metric_table(cells: list[Any], comparison: Any, metric: str, note: str) -> Table:
    a, b = comparison.labels
    rows = [{**_stratum_columns(c), "mean r": c.test["mean"], "Holm p (t)": c.holm_p,
             "seeds agree": f"{c.test['n_agree']}/{c.n}", "verdict": c.verdict()} for c in cells]
    return Table(rows, title=f"Secondary: {a} vs {b} on mean per-image test {metric}, seeds as replicates",
                 formats={"mean r": "+.2%"}, caption="Same rules as on MSE." + note)


def _difference_figure(b: _Builder, data: StudyData, section: Section, comparison: Any) -> None:
    """Violins of the per-image differences of one seed per cell (the lowest seed both levels have)."""
    from ...viz import difference_distribution

    a_name, b_name = comparison.labels
    diffs: dict[str, np.ndarray] = {}
    for stratum, pairs in data.pairs(comparison).items():
        if pairs:
            ra, rb = pairs[min(pairs)]
            label = data.stratum_label(dict(zip(comparison.strata, stratum, strict=True)))
            diffs[label] = ra.per_image["mse"] - rb.per_image["mse"]
    if not diffs:
        return
    everything = np.concatenate(list(diffs.values()))
    lo, hi = np.percentile(everything, [1, 99])
    scale, unit = _unit([lo, hi])
    fig = difference_distribution({k: v * scale for k, v in diffs.items()},
                                  xlabel=f"per-image MSE difference {a_name} − {b_name}{unit}, one seed per cell")
    if hi > lo:  # the tails would squash the bulk into a line
        pad = 0.05 * (hi - lo) * scale
        fig.axes[0].set_xlim(lo * scale - pad, hi * scale + pad)
    name = "difference-distribution-mse" + ("" if len(data.comparisons()) == 1 else
                                            f"-{_show(comparison.contrast.a)}-{_show(comparison.contrast.b)}")
    section.add_figure(b.fig(fig, name,
                             "Per-image differences inside one pair of runs per cell (the lowest common seed; "
                             "violins, ticks: medians); x axis: the central 98% of all differences. A description "
                             "of one seed, not evidence about the training choice."))


def _design_words(data: StudyData) -> str:
    """The compared factor, its contrasts and the strata in words, and the rule that chose them."""
    return data.design.describe() + " " if data.design is not None else ""


def _section_runs(ctx: ReportContext, data: StudyData, runs: pd.DataFrame, best_depth: int,
                  depth_how: str) -> Section:
    from ...study.grid import resolve

    spec = ctx.spec
    grid = ", ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in spec.grid.items())
    t = resolve(ctx.results.done[0].config).train if ctx.results.done else {}
    s = Section("Runs and settings", paragraphs=[
        f"Grid: {grid} — {len(ctx.configs)} runs, {len(data.records)} analysed. " + _design_words(data) + "Every "
        f"run is evaluated on the "
        f"same {len(data.labels):,} test images under both per-image metrics (MSE and BCE in [0, 1] pixel space), "
        f"whatever loss it was trained with.",
        f"Training protocol: {protocol(ctx)}; validation split {t.get('validation_split', '–')} (the last "
        f"training images, the same for every seed); per-image test errors also stored after epoch(s) "
        f"{', '.join(map(str, t.get('snapshot_epochs', []))) or 'none'}; data "
        f"`{json.dumps(ctx.data_settings, sort_keys=True)}`.",
        f"**Best depth: {best_depth}**, chosen on the {depth_how} (lowest mean log error over the cells all depths "
        "share), never on the test split; the reconstruction grids, t-SNE maps and probes use it, with the "
        "lowest seed.",
    ])
    if spec.extra.get("selection"):
        s.add_text(f"How the protocol was chosen: {spec.extra['selection']}")
    arms = list(data.arm_factors)
    g = runs.sort_values("seed").assign(**{f: runs[f].map(_show) for f in arms if f != "loss"}) \
        .groupby(["depth", "latent_size", *arms])

    def spread(v: pd.Series) -> str:  # one number when every seed has it, else the range
        v = v.dropna()
        return "–" if not len(v) else (f"{v.min():g}" if v.min() == v.max() else f"{v.min():g}-{v.max():g}")

    table = g.agg(layers=("layer_sizes", "first"), seeds=("seed", "count"), mse=("mse_mean", "mean"),
                  mse_sd=("mse_mean", "std"), val=("val_mse_mean", "mean"), bce=("bce_mean", "mean"),
                  epochs=("epochs_run", spread), best=("best_epoch", spread),
                  moved=("last5_improvement", "max"), relu=("relu_active", "first"),
                  seconds=("train_seconds", "mean"),
                  converged=("converged", lambda v: f"{int(np.sum(v == True))}/{len(v)}")).reset_index()  # noqa: E712
    table = table.rename(columns={"latent_size": "latent", "layers": "layer widths (encoder)",
                                  "mse": "test MSE (mean over seeds)", "mse_sd": "sd over seeds",
                                  "val": "validation MSE", "bce": "test BCE", "best": "best-checkpoint epoch",
                                  "moved": "last-5 improvement (max)",
                                  "relu": "active ReLU units per layer (lowest seed)", "seconds": "train s"})
    table = table.sort_values(["depth", "latent", *arms], ascending=[True, False, *[True] * len(arms)])
    s.add_table(Table(table, title="Completed runs per cell", formats={
        "test MSE (mean over seeds)": ".5f", "sd over seeds": "sci", "validation MSE": ".5f", "test BCE": ".4f",
        "last-5 improvement (max)": "pct", "train s": ".1f"},
        caption="epochs: epochs trained (one number when every seed trained the same); best-checkpoint epoch: the "
                "epoch of lowest validation loss, whose weights were evaluated when the runs keep the best "
                "checkpoint; last-5 improvement: the largest over seeds of the relative improvement, above the loss "
                "floor, of the last 5 epochs' best validation loss over the best before them (convergence measured; "
                "the rule is < 0.5%); layer widths: input-hidden-...-code (the decoder mirrors them); active ReLU "
                "units: mean share of each hidden layer's units with a positive output per test image, encoder then "
                "decoder, for the lowest seed."))
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
    """Per cell: the better loss (lower mean validation MSE over seeds: chosen without the test
    split) against PCA with k components, unclipped and clipped to [0, 1]; "beats" means every
    seed's mean test MSE is below PCA's."""
    from ..seed_level import better_on_validation, pca_outcome

    rows = []
    for depth, latent in data.cells:
        if latent not in pca:
            continue
        pca_mse = float(pca[latent]["mse"].mean())
        pca_clipped = float(pca[latent]["mse_clipped"].mean())
        row: dict[str, Any] = {"depth": depth, "latent": latent, "PCA": pca_mse, "PCA clipped": pca_clipped}
        for arm in data.arms:
            sel = _arm_runs(data, runs, arm, depth=depth, latent_size=latent)
            row[data.arm_long(arm)] = float(sel.mse_mean.mean()) if len(sel) else math.nan
        arm = better_on_validation(runs[(runs.depth == depth) & (runs.latent_size == latent)], data.arm_factors)
        if arm is None:
            continue
        sel = _arm_runs(data, runs, arm, depth=depth, latent_size=latent)
        mean = float(sel.mse_mean.mean())
        row.update({f"better {data.arm_noun} (validation)": data.arm_label(arm), "seeds": len(sel),
                    "AE / PCA": mean / pca_mse, "verdict": pca_outcome(sel.mse_mean, pca_mse),
                    "AE / clipped PCA": mean / pca_clipped,
                    "verdict vs clipped": pca_outcome(sel.mse_mean, pca_clipped)})
        rows.append(row)
    return rows


def _section_pca(b: _Builder, data: StudyData, rows: list[dict], pca: dict[int, dict[str, np.ndarray]]) -> Section:
    s = Section("Autoencoder vs PCA")
    if not pca:
        return s.add_text("The PCA baseline could not be computed (see the alerts).")
    s.add_text(
        "PCA with the same number of components as the code (fitted on the train split, exact covariance "
        "eigendecomposition) is the linear baseline, twice: reconstructions as they come, and clipped to [0, 1] "
        "(the autoencoder's sigmoid output cannot leave that range, so clipping puts PCA on equal footing; it "
        f"can only lower PCA's error). Per cell the better {data.arm_noun} (lower mean validation MSE over seeds, "
        "chosen without the test split) is compared; “beats PCA” means every seed's mean test MSE is below PCA's.")
    arms = {data.arm_long(arm): ".5f" for arm in data.arms}
    s.add_table(Table(rows, title="Mean test MSE: autoencoder (mean over seeds) vs PCA with k components", formats={
        "PCA": ".5f", "PCA clipped": ".5f", **arms, "AE / PCA": ".3f", "AE / clipped PCA": ".3f"}))
    return s


def _section_trend(b: _Builder, data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]]) -> Section:
    from ...viz import error_heatmaps
    from ..factors import hashable

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
        for arm in data.arms:
            sel = _arm_runs(data, runs, arm, depth=depth).groupby("latent_size")["mse_mean"].mean()
            rows.append(trend_row(f"depth {depth}, {data.arm_label(arm)}", list(sel.index), list(sel.values)))
    if len(pca) >= 3:
        ks = sorted(pca)
        rows.append(trend_row("PCA", ks, [float(pca[k]["mse"].mean()) for k in ks]))
    s.add_table(Table(rows, title="Trend of test MSE with latent size", formats={"Spearman ρ": "signed"}))
    for metric, name in (("mse_mean", "per-image MSE"), ("bce_mean", "per-image BCE")):
        frame = runs.rename(columns={metric: f"test {name}"})
        if data.arm_factors != ("loss",):  # one panel per arm, not per loss: runs of other settings stay apart
            frame = frame.assign(loss=[data.arm_label(arm).lower() for arm in
                                       (tuple(hashable(v) for v in row) for row in
                                        runs[list(data.arm_factors)].itertuples(index=False))])
        s.add_figure(b.fig(error_heatmaps(frame, f"test {name}", fmt=".4f" if metric == "mse_mean" else ".3f"),
                           f"heatmap-{metric.split('_')[0]}",
                           f"Mean test {name} (over seeds) per depth × latent size, one panel per training "
                           f"{data.arm_noun}; one colour scale for all panels (brighter: lower error)."
                           if data.arm_factors != ("loss",) else
                           f"Mean test {name} (over seeds) per depth × latent size, one panel per training loss; "
                           "one colour scale for both panels (brighter: lower error)."))
    return s
