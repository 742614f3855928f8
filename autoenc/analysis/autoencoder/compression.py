"""Report section "Compression in bits": every trained encoder as a real codec
(:class:`autoenc.codec.LatentCodec`) against PCA through the same pipeline, JPEG, WebP and PNG.

Each latent codec gets the quantizer design that needs the fewest bits on validation images, the
library codecs their best settings; the tables (``codec_tables``) make every choice on validation
images and report test images (docs/codecs.md).

Results per codec are cached under ``report_cache/`` keyed by the SHA-256 of the run's model file
and the settings, so a retrained model is never shown with stale numbers, and a damaged cache file
is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ...quantizer import DESIGNS
from ..context import Section
from ..rate_distortion import (
    BEST_SETTINGS,
    JPEG_QUALITIES,
    MIN_OVERLAP_DB,
    STEP_SCALES,
    WEBP_QUALITIES,
    bd_rate_overlap,
    designed_curves,
    pillow_curve,
)
from .codec_tables import (
    CellNames,
    bd_rate_table,
    best_per_size,
    chosen_per_size,
    design_table,
    fixed_psnr_table,
    winners_table,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["POSTHOC_FILE", "section_rate_distortion"]

#: The best codec per code size (chosen on validation, test curves), written to the store root for
#: other reports: the learned-compression report draws them as "the post-hoc codecs".
POSTHOC_FILE = "posthoc_codecs.json"

RATE_TARGETS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
PSNR_TARGETS = (20.0, 24.0, 28.0)
#: Validation images the codecs are chosen on (evenly spread over the validation split).
SELECTION_IMAGES = 2_000
#: v3: quantizer designs chosen on validation, JPEG optimized, WebP method 6, 9 step scales; v4: selection tables
#: span the training codes' extremes, gains from at most GAIN_PASSES decoder passes, distortion measured with the
#: float32 decoder (docs/codecs.md)
VERSION = "rd-v4"


def _valid_job(value: Any) -> bool:
    def points(pts: Any) -> bool:
        return isinstance(pts, list) and all(isinstance(p, dict) and all(isinstance(v, int | float)
                                                                         for v in p.values()) for p in pts)

    return isinstance(value, dict) and points(value.get("test")) and points(value.get("validation"))


def _job(kind: str, what: Any, X_fit: np.ndarray, X_val: np.ndarray, X: np.ndarray, side: int) -> dict[str, Any]:
    """Operating points of one codec on validation and test images (runs in a worker process, one
    BLAS thread); latent codecs with the quantizer design chosen on the validation images."""
    from threadpoolctl import threadpool_limits

    from ...codec import LatentCodec

    with threadpool_limits(1):  # one BLAS thread per worker: the workers share the cores
        if kind == "run":
            from ...features import AutoencoderTransformer
            from ...nn import predict

            encoder = AutoencoderTransformer.from_run(what)
            # the train codes for the tables and statistics with the network in float32: half the time of
            # the codec's float64 encoder, codes within ~1e-7 (a count moves only for a code at a rounding
            # boundary); every validation and test image is encoded by the codec itself
            codes = predict(encoder.model_.encoder, X_fit, 1024, out_dtype=np.float32)
            return designed_curves(LatentCodec.from_autoencoder(encoder.model_, None, codes=codes), codes,
                                   X_val, X, side)
        if kind == "pca":
            codec = LatentCodec.from_pca(X_fit, what)
            return designed_curves(codec, codec.train_codes(X_fit), X_val, X, side)
        fmt, qualities = what
        return {"validation": pillow_curve(X_val, side, fmt, qualities, ssim=False),
                "test": pillow_curve(X, side, fmt, qualities)}


def _subset(y: np.ndarray, n: int) -> np.ndarray:
    """All rows, or a class-stratified subset of ``n`` (the same for every codec)."""
    from ...datasets import stratified_indices

    return np.sort(stratified_indices(y, n, seed=0)) if 0 < n < len(y) else np.arange(len(y))


def _validation_rows(data: Any, n_train: int) -> tuple[int, str]:
    """How many of the last training images are held out for choices, and what they are."""
    held = {int(r.metrics.get("n_validation") or 0) for r in data.records}
    n_val = min(held) if held else 0
    if 0 < n_val < n_train:
        return n_val, f"the validation split (the last {n_val:,} training images, which no model was trained on)"
    n_val = max(1, n_train // 10)
    return n_val, (f"the last {n_val:,} training images (the runs have no validation split: the autoencoders saw "
                   "them in training; PCA and the tables are fitted without them)")


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
    n_val, held_out = _validation_rows(data, len(X_train))
    X_fit = np.asarray(X_train[:-n_val], np.float32)  # PCA, code statistics and tables: never the held-out images
    val_rows = len(X_train) - n_val + np.unique(np.linspace(0, n_val - 1, min(n_val, SELECTION_IMAGES)).astype(int))
    X_val = np.asarray(X_train[val_rows], np.float32)
    data_key = hashlib.sha256(f"{VERSION}|{json.dumps(ctx.data_settings, sort_keys=True)}|{len(X)}|"
                              f"{hashlib.sha256(rows.tobytes()).hexdigest()}|{STEP_SCALES}|{n_val}|{len(X_val)}|"
                              f"{DESIGNS}|{BEST_SETTINGS}".encode()).hexdigest()[:16]
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
    results: dict[Any, dict[str, Any]] = {}
    with ctx.timed("rate-distortion: codecs"):
        todo = []
        for key, (name, kind, what) in jobs.items():
            cached = ctx.cache_get(name, data_key, _valid_job)
            if cached is None:
                todo.append((key, kind, what))
            else:
                results[key] = cached
        if todo:
            import tempfile

            from joblib import Parallel, delayed

            from ...parallel import quiet_worker_recycling

            n_jobs = min(len(todo), ctx.options.cores())  # --jobs bounds this stage too
            # progress on stderr without -v: a cold section runs for minutes
            progress = logging.getLogger("autoenc").info
            progress(f"[report {ctx.spec.name}] rate-distortion: coding {len(X):,} test and {len(X_val):,} "
                     f"validation images with {len(todo)} codecs on {n_jobs} cores")
            with tempfile.TemporaryDirectory(prefix="autoenc-rd-") as tmp:
                # the images as memory maps: joblib then sends the workers their file names, where it
                # would hash (~0.3 s) and dump an in-memory array again for every job
                arrays = []
                for name, a in (("fit", X_fit), ("val", X_val), ("test", X)):
                    np.save(f"{tmp}/{name}.npy", a)
                    arrays.append(np.load(f"{tmp}/{name}.npy", mmap_mode="r", allow_pickle=False))
                computed = Parallel(n_jobs=n_jobs, return_as="generator")(
                    delayed(_job)(kind, what, *arrays, side) for _, kind, what in todo)
                with quiet_worker_recycling():
                    for i, ((key, *_), result) in enumerate(zip(todo, computed, strict=True), start=1):
                        # as each finishes: an interrupted report keeps them
                        ctx.cache_put(jobs[key][0], data_key, result)
                        results[key] = result
                        if i % 10 == 0 or i == len(todo):
                            progress(f"[report {ctx.spec.name}] rate-distortion: {i}/{len(todo)} codecs done")
    # one curve per depth, latent size and arm (loss and every other factor that varies): never pooled
    ae: dict[tuple[int, int, tuple[Any, ...]], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in data.records:
        ae[(r.depth, r.latent, r.arm)][r.seed] = results[("run", str(r.run.path))]
    pca = {k: results[("pca", k)] for k in data.latents if ("pca", k) in results}
    library = {fmt: {split: [p for fmt_, q in pillow if fmt_ == fmt for p in results[(fmt_, q)][split]]
                     for split in ("validation", "test")} for fmt in ("JPEG", "WEBP", "PNG")}
    setup = {"n_images": len(X), "whole": len(X) == len(X_test), "n_val": len(X_val), "held_out": held_out,
             "n_fit": len(X_fit)}
    _write_posthoc(ctx, data, ae, setup)
    return render_section(b, data, ae, pca, library, setup)


def _write_posthoc(ctx: Any, data: Any, ae: dict, setup: dict[str, Any]) -> None:
    """``POSTHOC_FILE`` in the store root (a read-only store only loses this file)."""
    from ...fileio import atomic_write_json

    arms = CellNames(data.arm_noun, data.arm_label, data.arms.index)
    try:
        atomic_write_json(ctx.store.root / POSTHOC_FILE, {
            "study": ctx.spec.name, "preset": ctx.spec.preset, "data": ctx.data_settings,
            "n_images": setup["n_images"], "whole_test_split": setup["whole"],
            "selection": f"per code size, the (depth, {arms.noun}) cell needing the fewest bits on {setup['n_val']:,} "
                         "validation images (seed-mean curves); test points, quantizer design chosen on validation",
            "sizes": chosen_per_size(ae, arms)})
    except OSError as e:
        logging.getLogger("autoenc").warning(f"{POSTHOC_FILE} not written: {e}")


def render_section(b: Any, data: Any, ae: dict, pca: dict, library: dict, setup: dict[str, Any]) -> Section:
    """The section from every codec's validation and test results (see ``codec_tables``)."""
    side = int(round(math.sqrt(data.n_pixels)))
    s = Section("Compression in bits")
    s.add_text(
        "Every trained encoder becomes a codec (`autoenc.codec.LatentCodec`): each code dimension is quantized "
        "around its mean on the training images with a plain uniform quantizer (rounding, no dead zone, "
        "reconstruction at the middle of each cell: the same for every codec), and the symbols are range-coded "
        "(`constriction`) with one probability table per dimension estimated on the training images and stored "
        "with the codec. The steps come from one of three designs, the same for every latent codec (PCA "
        "included): *scaled* (a step proportional to each dimension's spread), *uniform* (one step for all: the "
        "textbook choice for PCA under MSE) and *lagrangian* (a rate-distortion-optimal allocation: per "
        "dimension, the step that minimises distortion + λ × rate for the decoder's measured gain, dropping "
        "dimensions not worth their bits), each swept over "
        f"{len(STEP_SCALES)} scales ({', '.join(f'{v:g}' for v in STEP_SCALES)}). For each codec the design "
        f"needing the fewest bits on {setup['n_val']:,} images of {setup['held_out']} is chosen, and only that "
        "design is shown on the test images (docs/codecs.md). The rate is the real size of each image's range-"
        "coded payload in bits per pixel; the decoder rebuilds the image from those bytes alone (round trip "
        "tested). PCA is fitted on the same "
        f"{setup['n_fit']:,} training images as the tables (reconstructions clipped to [0, 1]). JPEG "
        "(`optimize=True`: optimized Huffman tables) and WebP (`method=6`) code the same images as 8-bit "
        "grayscale (no chroma), their rate given for whole files and, separately, without container headers (on "
        f"{side} × {side} images the headers dominate); PNG is lossless. All codecs code the same "
        f"{setup['n_images']:,} test images ("
        f"{'the whole test split' if setup['whole'] else 'a class-stratified subset of the test split'}); "
        "distortion is the mean per-image PSNR (dB, pixels in [0, 1]) and SSIM, measured on the decoder's "
        "output computed in float32 (within float32 rounding of the codec's own float64 decoder: PSNR within "
        "1e-4 dB, tested).")
    png = library["PNG"]["test"]
    png_bpp = png[0]["bpp"] if png else math.nan
    if png:
        s.add_note(f"PNG (lossless): {png[0]['bpp']:.2f} bpp as files, {png[0]['payload_bpp']:.2f} bpp of IDAT "
                   "data; the 8-bit originals themselves are 8 bpp.")
    ae_test = {cell: {seed: r["test"] for seed, r in by_seed.items()} for cell, by_seed in ae.items()}
    pca_test = {k: r["test"] for k, r in pca.items()}
    jpeg, webp = library["JPEG"]["test"], library["WEBP"]["test"]
    for fig in _figures(b, data, ae_test, pca_test, jpeg, webp):
        s.add_figure(fig)
    n_pixels = int(data.n_pixels)
    arms = CellNames(data.arm_noun, data.arm_label, data.arms.index)
    s.add_table(design_table(ae, pca, n_pixels, arms))
    s.add_table(bd_rate_table(ae, pca, jpeg, arms))
    s.add_table(best_per_size(ae, pca, jpeg, arms))
    s.add_table(fixed_psnr_table(ae, pca, library, PSNR_TARGETS, arms))
    table, _ = winners_table(ae, pca, library, RATE_TARGETS, arms)
    table.caption += f" PNG, lossless, needs {png_bpp:.2f} bpp."
    s.add_table(table)
    for comparison in data.comparisons():
        s.add_text(_level_per_bit(ae_test, data, comparison))
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
        fits = [bd_rate_overlap([p["bpp"] for p in by_seed[seed]], [p["psnr"] for p in by_seed[seed]],
                                [p["bpp"] for p in other[seed]], [p["psnr"] for p in other[seed]])
                for seed in sorted(by_seed.keys() & other.keys())]
        values = [v.pchip for v in fits if not v.refused()]
        if values:
            per_cell.append((depth, latent, values))
    loss = comparison.factor == "loss"
    if not per_cell:
        return (f"{a_name} vs {b_name} per bit: no cell has both "
                + ("losses" if loss else f"{comparison.factor} values") + f" sharing {MIN_OVERLAP_DB:g} dB of PSNR.")
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
            f"BD-rate of the {a_long} codec against the {b_long} one ({same}; seeds whose curves share under "
            f"{MIN_OVERLAP_DB:g} dB of PSNR left out): mean {mean_all:+.1f}% over "
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
