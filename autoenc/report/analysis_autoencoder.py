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

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..study.grid import canonical_json
from ..study.store import Run, atomic_save_npz, atomic_write_json
from .render import Alert, AnalysisResult, FigureRef, ReportContext, Section, Table, format_p, format_value

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..stats import PairedResult

__all__ = ["ALTERNATIVE", "ORIGINAL_FASHION_MNIST", "analyze", "learning_curve_grid"]

LOSS_A, LOSS_B = "bce", "mse"  # d = A - B per image
ALTERNATIVE = "less"
"""One-sided alternative fixed before any run was looked at: d = BCE - MSE < 0, i.e.
"training with BCE gives lower per-image error", the direction the original study asked
about. The two-sided test is always reported next to it."""
ALPHA = 0.05
EFFECT_WORDS = ((0.1, "negligible"), (0.3, "small"), (0.5, "medium"), (math.inf, "large"))
"""|rank-biserial| thresholds: < 0.1 negligible, < 0.3 small, < 0.5 medium, else large."""
N_BOOT_SEED = 200  # bootstrap resamples for per-seed and AE-vs-PCA comparisons (CIs not shown)

ORIGINAL_FASHION_MNIST: dict[str, Any] = {
    "metric": "l2",
    "mean_range": [3.8, 5.4],
    "std_range": [1.1, 1.6],
    "latent_sizes": [400, 256, 100, 64, 16],
    "test": "Wilcoxon test on 5 means, p = 0.031",
    "source": "as stated in the project's DESIGN.md and issue 5 (the original's per-size values are not on record)",
}
"""What is known of the original study's error table on Fashion-MNIST (override with a
``[study.original]`` table with the same keys in the study file)."""


# --------------------------------------------------------------------------- collected data
@dataclass
class RunRecord:
    run: Run
    depth: int
    latent: int
    loss: str
    seed: int
    per_image: dict[str, np.ndarray]  # "mse", "bce": one value per test image

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def metrics(self) -> dict[str, Any]:
        return self.run.metrics


@dataclass
class StudyData:
    records: list[RunRecord]
    labels: np.ndarray
    n_pixels: int
    alerts: list[Alert] = field(default_factory=list)

    @property
    def depths(self) -> list[int]:
        return sorted({r.depth for r in self.records})

    @property
    def latents(self) -> list[int]:
        return sorted({r.latent for r in self.records}, reverse=True)  # 400 .. 16, as the original

    @property
    def losses(self) -> list[str]:
        return sorted({r.loss for r in self.records})

    @property
    def cells(self) -> list[tuple[int, int]]:
        return sorted({(r.depth, r.latent) for r in self.records}, key=lambda c: (c[0], -c[1]))

    def select(self, depth: int | None = None, latent: int | None = None, loss: str | None = None) -> list[RunRecord]:
        return sorted((r for r in self.records if (depth is None or r.depth == depth)
                       and (latent is None or r.latent == latent) and (loss is None or r.loss == loss)),
                      key=lambda r: (r.depth, -r.latent, r.loss, r.seed))

    def seed_mean(self, runs: list[RunRecord], metric: str) -> np.ndarray:
        return np.mean([r.per_image[metric] for r in runs], axis=0)


def _collect(ctx: ReportContext) -> StudyData:
    records: list[RunRecord] = []
    alerts: list[Alert] = []
    labels: np.ndarray | None = None
    skipped = []
    n_pixels = 0
    for run in ctx.results.done:
        cfg = run.config
        try:
            arrays = run.arrays("per_image.npz")
        except (OSError, ValueError, KeyError) as e:
            skipped.append(f"run {run.run_id}: per_image.npz unreadable ({e})")
            continue
        y = np.asarray(arrays.get("test_labels", np.zeros(len(arrays["test_mse"]), int)))
        if labels is None:
            labels = y
        elif len(y) != len(labels) or not np.array_equal(y, labels):
            skipped.append(f"run {run.run_id}: evaluated on a different test set ({len(y)} images)")
            continue
        m = run.metrics
        if not n_pixels and m.get("test_mse_mean"):
            n_pixels = int(round(m["test_sse_mean"] / m["test_mse_mean"]))
        records.append(RunRecord(
            run, depth=int(cfg.model.get("depth", 2)), latent=int(cfg.model["latent_size"]),
            loss=str(cfg.train.get("loss", "mse")), seed=int(cfg.seed),
            per_image={"mse": np.asarray(arrays["test_mse"], np.float64),
                       "bce": np.asarray(arrays["test_bce"], np.float64)},
        ))
    if skipped:
        alerts.append(Alert("warning", f"{len(skipped)} done runs left out", "", skipped))
    return StudyData(records, labels if labels is not None else np.zeros(0, int), n_pixels or 784, alerts)


def _effect_word(rb: float) -> str:
    if not math.isfinite(rb):
        return "undefined"
    return next(word for limit, word in EFFECT_WORDS if abs(rb) < limit)


# --------------------------------------------------------------------------- paired comparisons
@dataclass
class CellComparison:
    depth: int
    latent: int
    metric: str
    seeds: list[int]
    main: PairedResult  # on the per-image mean over seeds
    per_seed: dict[int, PairedResult]
    agreement: dict[str, Any] | None
    diff: np.ndarray  # per-image seed-mean difference A - B
    note: str = ""
    holm_one: float = math.nan
    holm_two: float = math.nan

    @property
    def seeds_text(self) -> str:
        a = self.agreement
        if a is None:
            return "1 seed" if len(self.seeds) == 1 else "–"
        n = a["n_seeds"]
        if a["n_negative"] == a["n_positive"]:
            return f"split {a['n_negative']} {LOSS_A.upper()} / {a['n_positive']} {LOSS_B.upper()}"
        if a["n_negative"] > a["n_positive"]:
            return f"{a['n_negative']}/{n} favour {LOSS_A.upper()}"
        return f"{a['n_positive']}/{n} favour {LOSS_B.upper()}"

    @property
    def seeds_disagree(self) -> bool:
        return self.agreement is not None and self.agreement["n_seeds"] >= 2 and not self.agreement["sign_consistent"]

    def verdict(self) -> str:
        m = self.main
        if self.seeds_disagree:
            return "seeds disagree"
        prefix = "1 seed: " if len(self.seeds) == 1 else ""
        if not math.isfinite(self.holm_two) or self.holm_two >= ALPHA:
            return prefix + "no significant difference"
        winner = LOSS_A.upper() if m.rank_biserial < 0 else LOSS_B.upper()
        word = _effect_word(m.rank_biserial)
        if word == "negligible":
            return prefix + f"{winner} better, negligible effect"
        return prefix + f"{winner} better ({word} effect)"


def _compare_cells(data: StudyData, metric: str, n_boot: int) -> tuple[list[CellComparison], list[str]]:
    from ..stats import holm, paired_comparison, seed_agreement

    out: list[CellComparison] = []
    skipped: list[str] = []
    for depth, latent in data.cells:
        a_runs = {r.seed: r for r in data.select(depth, latent, LOSS_A)}
        b_runs = {r.seed: r for r in data.select(depth, latent, LOSS_B)}
        if not a_runs or not b_runs:
            have = LOSS_A if a_runs else LOSS_B
            lacking = LOSS_B if a_runs else LOSS_A
            skipped.append(f"depth {depth}, latent {latent}: only {have.upper()}-trained runs, no "
                           f"{lacking.upper()}-trained run done; not compared")
            continue
        common = sorted(a_runs.keys() & b_runs.keys())
        note = ""
        if common:
            a_sel, b_sel = [a_runs[s] for s in common], [b_runs[s] for s in common]
        else:  # no seed done for both losses: compare the means of what there is, unpaired by seed
            a_sel, b_sel = list(a_runs.values()), list(b_runs.values())
            note = "no common seed: per-image means over different seeds"
        per_seed = {s: paired_comparison(a_runs[s].per_image[metric], b_runs[s].per_image[metric],
                                         alternative=ALTERNATIVE, n_boot=N_BOOT_SEED) for s in common}
        mean_a, mean_b = data.seed_mean(a_sel, metric), data.seed_mean(b_sel, metric)
        main = paired_comparison(mean_a, mean_b, alternative=ALTERNATIVE, n_boot=n_boot)
        agreement = seed_agreement([p.mean_diff for p in per_seed.values()]) if len(per_seed) >= 2 else None
        out.append(CellComparison(depth, latent, metric, common or sorted(a_runs), main, per_seed, agreement,
                                  mean_a - mean_b, note))
    if out:
        one = holm([c.main.p_one_sided for c in out])
        two = holm([c.main.p_two_sided for c in out])
        for c, h1, h2 in zip(out, one, two, strict=True):
            c.holm_one, c.holm_two = float(h1), float(h2)
    return out, skipped


def _effects_table(comparisons: list[CellComparison], unit: str, title: str) -> Table:
    scale, suffix = _unit([v for c in comparisons for v in (c.main.median_diff_ci_low, c.main.median_diff_ci_high,
                                                              c.main.mean_diff)])
    median_col, mean_col = f"median d{suffix} [95% CI]", f"mean d{suffix}"
    rows = []
    for c in comparisons:
        m = c.main
        rows.append({
            "depth": c.depth, "latent": c.latent,
            "rank-biserial": m.rank_biserial, "r": m.r, f"{LOSS_A.upper()} wins": m.frac_a_better,
            median_col: f"{m.median_diff * scale:+.3g} [{m.median_diff_ci_low * scale:+.3g}, "
                        f"{m.median_diff_ci_high * scale:+.3g}]",
            mean_col: m.mean_diff * scale,
            "seed agreement": c.seeds_text,
            "verdict": c.verdict() + (f" ({c.note})" if c.note else ""),
        })
    return Table(rows, title=title, formats={
        "rank-biserial": "signed", "r": "signed", f"{LOSS_A.upper()} wins": "pct", mean_col: "+.3g"},
        caption=f"d = per-image {unit} of the {LOSS_A.upper()}-trained model − the {LOSS_B.upper()}-trained model's, "
                "each averaged over the cell's seeds; negative values favour BCE.")


def _tests_table(comparisons: list[CellComparison], title: str) -> Table:
    rows = []
    for c in comparisons:
        m, a = c.main, c.agreement
        rows.append({
            "depth": c.depth, "latent": c.latent, "images": m.n, "W+": m.statistic, "z": m.z,
            f"p ({ALTERNATIVE})": m.p_one_sided, f"Holm p ({ALTERNATIVE})": c.holm_one,
            "p (two-sided)": m.p_two_sided, "Holm p (two-sided)": c.holm_two,
            "t (seed means)": a["t_statistic"] if a else math.nan,
            "p t-test": a["t_p"] if a else math.nan,
            "p sign test": a["sign_test_p"] if a else math.nan,
        })
    return Table(rows, title=title, formats={"W+": "int", "z": ".2f", "t (seed means)": ".2f"},
                 caption="Wilcoxon signed-rank on the per-image seed-mean differences (n images), Holm over cells; "
                         "t-test and sign test over the per-seed mean differences (two-sided; n seeds).")


def _per_seed_table(comparisons: list[CellComparison], unit: str) -> Table:
    scale, suffix = _unit([p.mean_diff for c in comparisons for p in c.per_seed.values()]
                          + [p.median_diff for c in comparisons for p in c.per_seed.values()])
    rows = []
    for c in comparisons:
        for seed, p in c.per_seed.items():
            rows.append({"depth": c.depth, "latent": c.latent, "seed": seed, "rank-biserial": p.rank_biserial,
                         f"{LOSS_A.upper()} wins": p.frac_a_better, f"median d{suffix}": p.median_diff * scale,
                         f"mean d{suffix}": p.mean_diff * scale, "p (two-sided)": p.p_two_sided})
    return Table(rows, title=f"Per seed: seed s {LOSS_A.upper()}-trained vs seed s {LOSS_B.upper()}-trained "
                             f"(per-image {unit})",
                 formats={"rank-biserial": "signed", f"{LOSS_A.upper()} wins": "pct",
                          f"median d{suffix}": "+.3g", f"mean d{suffix}": "+.3g"})


# --------------------------------------------------------------------------- PCA baseline
def _data_key(ctx: ReportContext, n_test: int) -> str:
    return hashlib.sha256(f"{canonical_json(ctx.data_settings)}|{n_test}".encode()).hexdigest()[:16]


def _pca_errors(ctx: ReportContext, data: StudyData, loaded: _Data) -> dict[int, dict[str, np.ndarray]]:
    """Per-image test MSE/BCE of PCA with k components (fit on the train split), cached in
    ``<store>/pca_baseline.npz`` keyed by the data settings."""
    from ..stats import pca_reconstruction_errors

    path = ctx.store.root / "pca_baseline.npz"
    key = _data_key(ctx, len(data.labels))
    cached: dict[str, np.ndarray] = {}
    if ctx.options.use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["data_key"]) == key:
                    cached = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):
            cached = {}
    out: dict[int, dict[str, np.ndarray]] = {}
    changed = False
    for k in data.latents:
        if f"k{k}_mse" in cached:
            out[k] = {"mse": cached[f"k{k}_mse"], "bce": cached[f"k{k}_bce"]}
            continue
        X_train, _ = loaded.train()
        X_test, _ = loaded.test()
        if k > min(X_train.shape):
            continue
        errors = pca_reconstruction_errors(X_train, X_test, k)
        out[k] = {"mse": errors["mse"], "bce": errors["bce"]}
        cached[f"k{k}_mse"], cached[f"k{k}_bce"] = errors["mse"], errors["bce"]
        changed = True
    if changed and ctx.options.use_cache:
        cached["data_key"] = np.array(key)
        try:
            atomic_save_npz(path, **cached)
        except OSError as e:  # a read-only store still gets its report
            ctx.log(f"PCA cache not written: {e}")
    return out


class _Data:
    """Train/test splits loaded once, on first use."""

    def __init__(self, ctx: ReportContext) -> None:
        self.ctx = ctx
        self._splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _get(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in self._splits:
            with self.ctx.timed("load data"):
                X, y = self.ctx.load_split(split)
            X = np.asarray(X)
            self._splits[split] = (X.reshape(len(X), -1), np.asarray(y).ravel())
        return self._splits[split]

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return self._get("train")

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self._get("test")


# --------------------------------------------------------------------------- summaries
def _run_frame(data: StudyData) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for r in data.records:
        sse = r.per_image["mse"] * data.n_pixels
        rows.append({
            "run_id": r.run_id, "depth": r.depth, "latent_size": r.latent, "loss": r.loss, "seed": r.seed,
            "mse_mean": float(r.per_image["mse"].mean()), "mse_std": float(r.per_image["mse"].std(ddof=1)),
            "bce_mean": float(r.per_image["bce"].mean()),
            "sse_mean": float(sse.mean()), "sse_std": float(sse.std(ddof=1)),
            "l2_mean": float(np.sqrt(sse).mean()), "l2_std": float(np.sqrt(sse).std(ddof=1)),
            "converged": r.metrics.get("converged"), "epochs_run": r.metrics.get("epochs_run"),
            "train_seconds": r.metrics.get("train_seconds"),
        })
    return pd.DataFrame(rows)


def _best_depth(runs: pd.DataFrame) -> int:
    """Depth with the lowest mean log test MSE over the (latent, loss) cells every depth has
    (over all its cells when no cell is shared): a scale-free "usually lowest error"."""
    depths = sorted(runs["depth"].unique())
    cell = runs.groupby(["depth", "latent_size", "loss"])["mse_mean"].mean().reset_index()
    keys = cell.groupby(["latent_size", "loss"])["depth"].nunique()
    shared = keys[keys == len(depths)].index
    if len(shared):
        cell = cell.set_index(["latent_size", "loss"]).loc[shared].reset_index()
    score = cell.assign(log=np.log(cell["mse_mean"])).groupby("depth")["log"].mean()
    return int(score.idxmin()) if len(score) else int(depths[0])


def _model_run(data: StudyData, depth: int, latent: int, loss: str) -> RunRecord | None:
    runs = data.select(depth, latent, loss)
    return min(runs, key=lambda r: r.seed) if runs else None


def _original(ctx: ReportContext) -> dict[str, Any] | None:
    given = ctx.spec.extra.get("original")
    if isinstance(given, dict) and given:
        return {**ORIGINAL_FASHION_MNIST, "source": "the study file's [study.original] table", **given}
    if str(ctx.data_settings.get("dataset", "")).replace("-", "_") == "fashion_mnist":
        return ORIGINAL_FASHION_MNIST
    return None


def _mean_std(means: list[float], stds: list[float], digits: str) -> str:
    return f"{np.mean(means):{digits}} ({np.mean(stds):{digits}})"


def _error_tables(data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]],
                  original: dict[str, Any] | None) -> list[Table]:
    """The original study's table (mean (std) per loss x latent) in L2, SSE and per-pixel MSE."""
    tables = []
    scales = (("l2", "per-image L2 distance ||x - x̂||", ".3f"),
              ("sse", "per-image sum of squared errors", ".3f"),
              ("mse", "per-pixel MSE", ".5f"))
    for metric, name, digits in scales:
        rows = []
        if original and original.get("metric") == metric:
            lo, hi = original["mean_range"]
            slo, shi = original.get("std_range", [math.nan, math.nan])
            row: dict[str, Any] = {"model": "original (as reported)"}
            row.update({f"k={k}": "not reported" for k in data.latents})
            row["range of means"] = f"{lo:g}–{hi:g} (std {slo:g}–{shi:g})"
            rows.append(row)
        elif original:
            row = {"model": "original (as reported)"}
            row.update({f"k={k}": "–" for k in data.latents})
            row["range of means"] = f"reported on the {original.get('metric', '?').upper()} scale only"
            rows.append(row)
        row = {"model": "PCA, k components"}
        pca_means = []
        for k in data.latents:
            if k in pca:
                v = {"mse": pca[k]["mse"], "sse": pca[k]["mse"] * data.n_pixels,
                     "l2": np.sqrt(pca[k]["mse"] * data.n_pixels)}[metric]
                row[f"k={k}"] = f"{v.mean():{digits}} ({v.std(ddof=1):{digits}})"
                pca_means.append(float(v.mean()))
            else:
                row[f"k={k}"] = "–"
        row["range of means"] = f"{min(pca_means):{digits}}–{max(pca_means):{digits}}" if pca_means else "–"
        rows.append(row)
        for depth in data.depths:
            for loss in data.losses:
                row = {"model": f"AE depth {depth}, {loss.upper()}-trained"}
                means = []
                for k in data.latents:
                    sel = runs[(runs.depth == depth) & (runs.latent_size == k) & (runs.loss == loss)]
                    if len(sel):
                        row[f"k={k}"] = _mean_std(list(sel[f"{metric}_mean"]), list(sel[f"{metric}_std"]), digits)
                        means.append(float(sel[f"{metric}_mean"].mean()))
                    else:
                        row[f"k={k}"] = "–"
                row["range of means"] = f"{min(means):{digits}}–{max(means):{digits}}" if means else "–"
                rows.append(row)
        tables.append(Table(rows, title=f"Test error, {name}: mean (std over the test images)",
                            caption="Autoencoder cells average the per-run mean and std over seeds. "
                                    + ("The original's per-size values are not on record, only the range "
                                       "over its latent sizes." if original and original.get("metric") == metric
                                       else "")))
    return tables


# --------------------------------------------------------------------------- figures
def learning_curve_grid(histories: dict[tuple[str, int], list[tuple[int, int, pd.DataFrame]]],
                        latents: list[int]) -> Figure:
    """Train (solid) and validation (dashed) loss per epoch: one panel per (loss, depth),
    one colour per latent size, one thin line per seed (log scale).

    Written here rather than in :mod:`autoenc.viz` because :func:`autoenc.viz.learning_curves`
    draws one axes with one colour per run, too crowded for a 90-run grid.
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    from ..viz import new_figure

    losses = sorted({k[0] for k in histories})
    depths = sorted({k[1] for k in histories})
    fig = new_figure(3.3 * len(depths) + 1.6, 2.5 * len(losses) + 0.4)
    axes = fig.subplots(len(losses), len(depths), squeeze=False, sharey="row")
    cmap = colormaps["viridis"]
    color = {k: cmap(i / max(1, len(latents) - 1) * 0.9) for i, k in enumerate(latents)}
    for i, loss in enumerate(losses):
        for j, depth in enumerate(depths):
            ax = axes[i, j]
            for latent, _seed, h in histories.get((loss, depth), []):
                ax.plot(h["epoch"], h["train_loss"], color=color[latent], lw=1, alpha=0.85)
                if "val_loss" in h and h["val_loss"].notna().any():
                    ax.plot(h["epoch"], h["val_loss"], color=color[latent], lw=1, ls="--", alpha=0.85)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{loss.upper()}-trained, depth {depth}", fontsize=9)
            if i == len(losses) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel(f"{loss.upper()} loss")
    handles = [Line2D([], [], color=color[k], label=f"k={k}") for k in latents]
    handles += [Line2D([], [], color="0.3", label="train"), Line2D([], [], color="0.3", ls="--", label="validation")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    return fig


def _class_names(dataset: str, n: int) -> list[str]:
    try:
        from .. import datasets

        names = list(datasets.class_names(dataset))
        if len(names) >= n:
            return [str(x) for x in names]
    except Exception:  # a dataset without names still gets a report
        pass
    return [str(i) for i in range(n)]


def _stratified(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """A fixed subset of about ``n`` indices with the classes in equal shares (sorted)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    if n >= len(y):
        return np.arange(len(y))
    per = max(1, n // len(classes))
    picks = [rng.permutation(np.flatnonzero(y == c))[:per] for c in classes]
    idx = np.concatenate(picks)
    if len(idx) < n:  # top up from what is left when some classes are small
        rest = np.setdiff1d(np.arange(len(y)), idx)
        idx = np.concatenate([idx, rng.permutation(rest)[: n - len(idx)]])
    return np.sort(idx[:n])


def _encode(run: RunRecord, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model = run.run.load_model()
    if hasattr(model, "eval"):
        model.eval()
    codes, recon = [], []
    for i in range(0, len(X), 2048):
        z = model.encode(X[i: i + 2048])
        codes.append(np.asarray(z))
        recon.append(np.asarray(model.decode(z)))
    return np.concatenate(codes), np.concatenate(recon)


def _cached_json(ctx: ReportContext, name: str) -> dict[str, Any]:
    path = ctx.cache_path(name)
    if ctx.options.use_cache and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
    return {}


def _save_json(ctx: ReportContext, name: str, obj: dict[str, Any]) -> None:
    if ctx.options.use_cache:
        try:
            atomic_write_json(ctx.cache_path(name), obj)
        except OSError as e:
            ctx.log(f"cache {name} not written: {e}")


def _tsne_cached(ctx: ReportContext, key: str, train_X: np.ndarray,
                 test_X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ..viz import tsne_embed

    path = ctx.cache_path(f"tsne-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz")
    if ctx.options.use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    return z["train"], z["test"]
        except (OSError, ValueError, KeyError):
            pass
    train_emb, test_emb = tsne_embed(train_X, test_X, n_jobs=ctx.options.n_jobs, seed=0)
    assert test_emb is not None
    if ctx.options.use_cache:
        try:
            atomic_save_npz(path, train=train_emb, test=test_emb, key=np.array(key))
        except OSError as e:
            ctx.log(f"t-SNE cache not written: {e}")
    return train_emb, test_emb


# --------------------------------------------------------------------------- the analysis
class _Builder:
    """Holds the intermediate results while the sections are written, in reading order."""

    def __init__(self, ctx: ReportContext) -> None:
        self.ctx = ctx
        self.alerts: list[Alert] = []
        self.dataset = str(ctx.data_settings.get("dataset", ""))
        self.loaded = _Data(ctx)

    def optional(self, title: str, fn: Callable[[], Section]) -> Section:
        """A section that needs the data or the models: on failure, say so instead of failing."""
        try:
            with self.ctx.timed(title):
                return fn()
        except Exception as e:  # the rest of the report is still worth having
            self.alerts.append(Alert("warning", f"section “{title}” not produced",
                                     f"{type(e).__name__}: {e}"))
            return Section(title, paragraphs=[f"Not produced: {type(e).__name__}: {e}"])

    def fig(self, fig: Figure, name: str, caption: str, dpi: int | None = None) -> FigureRef:
        return self.ctx.figure(fig, name, caption, dpi=dpi or 100)


def analyze(ctx: ReportContext) -> AnalysisResult:
    """The compression study's report sections (see the module docstring)."""
    b = _Builder(ctx)
    with ctx.timed("collect runs"):
        data = _collect(ctx)
    b.alerts += data.alerts
    if not data.records:
        return AnalysisResult("No usable autoencoder runs.", "no runs", alerts=b.alerts, datasets=[b.dataset])
    runs = _run_frame(data)
    best_depth = _best_depth(runs)
    with ctx.timed("paired tests"):
        comp_mse, skipped = _compare_cells(data, "mse", ctx.options.n_boot)
        comp_bce, _ = _compare_cells(data, "bce", ctx.options.n_boot)
    if skipped:
        b.alerts.append(Alert("warning", f"{len(skipped)} cells without both losses",
                              "These cells have no paired comparison.", skipped))
    disagree = [c for c in comp_mse if c.seeds_disagree]
    if disagree:
        b.alerts.append(Alert(
            "warning", f"seeds disagree in {len(disagree)} of {len(comp_mse)} cells (per-image MSE)",
            "Per-seed mean differences BCE − MSE do not all have the same sign: in these cells the "
            "difference between losses is smaller than the spread between seeds.",
            [f"depth {c.depth}, latent {c.latent}: per-seed mean d = "
             + ", ".join(f"{p.mean_diff:+.2e}" for p in c.per_seed.values()) for c in disagree]))

    pca: dict[int, dict[str, np.ndarray]] = {}
    try:
        with ctx.timed("PCA baseline"):
            pca = _pca_errors(ctx, data, b.loaded)
    except Exception as e:  # no data on this machine: report without the baseline
        b.alerts.append(Alert("warning", "PCA baseline not computed", f"{type(e).__name__}: {e}"))
    original = _original(ctx)
    pca_rows = _pca_comparison(data, runs, pca)

    sections = [
        _section_runs(ctx, data, runs, best_depth),
        _section_paired(b, data, comp_mse, comp_bce),
        _section_original(data, runs, pca, original, best_depth),
        _section_pca(b, pca_rows, pca),
        _section_trend(b, data, runs, pca),
        b.optional("Learning curves", lambda: _section_curves(b, data)),
        b.optional("Reconstructions", lambda: _section_reconstructions(b, data, best_depth)),
        b.optional("t-SNE maps", lambda: _section_tsne(b, data, runs, best_depth)),
        b.optional("Codes as features", lambda: _section_probes(b, data)),
    ]
    verdict_table, headline, verdict = _verdicts(data, runs, comp_mse, pca_rows, original)
    return AnalysisResult(headline, verdict, verdict_table, sections, b.alerts, datasets=[b.dataset])


# --------------------------------------------------------------------------- sections
def _section_runs(ctx: ReportContext, data: StudyData, runs: pd.DataFrame, best_depth: int) -> Section:
    spec = ctx.spec
    grid = ", ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in spec.grid.items())
    t = ctx.results.done[0].config.train if ctx.results.done else spec.train
    s = Section("Runs and settings", paragraphs=[
        f"Grid: {grid} — {len(ctx.configs)} runs, {len(data.records)} analysed. Every run is evaluated on the "
        f"same {len(data.labels):,} test images under both per-image metrics (MSE and BCE in [0, 1] pixel space), "
        f"whatever loss it was trained with.",
        f"Training: {t.get('optimizer', 'adam')} (lr {t.get('lr', 1e-3)}), batch {t.get('batch_size', 128)}, "
        f"{t.get('epochs', '?')} epochs, validation split {t.get('validation_split', 0)}; data "
        f"`{json.dumps(ctx.data_settings, sort_keys=True)}`.",
        f"**Best depth: {best_depth}** (lowest mean log test MSE over the cells all depths share); the "
        f"reconstruction grids, t-SNE maps and probes use it, with the lowest seed.",
    ])
    g = runs.groupby(["depth", "latent_size", "loss"])
    table = g.agg(seeds=("seed", "count"), mse=("mse_mean", "mean"), mse_sd=("mse_mean", "std"),
                  bce=("bce_mean", "mean"), epochs=("epochs_run", "mean"), seconds=("train_seconds", "mean"),
                  converged=("converged", lambda v: f"{int(np.sum(v == True))}/{len(v)}")).reset_index()  # noqa: E712
    table = table.rename(columns={"latent_size": "latent", "mse": "test MSE (mean over seeds)",
                                  "mse_sd": "sd over seeds", "bce": "test BCE", "seconds": "train s"})
    table = table.sort_values(["depth", "latent", "loss"], ascending=[True, False, True])
    s.add_table(Table(table, title="Completed runs per cell", formats={
        "test MSE (mean over seeds)": ".5f", "sd over seeds": "sci", "test BCE": ".4f", "epochs": ".1f",
        "train s": ".1f"}))
    return s


def _section_paired(b: _Builder, data: StudyData, comp_mse: list[CellComparison],
                    comp_bce: list[CellComparison]) -> Section:
    from ..viz import difference_distribution, forest_plot

    s = Section(f"{LOSS_A.upper()}-trained vs {LOSS_B.upper()}-trained: paired per-image comparison")
    if not comp_mse:
        return s.add_text("No cell has both BCE- and MSE-trained runs done: nothing to compare yet.")
    s.add_text(
        f"For every (depth, latent) cell the two models are compared on the same {len(data.labels):,} test "
        f"images: d = error of the {LOSS_A.upper()}-trained model − error of the {LOSS_B.upper()}-trained model, "
        f"per image; **negative d favours {LOSS_A.upper()}**. The main comparison pairs each image's error "
        "averaged over seeds (seed s of each loss enters the mean only if both losses have seed s); the "
        "per-seed comparisons pair seed s with seed s. Effect sizes come first: the matched-pairs "
        "rank-biserial correlation (−1: BCE better on every image, +1: MSE better on every image), "
        f"r = z/√n, the share of images where {LOSS_A.upper()} wins, and the median d with a 95% bootstrap CI. "
        "At n = 10,000 images tiny effects are significant, so p-values only support.")
    s.add_text(
        f"Tests, fixed in advance: Wilcoxon signed-rank on d with the one-sided alternative "
        f"**'{ALTERNATIVE}' (d < 0: {LOSS_A.upper()} has lower error)**, and two-sided; Holm adjustment over the "
        f"{len(comp_mse)} cells, separately for each alternative and each metric. Seeds are the unit of "
        "replication: the seed agreement counts the seeds whose mean d has the majority sign, with a two-sided "
        f"one-sample t-test and a sign test over the per-seed mean differences. Verdicts: significant means "
        f"Holm-adjusted two-sided p < {ALPHA}; effect words from |rank-biserial|: < 0.1 negligible, < 0.3 small, "
        f"< 0.5 medium, else large; “seeds disagree” when per-seed mean differences differ in sign.")
    s.add_note(f"Exact settings: {comp_mse[0].main.settings}. Per-seed comparisons use {N_BOOT_SEED} bootstrap "
               "resamples (their CIs are not shown).")
    s.add_table(_effects_table(comp_mse, "MSE", "Effect sizes, per-image MSE (primary metric), images paired "
                                                 "on the mean over seeds"))
    s.add_table(_tests_table(comp_mse, "Tests, per-image MSE"))
    if any(c.per_seed for c in comp_mse):
        s.add_table(_per_seed_table(comp_mse, "MSE"))
    if comp_bce:
        s.add_table(_effects_table(comp_bce, "BCE", "Effect sizes, per-image BCE (second metric), images paired on "
                                                    "the mean over seeds"))
        s.add_table(_tests_table(comp_bce, "Tests, per-image BCE"))
    import pandas as pd

    scale, unit = _unit([c.main.median_diff_ci_low for c in comp_mse] + [c.main.median_diff_ci_high for c in comp_mse])
    frame = pd.DataFrame([{"label": f"depth {c.depth}, k={c.latent}", "median_diff": c.main.median_diff * scale,
                           "median_diff_ci_low": c.main.median_diff_ci_low * scale,
                           "median_diff_ci_high": c.main.median_diff_ci_high * scale,
                           "rank_biserial": c.main.rank_biserial} for c in comp_mse])
    s.add_figure(b.fig(forest_plot(frame, xlabel=f"median per-image MSE difference BCE − MSE{unit} "
                                                 "(negative: BCE better)"),
                       "forest-median-mse", f"Median paired difference of per-image MSE per cell{unit}, with its "
                                            "95% bootstrap CI (seed-mean pairing)."))
    s.add_figure(b.fig(forest_plot(frame, estimate="rank_biserial", low=None, high=None,
                                   xlabel="rank-biserial correlation (negative: BCE better)"),
                       "forest-rank-biserial-mse", "Matched-pairs rank-biserial correlation per cell (per-image MSE)."))
    everything = np.concatenate([c.diff for c in comp_mse])
    lo, hi = np.percentile(everything, [1, 99])
    scale, unit = _unit([lo, hi])
    diffs = {f"depth {c.depth}, k={c.latent}": c.diff * scale for c in comp_mse}
    fig = difference_distribution(diffs, xlabel=f"per-image MSE difference BCE − MSE, mean over seeds{unit} "
                                                "(negative: BCE better)")
    if hi > lo:  # the tails would squash the bulk into a line
        pad = 0.05 * (hi - lo) * scale
        fig.axes[0].set_xlim(lo * scale - pad, hi * scale + pad)
    s.add_figure(b.fig(fig, "difference-distribution-mse",
                       "Distribution of per-image differences per cell (violins, ticks: medians); the x axis shows "
                       "the central 98% of all differences."))
    return s


def _unit(values: list[float]) -> tuple[float, str]:
    """A power of ten that brings small differences to readable tick labels, and its label."""
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if top == 0 or top >= 0.01:
        return 1.0, ""
    exponent = int(math.floor(math.log10(top)))
    return 10.0 ** -exponent, f" (×1e{exponent})"


def _section_original(data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]],
                      original: dict[str, Any] | None, best_depth: int) -> Section:
    from scipy.stats import wilcoxon

    s = Section("Error table in the original study's three scales")
    s.add_text(
        "The original study reported one table of reconstruction errors (mean and std per loss × latent size). "
        "Three scales of the same squared error are easy to confuse, so all three are given: the per-image L2 "
        f"distance ||x − x̂|| = √(SSE), the per-image sum of squared errors SSE = {data.n_pixels} × MSE, and the "
        "per-pixel MSE. The std is over test images, as in the original.")
    if original:
        s.add_text(
            f"Original (as reported): mean {original['metric'].upper()} error "
            f"{original['mean_range'][0]}–{original['mean_range'][1]} with std "
            f"{original['std_range'][0]}–{original['std_range'][1]} over latent sizes "
            f"{', '.join(map(str, original.get('latent_sizes', [])))}; {original.get('test', '')}. "
            f"Source: {original.get('source', '')}. This range matches the L2 scale, not the SSE scale.")
    for t in _error_tables(data, runs, pca, original):
        s.add_table(t)
    # the original's own test, repeated on our per-latent means: weak (n = number of latent sizes)
    sel = runs[runs.depth == best_depth]
    means = sel.groupby(["latent_size", "loss"])["l2_mean"].mean().unstack()
    if LOSS_A in means and LOSS_B in means:
        paired = means[[LOSS_A, LOSS_B]].dropna()
        if len(paired) >= 2 and np.any(paired[LOSS_A] != paired[LOSS_B]):
            one = wilcoxon(paired[LOSS_A], paired[LOSS_B], alternative=ALTERNATIVE, method="exact").pvalue
            two = wilcoxon(paired[LOSS_A], paired[LOSS_B], method="exact").pvalue
            s.add_text(
                f"The original's test repeated on ours: exact Wilcoxon signed-rank on the {len(paired)} per-latent "
                f"mean L2 errors of depth {best_depth} (BCE vs MSE, means over seeds): p one-sided ({ALTERNATIVE}) = "
                f"{format_p(one)}, two-sided = {format_p(two)}. With n = {len(paired)} means the smallest possible "
                f"two-sided p is {2 / 2 ** len(paired):.3g}: this test cannot say much, which is why the paired "
                "per-image statistics above lead.")
    return s


def _pca_comparison(data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]]) -> list[dict]:
    from ..stats import paired_comparison

    rows = []
    for depth, latent in data.cells:
        if latent not in pca:
            continue
        pca_mse = float(pca[latent]["mse"].mean())
        row: dict[str, Any] = {"depth": depth, "latent": latent, "PCA": pca_mse}
        best = None
        for loss in data.losses:
            sel = runs[(runs.depth == depth) & (runs.latent_size == latent) & (runs.loss == loss)]
            if len(sel):
                row[f"{loss.upper()}-trained"] = float(sel.mse_mean.mean())
                if best is None or sel.mse_mean.mean() < best[1]:
                    best = (loss, float(sel.mse_mean.mean()), sel)
            else:
                row[f"{loss.upper()}-trained"] = math.nan
        if best is None:
            continue
        loss, mean, sel = best
        n_beat = int((sel.mse_mean < pca_mse).sum())
        mean_img = data.seed_mean(data.select(depth, latent, loss), "mse")
        p = paired_comparison(mean_img, pca[latent]["mse"], alternative="less", n_boot=N_BOOT_SEED)
        row.update({
            "better loss": loss.upper(), "AE / PCA": mean / pca_mse, "seeds < PCA": f"{n_beat}/{len(sel)}",
            "rank-biserial": p.rank_biserial, "images AE better": p.frac_a_better,
            "verdict": ("beats PCA" if n_beat == len(sel) else "does not beat PCA" if n_beat == 0
                        else f"mixed ({n_beat}/{len(sel)} seeds)"),
        })
        rows.append(row)
    return rows


def _section_pca(b: _Builder, rows: list[dict], pca: dict[int, dict[str, np.ndarray]]) -> Section:
    s = Section("Autoencoder vs PCA")
    if not pca:
        return s.add_text("The PCA baseline could not be computed (see the alerts).")
    s.add_text(
        "PCA with the same number of components as the code (fitted on the train split, exact covariance "
        "eigendecomposition, reconstruction without clipping) is the linear baseline. Per cell the better loss "
        "(lower mean test MSE over seeds) is compared: “beats PCA” means every seed's mean per-image MSE is below "
        "PCA's; the rank-biserial correlation pairs the seed-mean per-image MSE with PCA's on the same images "
        "(negative: autoencoder better).")
    s.add_table(Table(rows, title="Mean test MSE: autoencoder (mean over seeds) vs PCA with k components", formats={
        "PCA": ".5f", "BCE-trained": ".5f", "MSE-trained": ".5f", "AE / PCA": ".3f",
        "rank-biserial": "signed", "images AE better": "pct"},
        caption="rank-biserial and images AE better: the better loss's per-image MSE (mean over seeds) paired with "
                "PCA's on the same test images; negative rank-biserial favours the autoencoder."))
    return s


def _section_trend(b: _Builder, data: StudyData, runs: pd.DataFrame, pca: dict[int, dict[str, np.ndarray]]) -> Section:
    from ..stats import trend_test
    from ..viz import error_heatmaps

    s = Section("Error vs latent size")
    s.add_text(
        "Trend test: Spearman's ρ and Kendall's τ-b between latent size and each run's mean test MSE (one point "
        "per run, so seeds count), one-sided alternative 'less' (error falls as the code grows); Kendall's S is "
        "the Jonckheere–Terpstra statistic up to a linear map.")
    rows = []
    for depth in data.depths:
        for loss in data.losses:
            sel = runs[(runs.depth == depth) & (runs.loss == loss)]
            try:
                t = trend_test(sel.latent_size.to_numpy(float), sel.mse_mean.to_numpy(), alternative="less")
            except ValueError as e:
                rows.append({"model": f"depth {depth}, {loss.upper()}", "runs": len(sel), "note": str(e)})
                continue
            rows.append({"model": f"depth {depth}, {loss.upper()}", "runs": t["n"], "sizes": t["n_sizes"],
                         "Spearman ρ": t["spearman_rho"], "p Spearman": t["spearman_p"],
                         "Kendall τ": t["kendall_tau"], "p Kendall": t["kendall_p"], "direction": t["direction"]})
    if len(pca) >= 3:
        ks = sorted(pca)
        t = trend_test(ks, [float(pca[k]["mse"].mean()) for k in ks], alternative="less")
        rows.append({"model": "PCA", "runs": t["n"], "sizes": t["n_sizes"], "Spearman ρ": t["spearman_rho"],
                     "p Spearman": t["spearman_p"], "Kendall τ": t["kendall_tau"], "p Kendall": t["kendall_p"],
                     "direction": t["direction"]})
    s.add_table(Table(rows, title="Trend of test MSE with latent size",
                      formats={"Spearman ρ": "signed", "Kendall τ": "signed"}))
    for metric, name in (("mse_mean", "per-image MSE"), ("bce_mean", "per-image BCE")):
        frame = runs.rename(columns={metric: f"test {name}"})
        s.add_figure(b.fig(error_heatmaps(frame, f"test {name}", fmt=".4f" if metric == "mse_mean" else ".3f"),
                           f"heatmap-{metric.split('_')[0]}",
                           f"Mean test {name} (over seeds) per depth × latent size, one panel per training loss; "
                           "one colour scale for both panels (brighter: lower error)."))
    return s


def _section_curves(b: _Builder, data: StudyData) -> Section:
    histories: dict[tuple[str, int], list[tuple[int, int, Any]]] = defaultdict(list)
    for r in data.records:
        try:
            histories[(r.loss, r.depth)].append((r.latent, r.seed, r.run.history()))
        except (OSError, ValueError):
            continue
    s = Section("Learning curves")
    if not histories:
        return s.add_text("No history.csv found in the runs.")
    s.add_figure(b.fig(learning_curve_grid(histories, data.latents), "learning-curves",
                       "Training loss (solid) and validation loss (dashed) per epoch; one panel per training loss "
                       "and depth, one colour per latent size, one line per seed. Runs flagged as not converged are "
                       "listed in the alerts."))
    return s


def _section_reconstructions(b: _Builder, data: StudyData, depth: int) -> Section:
    X_train, y_train = b.loaded.train()
    X_test, y_test = b.loaded.test()
    names = _class_names(b.dataset, int(max(y_train.max(), y_test.max())) + 1)
    classes = np.intersect1d(y_train, y_test)  # the same class in each column of both blocks
    picks = {"test": (X_test, np.array([np.flatnonzero(y_test == c)[0] for c in classes])),
             "train": (X_train, np.array([np.flatnonzero(y_train == c)[0] for c in classes]))}
    s = Section("Reconstructions", paragraphs=[
        f"Depth {depth}, lowest seed of each loss. Fixed examples: the first image of each class in the test split "
        "(top block) and in the train split (bottom block). Per block: the original, then for each training loss "
        "the code drawn as an image (reshaped to the most square rectangle, enlarged, one colour scale per row) "
        "and the reconstruction."])
    for latent in data.latents:
        rows: list[tuple[str, np.ndarray, str]] = []
        used = []
        for split, (X, idx) in picks.items():
            rows.append((f"{split}: original", X[idx], "image"))
            for loss in data.losses:
                run = _model_run(data, depth, latent, loss)
                if run is None:
                    continue
                codes, recon = _encode(run, X[idx])
                rows.append((f"code ({loss.upper()})", codes, "code"))
                rows.append((f"reconstruction ({loss.upper()})", recon, "image"))
                if split == "test":
                    used.append(f"{loss.upper()}: run {run.run_id}, seed {run.seed}")
        fig = reconstruction_mosaic(rows, [names[int(c)] for c in classes],
                                    title=f"depth {depth}, latent size {latent}")
        s.add_figure(b.fig(fig, f"reconstructions-k{latent}", f"Latent size {latent} ({'; '.join(used)}).", dpi=90))
    return s


def reconstruction_mosaic(rows: list[tuple[str, np.ndarray, str]], column_labels: list[str], *,
                          title: str = "", cell_inches: float = 0.78) -> Figure:
    """Rows of small images drawn as one picture: ``(label, array (m, pixels), "image" | "code")``.

    Images are square grey-scale in [0, 1]; codes are reshaped with
    :func:`autoenc.viz.code_shape`, enlarged by an integer factor to fit the image cell and
    coloured with viridis scaled to the row's range. One axes for the whole mosaic keeps it
    fast (a figure with one axes per image takes ~1 s to lay out); it replaces
    :func:`autoenc.viz.reconstruction_grid` here for that reason.
    """
    from matplotlib import colormaps

    from ..viz import code_shape, new_figure

    side = math.isqrt(rows[0][1].shape[1])
    gap, m = 2, len(rows[0][1])
    cell = side + gap
    tops, y = [], gap
    for r, (label, _, _) in enumerate(rows):
        if r and label.endswith(": original"):  # a new block of examples: leave a wider gap
            y += side // 3
        tops.append(y)
        y += cell
    canvas = np.ones((y, m * cell + gap, 3))
    viridis = colormaps["viridis"]
    for r, (_, arr, kind) in enumerate(rows):
        arr = np.asarray(arr, dtype=np.float64).reshape(m, -1)
        if kind == "code":
            h, w = code_shape(arr.shape[1])
            factor = max(1, side // max(h, w))
            lo, hi = float(arr.min()), float(arr.max())
            scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        for c in range(m):
            if kind == "code":
                tile = np.kron(scaled[c].reshape(h, w), np.ones((factor, factor)))
                rgb = np.ones((side, side, 3))
                top, left = (side - tile.shape[0]) // 2, (side - tile.shape[1]) // 2
                rgb[top: top + tile.shape[0], left: left + tile.shape[1]] = viridis(tile)[..., :3]
            else:
                rgb = np.repeat(np.clip(arr[c].reshape(side, side), 0, 1)[..., None], 3, axis=2)
            y0, x0 = tops[r], gap + c * cell
            canvas[y0: y0 + side, x0: x0 + side] = rgb
    fig = new_figure(cell_inches * m + 1.9, cell_inches * y / cell + 0.7)
    ax = fig.subplots()
    ax.imshow(canvas, interpolation="nearest")
    ax.set_yticks([t + side / 2 for t in tops], [label for label, _, _ in rows], fontsize=9)
    ax.set_xticks([gap + c * cell + side / 2 for c in range(m)], column_labels[:m], fontsize=9, rotation=30,
                  ha="left")
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _tsne_choice(data: StudyData, runs: pd.DataFrame, depth: int, n_models: int) -> list[RunRecord]:
    latents = [k for k in data.latents if data.select(depth, k)]
    order = [k for k in (64, 16) if k in latents] + sorted(k for k in latents if k not in (64, 16))
    chosen = []
    for latent in order[:n_models]:
        sel = runs[(runs.depth == depth) & (runs.latent_size == latent)]
        best_loss = sel.groupby("loss")["mse_mean"].mean().idxmin()
        run = _model_run(data, depth, latent, str(best_loss))
        if run is not None:
            chosen.append(run)
    return chosen


def _section_tsne(b: _Builder, data: StudyData, runs: pd.DataFrame, depth: int) -> Section:
    from ..viz import embedding_quality, tsne_panels

    opts = b.ctx.options
    X_train, y_train = b.loaded.train()
    X_test, y_test = b.loaded.test()
    small = len(X_train) < 20_000
    n_train = opts.tsne_train or (1000 if small else 2000)
    n_test = opts.tsne_test or (500 if small else 1000)
    n_models = opts.tsne_models if opts.tsne_models is not None else (1 if small else 2)
    s = Section("t-SNE maps")
    if n_models <= 0:
        return s.add_text("t-SNE maps skipped (tsne_models = 0).")
    tr = _stratified(y_train, n_train, seed=0)
    te = _stratified(y_test, n_test, seed=1)
    names = _class_names(b.dataset, int(max(y_train.max(), y_test.max())) + 1)
    data_key = _data_key(b.ctx, len(data.labels))
    subset_key = hashlib.sha256(tr.tobytes() + te.tobytes()).hexdigest()[:12]
    s.add_text(
        f"openTSNE maps fitted on a fixed stratified subset of {len(tr):,} train images (perplexity 30, PCA "
        f"initialisation, seed 0); {len(te):,} stratified test images are placed into each train map with "
        "`transform`, so train and test panels of a column share coordinates. Captions: trustworthiness (k = 10, on "
        "≤ 3,000 points) and kNN accuracy (k = 10; train panels: 5-fold CV in the map; test panels: classifier fit "
        "on the train map). Chosen models: best depth, the latent sizes 64 and 16 when present, the better loss of "
        "the cell, lowest seed.")
    base = _tsne_cached(b.ctx, f"orig|{data_key}|{subset_key}", X_train[tr], X_test[te])
    for run in _tsne_choice(data, runs, depth, n_models):
        codes_tr, recon_tr = _encode(run, X_train[tr])
        codes_te, recon_te = _encode(run, X_test[te])
        code_map = _tsne_cached(b.ctx, f"codes|{run.run_id}|{subset_key}", codes_tr, codes_te)
        recon_map = _tsne_cached(b.ctx, f"recon|{run.run_id}|{subset_key}", recon_tr, recon_te)
        maps = {"originals": (X_train[tr], X_test[te], base),
                f"codes (k={run.latent})": (codes_tr, codes_te, code_map),
                "reconstructions": (recon_tr, recon_te, recon_map)}
        embeddings, labels, captions = {}, {}, {}
        for split in ("train", "test"):
            for what, (high_tr, high_te, (emb_tr, emb_te)) in maps.items():
                key = f"{split}: {what}"
                if split == "train":
                    q = embedding_quality(high_tr, emb_tr, y_train[tr])
                    embeddings[key], labels[key] = emb_tr, y_train[tr]
                else:
                    q = embedding_quality(high_te, emb_te, y_test[te], reference_emb=emb_tr,
                                          reference_labels=y_train[tr])
                    embeddings[key], labels[key] = emb_te, y_test[te]
                captions[key] = f"trustworthiness {q['trustworthiness']:.3f} · kNN acc. {q['knn_accuracy']:.3f}"
        fig = tsne_panels(embeddings, labels, names, captions,
                          title=f"depth {run.depth}, k={run.latent}, {run.loss.upper()}-trained, seed {run.seed}")
        s.add_figure(b.fig(fig, f"tsne-k{run.latent}-{run.loss}",
                           f"t-SNE of originals, codes and reconstructions (top: train subset, bottom: test points "
                           f"placed in the train maps); depth {run.depth}, k = {run.latent}, {run.loss.upper()}-"
                           f"trained, run {run.run_id}.", dpi=90))
    return s


def _section_probes(b: _Builder, data: StudyData) -> Section:
    from ..stats import fit_pca, linear_probe

    opts = b.ctx.options
    X_train, y_train = b.loaded.train()
    X_test, y_test = b.loaded.test()
    idx = _stratified(y_train, min(opts.probe_train, len(X_train)), seed=2)
    Xs, ys = X_train[idx], y_train[idx]
    cache = _cached_json(b.ctx, "probes.json")
    settings = f"n={len(idx)}|iter={opts.probe_max_iter}|data={_data_key(b.ctx, len(data.labels))}"

    def probe(feature_id: str, make: Callable[[], tuple[np.ndarray, np.ndarray]]) -> float:
        key = f"{feature_id}|{settings}"
        if key not in cache:
            Ztr, Zte = make()
            cache[key] = linear_probe(Ztr, ys, Zte, y_test, max_iter=opts.probe_max_iter)
        return float(cache[key])

    def pca_features(k: int) -> tuple[np.ndarray, np.ndarray]:
        p = fit_pca(X_train, k)
        return p.transform(Xs), p.transform(X_test)

    raw = probe("raw", lambda: (Xs, X_test))
    rows = []
    for latent in data.latents:
        row: dict[str, Any] = {"latent": latent}
        if latent <= min(X_train.shape):
            row["PCA codes"] = probe(f"pca{latent}", lambda k=latent: pca_features(k))
        for depth in data.depths:
            for loss in data.losses:
                run = _model_run(data, depth, latent, loss)
                row[f"AE depth {depth}, {loss.upper()}"] = (
                    probe(f"run-{run.run_id}", lambda r=run: (_encode(r, Xs)[0], _encode(r, X_test)[0]))
                    if run is not None else math.nan)
        row["raw pixels"] = raw
        rows.append(row)
    _save_json(b.ctx, "probes.json", cache)
    fmt = {k: ".3f" for r in rows for k in r if k != "latent"}
    verdicts = []
    for row in rows:
        ae = {k: v for k, v in row.items() if k.startswith("AE ") and math.isfinite(v)}
        if ae and math.isfinite(row.get("PCA codes", math.nan)):
            best = max(ae, key=ae.get)
            word = "at least matches" if ae[best] >= row["PCA codes"] else "falls short of"
            verdicts.append(f"k = {row['latent']}: the best encoder ({best}, {ae[best]:.3f}) {word} PCA codes "
                            f"({row['PCA codes']:.3f})")
    return Section("Codes as features", paragraphs=[
        f"Linear probe: standardised features, multinomial logistic regression (lbfgs, C = 1, at most "
        f"{opts.probe_max_iter} iterations) fitted on a fixed stratified subset of {len(idx):,} train images and "
        f"scored on all {len(X_test):,} test images. It measures how much class information each code keeps, "
        f"linearly, against the raw pixels ({X_train.shape[1]} features) and PCA codes of the same size (PCA fitted "
        f"on the whole train split). Autoencoders: every depth and loss, lowest seed.",
        "; ".join(verdicts) + "." if verdicts else ""],
        tables=[Table(rows, title="Test accuracy of a logistic-regression probe", formats=fmt)])


# --------------------------------------------------------------------------- verdicts
def _verdicts(data: StudyData, runs: pd.DataFrame, comp: list[CellComparison], pca_rows: list[dict],
              original: dict[str, Any] | None) -> tuple[Table, str, str]:
    by_cell = {(c.depth, c.latent): c for c in comp}
    pca_by_cell = {(r["depth"], r["latent"]): r for r in pca_rows}
    rows = []
    for depth, latent in data.cells:
        c = by_cell.get((depth, latent))
        p = pca_by_cell.get((depth, latent))
        sel = runs[(runs.depth == depth) & (runs.latent_size == latent)]
        best_l2 = sel.groupby("loss")["l2_mean"].mean().min()
        row: dict[str, Any] = {
            "depth": depth, "latent": latent,
            "BCE vs MSE (per-image MSE)": c.verdict() if c else "not compared (one loss missing)",
            "rank-biserial": c.main.rank_biserial if c else math.nan,
            "BCE wins": c.main.frac_a_better if c else math.nan,
            "seeds": c.seeds_text if c else "–",
            "vs PCA": (f"{p['verdict']} (×{p['AE / PCA']:.2f})" if p else "–"),
            "best L2": best_l2,
        }
        if original and original.get("metric") == "l2":
            lo, hi = original["mean_range"]
            row["vs original L2"] = ("below its range" if best_l2 < lo else "within its range" if best_l2 <= hi
                                     else "above its range")
        rows.append(row)
    table = Table(rows, title="Verdicts per cell", formats={"rank-biserial": "signed", "BCE wins": "pct",
                                                            "best L2": ".3f"},
                  caption="BCE vs MSE: Holm-adjusted two-sided Wilcoxon on per-image MSE (seed-mean pairing) and the "
                          "rank-biserial effect size; negative rank-biserial favours BCE. vs PCA: the cell's better "
                          "loss, all seeds below PCA's mean test MSE (ratio AE/PCA). best L2: mean per-image "
                          "||x − x̂|| of the cell's better loss, against the original's reported range.")
    n = len(comp)
    wins_a = sum(1 for c in comp if c.verdict().replace("1 seed: ", "").startswith(LOSS_A.upper()))
    wins_b = sum(1 for c in comp if c.verdict().replace("1 seed: ", "").startswith(LOSS_B.upper()))
    effects = [abs(c.main.rank_biserial) for c in comp if math.isfinite(c.main.rank_biserial)]
    parts = []
    if n:
        parts.append(f"On per-image test MSE, BCE-trained autoencoders beat MSE-trained ones in {wins_a} of {n} "
                     f"(depth, latent) cells, MSE-trained win in {wins_b}, and {n - wins_a - wins_b} are unclear "
                     "(seeds disagree or no significant difference)"
                     + (f"; |rank-biserial| ≤ {max(effects):.2f}" if effects else "") + ".")
    beat_latents, not_beat = [], []
    for latent in data.latents:
        cells = [r for r in pca_rows if r["latent"] == latent]
        if cells:
            (beat_latents if any(r["verdict"] == "beats PCA" for r in cells) else not_beat).append(latent)
    if beat_latents and not not_beat:
        parts.append(f"The autoencoder beats PCA at every latent size ({', '.join(map(str, beat_latents))}).")
    elif beat_latents:
        parts.append(f"The autoencoder beats PCA at latent size {', '.join(map(str, beat_latents))}, not at "
                     f"{', '.join(map(str, not_beat))}.")
    elif not_beat:
        parts.append(f"The autoencoder does not beat PCA at any latent size ({', '.join(map(str, not_beat))}).")
    best = runs.groupby(["depth", "latent_size", "loss"])["l2_mean"].mean()
    per_latent = best.groupby(level="latent_size").min()
    if original and original.get("metric") == "l2" and len(per_latent):
        lo = original["mean_range"][0]
        below = [int(k) for k, v in per_latent.items() if v < lo]
        where = "every size" if len(below) == len(per_latent) else f"{len(below)} of {len(per_latent)} sizes"
        parts.append(f"Best mean L2 error per size {format_value(per_latent.min())}–{format_value(per_latent.max())}; "
                     f"below the original's lowest reported mean ({lo}) at {where}.")
    headline = " ".join(parts) or "No comparison available yet."
    verdict = (f"BCE better {wins_a}/{n}, MSE better {wins_b}/{n}" if n else "no paired cells")
    if beat_latents or not_beat:
        verdict += f"; beats PCA at {len(beat_latents)}/{len(beat_latents) + len(not_beat)} latent sizes"
    return table, headline, verdict
