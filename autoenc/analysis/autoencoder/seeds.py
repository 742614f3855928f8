"""Report sections of the compression study that treat training seeds as the replicates:
the primary BCE-vs-MSE test, per-cell seed-level verdicts with power lines, per-image
descriptions per seed, convergence, and the short-budget vs converged comparison.

The numbers come from :mod:`autoenc.analysis.seed_level`; this module only lays them out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import Section, Table, format_p
from ..seed_level import ALPHA, CellVerdict, budget_comparison, cell_verdicts, primary_test

if TYPE_CHECKING:
    import pandas as pd

    from ...stats import PairedResult

__all__ = ["CONVERGENCE_TEXT", "section_budget", "section_convergence", "section_seed_level", "seed_results"]

CONVERGENCE_TEXT = (
    "Convergence rule (the same for every task, docs/convergence.md): a run converged when the best validation "
    "loss of its last 5 epochs improves on the best before them by less than 0.5% (relative), or early stopping "
    "fired; a run with a non-finite loss or 5 epochs or fewer never counts as converged. The improvement is "
    "measured on the loss above its floor, the least value any reconstruction can reach: 0 for MSE, the images' "
    "own entropy for BCE (about 0.242 per pixel on the validation images). This report recomputes the rule "
    "from every run's history; runs trained before 2026-12-03 recorded a flag measured on the raw BCE, which "
    "called BCE runs converged that were not.")


def seed_results(runs: pd.DataFrame, n_resamples: int = 100_000, n_boot: int = 10_000
                 ) -> tuple[dict[str, Any] | None, list[CellVerdict]]:
    """The primary test and the per-cell seed-level verdicts on per-image test MSE."""
    return primary_test(runs, n_resamples=n_resamples, n_boot=n_boot), cell_verdicts(runs)


def _primary_text(primary: dict[str, Any] | None) -> str:
    if primary is None:
        return "No cell has both BCE- and MSE-trained runs with a common seed: the primary test cannot run yet."
    est, lo, hi = (100 * primary[k] for k in ("estimate", "ci_low", "ci_high"))
    if primary["decided"]:
        word = "lower" if primary["estimate"] < 0 else "higher"
        outcome = (f"BCE-trained autoencoders have {word} mean test MSE than MSE-trained ones: "
                   f"{est:+.2f}% on average over the {primary['n_cells']} cells (95% t CI {lo:+.2f}% to {hi:+.2f}%)")
    else:
        outcome = (f"no difference between BCE- and MSE-trained autoencoders can be claimed: {est:+.2f}% "
                   f"(95% t CI {lo:+.2f}% to {hi:+.2f}%)")
    return (f"**Primary result:** {outcome}; sign-flip permutation p = {format_p(primary['p_two_sided'])} "
            f"(two-sided; {primary['n_pairs']} (cell, seed) pairs, seeds {', '.join(map(str, primary['seeds']))}).")


def section_seed_level(b: Any, primary: dict[str, Any] | None, cells: list[CellVerdict],
                       per_seed: dict[tuple[int, int], dict[int, PairedResult]]) -> Section:
    """The primary test, the per-cell verdicts and the per-seed per-image descriptions."""
    import pandas as pd

    from ...viz import forest_plot

    s = Section("BCE-trained vs MSE-trained: seeds as the replicates")
    s.add_text(
        "Stated before the converged study was run. **Primary question:** does training with BCE instead of MSE "
        "change the mean per-image test MSE? Per (depth, latent) cell and seed s, r = (mean test MSE of the "
        "BCE-trained model − that of the MSE-trained model) / the MSE-trained model's, seed s against seed s "
        "(same initialisation and data order); negative r favours BCE. Estimate: the mean over cells of each "
        "cell's mean r, with a stratified t 95% CI (within-cell variance over seeds, Welch-Satterthwaite degrees "
        "of freedom; the stratified percentile bootstrap is too narrow with few seeds and is printed beside it); "
        f"test: sign flips of all (cell, seed) pairs, two-sided, α = {ALPHA} (exact when every pair agrees in sign "
        "or when the pairs are few enough to enumerate). Test images are not replicates: they only describe "
        "a difference inside one pair of runs.")
    s.add_text(_primary_text(primary))
    if primary is not None:
        s.add_note(f"Permutation: {primary['method']}; one-sided p (BCE better) = {format_p(primary['p_less'])}, "
                   f"(MSE better) = {format_p(primary['p_greater'])}. Stratified percentile bootstrap 95% interval "
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
        desc = per_seed.get((c.depth, c.latent), {})
        rb = [p.rank_biserial for p in desc.values()]
        rows.append({
            "depth": c.depth, "latent": c.latent, "seeds": c.n,
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
    s.add_table(Table(rows, title="Per cell: BCE vs MSE on mean test MSE, seeds as replicates",
                      caption="r = relative difference of mean test MSE, BCE-trained − MSE-trained, seed against "
                              "seed (negative favours BCE). Rank-biserial: per-image description inside each seed "
                              "(−1: BCE better on every image), median and range over seeds."))
    frame = pd.DataFrame([{"label": f"depth {c.depth}, k={c.latent}", "mean_r": 100 * c.test["mean"],
                           "ci_low": 100 * c.test["ci_low"], "ci_high": 100 * c.test["ci_high"]}
                          for c in cells if math.isfinite(c.test["ci_low"])])
    if len(frame):
        s.add_figure(b.fig(forest_plot(frame, estimate="mean_r", low="ci_low", high="ci_high",
                                       xlabel="relative difference of mean test MSE, BCE − MSE (%); negative: BCE "
                                              "better"),
                           "forest-seed-level-mse",
                           "Mean relative difference per cell with its 95% t interval over seeds (seed-level)."))
    seed_rows = []
    for (depth, latent), by_seed in sorted(per_seed.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        for seed, p in sorted(by_seed.items()):
            seed_rows.append({"depth": depth, "latent": latent, "seed": seed, "rank-biserial": p.rank_biserial,
                              "r (z/√n)": p.r, "BCE wins": p.frac_a_better,
                              "median d (×1e-4)": p.median_diff * 1e4, "mean d (×1e-4)": p.mean_diff * 1e4,
                              "Wilcoxon p (two-sided)": p.p_two_sided})
    if seed_rows:
        s.add_table(Table(seed_rows, title="Per seed, per image: seed s BCE-trained vs seed s MSE-trained "
                                           "(per-image test MSE; description, not the test)",
                          formats={"rank-biserial": "signed", "r (z/√n)": "signed", "BCE wins": "pct",
                                   "median d (×1e-4)": "+.3g", "mean d (×1e-4)": "+.3g"},
                          caption="d = per-image MSE of the BCE-trained model − the MSE-trained model's, on the "
                                  "same 10,000 test images. With 10,000 images even tiny differences give small "
                                  "p-values; they describe one pair of runs, not the training choice."))
    return s


def section_convergence(runs: pd.DataFrame) -> Section:
    """The rule, the count, and every run that does not meet it."""
    s = Section("Convergence")
    s.add_text(CONVERGENCE_TEXT)
    bad = runs[runs.converged != True]  # noqa: E712  (None: an older run without the flag)
    if not len(bad):
        s.add_text(f"All {len(runs)} runs meet the rule.")
        return s
    s.add_text(f"**{len(bad)} of {len(runs)} runs do not meet the rule**; their numbers are results at the "
               "stated budget, not at convergence:")
    rows = [{"depth": r.depth, "latent": r.latent_size, "loss": r.loss, "seed": r.seed, "epochs": r.epochs_run,
             "best epoch": r.best_epoch, "improvement of the last 5 epochs": r.last5_improvement}
            for r in bad.sort_values(["depth", "latent_size", "loss", "seed"],
                                     ascending=[True, False, True, True]).itertuples()]
    s.add_table(Table(rows, title="Runs that do not meet the convergence rule",
                      formats={"improvement of the last 5 epochs": "pct"}))
    return s


def section_budget(b: Any, runs: pd.DataFrame, pca_mse: dict[int, float], epoch: int) -> Section | None:
    """Do the verdicts change between ``epoch`` epochs (the original's kind of budget) and the end?"""
    rows = budget_comparison(runs, pca_mse, epoch)
    if not rows:
        return None
    s = Section(f"Short budget ({epoch} epochs) vs converged")
    changed = [r for r in rows if r["changes"] != "none"]
    s.add_text(
        f"Every run also stored its per-image test errors after epoch {epoch} (description only: nothing is chosen "
        "on them). The same seed-level rules give a verdict at both points; AE / PCA is the better loss's mean "
        "test MSE over PCA's (unclipped) at the same k. "
        + (f"**Verdicts change in {len(changed)} of {len(rows)} cells**: "
           + "; ".join(f"depth {r['depth']} k={r['latent']} ({r['changes']})" for r in changed) + "."
           if changed else f"No verdict direction changes between epoch {epoch} and convergence."))
    s.add_table(Table(rows, title=f"BCE vs MSE and AE vs PCA after {epoch} epochs and at the end",
                      formats={f"mean r, epoch {epoch}": "+.2%", "mean r, converged": "+.2%",
                               f"AE / PCA, epoch {epoch}": ".3f", "AE / PCA, converged": ".3f"}))
    return s
