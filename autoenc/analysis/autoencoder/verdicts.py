"""The verdicts table and the headline of the compression study's report, and its training
protocol in words."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..context import ReportContext, Table
from .data import StudyData, _show

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["protocol", "verdicts"]


def protocol(ctx: ReportContext) -> str:
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
    if t.get("checkpoint") == "best":
        stop += ", each run evaluated with the weights of its epoch of lowest validation loss"
    return f"{t['optimizer']} lr {t['lr']}, batch {t['batch_size']}, {schedule}{stop}"



def verdicts(ctx: ReportContext, data: StudyData, runs: pd.DataFrame, comparisons: list[Any],
              tested: list[tuple[dict[str, Any] | None, list[Any]]], pca_rows: list[dict],
              original: dict[str, Any] | None) -> tuple[Table, str, str]:
    from ..factors import hashable
    from ..seed_level import better_on_validation
    from .seeds import _primary_text

    pca_by_cell = {(r["depth"], r["latent"]): r for r in pca_rows}
    several = len(comparisons) > 1
    rows = []
    for comparison, (_, cells) in zip(comparisons, tested, strict=True):
        a, b = comparison.labels
        versus = f"{a} vs {b} (seeds as replicates)"
        by_stratum = {tuple(hashable(v) for v in c.stratum.values()): c for c in cells}
        strata = [tuple(hashable(r.factors.get(k)) for k in comparison.strata) for r in data.records]
        for stratum in sorted(dict.fromkeys(strata), key=comparison.sort_key):
            values = dict(zip(comparison.strata, stratum, strict=True))
            depth, latent = values["depth"], values["latent_size"]
            c = by_stratum.get(stratum)
            p = pca_by_cell.get((depth, latent))
            sel = runs
            for k, v in values.items():
                sel = sel[sel[k].map(hashable) == v]
            # the cell's better level on validation, never on these test errors
            better = better_on_validation(sel, (comparison.factor,))
            best_l2 = float(sel[sel[comparison.factor].map(hashable) == better[0]]["l2_mean"].mean()) \
                if better else math.nan
            missing = "not compared (one loss missing)" if comparison.factor == "loss" else \
                f"not compared (one {comparison.factor} value missing)"
            row: dict[str, Any] = {"contrast": f"{a} vs {b}"} if several else {}
            row.update({"depth": depth, "latent": latent,
                        **{k: _show(v) for k, v in values.items() if k not in ("depth", "latent_size")}})
            row["verdict (seeds as replicates)" if several else versus] = c.verdict() if c else missing
            row.update({
                "mean r": c.test["mean"] if c else math.nan,
                "Holm p (t)": c.holm_p if c else math.nan,
                "seeds needed": ("–" if not c or math.isnan(c.seeds_needed) else
                                 "> 10,000" if math.isinf(c.seeds_needed) else int(c.seeds_needed)),
                "vs PCA": (f"{p['verdict']} (×{p['AE / PCA']:.2f})" if p else "–"),
                "vs clipped PCA": (f"{p['verdict vs clipped']} (×{p['AE / clipped PCA']:.2f})" if p else "–"),
                "best L2": best_l2,
            })
            if original and original["metric"] == "l2":
                given = [v.get(latent) for v in original["mean"].values() if v.get(latent) is not None]
                row["original L2 (best loss, as reported)"] = min(given) if given else math.nan
            rows.append(row)
    first = comparisons[0] if comparisons else None
    a, b = first.labels if first else ("A", "B")
    what = (f"{a} vs {b}: seed-level t-test of the per-seed relative difference r of mean test MSE "
            f"({a} − {b}; negative favours {a}), Holm over cells; decided only when every seed agrees. "
            if not several else
            "Each contrast A vs B: seed-level t-test of the per-seed relative difference r of mean test MSE "
            "(A − B; negative favours A), Holm over cells within the contrast; decided only when every seed agrees. ")
    table = Table(rows, title="Verdicts per cell", formats={"mean r": "+.2%", "best L2": ".3f",
                                                            "original L2 (best loss, as reported)": ".2f"},
                  caption=what + "Seeds needed: for 80% power at the strictest Holm level. vs PCA: the cell's better "
                          f"{data.arm_noun}, all seeds below PCA's mean test MSE (ratio AE/PCA), PCA as is and clipped "
                          f"to [0, 1]. best L2: mean per-image ||x − x̂|| of the cell's better {data.arm_noun}. "
                          f"The better {data.arm_noun} of a cell and the best autoencoder of a latent size are chosen "
                          "on the validation split (lowest mean validation MSE over seeds).")
    n_per_cell = runs.groupby([*data.comparisons()[0].strata, data.design.compared]
                              if comparisons else ["depth", "latent_size", *data.arm_factors])["seed"].nunique()
    parts = [f"Protocol: {protocol(ctx)}; {int(n_per_cell.max()) if len(n_per_cell) else 0} seeds per cell."]
    verdict_parts = []
    for comparison, (primary, cells) in zip(comparisons, tested, strict=True):
        a, b = comparison.labels
        text = _primary_text(primary, comparison)
        parts.append(text.replace("**Primary result:** ", f"Primary test ({a} vs {b} over the whole grid, seeds as "
                                                            "replicates): "))
        n = len(cells)
        wins = {w: sum(1 for c in cells if c.verdict() == f"{w} better") for w in (a, b)}
        if n:
            parts.append(f"Per cell: {a} better in {wins[a]}, {b} better in {wins[b]}, undecided in "
                         f"{n - wins[a] - wins[b]} of {n}.")
            verdict_parts.append(f"{a} better {wins[a]}/{n}, {b} better {wins[b]}/{n}")
    # the best autoencoder of each latent size: depth and arm of lowest validation MSE
    factors = ("depth", *data.arm_factors)
    best = {k: better_on_validation(runs[runs.latent_size == k], factors) for k in data.latents}
    for key, label in (("verdict", "PCA"), ("verdict vs clipped", "PCA clipped to [0, 1]")):
        beat, not_beat = [], []
        for latent in data.latents:
            chosen = best[latent]
            row = pca_by_cell.get((chosen[0], latent)) if chosen else None
            if row is not None:
                (beat if row[key] == "beats PCA" else not_beat).append(latent)
        if beat and not not_beat:
            parts.append(f"The best autoencoder (chosen on validation) beats {label} at every latent size.")
        elif beat:
            parts.append(f"The best autoencoder (chosen on validation) beats {label} at latent size "
                         f"{', '.join(map(str, beat))}, not at {', '.join(map(str, not_beat))}.")
        elif not_beat:
            parts.append(f"No autoencoder beats {label} at any latent size.")
    if original and original["metric"] == "l2":
        per_latent = {}
        for k, chosen in best.items():
            if chosen:
                sel = runs[runs.latent_size == k]
                for f, v in zip(factors, chosen, strict=True):
                    sel = sel[sel[f].map(hashable) == v]
                per_latent[k] = float(sel["l2_mean"].mean())
        below = [int(k) for k, v in per_latent.items()
                 if v < min((t.get(int(k), math.inf) for t in original["mean"].values()), default=math.inf)]
        parts.append(f"Best mean L2 error below the original's (as reported, per size) at {len(below)} of "
                     f"{len(per_latent)} sizes.")
    not_conv = int((runs.converged != True).sum())  # noqa: E712
    parts.append(f"{len(runs) - not_conv} of {len(runs)} runs meet the convergence rule.")
    headline = " ".join(parts)
    decided = [p for p, _ in tested if p and p["decided"]]
    verdict = (f"primary: {'decided' if decided else 'undecided'}; " + "; ".join(verdict_parts)
               if verdict_parts else "no paired cells")
    return table, headline, verdict
