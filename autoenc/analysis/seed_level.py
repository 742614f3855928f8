"""BCE-trained vs MSE-trained autoencoders with training seeds as the replicates.

The rules, fixed before the converged study was run (docs/statistics.md):

- **Primary test, one for the whole grid.** Per (depth, latent) cell and seed s, the relative
  difference r = (mean test MSE of the BCE-trained model − that of the MSE-trained model) /
  the MSE-trained model's, seed s against seed s (same initialisation and data order). The
  estimate is the mean over cells of each cell's mean r (every cell weighs the same), with a
  stratified t 95% CI (within-cell variance, Welch-Satterthwaite df; the stratified percentile
  bootstrap beside it, too narrow with few seeds); the test is a sign-flip permutation test over
  all (cell, seed) pairs, two-sided, alpha = 0.05 (exact when all pairs agree or few).
- **Per-cell verdicts (secondary).** A one-sample t-test of the cell's per-seed r against 0,
  Holm-adjusted over cells; the exact sign-flip p next to it (no normality assumption; it
  cannot go below 2 / 2^n). A cell is decided only when the Holm-adjusted t p < 0.05 *and*
  every seed agrees in sign; otherwise it says why not (seeds disagree, or too few seeds,
  with the number of seeds that 80% power at the Holm level would need).
- Per-image statistics describe one seed at a time (see the report), never pooled seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..stats import holm
from ..stats.seeds import seed_level_test, seeds_for_power, stratified_sign_flip

__all__ = ["ALPHA", "CellVerdict", "best_depth_on_validation", "budget_comparison", "cell_verdicts",
           "primary_test", "relative_differences"]

ALPHA = 0.05
LOSS_A, LOSS_B = "bce", "mse"


def relative_differences(runs: pd.DataFrame, metric: str = "mse_mean") -> dict[tuple[int, int], dict[int, float]]:
    """Per cell, per seed: (A − B) / B of ``metric`` for the seeds done with both losses.

    ``runs`` has one row per run with columns depth, latent_size, loss, seed and ``metric``.
    """
    out: dict[tuple[int, int], dict[int, float]] = {}
    for (depth, latent), cell in runs.groupby(["depth", "latent_size"]):
        a = cell[cell.loss == LOSS_A].set_index("seed")[metric]
        b = cell[cell.loss == LOSS_B].set_index("seed")[metric]
        seeds = sorted(set(a.index) & set(b.index))
        values = {int(s): float((a[s] - b[s]) / b[s]) for s in seeds if np.isfinite(a[s]) and np.isfinite(b[s])}
        if values:
            out[(int(depth), int(latent))] = values
    return out


def primary_test(runs: pd.DataFrame, metric: str = "mse_mean", *, n_resamples: int = 100_000,
                 n_boot: int = 10_000) -> dict[str, Any] | None:
    """The one primary test over the grid (module docstring); None without a paired cell."""
    diffs = relative_differences(runs, metric)
    if not diffs:
        return None
    result = stratified_sign_flip([list(v.values()) for v in diffs.values()], n_resamples=n_resamples, n_boot=n_boot)
    seeds = sorted({s for v in diffs.values() for s in v})
    result["seeds"] = seeds
    result["decided"] = result["p_two_sided"] < ALPHA
    return result


@dataclass
class CellVerdict:
    """Seed-level BCE vs MSE comparison of one (depth, latent) cell."""

    depth: int
    latent: int
    differences: dict[int, float]  # seed -> relative difference (A - B) / B
    test: dict[str, Any] = field(default_factory=dict)
    holm_p: float = math.nan
    seeds_needed: float = math.nan  # for 80% power at the Holm level of this cell

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def agree(self) -> bool:
        signs = {np.sign(v) for v in self.differences.values()}
        return len(signs) == 1 and 0 not in signs

    @property
    def winner(self) -> str:
        return LOSS_A.upper() if self.test.get("mean", 0.0) < 0 else LOSS_B.upper()

    def verdict(self) -> str:
        if self.n < 2:
            return f"{self.n} seed: not testable"
        if math.isfinite(self.holm_p) and self.holm_p < ALPHA and self.agree:
            return f"{self.winner} better"
        if not self.agree:
            return "undecided: seeds disagree in sign"
        need = "more than 10,000" if math.isinf(self.seeds_needed) else f"about {int(self.seeds_needed)}"
        return f"undecided with {self.n} seeds ({need} for 80% power)"


def cell_verdicts(runs: pd.DataFrame, metric: str = "mse_mean") -> list[CellVerdict]:
    """Per-cell seed-level tests with Holm over cells and a power line (module docstring)."""
    diffs = relative_differences(runs, metric)
    cells = [CellVerdict(depth, latent, values) for (depth, latent), values in
             sorted(diffs.items(), key=lambda kv: (kv[0][0], -kv[0][1]))]
    for c in cells:
        c.test = seed_level_test(list(c.differences.values()))
    testable = [c for c in cells if math.isfinite(c.test.get("t_p", math.nan))]
    if testable:
        for c, p in zip(testable, holm([c.test["t_p"] for c in testable]), strict=True):
            c.holm_p = float(p)
    # the most stringent Holm level (alpha / number of cells): a conservative seeds-needed figure
    level = ALPHA / max(len(cells), 1)
    for c in cells:
        c.seeds_needed = seeds_for_power(c.test.get("dz", math.nan), alpha=level)
    return cells


def best_depth_on_validation(runs: pd.DataFrame, metric: str = "val_mse_mean") -> tuple[int, str]:
    """The depth with the lowest mean log validation error over the (latent, loss) cells every
    depth has; chosen on the validation split, never the test split. Returns (depth, how)."""
    if metric not in runs or not np.isfinite(runs[metric].to_numpy(float)).any():
        metric, how = "mse_mean", "test MSE (no validation errors stored: older runs)"
    else:
        how = "validation MSE (last 6,000 training images)" if metric == "val_mse_mean" else metric
    depths = sorted(runs["depth"].unique())
    cell = runs.groupby(["depth", "latent_size", "loss"])[metric].mean().reset_index()
    keys = cell.groupby(["latent_size", "loss"])["depth"].nunique()
    shared = keys[keys == len(depths)].index
    if len(shared):
        cell = cell.set_index(["latent_size", "loss"]).loc[shared].reset_index()
    score = cell.assign(log=np.log(cell[metric])).groupby("depth")["log"].mean()
    return (int(score.idxmin()) if len(score) else int(depths[0])), how


def budget_comparison(runs: pd.DataFrame, pca_mse: dict[int, float], epoch: int) -> list[dict[str, Any]]:
    """Per cell: the BCE vs MSE direction and the autoencoder vs PCA verdict after ``epoch``
    epochs (``test_at_<epoch>_mse_mean``) and at the end of training (``mse_mean``)."""
    early = f"test_at_{epoch}_mse_mean"
    if early not in runs or not np.isfinite(runs[early].to_numpy(float)).any():
        return []
    rows = []
    verdicts = {"end": {(c.depth, c.latent): c for c in cell_verdicts(runs, "mse_mean")},
                "early": {(c.depth, c.latent): c for c in cell_verdicts(runs, early)}}
    for (depth, latent), cell in runs.groupby(["depth", "latent_size"]):
        row: dict[str, Any] = {"depth": int(depth), "latent": int(latent)}
        for when, column in (("early", early), ("end", "mse_mean")):
            label = f"epoch {epoch}" if when == "early" else "converged"
            c = verdicts[when].get((int(depth), int(latent)))
            row[f"BCE vs MSE, {label}"] = c.verdict() if c else "–"
            row[f"mean r, {label}"] = c.test.get("mean", math.nan) if c else math.nan
            means = cell.groupby("loss")[column].mean()
            best = float(means.min()) if len(means) else math.nan
            if int(latent) in pca_mse and math.isfinite(best):
                ratio = best / pca_mse[int(latent)]
                row[f"AE / PCA, {label}"] = ratio
            else:
                row[f"AE / PCA, {label}"] = math.nan
        early_dir = np.sign(row[f"mean r, epoch {epoch}"])
        end_dir = np.sign(row["mean r, converged"])
        pca_early, pca_end = row[f"AE / PCA, epoch {epoch}"] < 1, row["AE / PCA, converged"] < 1
        changes = []
        if early_dir != end_dir:
            changes.append("BCE vs MSE direction")
        if pca_early != pca_end:
            changes.append("vs PCA")
        row["changes"] = ", ".join(changes) or "none"
        rows.append(row)
    rows.sort(key=lambda r: (r["depth"], -r["latent"]))
    return rows
