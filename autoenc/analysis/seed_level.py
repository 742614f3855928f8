"""Two levels of the compared factor (BCE vs MSE training in the main study) with training seeds
as the replicates, inside the strata the grid defines (:mod:`autoenc.analysis.factors`).

The rules, fixed before the converged study was run (docs/statistics.md):

- **Primary test, one for the whole grid.** Per stratum (a (depth, latent) cell, and the values of
  every other factor that varies) and seed s, the relative difference r = (mean test MSE of the
  model trained with level A − that of the model with level B) / B's, seed s against seed s (same
  initialisation and data order). The estimate is the mean over strata of each stratum's mean r
  (every stratum weighs the same), with a stratified t 95% CI (within-stratum variance,
  Welch-Satterthwaite df; the stratified percentile bootstrap beside it, too narrow with few
  seeds); the test is a sign-flip permutation test over all (stratum, seed) pairs, two-sided,
  alpha = 0.05 (exact when all pairs agree or few). With several contrasts (a factor of more
  than two levels) each has its primary test and the family is Holm-adjusted.
- **Per-stratum verdicts (secondary).** A one-sample t-test of the stratum's per-seed r against
  0, Holm-adjusted over strata; the exact sign-flip p next to it (no normality assumption; it
  cannot go below 2 / 2^n). A stratum is decided only when the Holm-adjusted t p < 0.05 *and*
  every seed agrees in sign; otherwise it says why not (seeds disagree, or too few seeds,
  with the number of seeds that 80% power at the Holm level would need).
- Per-image statistics describe one seed at a time (see the report), never pooled seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..stats import holm
from ..stats.seeds import seed_level_test, seeds_for_power, stratified_sign_flip
from .factors import Contrast, hashable

__all__ = ["ALPHA", "CellVerdict", "Comparison", "best_depth_on_validation", "better_on_validation",
           "budget_comparison", "cell_verdicts", "decided", "pca_outcome", "primary_test", "relative_differences"]

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """Level ``contrast.a`` against ``contrast.b`` of ``factor`` (a column of the run frame),
    seed against seed inside every combination of the ``strata`` columns.

    The default is the main study's: BCE- vs MSE-trained per (depth, latent size) cell.
    """

    factor: str = "loss"
    contrast: Contrast = Contrast("bce", "mse")
    strata: tuple[str, ...] = ("depth", "latent_size")
    labels: tuple[str, str] = ("BCE", "MSE")

    def sort_key(self, stratum: tuple[Any, ...]) -> tuple[Any, ...]:
        """Strata in reading order: latent size down (as the original), the others up."""
        return tuple(-v if k == "latent_size" and isinstance(v, int | float) else v
                     for k, v in zip(self.strata, stratum, strict=True))


DEFAULT = Comparison()


def relative_differences(runs: pd.DataFrame, metric: str = "mse_mean", comparison: Comparison = DEFAULT
                         ) -> dict[tuple[Any, ...], dict[int, float]]:
    """Per stratum, per seed: (A − B) / B of ``metric`` for the seeds done with both levels.

    ``runs`` has one row per run with the strata columns, the compared factor, ``seed`` and
    ``metric``. A stratum with two runs of one level and seed (runs that differ in a setting the
    strata do not name) raises: they must never be pooled as seeds.
    """
    out: dict[tuple[Any, ...], dict[int, float]] = {}
    if not len(runs):
        return out
    column = runs[comparison.factor].map(hashable)
    a_level, b_level = hashable(comparison.contrast.a), hashable(comparison.contrast.b)
    strata = list(comparison.strata)
    keys = runs[strata].apply(lambda row: tuple(hashable(v) for v in row), axis=1) if strata else \
        pd.Series([()] * len(runs), index=runs.index)
    # strata in ascending order (as pandas groupby gives them): the resampling tests see them in that order
    for stratum in sorted(dict.fromkeys(keys)):
        cell = runs[keys == stratum]
        a = cell[column[cell.index] == a_level].set_index("seed")[metric]
        b = cell[column[cell.index] == b_level].set_index("seed")[metric]
        for side in (a, b):
            if side.index.duplicated().any():
                raise ValueError(f"stratum {dict(zip(strata, stratum, strict=True))}: several runs of one seed and "
                                 f"{comparison.factor}; a grid axis is missing from the strata")
        seeds = sorted(set(a.index) & set(b.index))
        values = {int(s): float((a[s] - b[s]) / b[s]) for s in seeds if np.isfinite(a[s]) and np.isfinite(b[s])}
        if values:
            out[stratum] = values
    return out


def primary_test(runs: pd.DataFrame, metric: str = "mse_mean", *, n_resamples: int = 100_000,
                 n_boot: int = 10_000, comparison: Comparison = DEFAULT) -> dict[str, Any] | None:
    """The one primary test over the grid (module docstring); None without a paired stratum."""
    diffs = relative_differences(runs, metric, comparison)
    if not diffs:
        return None
    result = stratified_sign_flip([list(v.values()) for v in diffs.values()], n_resamples=n_resamples, n_boot=n_boot)
    seeds = sorted({s for v in diffs.values() for s in v})
    result["seeds"] = seeds
    result["decided"] = result["p_two_sided"] < ALPHA
    result["comparison"] = comparison
    return result


def adjust_primary(results: Sequence[dict[str, Any] | None]) -> None:
    """Holm over the primary tests of several contrasts of one factor (in place: ``holm_p``;
    ``decided`` then reads the adjusted p). One contrast is left as it is."""
    tested = [r for r in results if r is not None]
    if len(tested) < 2:
        return
    for r, p in zip(tested, holm([r["p_two_sided"] for r in tested]), strict=True):
        r["holm_p"] = float(p)
        r["decided"] = float(p) < ALPHA


@dataclass
class CellVerdict:
    """Seed-level comparison of two levels inside one stratum."""

    stratum: dict[str, Any]
    differences: dict[int, float]  # seed -> relative difference (A - B) / B
    test: dict[str, Any] = field(default_factory=dict)
    holm_p: float = math.nan
    seeds_needed: float = math.nan  # for 80% power at the Holm level of this stratum
    labels: tuple[str, str] = ("BCE", "MSE")
    contrast: Contrast = Contrast("bce", "mse")

    @property
    def depth(self) -> Any:
        return self.stratum.get("depth")

    @property
    def latent(self) -> Any:
        return self.stratum.get("latent_size")

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def agree(self) -> bool:
        signs = {np.sign(v) for v in self.differences.values()}
        return len(signs) == 1 and 0 not in signs

    @property
    def winner(self) -> str:
        return self.labels[0] if self.test.get("mean", 0.0) < 0 else self.labels[1]

    def verdict(self) -> str:
        if self.n < 2:
            return f"{self.n} seed: not testable"
        if math.isfinite(self.holm_p) and self.holm_p < ALPHA and self.agree:
            return f"{self.winner} better"
        if not self.agree:
            return "undecided: seeds disagree in sign"
        need = "more than 10,000" if math.isinf(self.seeds_needed) else f"about {int(self.seeds_needed)}"
        return f"undecided with {self.n} seeds ({need} for 80% power)"


def cell_verdicts(runs: pd.DataFrame, metric: str = "mse_mean", comparison: Comparison = DEFAULT
                  ) -> list[CellVerdict]:
    """Per-stratum seed-level tests with Holm over strata and a power line (module docstring)."""
    diffs = relative_differences(runs, metric, comparison)
    cells = [CellVerdict(dict(zip(comparison.strata, stratum, strict=True)), values, labels=comparison.labels,
                         contrast=comparison.contrast)
             for stratum, values in sorted(diffs.items(), key=lambda kv: comparison.sort_key(kv[0]))]
    for c in cells:
        c.test = seed_level_test(list(c.differences.values()))
    testable = [c for c in cells if math.isfinite(c.test.get("t_p", math.nan))]
    if testable:
        for c, p in zip(testable, holm([c.test["t_p"] for c in testable]), strict=True):
            c.holm_p = float(p)
    # the most stringent Holm level (alpha / number of strata): a conservative seeds-needed figure
    level = ALPHA / max(len(cells), 1)
    for c in cells:
        c.seeds_needed = seeds_for_power(c.test.get("dz", math.nan), alpha=level)
    return cells


def best_depth_on_validation(runs: pd.DataFrame, metric: str = "val_mse_mean", *,
                             others: Sequence[str] = ("latent_size", "loss"),
                             validation: str = "validation MSE") -> tuple[int, str]:
    """The depth with the lowest mean log validation error over the cells (values of ``others``:
    every other factor) every depth has; chosen on the validation split, never the test split.
    Runs without validation errors choose nothing: the shallowest depth, said so. Returns (depth, how)."""
    depths = sorted(runs["depth"].unique())
    if metric not in runs or not np.isfinite(runs[metric].to_numpy(float)).any():
        return int(depths[0]), "no choice: the runs stored no validation errors, so the shallowest depth is shown"
    how = validation if metric == "val_mse_mean" else metric
    others = [k for k in others if k in runs]
    frame = runs.assign(**{k: runs[k].map(hashable) for k in others})
    cell = frame.groupby(["depth", *others])[metric].mean().reset_index()
    if others:
        keys = cell.groupby(others)["depth"].nunique()
        shared = keys[keys == len(depths)].index
        if len(shared):
            cell = cell.set_index(others).loc[shared].reset_index()
    score = cell.assign(log=np.log(cell[metric])).groupby("depth")["log"].mean()
    return (int(score.idxmin()) if len(score) else int(depths[0])), how


def better_on_validation(cell: pd.DataFrame, factors: Sequence[str] = ("loss",),
                         column: str = "val_mse_mean") -> tuple[Any, ...] | None:
    """The levels of ``factors`` whose runs in ``cell`` have the lowest mean validation MSE
    (``column``) over seeds, as a tuple: inside one stratum, the "better loss"; over a latent size
    with ``("depth", "loss")``, the best autoencoder of that size. Chosen without the test split;
    None when the runs stored no validation errors."""
    if column not in cell or not np.isfinite(cell[column].to_numpy(float)).any():
        return None
    frame = cell.assign(**{f: cell[f].map(hashable) for f in factors})
    means = frame.groupby(list(factors))[column].mean().dropna()
    if not len(means):
        return None
    best = means.idxmin()
    return best if isinstance(best, tuple) else (best,)


def pca_outcome(test_means: Sequence[float], reference: float) -> str:
    """The decided outcome of one autoencoder against PCA: "beats PCA" when every seed's mean test
    MSE is below PCA's, "does not beat PCA" when none is, else "mixed (m/n seeds)"."""
    values = np.asarray(test_means, float)
    n_beat = int(np.sum(values < reference))
    if n_beat == len(values):
        return "beats PCA"
    return "does not beat PCA" if n_beat == 0 else f"mixed ({n_beat}/{len(values)} seeds)"


def decided(verdict: CellVerdict | None) -> str:
    """A per-stratum verdict reduced to its decided outcome: "<A> better", "<B> better" or
    "undecided" (whatever the reason); "–" without a verdict."""
    if verdict is None:
        return "–"
    text = verdict.verdict()
    return text if text in (f"{label} better" for label in verdict.labels) else "undecided"


def budget_comparison(runs: pd.DataFrame, pca_mse: dict[int, float], epoch: int,
                      comparison: Comparison = DEFAULT) -> list[dict[str, Any]]:
    """Per stratum: the decided A-vs-B outcome and the autoencoder-vs-PCA outcome after ``epoch``
    epochs (``test_at_<epoch>_mse_mean``) and at the end of training (``mse_mean``).

    The autoencoder compared with PCA is the stratum's better level chosen on validation at each
    point (``val_at_<epoch>_mse_mean`` when stored, else the end's choice); its outcome is
    ``pca_outcome`` over its seeds. ``changes`` names every outcome that differs, so the count of
    rows whose ``changes`` is not "none" is the count of strata whose verdict changed.
    """
    early = f"test_at_{epoch}_mse_mean"
    if early not in runs or not np.isfinite(runs[early].to_numpy(float)).any():
        return []
    rows = []
    a, b = comparison.labels
    versus = f"{a} vs {b}"
    strata = list(comparison.strata)
    verdicts = {"end": {tuple(c.stratum.values()): c for c in cell_verdicts(runs, "mse_mean", comparison)},
                "early": {tuple(c.stratum.values()): c for c in cell_verdicts(runs, early, comparison)}}
    keys = runs[strata].apply(lambda row: tuple(hashable(v) for v in row), axis=1)
    for stratum in sorted(dict.fromkeys(keys), key=comparison.sort_key):
        cell = runs[keys == stratum]
        row: dict[str, Any] = {("latent" if k == "latent_size" else k): v
                               for k, v in zip(strata, stratum, strict=True)}
        latent = int(row.get("latent", 0))
        level = cell[comparison.factor].map(hashable)
        end_choice = better_on_validation(cell, (comparison.factor,))
        outcomes: dict[str, tuple[str, str]] = {}
        for when, column in (("early", early), ("end", "mse_mean")):
            label = f"epoch {epoch}" if when == "early" else "end"
            c = verdicts[when].get(stratum)
            row[f"{versus}, {label}"] = c.verdict() if c else "–"
            row[f"mean r, {label}"] = c.test.get("mean", math.nan) if c else math.nan
            choice = end_choice
            if when == "early":
                early_choice = better_on_validation(cell, (comparison.factor,), f"val_at_{epoch}_mse_mean")
                choice = end_choice if early_choice is None else early_choice
            pca = "–"
            if choice is not None and latent in pca_mse:
                values = cell[level == choice[0]][column].to_numpy(float)
                row[f"AE / PCA, {label}"] = float(np.mean(values)) / pca_mse[latent]
                pca = pca_outcome(values, pca_mse[latent])
                row[f"vs PCA, {label}"] = f"{str(choice[0]).upper()}: {pca}"
            else:
                row[f"AE / PCA, {label}"] = math.nan
                row[f"vs PCA, {label}"] = pca
            outcomes[when] = (decided(c), pca)
        changes = []
        if outcomes["early"][0] != outcomes["end"][0]:
            changes.append(f"{versus}: {outcomes['early'][0]} → {outcomes['end'][0]}")
        if outcomes["early"][1] != outcomes["end"][1]:
            changes.append(f"vs PCA: {outcomes['early'][1]} → {outcomes['end'][1]}")
        row["changes"] = "; ".join(changes) or "none"
        rows.append(row)
    return rows
