"""Report section "Compression in bits": every trained encoder as a real codec
(:class:`autoenc.codec.LatentCodec`) against PCA through the same pipeline, JPEG, WebP and PNG.

Operating points per run are cached under ``report_cache/`` keyed by the SHA-256 of the run's
model file and the settings, so a retrained model is never shown with stale numbers, and a
damaged cache file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import Section, Table
from ..rate_distortion import (
    JPEG_QUALITIES,
    STEP_SCALES,
    WEBP_QUALITIES,
    bd_rate,
    codec_curve,
    pillow_curve,
    upper_envelope,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["section_rate_distortion"]

RATE_TARGETS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
VERSION = "rd-v2"  # v2: the whole test split (v1: 1,000 stratified images)


def _valid_points(points: Any) -> bool:
    return isinstance(points, list) and all(isinstance(p, dict) and all(isinstance(v, int | float)
                                                                       for v in p.values()) for p in points)


def _job(kind: str, what: Any, X_train: np.ndarray, X: np.ndarray, side: int) -> list[dict[str, float]]:
    """Operating points of one codec (runs in a worker process, one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    from ...codec import LatentCodec

    with threadpool_limits(1):  # one BLAS thread per worker: the workers share the cores
        if kind == "run":
            from ...features import AutoencoderTransformer

            encoder = AutoencoderTransformer.from_run(what)
            codes = encoder.transform(X_train)  # the codec's own arithmetic (float64, rounded to float32)
            return codec_curve(LatentCodec.from_autoencoder(encoder.model_, None, codes=codes), X_train, X, side,
                               train_codes=codes)
        if kind == "pca":
            return codec_curve(LatentCodec.from_pca(X_train, what), X_train, X, side)
        fmt, qualities = what
        return pillow_curve(X, side, fmt, qualities)


def _subset(y: np.ndarray, n: int) -> np.ndarray:
    """All rows, or a class-stratified subset of ``n`` (the same for every codec)."""
    from ...datasets import stratified_indices

    return np.sort(stratified_indices(y, n, seed=0)) if 0 < n < len(y) else np.arange(len(y))


def section_rate_distortion(b: Any, data: Any, runs: pd.DataFrame) -> Section:
    """The section; ``b`` is the report's builder (context, loaded data, figures)."""
    from .data import _model_key

    ctx = b.ctx
    X_train, _ = b.loaded.train()
    X_test, y_test = b.loaded.test()
    side = int(round(math.sqrt(X_test.shape[1])))
    n = ctx.options.rd_images or (len(X_test) if len(X_train) >= 20_000 else 2_000)
    rows = _subset(y_test, n)
    X = np.asarray(X_test[rows], np.float32)
    data_key = hashlib.sha256(f"{VERSION}|{json.dumps(ctx.data_settings, sort_keys=True)}|{len(X)}|"
                              f"{hashlib.sha256(rows.tobytes()).hexdigest()}|{STEP_SCALES}".encode()).hexdigest()[:16]
    # Every codec is one job: PCA per latent size, each Pillow format and quality, every run
    # (keyed by its model file's checksum); the cached ones are read, the rest shared among the
    # cores, longest first so that the workers finish together.
    pillow = [(fmt, q) for fmt, qs in (("JPEG", JPEG_QUALITIES), ("WEBP", WEBP_QUALITIES), ("PNG", [None]))
              for q in qs]
    jobs: dict[Any, tuple[str, str, Any]] = {
        **{("pca", k): (f"rd-pca{k}-{data_key}.json", "pca", k) for k in sorted(data.latents, reverse=True)},
        **{(fmt, q): (f"rd-{fmt.lower()}{'' if q is None else q}-{data_key}.json", "pillow", (fmt, [q]))
           for fmt, q in pillow},
        **{("run", str(r.run.path)): (f"rd-run-{_model_key(r)[:20]}-{data_key}.json", "run",
                                      str(r.run.path)) for r in sorted(data.records, key=lambda r: -r.latent)},
    }
    points: dict[Any, list[dict[str, float]]] = {}
    with ctx.timed("rate-distortion: codecs"):
        todo = []
        for key, (name, kind, what) in jobs.items():
            cached = ctx.cache_get(name, data_key, _valid_points)
            if cached is None:
                todo.append((key, kind, what))
            else:
                points[key] = cached
        if todo:
            from joblib import Parallel, delayed

            n_jobs = max(1, min(len(todo), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
            # progress on stderr without -v: a cold section runs for minutes
            progress = logging.getLogger("autoenc").info
            progress(f"[report {ctx.spec.name}] rate-distortion: coding {len(X):,} test images with {len(todo)} "
                     f"codecs on {n_jobs} cores")
            computed = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_job)(kind, what, X_train, X, side) for _, kind, what in todo)
            for i, ((key, *_), pts) in enumerate(zip(todo, computed, strict=True), start=1):
                ctx.cache_put(jobs[key][0], data_key, pts)  # as each finishes: an interrupted report keeps them
                points[key] = pts
                if i % 10 == 0 or i == len(todo):
                    progress(f"[report {ctx.spec.name}] rate-distortion: {i}/{len(todo)} codecs done")
    # one curve per depth, latent size and arm (loss and every other factor that varies): never pooled
    ae: dict[tuple[int, int, tuple[Any, ...]], dict[int, list[dict[str, float]]]] = defaultdict(dict)
    for r in data.records:
        ae[(r.depth, r.latent, r.arm)][r.seed] = points[("run", str(r.run.path))]
    pca = {k: points[("pca", k)] for k in data.latents}
    jpeg, webp, png = ([p for fmt_, q in pillow if fmt_ == fmt for p in points[(fmt_, q)]]
                       for fmt in ("JPEG", "WEBP", "PNG"))
    return _render(b, data, runs, ae, pca, jpeg, webp, png, len(X), len(X) == len(X_test))


def _mean_curve(by_seed: dict[int, list[dict[str, float]]]) -> list[dict[str, float]]:
    """Seed-mean operating points (same step sizes across seeds)."""
    seeds = sorted(by_seed)
    out = []
    for i in range(len(by_seed[seeds[0]])):
        pts = [by_seed[s][i] for s in seeds]
        out.append({k: float(np.mean([p[k] for p in pts])) for k in ("bpp", "psnr", "ssim", "mse")})
    return out


def _psnr_at(points: list[dict[str, float]], rate: float, key: str = "bpp") -> float:
    env = upper_envelope(points, rate=key)
    if not env or rate < env[0][key] or rate > env[-1][key]:
        return math.nan
    return float(np.interp(math.log(rate), np.log([p[key] for p in env]), [p["psnr"] for p in env]))


def _render(b: Any, data: Any, runs: pd.DataFrame, ae: dict, pca: dict, jpeg: list, webp: list, png: list,
            n_images: int, whole: bool) -> Section:
    side = int(round(math.sqrt(data.n_pixels)))
    s = Section("Compression in bits")
    s.add_text(
        f"Every trained encoder becomes a codec (`autoenc.codec.LatentCodec`): its code is quantized with a uniform "
        f"step per dimension ({', '.join(map(str, STEP_SCALES))} × that dimension's standard deviation on the train "
        "split: one operating point each), and the symbols are range-coded (`constriction`) with one probability "
        "table per dimension estimated on the train split and stored with the codec. The rate is the real size of "
        "each image's bitstream (whole 32-bit words, as the coder emits them), in bits per pixel; the decoder "
        "rebuilds the image from those bytes alone (round trip tested). PCA codes go through the same pipeline "
        "(reconstructions clipped to [0, 1]). JPEG and WebP (Pillow, quality sweep) and PNG (lossless) code the "
        "same images as 8-bit grayscale; their rate is given for whole files and, separately, without container "
        f"headers (on {side} × {side} images the headers dominate). All codecs code the same {n_images:,} test images "
        f"({'the whole test split' if whole else 'a class-stratified subset of the test split'}); distortion is "
        "the mean per-image PSNR (dB, pixels in [0, 1]) and SSIM.")
    png_bpp = png[0]["bpp"] if png else math.nan
    if png:
        s.add_note(f"PNG (lossless): {png[0]['bpp']:.2f} bpp as files, {png[0]['payload_bpp']:.2f} bpp of IDAT "
                   "data; the 8-bit originals themselves are 8 bpp.")
    # figures: one panel per latent size
    figs = _figures(b, data, ae, pca, jpeg, webp)
    for fig in figs:
        s.add_figure(fig)
    # BD-rates
    rows = []
    jpeg_curves = {"JPEG (file)": ([p["bpp"] for p in jpeg], [p["psnr"] for p in jpeg]),
                   "JPEG (payload)": ([p["payload_bpp"] for p in jpeg], [p["psnr"] for p in jpeg])}
    for (depth, latent, arm), by_seed in sorted(ae.items(), key=lambda kv: (kv[0][0], -kv[0][1],
                                                                            data.arms.index(kv[0][2]))):
        row: dict[str, Any] = {"depth": depth, "latent": latent, data.arm_noun: data.arm_label(arm),
                               "seeds": len(by_seed)}
        refs = {f"PCA k={latent}": ([p["bpp"] for p in pca.get(latent, [])], [p["psnr"] for p in pca.get(latent, [])]),
                **jpeg_curves}
        for name, (rate_b, psnr_b) in refs.items():
            values = [bd_rate([p["bpp"] for p in pts], [p["psnr"] for p in pts], rate_b, psnr_b)
                      for pts in by_seed.values()]
            values = [v for v in values if math.isfinite(v)]
            row[f"BD-rate vs {name.split(' k=')[0]}"] = (
                f"{np.mean(values):+.1f}% [{min(values):+.1f}, {max(values):+.1f}]" if values else "no shared range")
        rows.append(row)
    s.add_table(Table(rows, title="BD-rate of each autoencoder codec (mean over seeds [min, max])",
                      caption="Bjontegaard delta rate at equal PSNR over the PSNR range both curves cover "
                              "(PCHIP interpolation of log-rate); negative: the autoencoder needs fewer bits. "
                              "vs PCA: PCA with the same number of components through the same pipeline."))
    # winners per rate
    families: dict[str, list[dict[str, float]]] = {
        "best autoencoder": [p for by_seed in ae.values() for p in _mean_curve(by_seed)],
        "PCA (best k)": [p for pts in pca.values() for p in pts],
        "JPEG (file)": jpeg, "JPEG (payload)": [{**p, "bpp": p["payload_bpp"]} for p in jpeg],
        "WebP (file)": webp, "WebP (payload)": [{**p, "bpp": p["payload_bpp"]} for p in webp],
    }
    win_rows = []
    for rate in RATE_TARGETS:
        row = {"bpp": rate}
        scores = {name: _psnr_at(pts, rate) for name, pts in families.items()}
        row.update({f"{name} PSNR": v for name, v in scores.items()})
        finite = {k: v for k, v in scores.items() if math.isfinite(v)}
        row["highest PSNR"] = max(finite, key=finite.get) if finite else "no codec reaches this rate"
        honest = {k: v for k, v in finite.items() if "payload" not in k}
        row["highest PSNR (whole files)"] = max(honest, key=honest.get) if honest else "–"
        win_rows.append(row)
    s.add_table(Table(win_rows, title="Which codec wins at which rate (PSNR in dB on each family's upper envelope)",
                      formats={k: ".2f" for r in win_rows for k in r if k.endswith("PSNR")},
                      caption="Interpolated on each family's best operating points (log-rate); – : the family has no "
                              "point at that rate. The payload rows leave out the container headers (not "
                              "decodable alone), so they bound what JPEG/WebP could do with headers agreed in "
                              f"advance. PNG, lossless, needs {png_bpp:.2f} bpp."))
    for comparison in data.comparisons():
        s.add_text(_level_per_bit(ae, data, comparison))
    return s


def _level_per_bit(ae: dict, data: Any, comparison: Any) -> str:
    """The original's question per bit: BD-rate of level A vs level B of the compared factor (BCE- vs
    MSE-trained in the main study), per cell (and other strata) and seed."""
    from ..factors import hashable

    a_name, b_name = comparison.labels
    index = data.arm_factors.index(comparison.factor) if comparison.factor in data.arm_factors else None
    per_cell = []
    for (depth, latent, arm), by_seed in ae.items():
        if index is None or arm[index] != hashable(comparison.contrast.a):
            continue
        twin = (depth, latent, arm[:index] + (hashable(comparison.contrast.b),) + arm[index + 1:])
        if twin not in ae:
            continue
        other = ae[twin]
        values = [bd_rate([p["bpp"] for p in by_seed[seed]], [p["psnr"] for p in by_seed[seed]],
                          [p["bpp"] for p in other[seed]], [p["psnr"] for p in other[seed]])
                  for seed in sorted(by_seed.keys() & other.keys())]
        values = [v for v in values if math.isfinite(v)]
        if values:
            per_cell.append((depth, latent, values))
    loss = comparison.factor == "loss"
    if not per_cell:
        return (f"{a_name} vs {b_name} per bit: no cell has both "
                + ("losses" if loss else f"{comparison.factor} values") + " with a shared PSNR range.")
    better = sum(1 for *_, v in per_cell if all(x < 0 for x in v))
    worse = sum(1 for *_, v in per_cell if all(x > 0 for x in v))
    mean_all = float(np.mean([np.mean(v) for *_, v in per_cell]))
    n_seeds = max(len(v) for *_, v in per_cell)
    seeds = "at every seed " if n_seeds > 1 else ""
    mixed = len(per_cell) - better - worse
    a_long, b_long = ((f"{a_name}-trained", f"{b_name}-trained") if loss else
                      (f"{comparison.factor} {a_name}", f"{comparison.factor} {b_name}"))
    same = "same depth, code size and seed" if len(comparison.strata) <= 2 else \
        f"same depth, code size, {', '.join(comparison.strata[2:])} and seed"
    return (f"**Does the {'loss' if loss else comparison.factor + ' value'} that wins on MSE also win per bit?** "
            f"BD-rate of the {a_long} codec against the {b_long} one ({same}): mean {mean_all:+.1f}% over "
            f"{len(per_cell)} cells; {a_name} needs fewer bits {seeds}in {better} cells and more {seeds}in {worse}"
            + (f"; the sign changes from seed to seed in {mixed}" if mixed else "")
            + ". Compare with the primary test on per-image MSE above: a codec's rate depends on how its codes "
              "spread, not only on how well it reconstructs, so the two need not agree.")


def _style_words(data: Any, style: dict) -> str:
    """``solid: MSE-trained, dashed: BCE-trained``: the line style of each arm, solid first."""
    words = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dotted"}
    order = sorted(data.arms, key=lambda arm: list(words).index(style[arm]))
    return ", ".join(f"{words[style[arm]]}: {data.arm_long(arm)}" for arm in order)


def _figures(b: Any, data: Any, ae: dict, pca: dict, jpeg: list, webp: list) -> list[Any]:
    from matplotlib.figure import Figure

    latents = sorted({k for (_, k, _) in ae}, reverse=True)
    depths = sorted({d for (d, _, _) in ae})
    colours = {d: c for d, c in zip(depths, ("#1b9e77", "#d95f02", "#7570b3", "#e7298a"), strict=False)}
    # one line style per arm (loss, and the values of any other factor that varies): the last arm solid
    styles = ("-", "--", ":", "-.")
    arms = data.arms
    style = {arm: styles[(len(arms) - 1 - i) % len(styles)] for i, arm in enumerate(arms)}
    out = []
    for quality, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        fig = Figure(figsize=(2.9 * len(latents) + 2.4, 3.6), layout="constrained")
        axes = fig.subplots(1, len(latents), sharex=True, sharey=True, squeeze=False)[0]
        for ax, k in zip(axes, latents, strict=True):
            for (depth, latent, arm), by_seed in sorted(ae.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                    arms.index(kv[0][2]))):
                if latent != k:
                    continue
                curves = [by_seed[s] for s in sorted(by_seed)]
                x = np.mean([[p["bpp"] for p in c] for c in curves], axis=0)
                ys = np.array([[p[quality] for p in c] for c in curves])
                ax.plot(x, ys.mean(axis=0), color=colours[depth], ls=style[arm], marker="o",
                        ms=3, label=f"AE depth {depth}, {data.arm_label(arm)}")
                if len(curves) > 1:
                    ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=colours[depth], alpha=0.15, lw=0)
            if k in pca:
                ax.plot([p["bpp"] for p in pca[k]], [p[quality] for p in pca[k]], color="0.3", ls=":", marker="s",
                        ms=3, label="PCA (same k), same codec")
            for pts, name, colour in ((jpeg, "JPEG", "#a6761d"), (webp, "WebP", "#e6ab02")):
                ax.plot([p["bpp"] for p in pts], [p[quality] for p in pts], color=colour, marker="^", ms=3,
                        label=f"{name} (files)")
                ax.plot([p["payload_bpp"] for p in pts], [p[quality] for p in pts], color=colour, ls=":", lw=1,
                        label=f"{name} (no headers)")
            ax.set_xscale("log")
            ax.set_title(f"k = {k}", fontsize=10)
            ax.set_xlabel("bits per pixel (log)")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel(label)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize=8)
        out.append(b.fig(fig, f"rate-distortion-{quality}",
                         f"Rate-distortion ({label} against real bits per pixel) per code size: autoencoder codecs "
                         f"(colour: depth; {_style_words(data, style)}; line: mean over seeds, band: "
                         "range over seeds), PCA through the same codec, JPEG and WebP as whole files (solid) and "
                         "without headers (dotted)."))
    return out
