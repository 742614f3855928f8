"""Report sections of the compression study that treat training seeds as the replicates:
the primary test of the compared factor (BCE vs MSE in the main study), per-cell seed-level
verdicts with power lines, per-image
descriptions per seed, convergence, and the short-budget vs converged comparison.

The numbers come from :mod:`autoenc.analysis.seed_level`; this module only lays them out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import Section, Table, format_p
from ..seed_level import ALPHA, DEFAULT, CellVerdict, Comparison, budget_comparison, cell_verdicts, primary_test

if TYPE_CHECKING:
    import pandas as pd

    from ...stats import PairedResult

__all__ = ["CONVERGENCE_TEXT", "convergence_text", "section_budget", "section_convergence", "section_seed_level",
           "seed_results"]

CONVERGENCE_TEXT = (
    "Convergence rule (the same for every task, docs/convergence.md): a run converged when the best validation "
    "loss of its last 5 epochs improves on the best before them by less than 0.5% (relative), or early stopping "
    "fired; a run with a non-finite loss or 5 epochs or fewer never counts as converged. The improvement is "
    "measured on the loss above its floor, the least value any reconstruction can reach: 0 for MSE, the images' "
    "own entropy for BCE{floor}. This report recomputes the rule "
    "from every run's history; runs trained before 2026-12-03 recorded a flag measured on the raw BCE, which "
    "called BCE runs converged that were not.")


def convergence_text(bce_floors: list[float]) -> str:
    """The rule in words, with the BCE floors of the runs' validation images (from the store)."""
    shown = sorted({round(f, 3) for f in bce_floors if math.isfinite(f)})
    floor = f" (about {', '.join(map(str, shown))} per pixel on the validation images)" if shown else ""
    return CONVERGENCE_TEXT.format(floor=floor)


def seed_results(runs: pd.DataFrame, n_resamples: int = 100_000, n_boot: int = 10_000,
                 comparison: Comparison = DEFAULT) -> tuple[dict[str, Any] | None, list[CellVerdict]]:
    """The primary test and the per-cell seed-level verdicts on per-image test MSE."""
    return (primary_test(runs, n_resamples=n_resamples, n_boot=n_boot, comparison=comparison),
            cell_verdicts(runs, comparison=comparison))


def _words(comparison: Comparison) -> dict[str, str]:
    """The levels in sentences: ``BCE-trained`` for losses, ``activation tanh`` for another factor."""
    a, b = comparison.labels
    if comparison.factor == "loss":
        return {"A": f"{a}-trained", "B": f"{b}-trained", "both": f"{a}- and {b}-trained autoencoders",
                "instead": f"training with {a} instead of {b}", "with_A": f"{a}-trained autoencoders",
                "with_B": f"{b}-trained ones", "cell": "(depth, latent) cell"}
    name = comparison.factor.replace("_", " ")
    strata = ", ".join(["depth", "latent", *[k.replace("_", " ") for k in comparison.strata[2:]]])
    return {"A": f"{name} {a}", "B": f"{name} {b}", "both": f"autoencoders with {name} {a} and {b}",
            "instead": f"{name} {a} instead of {b}", "with_A": f"autoencoders with {name} {a}",
            "with_B": f"those with {b}", "cell": f"({strata}) cell"}


def _primary_text(primary: dict[str, Any] | None, comparison: Comparison = DEFAULT) -> str:
    w = _words(comparison)
    a, b = comparison.labels
    if primary is None:
        if comparison.factor == "loss":
            return f"No cell has both {a}- and {b}-trained runs with a common seed: the primary test cannot run yet."
        return (f"No cell has runs with both {comparison.factor} {a} and {b} with a common seed: the primary test "
                "cannot run yet.")
    est, lo, hi = (100 * primary[k] for k in ("estimate", "ci_low", "ci_high"))
    if primary["decided"]:
        word = "lower" if primary["estimate"] < 0 else "higher"
        outcome = (f"{w['with_A']} have {word} mean test MSE than {w['with_B']}: "
                   f"{est:+.2f}% on average over the {primary['n_cells']} cells (95% t CI {lo:+.2f}% to {hi:+.2f}%)")
    else:
        outcome = (f"no difference between {w['both']} can be claimed: {est:+.2f}% "
                   f"(95% t CI {lo:+.2f}% to {hi:+.2f}%)")
    holm = (f"; Holm-adjusted over the {comparison.factor} contrasts: p = {format_p(primary['holm_p'])}"
            if "holm_p" in primary else "")
    return (f"**Primary result:** {outcome}; sign-flip permutation p = {format_p(primary['p_two_sided'])} "
            f"(two-sided; {primary['n_pairs']} (cell, seed) pairs, seeds {', '.join(map(str, primary['seeds']))})"
            f"{holm}.")


def _columns(c: CellVerdict) -> dict[str, Any]:
    """A stratum as table columns: depth, latent, then the other strata."""
    return {"depth": c.depth, "latent": c.latent,
            **{k: ("-".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in c.stratum.items()
               if k not in ("depth", "latent_size")}}


def section_seed_level(b: Any, primary: dict[str, Any] | None, cells: list[CellVerdict],
                       per_seed: dict[tuple[Any, ...], dict[int, PairedResult]],
                       comparison: Comparison = DEFAULT, data: Any = None) -> Section:
    """The primary test, the per-cell verdicts and the per-seed per-image descriptions."""
    import pandas as pd

    from ...viz import forest_plot

    w = _words(comparison)
    a, bb = comparison.labels
    s = Section(f"{w['A']} vs {w['B']}: seeds as the replicates")
    s.add_text(
        ("Stated before the converged study was run. " if comparison.factor == "loss" else "")
        + f"**Primary question:** does {w['instead']} "
        f"change the mean per-image test MSE? Per {w['cell']} and seed s, r = (mean test MSE of the "
        f"{w['A']} model − that of the {w['B']} model) / the {w['B']} model's, seed s against seed s "
        f"(same initialisation and data order); negative r favours {a}. Estimate: the mean over cells of each "
        "cell's mean r, with a stratified t 95% CI (within-cell variance over seeds, Welch-Satterthwaite degrees "
        "of freedom; the stratified percentile bootstrap is too narrow with few seeds and is printed beside it); "
        f"test: sign flips of all (cell, seed) pairs, two-sided, α = {ALPHA} (exact when every pair agrees in sign "
        "or when the pairs are few enough to enumerate). Test images are not replicates: they only describe "
        "a difference inside one pair of runs.")
    s.add_text(_primary_text(primary, comparison))
    if primary is not None:
        s.add_note(f"Permutation: {primary['method']}; one-sided p ({a} better) = {format_p(primary['p_less'])}, "
                   f"({bb} better) = {format_p(primary['p_greater'])}. Stratified percentile bootstrap 95% interval "
                   f"for comparison: {100 * primary['boot_ci_low']:+.2f}% to {100 * primary['boot_ci_high']:+.2f}%.")
    if not cells:
        return s
    n_seeds = max(c.n for c in cells)
    s.add_text(
        f"**Per cell (secondary):** a one-sample t-test of the cell's {n_seeds} per-seed r against 0, "
        f"Holm-adjusted over the {len(cells)} cells, and the exact sign-flip p (no normality assumption; with "
        f"{n_seeds} seeds it cannot go below {2 / 2 ** n_seeds:.3g}, so on its own it can never decide). A cell "
        f"is decided when the Holm-adjusted t p < {ALPHA} and every seed has the same sign; otherwise the "
        "table says why not. Seeds needed: the number of seeds for which a two-sided t-test at the strictest Holm "
        f"level (α/{len(cells)}) would detect the observed standardised effect (mean r / sd of r) with 80% power "
        "(statsmodels TTestPower), i.e. what to run on a larger machine to settle the cell.")
    rows = []
    for c in cells:
        t = c.test
        desc = per_seed.get(tuple(c.stratum.values()), {})
        rb = [p.rank_biserial for p in desc.values()]
        rows.append({
            **_columns(c), "seeds": c.n,
            "mean r": f"{100 * t['mean']:+.2f}%",
            "95% CI (t, over seeds)": (f"{100 * t['ci_low']:+.2f}% to {100 * t['ci_high']:+.2f}%"
                                       if math.isfinite(t["ci_low"]) else "–"),
            "seeds agree": f"{t['n_agree']}/{c.n}",
            "p (t)": t["t_p"], "Holm p (t)": c.holm_p, "p (sign flip)": t["sign_flip_p"],
            "seeds needed": "–" if math.isnan(c.seeds_needed) else ("> 10,000" if math.isinf(c.seeds_needed)
                                                                     else int(c.seeds_needed)),
            "rank-biserial per seed: median [min, max]": (f"{np.median(rb):+.2f} [{min(rb):+.2f}, {max(rb):+.2f}]"
                                                         if rb else "–"),
            "verdict": c.verdict(),
        })
    s.add_table(Table(rows, title=f"Per cell: {a} vs {bb} on mean test MSE, seeds as replicates",
                      caption=f"r = relative difference of mean test MSE, {w['A']} − {w['B']}, seed against "
                              f"seed (negative favours {a}). Rank-biserial: per-image description inside each seed "
                              f"(−1: {a} better on every image), median and range over seeds."))
    frame = pd.DataFrame([{"label": data.stratum_label(c.stratum) if data is not None else
                           f"depth {c.depth}, k={c.latent}", "mean_r": 100 * c.test["mean"],
                           "ci_low": 100 * c.test["ci_low"], "ci_high": 100 * c.test["ci_high"]}
                          for c in cells if math.isfinite(c.test["ci_low"])])
    if len(frame):
        s.add_figure(b.fig(forest_plot(frame, estimate="mean_r", low="ci_low", high="ci_high",
                                       xlabel=f"relative difference of mean test MSE, {a} − {bb} (%); negative: "
                                              f"{a} better"),
                           "forest-seed-level-mse" + ("" if comparison.factor == "loss" else
                                                      f"-{comparison.contrast.a}-{comparison.contrast.b}"),
                           "Mean relative difference per cell with its 95% t interval over seeds (seed-level)."))
    seed_rows = []
    n_images = 0
    for stratum, by_seed in sorted(per_seed.items(), key=lambda kv: comparison.sort_key(kv[0])):
        values = dict(zip(comparison.strata, stratum, strict=True))
        columns = _columns(CellVerdict(values, {}))
        for seed, p in sorted(by_seed.items()):
            n_images = max(n_images, p.n)
            seed_rows.append({**columns, "seed": seed, "rank-biserial": p.rank_biserial,
                              "r (z/√n)": p.r, f"{a} wins": p.frac_a_better,
                              "median d (×1e-4)": p.median_diff * 1e4, "mean d (×1e-4)": p.mean_diff * 1e4,
                              "Wilcoxon p (two-sided)": p.p_two_sided})
    if seed_rows:
        s.add_table(Table(seed_rows, title=f"Per seed, per image: seed s {w['A']} vs seed s {w['B']} "
                                           "(per-image test MSE; description, not the test)",
                          formats={"rank-biserial": "signed", "r (z/√n)": "signed", f"{a} wins": "pct",
                                   "median d (×1e-4)": "+.3g", "mean d (×1e-4)": "+.3g"},
                          caption=f"d = per-image MSE of the {w['A']} model − the {w['B']} model's, on the "
                                  f"same {n_images:,} test images. With {n_images:,} images even tiny differences "
                                  "give small p-values; they describe one pair of runs, not the training choice."))
    return s


def section_convergence(runs: pd.DataFrame, data: Any = None, bce_floors: list[float] | None = None) -> Section:
    """The rule, the count, and every run that does not meet it."""
    s = Section("Convergence")
    s.add_text(convergence_text(bce_floors or []))
    bad = runs[runs.converged != True]  # noqa: E712  (None: an older run without the flag)
    if not len(bad):
        s.add_text(f"All {len(runs)} runs meet the rule.")
        return s
    s.add_text(f"**{len(bad)} of {len(runs)} runs do not meet the rule**; their numbers are results at the "
               "stated budget, not at convergence:")
    extra = [f for f in (data.arm_factors if data is not None else ()) if f != "loss"]
    rows = [{"depth": r.depth, "latent": r.latent_size, "loss": r.loss,
             **{f: getattr(r, f) for f in extra}, "seed": r.seed, "epochs": r.epochs_run,
             "best epoch": r.best_epoch, "improvement of the last 5 epochs": r.last5_improvement}
            for r in bad.sort_values(["depth", "latent_size", "loss", *extra, "seed"],
                                     ascending=[True, False, True, *[True] * len(extra), True]).itertuples()]
    s.add_table(Table(rows, title="Runs that do not meet the convergence rule",
                      formats={"improvement of the last 5 epochs": "pct"}))
    return s


def section_budget(b: Any, runs: pd.DataFrame, pca_mse: dict[int, float], epoch: int,
                   comparison: Comparison = DEFAULT) -> Section | None:
    """Do the verdicts change between ``epoch`` epochs (the original's kind of budget) and the end?"""
    rows = budget_comparison(runs, pca_mse, epoch, comparison)
    if not rows:
        return None
    a, bb = comparison.labels
    better = "loss" if comparison.factor == "loss" else comparison.factor.replace("_", " ")
    s = Section(f"Short budget ({epoch} epochs) vs the end of training")
    changed = [r for r in rows if r["changes"] != "none"]
    s.add_text(
        f"Every run also stored its per-image test errors after epoch {epoch} (description only: nothing is chosen "
        "on them). The same seed-level rules give a verdict at both points. Against PCA (unclipped, same k) "
        f"stands the cell's better {better} chosen on the validation split at that point; it beats PCA when every "
        f"seed's mean test MSE is below PCA's. A cell's verdict changes when its decided {a}-vs-{bb} outcome "
        f"({bb} better / {a} better / undecided) or its outcome against PCA differs between the two points. "
        + (f"**Verdicts change in {len(changed)} of {len(rows)} cells**: "
           + "; ".join(", ".join(f"{k} {v}" for k, v in r.items() if k in ("depth", "latent")) + f" ({r['changes']})"
                       for r in changed) + "."
           if changed else f"**No verdict changes** between epoch {epoch} and the end."))
    s.add_table(Table(rows, title=f"{a} vs {bb} and AE vs PCA after {epoch} epochs and at the end",
                      formats={f"mean r, epoch {epoch}": "+.2%", "mean r, end": "+.2%",
                               f"AE / PCA, epoch {epoch}": ".3f", "AE / PCA, end": ".3f"}))
    return s
