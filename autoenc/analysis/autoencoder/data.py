"""Collected data of the compression study's report: the done runs with their per-image
errors, the loaded splits, the caches (keyed by content) and the builder the sections share."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...study.grid import canonical_json, resolve
from ...study.store import Run
from ..context import Alert, FigureRef, ReportContext, Section
from ..factors import STRUCTURAL, Design, design, hashable
from ..seed_level import Comparison

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...stats import PairedResult

LOSS_A, LOSS_B = "bce", "mse"  # the main study's contrast: d = A - B per image
ALTERNATIVE = "less"
"""One-sided alternative fixed before any run was looked at: d = A - B < 0 (BCE - MSE in the main
study), i.e. "level A gives lower per-image error", the direction the original study asked
about. The two-sided test is always reported next to it."""
ALPHA = 0.05
EFFECT_WORDS = ((0.1, "negligible"), (0.3, "small"), (0.5, "medium"), (math.inf, "large"))
"""|rank-biserial| thresholds: < 0.1 negligible, < 0.3 small, < 0.5 medium, else large."""
N_BOOT_SEED = 200  # bootstrap resamples for per-seed and AE-vs-PCA comparisons (CIs not shown)


@dataclass
class RunRecord:
    run: Run
    depth: int
    latent: int
    loss: str  # the training loss (its floor, its curves)
    seed: int
    per_image: dict[str, np.ndarray]  # "mse", "bce": one value per test image
    #: every factor of the design (depth, latent_size, loss and each other grid axis): the run's cell
    factors: dict[str, Any] = field(default_factory=dict)
    #: the run's values of StudyData.arm_factors: what, besides depth and latent size, it was trained with
    arm: tuple[Any, ...] = ()

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
    design: Design | None = None
    #: the factors besides depth and latent size that tell runs apart: the loss, then every other
    #: grid axis that varies (one "arm" of the study per combination of their values)
    arm_factors: tuple[str, ...] = ("loss",)

    @property
    def arms(self) -> list[tuple[Any, ...]]:
        """The arms with runs: by loss name, then in grid order."""
        def key(arm: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(str(v) if f == "loss" else self.design.order(f, v) if self.design else str(v)
                         for f, v in zip(self.arm_factors, arm, strict=True))
        return sorted({r.arm for r in self.records}, key=key)

    def arm_label(self, arm: tuple[Any, ...]) -> str:
        """``BCE``, or ``BCE, activation tanh`` when other factors vary."""
        return ", ".join(str(v).upper() if f == "loss" else f"{f.replace('_', ' ')} {_show(v)}"
                         for f, v in zip(self.arm_factors, arm, strict=True))

    def arm_long(self, arm: tuple[Any, ...]) -> str:
        """``BCE-trained``, or ``BCE-trained, activation tanh``."""
        return ", ".join(f"{str(v).upper()}-trained" if f == "loss" else f"{f.replace('_', ' ')} {_show(v)}"
                         for f, v in zip(self.arm_factors, arm, strict=True))

    @property
    def arm_noun(self) -> str:
        """What an arm is, in a column title: ``loss`` when only the loss tells them apart."""
        return "loss" if self.arm_factors == ("loss",) else "setting"

    @property
    def extra_strata(self) -> list[str]:
        """Factors besides depth and latent size that stay fixed inside a comparison (the arms' factors
        that vary, except the compared one)."""
        compared = self.design.compared if self.design else "loss"
        varying = set(self.design.varying) if self.design else set()
        return [f for f in self.arm_factors if f != compared and f in varying]

    def comparisons(self) -> list[Comparison]:
        """One per contrast of the compared factor, stratified by depth, latent size and every other
        factor that varies (:mod:`autoenc.analysis.factors`)."""
        d = self.design
        if d is None or d.compared is None:
            return []
        strata = ("depth", "latent_size", *self.extra_strata)
        return [Comparison(d.compared, c, strata, (d.label(c.a), d.label(c.b))) for c in d.contrasts]

    def stratum_label(self, stratum: dict[str, Any]) -> str:
        """``depth 1, k=64`` (and ``, activation tanh`` for the other strata)."""
        parts = [f"depth {stratum.get('depth')}", f"k={stratum.get('latent_size')}"]
        parts += [f"{k.replace('_', ' ')} {_show(v)}" for k, v in stratum.items() if k not in STRUCTURAL]
        return ", ".join(parts)

    def run_label(self, r: Any) -> str:
        """A run in an alert: every factor and the seed (``depth=1, latent_size=64, loss=bce, seed=0``)."""
        values = {"depth": r.depth, "latent_size": r.latent_size, "loss": r.loss,
                  **{f: getattr(r, f) for f in self.arm_factors if f != "loss"}}
        return ", ".join(f"{k}={_show(v)}" for k, v in values.items()) + f", seed={r.seed}"

    @property
    def depths(self) -> list[int]:
        return sorted({r.depth for r in self.records})

    @property
    def latents(self) -> list[int]:
        return sorted({r.latent for r in self.records}, reverse=True)  # 400 .. 16, as the original

    @property
    def losses(self) -> list[str]:
        return sorted({r.loss for r in self.records})

    def stratum_frame_columns(self) -> list[str]:
        """Table columns of a stratum: depth, latent, then the other strata."""
        return ["depth", "latent", *self.extra_strata]

    @property
    def cells(self) -> list[tuple[int, int]]:
        return sorted({(r.depth, r.latent) for r in self.records}, key=lambda c: (c[0], -c[1]))

    def select(self, depth: int | None = None, latent: int | None = None, arm: tuple[Any, ...] | None = None,
               **factors: Any) -> list[RunRecord]:
        """Runs of a depth, latent size, arm and any other factor values, in reading order."""
        want = {k: hashable(v) for k, v in factors.items()}
        return sorted((r for r in self.records if (depth is None or r.depth == depth)
                       and (latent is None or r.latent == latent) and (arm is None or r.arm == arm)
                       and all(hashable(r.factors.get(k)) == v for k, v in want.items())),
                      key=lambda r: (r.depth, -r.latent, self.arms.index(r.arm), r.seed))

    def pairs(self, comparison: Comparison) -> dict[tuple[Any, ...], dict[int, tuple[RunRecord, RunRecord]]]:
        """Per stratum of ``comparison`` (in its reading order): seed -> (run at level A, run at level B)."""
        a_level, b_level = hashable(comparison.contrast.a), hashable(comparison.contrast.b)
        sides: dict[tuple[Any, ...], tuple[dict[int, RunRecord], dict[int, RunRecord]]] = {}
        for r in self.records:
            level = hashable(r.factors.get(comparison.factor))
            if level not in (a_level, b_level):
                continue
            stratum = tuple(hashable(r.factors.get(k)) for k in comparison.strata)
            sides.setdefault(stratum, ({}, {}))[0 if level == a_level else 1][r.seed] = r
        return {k: {s: (a[s], b[s]) for s in sorted(a.keys() & b.keys())}
                for k, (a, b) in sorted(sides.items(), key=lambda kv: comparison.sort_key(kv[0]))}

    def seed_mean(self, runs: list[RunRecord], metric: str) -> np.ndarray:
        return np.mean([r.per_image[metric] for r in runs], axis=0)


def _show(value: Any) -> str:
    return "-".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _collect(ctx: ReportContext) -> StudyData:
    the_design = design(ctx.spec)
    arm_factors = ("loss", *[f for f in the_design.varying if f not in (*STRUCTURAL, "loss")])
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
        resolved = resolve(cfg)
        factors = {"depth": int(cfg.model["depth"]), "latent_size": int(cfg.model["latent_size"]),
                   "loss": str(cfg.train["loss"])}
        for key in the_design.factors:  # every grid axis: its value as the run was trained
            if key not in factors:
                factors[key] = run.params.get(key, next((getattr(resolved, sec).get(key) for sec in
                                                         ("model", "train", "data") if key in getattr(resolved, sec)),
                                                        None))
        records.append(RunRecord(
            run, depth=factors["depth"], latent=factors["latent_size"],
            loss=factors["loss"], seed=int(cfg.seed),
            # L1 (the secondary metric neither loss optimises): runs since 2026-12-04
            per_image={k: np.asarray(arrays[f"test_{k}"], np.float64) for k in ("mse", "bce", "l1")
                       if f"test_{k}" in arrays},
            factors=factors, arm=tuple(hashable(factors[f]) for f in arm_factors),
        ))
    if skipped:
        alerts.append(Alert("warning", f"{len(skipped)} done runs left out", "", skipped))
    if not n_pixels and records:  # runs without the two means: the pixels of one test image
        try:
            n_pixels = int(np.prod(np.shape(ctx.load_split("test")[0])[1:]))
        except Exception as e:  # noqa: BLE001  (no data here: SSE and L2 columns cannot be scaled)
            alerts.append(Alert("warning", "pixels per image unknown", f"SSE and L2 are per-pixel values ({e})"))
            n_pixels = 1
    return StudyData(records, labels if labels is not None else np.zeros(0, int), n_pixels, alerts,
                     design=the_design, arm_factors=arm_factors)


def _effect_word(rb: float) -> str:
    if not math.isfinite(rb):
        return "undefined"
    return next(word for limit, word in EFFECT_WORDS if abs(rb) < limit)


def _per_seed_comparisons(data: StudyData, metric: str, comparison: Comparison
                          ) -> tuple[dict[tuple[Any, ...], dict[int, PairedResult]], list[str]]:
    """Per stratum and seed: the per-image paired description of seed s at level A vs seed s at
    level B (Wilcoxon, rank-biserial, r, share of wins). Seeds are the replicates; these
    describe one pair of runs each and are never pooled over seeds."""
    from ...stats import paired_comparison

    out: dict[tuple[Any, ...], dict[int, PairedResult]] = {}
    skipped: list[str] = []
    a_name, b_name = comparison.labels
    for stratum, pairs in data.pairs(comparison).items():
        if not pairs:
            have = {r.factors.get(comparison.factor) for r in data.records
                    if tuple(hashable(r.factors.get(k)) for k in comparison.strata) == stratum}
            names = [n for n, level in ((a_name, comparison.contrast.a), (b_name, comparison.contrast.b))
                     if hashable(level) in {hashable(h) for h in have}]
            what = (f"only {names[0]}-trained runs" if comparison.factor == "loss" else f"only {names[0]} runs") \
                if len(names) == 1 else ("no seed done with both losses" if comparison.factor == "loss"
                                         else f"no seed done with both {comparison.factor} values")
            skipped.append(f"{_stratum_words(dict(zip(comparison.strata, stratum, strict=True)))}: {what}; "
                           "not compared")
            continue
        out[stratum] = {s: paired_comparison(a.per_image[metric], b.per_image[metric], alternative=ALTERNATIVE,
                                             n_boot=N_BOOT_SEED) for s, (a, b) in pairs.items()}
    return out, skipped


def _stratum_words(stratum: dict[str, Any]) -> str:
    """``depth 1, latent 64`` (and ``, activation tanh``): a stratum in an alert."""
    parts = [f"depth {stratum.get('depth')}", f"latent {stratum.get('latent_size')}"]
    parts += [f"{k.replace('_', ' ')} {_show(v)}" for k, v in stratum.items() if k not in STRUCTURAL]
    return ", ".join(parts)


def _data_key(ctx: ReportContext, n_test: int) -> str:
    # "v2": the cache also holds errors of the reconstruction clipped to [0, 1]
    return hashlib.sha256(f"v2|{canonical_json(ctx.data_settings)}|{n_test}".encode()).hexdigest()[:16]


def _pca_errors(ctx: ReportContext, data: StudyData, loaded: _Data) -> dict[int, dict[str, np.ndarray]]:
    """Per-image test MSE/BCE of PCA with k components (fit on the train split), cached in
    ``report_cache/pca_baseline.npz`` keyed by the data settings."""
    from ...stats import pca_reconstruction_errors

    key = _data_key(ctx, len(data.labels))
    cached: dict[str, np.ndarray] = ctx.cache_get("pca_baseline.npz", key) or {}
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
    if changed:
        ctx.cache_put("pca_baseline.npz", key, cached)
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


def bce_floor(r: RunRecord, loaded: _Data, cache: dict[int, tuple[float, float]]) -> tuple[float, float]:
    """(validation, training) BCE floors of a run's images: their own entropy (``BCELoss.floor``),
    the least BCE any reconstruction reaches. metrics.json records the validation one
    (``loss_floor``) since 2026-12-03; older runs get it computed here."""
    from ...nn import BCELoss

    n_val = int(r.metrics.get("n_validation") or 0)
    if n_val not in cache:
        X, _ = loaded.train()
        X = np.asarray(X, dtype=np.float32)
        val = BCELoss().floor(X[-n_val:]) if n_val else 0.0
        cache[n_val] = (val, BCELoss().floor(X[:-n_val] if n_val else X))
    return cache[n_val]


def _model_run(data: StudyData, depth: int, latent: int, arm: tuple[Any, ...]) -> RunRecord | None:
    runs = data.select(depth, latent, arm)
    return min(runs, key=lambda r: r.seed) if runs else None


def _mean_std(means: list[float], stds: list[float], digits: str) -> str:
    return f"{np.mean(means):{digits}} ({np.mean(stds):{digits}})"


def _class_names(dataset: str, n: int) -> list[str]:
    try:
        from ... import datasets

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


def _model_key(run: RunRecord) -> str:
    """The content of a run's trained model (its checksum from the DONE marker, else computed):
    caches keyed by it can never show a deleted or retrained model's numbers."""
    from ...study.store import DONE, sha256_file

    try:
        listed = json.loads((run.run.path / DONE).read_text(encoding="utf-8"))["files"]["model.npz"]
        if isinstance(listed, str) and len(listed) == 64:
            return listed[:24]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return sha256_file(run.run.path / "model.npz")[:24]


def _tsne_cached(ctx: ReportContext, key: str, train_X: np.ndarray,
                 test_X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ...viz import tsne_embed

    def compute() -> dict[str, np.ndarray]:
        train_emb, test_emb = tsne_embed(train_X, test_X, n_jobs=min(ctx.options.n_jobs, ctx.options.cores()),
                                         seed=0)
        assert test_emb is not None
        return {"train": train_emb, "test": test_emb}

    def valid(z: dict[str, np.ndarray]) -> bool:
        return z.get("train") is not None and z["train"].shape == (len(train_X), 2) \
            and z.get("test") is not None and z["test"].shape == (len(test_X), 2) and np.isfinite(z["train"]).all()

    maps = ctx.cached(f"tsne-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz", key, compute, valid)
    train_emb, test_emb = maps["train"], maps["test"]
    return train_emb, test_emb


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


def _unit(values: list[float]) -> tuple[float, str]:
    """A power of ten that brings small differences to readable tick labels, and its label."""
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if top == 0 or top >= 0.01:
        return 1.0, ""
    exponent = int(math.floor(math.log10(top)))
    return 10.0 ** -exponent, f" (×1e{exponent})"
