"""Figure sections of the compression study's report: learning curves, reconstructions,
t-SNE maps and the linear probes on codes."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import Section, Table

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

from ..factors import hashable
from .data import (
    RunRecord,
    StudyData,
    _Builder,
    _class_names,
    _data_key,
    _encode,
    _model_key,
    _model_run,
    _stratified,
    _tsne_cached,
    bce_floor,
)

#: entries of probes.json are keyed by feature, settings and data; this names the file format
PROBES_KEY = "probes-v2"  # v2: converged probe (whitened L-BFGS); v1: 200 plain lbfgs iterations


def learning_curve_grid(histories: dict[tuple[str, int], list[tuple[int, int, pd.DataFrame]]],
                        latents: list[int], titles: dict[str, str] | None = None,
                        order: list[str] | None = None) -> Figure:
    """Train (solid) and validation (dashed) loss per epoch: one panel per (arm, depth), an arm
    being a training loss (and the values of any other factor that varies: ``titles`` names each,
    ``order`` lists them), one colour per latent size, one thin line per seed (log scale).

    Written here rather than in :mod:`autoenc.viz` because :func:`autoenc.viz.learning_curves`
    draws one axes with one colour per run, too crowded for a 90-run grid.
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    from ...viz import new_figure

    losses = order or sorted({k[0] for k in histories})
    titles = titles or {}
    depths = sorted({k[1] for k in histories})
    fig = new_figure(3.3 * len(depths) + 1.6, 2.5 * len(losses) + 0.4)
    axes = fig.subplots(len(losses), len(depths), squeeze=False, sharey="row")
    cmap = colormaps["viridis"]
    color = {k: cmap(i / max(1, len(latents) - 1) * 0.9) for i, k in enumerate(latents)}
    for i, loss in enumerate(losses):
        for j, depth in enumerate(depths):
            ax = axes[i, j]
            for latent, _seed, h, *_ in histories.get((loss, depth), []):
                ax.plot(h["epoch"], h["train_loss"], color=color[latent], lw=1, alpha=0.85)
                if "val_loss" in h and h["val_loss"].notna().any():
                    ax.plot(h["epoch"], h["val_loss"], color=color[latent], lw=1, ls="--", alpha=0.85)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{titles.get(loss, loss.upper() + '-trained')}, depth {depth}", fontsize=9)
            if i == len(losses) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                trained = {h[3] for d in depths for h in histories.get((loss, d), []) if len(h) > 3}
                name = next(iter(trained)) if len(trained) == 1 else loss
                ax.set_ylabel("BCE above its floor" if name == "bce" else f"{name.upper()} loss")
    handles = [Line2D([], [], color=color[k], label=f"k={k}") for k in latents]
    handles += [Line2D([], [], color="0.3", label="train"), Line2D([], [], color="0.3", ls="--", label="validation")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    return fig


def _section_curves(b: _Builder, data: StudyData) -> Section:
    histories: dict[tuple[str, int], list[tuple[Any, ...]]] = defaultdict(list)
    floors: dict[int, tuple[float, float]] = {}
    shown: set[float] = set()
    for r in data.records:
        try:
            h = r.run.history()
        except (OSError, ValueError):
            continue
        if r.loss == "bce":  # the loss above its floor: what the convergence rule measures
            val_floor, train_floor = bce_floor(r, b.loaded, floors)
            h = h.assign(train_loss=h["train_loss"] - train_floor,
                         **({"val_loss": h["val_loss"] - val_floor} if "val_loss" in h else {}))
            shown.add(round(val_floor, 3))
        histories[(data.arm_label(r.arm), r.depth)].append((r.latent, r.seed, h, r.loss))
    s = Section("Learning curves")
    if not histories:
        return s.add_text("No history.csv found in the runs.")
    floor_text = (f" BCE is drawn above its floor, the images' own entropy (about {', '.join(map(str, sorted(shown)))} "
                  "per pixel), which no reconstruction can go below: on the raw loss every BCE curve looks flat."
                  if shown else "")
    several = data.arm_factors != ("loss",)
    titles = {data.arm_label(arm): data.arm_long(arm) for arm in data.arms} if several else None
    order = [data.arm_label(arm) for arm in data.arms] if several else None
    panels = f"training {data.arm_noun}" if several else "training loss"
    s.add_figure(b.fig(learning_curve_grid(histories, data.latents, titles, order), "learning-curves",
                       f"Training loss (solid) and validation loss (dashed) per epoch; one panel per {panels} "
                       "and depth, one colour per latent size, one line per seed." + floor_text + " Runs that do "
                       "not meet the convergence rule are listed in the alerts."))
    return s


def _section_reconstructions(b: _Builder, data: StudyData, depth: int) -> Section:
    X_train, y_train = b.loaded.train()
    X_test, y_test = b.loaded.test()
    names = _class_names(b.dataset, int(max(y_train.max(), y_test.max())) + 1)
    classes = np.intersect1d(y_train, y_test)  # the same class in each column of both blocks
    picks = {"test": (X_test, np.array([np.flatnonzero(y_test == c)[0] for c in classes])),
             "train": (X_train, np.array([np.flatnonzero(y_train == c)[0] for c in classes]))}
    s = Section("Reconstructions", paragraphs=[
        f"Depth {depth}, lowest seed of each {data.arm_noun}. Fixed examples: the first image of each class in the "
        "test split (top block) and in the train split (bottom block). Per block: the original, then for each training "
        f"{data.arm_noun} "
        "the code drawn as an image (reshaped to the most square rectangle, enlarged, one colour scale per row) "
        "and the reconstruction."])
    for latent in data.latents:
        rows: list[tuple[str, np.ndarray, str]] = []
        used = []
        for split, (X, idx) in picks.items():
            rows.append((f"{split}: original", X[idx], "image"))
            for arm in data.arms:
                run = _model_run(data, depth, latent, arm)
                if run is None:
                    continue
                codes, recon = _encode(run, X[idx])
                rows.append((f"code ({data.arm_label(arm)})", codes, "code"))
                rows.append((f"reconstruction ({data.arm_label(arm)})", recon, "image"))
                if split == "test":
                    used.append(f"{data.arm_label(arm)}: run {run.run_id}, seed {run.seed}")
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

    from ...viz import code_shape, new_figure

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


def _tsne_choice(data: StudyData, runs: pd.DataFrame, depth: int, n_models: int,
                 preferred: list[int]) -> list[RunRecord]:
    """Models for the t-SNE maps: the study file's ``tsne_latent_sizes`` first, each with the
    loss of lower validation error (test error only for runs stored without validation errors)."""
    latents = [k for k in data.latents if data.select(depth, k)]
    order = [k for k in preferred if k in latents] + sorted(k for k in latents if k not in preferred)
    chosen = []
    for latent in order[:n_models]:
        sel = runs[(runs.depth == depth) & (runs.latent_size == latent)]
        column = "val_mse_mean" if np.isfinite(sel["val_mse_mean"].to_numpy(float)).all() else "mse_mean"
        arm_of = sel[list(data.arm_factors)].apply(lambda row: tuple(hashable(v) for v in row), axis=1)
        best_arm = sel.groupby(arm_of)[column].mean().idxmin()
        run = _model_run(data, depth, latent, best_arm)
        if run is not None:
            chosen.append(run)
    return chosen


def _section_tsne(b: _Builder, data: StudyData, runs: pd.DataFrame, depth: int) -> Section:
    from ...viz import embedding_quality, tsne_panels

    opts = b.ctx.options
    X_train, y_train = b.loaded.train()
    X_test, y_test = b.loaded.test()
    small = len(X_train) < 20_000
    n_train = opts.tsne_train or (1000 if small else 2000)
    n_test = opts.tsne_test or (500 if small else 1000)
    n_models = opts.tsne_models if opts.tsne_models is not None else (1 if small else 2)
    preferred = list(b.ctx.spec.extra.get("tsne_latent_sizes", [64, 16]))
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
        f"on the train map). Chosen models: best depth, the latent sizes {' and '.join(map(str, preferred))} when "
        f"present, the better {data.arm_noun} of the cell, lowest seed.")
    base = _tsne_cached(b.ctx, f"orig|{data_key}|{subset_key}", X_train[tr], X_test[te])
    for run in _tsne_choice(data, runs, depth, n_models, preferred):
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
                          title=f"depth {run.depth}, k={run.latent}, {data.arm_long(run.arm)}, seed {run.seed}")
        s.add_figure(b.fig(fig, f"tsne-k{run.latent}-" + "-".join(map(str, run.arm)),
                           f"t-SNE of originals, codes and reconstructions (top: train subset, bottom: test points "
                           f"placed in the train maps); depth {run.depth}, k = {run.latent}, {data.arm_long(run.arm)}"
                           f", run {run.run_id}.", dpi=90))
    return s


def _section_probes(b: _Builder, data: StudyData) -> Section:
    from ...stats import fit_pca, linear_probe

    opts = b.ctx.options
    X_train, y_train = b.loaded.train()
    X_test, y_test = b.loaded.test()
    idx = _stratified(y_train, min(opts.probe_train, len(X_train)), seed=2)
    Xs, ys = X_train[idx], y_train[idx]
    cache = b.ctx.cache_get("probes.json", PROBES_KEY, lambda v: isinstance(v, dict)) or {}
    settings = f"n={len(idx)}|iter={opts.probe_max_iter}|data={_data_key(b.ctx, len(data.labels))}"

    todo: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {}

    def probe(feature_id: str, make: Callable[[], tuple[np.ndarray, np.ndarray]]) -> str:
        """The cache key of a probe; a missing or damaged entry is queued for computing."""
        key = f"{feature_id}|{settings}"
        value = cache.get(key)
        if not isinstance(value, float) or not 0.0 <= value <= 1.0:
            todo[key] = make
        return key

    pcas: dict[str, Any] = {}

    def pca_features(k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first k components of one PCA fit at the largest latent size (the exact solver's
        components do not depend on how many are kept)."""
        if "fit" not in pcas:
            pcas["fit"] = fit_pca(X_train, max(k for k in data.latents if k <= min(X_train.shape)))
        mean, components = pcas["fit"].mean_, pcas["fit"].components_[:k]
        return (Xs - mean) @ components.T, (X_test - mean) @ components.T

    raw = probe("raw", lambda: (Xs, X_test))
    rows = []
    for latent in data.latents:
        row: dict[str, Any] = {"latent": latent}
        if latent <= min(X_train.shape):
            row["PCA codes"] = probe(f"pca{latent}", lambda k=latent: pca_features(k))
        for depth in data.depths:
            for arm in data.arms:
                run = _model_run(data, depth, latent, arm)
                row[f"AE depth {depth}, {data.arm_label(arm)}"] = (
                    probe(f"model-{_model_key(run)}", lambda r=run: (_encode(r, Xs)[0], _encode(r, X_test)[0]))
                    if run is not None else math.nan)
        row["raw pixels"] = raw
        rows.append(row)
    if todo:  # the probes share the report's cores (--jobs), one BLAS thread each
        from joblib import Parallel, delayed, parallel_config

        def jobs() -> Any:
            for make in todo.values():  # features made one at a time, as the workers take them
                Ztr, Zte = make()
                yield delayed(linear_probe)(Ztr, ys, Zte, y_test, max_iter=opts.probe_max_iter)

        from ...parallel import quiet_worker_recycling

        with parallel_config(backend="loky", inner_max_num_threads=1), quiet_worker_recycling():
            accuracies = Parallel(n_jobs=min(len(todo), b.ctx.options.cores()), return_as="generator")(jobs())
            for key, accuracy in zip(todo, accuracies, strict=True):
                cache[key] = accuracy
    rows = [{k: float(cache[v]) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    b.ctx.cache_put("probes.json", PROBES_KEY, cache)
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
        f"Linear probe: standardised features, multinomial logistic regression (C = 1, scikit-learn's "
        f"objective, fitted to convergence by L-BFGS on whitened features, at most {opts.probe_max_iter} "
        f"iterations) fitted on a fixed stratified subset of {len(idx):,} train images and "
        f"scored on all {len(X_test):,} test images. It measures how much class information each code keeps, "
        f"linearly, against the raw pixels ({X_train.shape[1]} features) and PCA codes of the same size (PCA fitted "
        f"on the whole train split). Autoencoders: every depth and {data.arm_noun}, lowest seed.",
        "; ".join(verdicts) + "." if verdicts else ""],
        tables=[Table(rows, title="Test accuracy of a logistic-regression probe", formats=fmt)])
