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
from .render import Alert, AnalysisResult, FigureRef, ReportContext, Section, Table

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..stats import PairedResult

__all__ = ["ALTERNATIVE", "analyze", "learning_curve_grid"]

LOSS_A, LOSS_B = "bce", "mse"  # d = A - B per image
ALTERNATIVE = "less"
"""One-sided alternative fixed before any run was looked at: d = BCE - MSE < 0, i.e.
"training with BCE gives lower per-image error", the direction the original study asked
about. The two-sided test is always reported next to it."""
ALPHA = 0.05
EFFECT_WORDS = ((0.1, "negligible"), (0.3, "small"), (0.5, "medium"), (math.inf, "large"))
"""|rank-biserial| thresholds: < 0.1 negligible, < 0.3 small, < 0.5 medium, else large."""
N_BOOT_SEED = 200  # bootstrap resamples for per-seed and AE-vs-PCA comparisons (CIs not shown)

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


# --------------------------------------------------------------------------- per-seed descriptions
def _per_seed_comparisons(data: StudyData, metric: str) -> tuple[dict[tuple[int, int], dict[int, PairedResult]],
                                                                   list[str]]:
    """Per cell and seed: the per-image paired description of seed s BCE-trained vs seed s
    MSE-trained (Wilcoxon, rank-biserial, r, share of wins). Seeds are the replicates; these
    describe one pair of runs each and are never pooled over seeds."""
    from ..stats import paired_comparison

    out: dict[tuple[int, int], dict[int, PairedResult]] = {}
    skipped: list[str] = []
    for depth, latent in data.cells:
        a_runs = {r.seed: r for r in data.select(depth, latent, LOSS_A)}
        b_runs = {r.seed: r for r in data.select(depth, latent, LOSS_B)}
        common = sorted(a_runs.keys() & b_runs.keys())
        if not common:
            skipped.append(f"depth {depth}, latent {latent}: no seed done with both losses; not compared")
            continue
        out[(depth, latent)] = {s: paired_comparison(a_runs[s].per_image[metric], b_runs[s].per_image[metric],
                                                     alternative=ALTERNATIVE, n_boot=N_BOOT_SEED) for s in common}
    return out, skipped


# --------------------------------------------------------------------------- PCA baseline
def _data_key(ctx: ReportContext, n_test: int) -> str:
    # "v2": the cache also holds errors of the reconstruction clipped to [0, 1]
    return hashlib.sha256(f"v2|{canonical_json(ctx.data_settings)}|{n_test}".encode()).hexdigest()[:16]


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
        except Exception:  # noqa: BLE001  (any damage: truncated zip, bad CRC, wrong arrays) -> recompute
            cached = {}
    out: dict[int, dict[str, np.ndarray]] = {}
    changed = False
    names = ("mse", "bce", "mse_clipped")
    for k in data.latents:
        if all(f"k{k}_{n}" in cached and cached[f"k{k}_{n}"].shape == data.labels.shape for n in names):
            out[k] = {n: cached[f"k{k}_{n}"] for n in names}
            continue
        X_train, _ = loaded.train()
        X_test, _ = loaded.test()
        if k > min(X_train.shape):
            continue
        errors = pca_reconstruction_errors(X_train, X_test, k)
        clipped = pca_reconstruction_errors(X_train, X_test, k, clip=True)
        out[k] = {"mse": errors["mse"], "bce": errors["bce"], "mse_clipped": clipped["mse"]}
        cached.update({f"k{k}_{n}": out[k][n] for n in names})
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
    """One row per run: grid values, test errors (from the per-image arrays), validation and
    snapshot errors and training facts (from metrics.json)."""
    import pandas as pd

    rows = []
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
        if row["converged"] is not True:
            row["last5_improvement"] = _last5_improvement(r)
        rows.append(row)
    return pd.DataFrame(rows)


def _last5_improvement(r: RunRecord) -> float:
    """Relative improvement of the best monitored loss over the last 5 epochs (the rule's measure)."""
    from ..nn.train import CONVERGENCE_WINDOW

    try:
        h = r.run.history()
    except (OSError, ValueError):
        return math.nan
    column = "val_loss" if "val_loss" in h and np.isfinite(h["val_loss"].to_numpy(float)).any() else "train_loss"
    v = h[column].to_numpy(float)
    if len(v) <= CONVERGENCE_WINDOW or not np.isfinite(v).all():
        return math.nan
    before, last = v[:-CONVERGENCE_WINDOW].min(), v[-CONVERGENCE_WINDOW:].min()
    return float((before - last) / before) if before > 0 else math.nan





def _model_run(data: StudyData, depth: int, latent: int, loss: str) -> RunRecord | None:
    runs = data.select(depth, latent, loss)
    return min(runs, key=lambda r: r.seed) if runs else None


def _original(ctx: ReportContext) -> dict[str, Any] | None:
    """The original study's error table from ``[study.original]`` (docs/studies.md), or None."""
    given = ctx.spec.extra.get("original")
    if not isinstance(given, dict) or not given.get("latent_sizes") or not isinstance(given.get("mean"), dict):
        return None
    sizes = [int(k) for k in given["latent_sizes"]]
    table = {loss: dict(zip(sizes, values, strict=False)) for loss, values in given["mean"].items()}
    stds = {loss: dict(zip(sizes, values, strict=False)) for loss, values in given.get("std", {}).items()}
    return {"metric": str(given.get("metric", "l2")), "depth": int(given.get("depth", 1)), "latent_sizes": sizes,
            "mean": table, "std": stds, "test": str(given.get("test", "")), "source": str(given.get("source", ""))}


def _mean_std(means: list[float], stds: list[float], digits: str) -> str:
    return f"{np.mean(means):{digits}} ({np.mean(stds):{digits}})"


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
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # damaged: rebuilt and overwritten
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def _model_key(run: RunRecord) -> str:
    """The content of a run's trained model (its checksum from the DONE marker, else computed):
    caches keyed by it can never show a deleted or retrained model's numbers."""
    from ..study.store import DONE, sha256_file

    try:
        listed = json.loads((run.run.path / DONE).read_text(encoding="utf-8"))["files"]["model.npz"]
        if isinstance(listed, str) and len(listed) == 64:
            return listed[:24]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return sha256_file(run.run.path / "model.npz")[:24]


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
                if str(z["key"]) == key and z["train"].shape == (len(train_X), 2) \
                        and z["test"].shape == (len(test_X), 2) and np.isfinite(z["train"]).all():
                    return z["train"], z["test"]
        except Exception:  # noqa: BLE001  (any damage: truncated zip, bad CRC, wrong arrays) -> recompute
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
    from ..analysis.seed_level import best_depth_on_validation, cell_verdicts
    from .autoencoder_seeds import section_budget, section_convergence, section_seed_level, seed_results

    b = _Builder(ctx)
    with ctx.timed("collect runs"):
        data = _collect(ctx)
    b.alerts += data.alerts
    if not data.records:
        return AnalysisResult("No usable autoencoder runs.", "no runs", alerts=b.alerts, datasets=[b.dataset])
    runs = _run_frame(data)
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
    not_converged = runs[runs.converged != True]  # noqa: E712
    if len(not_converged):
        b.alerts.append(Alert("warning", f"{len(not_converged)} of {len(runs)} runs do not meet the convergence rule",
                              "Their results hold for the stated budget only; see the Convergence section."))

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
    return AnalysisResult(headline, verdict, verdict_table, sections, b.alerts, datasets=[b.dataset])


def _find(sections: list[Section], title: str) -> Section:
    return next(s for s in sections if s.title == title)


def _rate_distortion_section(b: _Builder, data: StudyData, runs: pd.DataFrame) -> Section | None:
    """Rate-distortion of the trained encoders as codecs (autoenc.analysis.rate_distortion)."""
    try:
        from .rate_distortion import section_rate_distortion
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
    from ..viz import difference_distribution

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


# --------------------------------------------------------------------------- sections
def _protocol(ctx: ReportContext) -> str:
    """The training protocol of the runs, in words (from the resolved config of a done run)."""
    from ..study.grid import resolve

    if not ctx.results.done:
        return "no run done"
    t = resolve(ctx.results.done[0].config).train
    schedule = {"cosine": f"cosine learning-rate annealing to 0 over {t['epochs']} epochs",
                "constant": f"constant learning rate, {t['epochs']} epochs"}.get(t["lr_schedule"],
                                                                                  f"{t['lr_schedule']} schedule, "
                                                                                  f"{t['epochs']} epochs")
    stop = f", early stopping (patience {t['patience']})" if t["patience"] else ""
    return f"{t['optimizer']} lr {t['lr']}, batch {t['batch_size']}, {schedule}{stop}"


def _section_runs(ctx: ReportContext, data: StudyData, runs: pd.DataFrame, best_depth: int,
                  depth_how: str) -> Section:
    from ..study.grid import resolve

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


def _unit(values: list[float]) -> tuple[float, str]:
    """A power of ten that brings small differences to readable tick labels, and its label."""
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if top == 0 or top >= 0.01:
        return 1.0, ""
    exponent = int(math.floor(math.log10(top)))
    return 10.0 ** -exponent, f" (×1e{exponent})"


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
    from ..viz import error_heatmaps

    s = Section("Error vs latent size")
    s.add_text(
        "Trend test: Spearman's ρ between latent size and the mean test MSE over seeds per size (one point per "
        "size: the seeds of one size are replicates of one condition, not independent x values), one-sided "
        "alternative 'less' (error falls as the code grows), with a permutation p-value: exact over all n! "
        "pairings (the t approximation breaks down with 5 points and at |ρ| = 1). With 5 sizes the smallest "
        "possible one-sided p is 1/120 = 0.0083, reached by any perfectly monotone curve.")
    rows = []
    from ..stats.seeds import exact_spearman

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
        code_map = _tsne_cached(b.ctx, f"codes|{_model_key(run)}|{subset_key}", codes_tr, codes_te)
        recon_map = _tsne_cached(b.ctx, f"recon|{_model_key(run)}|{subset_key}", recon_tr, recon_te)
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
        value = cache.get(key)
        if not isinstance(value, float) or not 0.0 <= value <= 1.0:  # missing or damaged entry
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
                    probe(f"model-{_model_key(run)}", lambda r=run: (_encode(r, Xs)[0], _encode(r, X_test)[0]))
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
    from .autoencoder_seeds import _primary_text

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


