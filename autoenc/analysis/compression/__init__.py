"""The learned-compression report (task ``compression``, e.g. ``studies/fashion_rd.toml``).

Per run: the real rate (range-coded bytes per test image, as the run stored them), the rate its
likelihoods predict, PSNR of the decoded images and their SSIM (decoded again here from the
stored model, cached per model file). Curves: one point per lambda, the mean over seeds, with
the seeds' range as bands; against PCA (range coded, ``autoenc.codec``), JPEG and WebP on the same
test images (``analysis.rate_distortion``). Conv vs fully connected: seed-level tests at each
lambda (seeds paired), Holm over the lambdas. The CompressAI anchor
(``benchmarks/compressai_anchor.py``) is read from ``<store>/compressai_anchor.json`` when present.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..content import Alert, AnalysisResult, Section, Table
from ..context import ReportContext
from ..rate_distortion import JPEG_QUALITIES, WEBP_QUALITIES, bd_rate_overlap, codec_curve, distortion, pillow_curve
from .figures import POSTHOC_LABEL, densities_figure, rd_figure, reconstructions_figure

ANCHOR_FILE = "compressai_anchor.json"
PCA_SIZES = (8, 16, 32, 64, 128, 256)  # up to 256: PCA's PSNR then reaches the learned codecs' range
#: The study whose trained autoencoders, made codecs after training, the learned codecs are compared
#: with: its report writes ``posthoc_codecs.json`` to its store, beside this study's store.
POSTHOC_STUDY = "fashion_ae"


def _side(n_pixels: int) -> int:
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        raise ValueError(f"the compression report needs square images; got {n_pixels} pixels")
    return side


def learned_point(run: Any, X_train: np.ndarray, X_test: np.ndarray, side: int) -> dict[str, Any]:
    """One run as a real codec: the learned density as the coder's tables (covering every rounded
    latent of the run's training images), every test image encoded to bytes and decoded."""
    from ...codec import LatentCodec

    model = run.load_model().eval()
    n_val = int(round(len(X_train) * float(run.config.train["validation_split"])))
    train = X_train[:len(X_train) - n_val]
    batch = 256  # a conv encoder's im2col matrices stay small (2,000 images: ~300 MB each, slower)
    codes = np.concatenate([model.encode(train[i:i + batch].astype(np.float32)) for i in range(0, len(train), batch)])
    codec = LatentCodec.from_learned(model, X_test.shape[1], codes)
    blobs = codec.encode(X_test)
    symbols = codec.decode_symbols(blobs)
    quantized = codec.quantize(X_test)
    rounded = np.rint(codec.encode_fn(X_test) - codec.center) - codec.offset
    d = distortion(X_test, codec.dequantize(symbols), side)
    n_pixels = X_test.shape[1]
    payload = codec.payload_bits(blobs)
    return {"bpp": float(payload.mean() / n_pixels),
            "bpp_with_header": float(8 * np.mean([len(b) for b in blobs]) / n_pixels),
            "bpp_ideal": float(codec.ideal_bits(symbols).mean() / n_pixels),
            "psnr": float(d["psnr"].mean()), "ssim": float(d["ssim"].mean()),
            "round_trip_exact": bool(np.array_equal(symbols, quantized)),
            "clipped": int((rounded != quantized).sum())}


def run_rows(ctx: ReportContext, X_train: np.ndarray, X_test: np.ndarray, side: int) -> list[dict[str, Any]]:
    """One row per done run: its grid values, the codec's measurements (cached per model file and
    test images) and the rate its likelihoods predict."""
    from ...study.store import sha256_file

    rows = []
    for run in ctx.results.done:
        m, arrays = run.metrics, run.arrays()
        key = json.dumps({"model": sha256_file(run.path / "model.npz"), "data": ctx.data_settings,
                          "n_test": len(X_test), "rates": "payload"}, sort_keys=True)
        point = ctx.cached(f"rd-learned-{run.run_id}.json", key,
                           lambda run=run: learned_point(run, X_train, X_test, side))
        rows.append({"run": run.run_id, "variant": run.config.model.get("variant", run.config.model["architecture"]),
                     "lambda": float(run.config.train["rd_lambda"]), "seed": run.config.seed, **point,
                     "bpp_likelihood": float(np.mean(arrays["test_bits"])) / X_test.shape[1],
                     "seconds_per_epoch": float(m.get("seconds_per_epoch", math.nan)),
                     "epochs": int(m.get("epochs_run", 0))})
    return rows


def mean_curves(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """Per variant, one point per lambda: the mean over seeds and the seeds' range."""
    out: dict[str, list[dict[str, float]]] = {}
    for variant in sorted({r["variant"] for r in rows}):
        points = []
        for lam in sorted({r["lambda"] for r in rows if r["variant"] == variant}):
            sel = [r for r in rows if r["variant"] == variant and r["lambda"] == lam]
            point: dict[str, float] = {"lambda": lam, "n_seeds": len(sel)}
            for k in ("bpp", "psnr", "ssim", "bpp_likelihood"):
                v = np.array([r[k] for r in sel], float)
                point.update({k: float(v.mean()), f"{k}_min": float(v.min()), f"{k}_max": float(v.max())})
            points.append(point)
        out[variant] = points
    return out


def baselines(ctx: ReportContext, X_train: np.ndarray, X_test: np.ndarray, side: int) -> dict[str, list[dict]]:
    """PCA at several sizes (range coded with one step for all coefficients, the textbook quantizer
    for an orthogonal transform), JPEG (optimized) and WebP (method 6) on the test images, every
    rate without container headers (cached)."""
    from ...codec import LatentCodec

    key = json.dumps({"data": ctx.data_settings, "n": len(X_test), "pca": PCA_SIZES, "rates": "payload"},
                     sort_keys=True)

    def compute() -> dict[str, list[dict]]:
        pca: list[dict] = []
        for k in PCA_SIZES:
            for p in codec_curve(LatentCodec.from_pca(X_train, k), X_train, X_test, side, design="uniform"):
                pca.append({**p, "k": k})
        # JPEG and WebP by their payload (file headers removed), as the learned and PCA streams
        # count their range-coded payload without the stream header
        files = {"JPEG": pillow_curve(X_test, side, "JPEG", JPEG_QUALITIES),
                 "WebP": pillow_curve(X_test, side, "WEBP", WEBP_QUALITIES)}
        return {"PCA": pca, **{name: [{**p, "file_bpp": p["bpp"], "bpp": p["payload_bpp"]} for p in points]
                               for name, points in files.items()}}

    return ctx.cached("rd-fashion-rd-baselines.json", key, compute)


def _bd(points: list[dict], other: list[dict]) -> Any:
    return bd_rate_overlap([p["bpp"] for p in points], [p["psnr"] for p in points],
                           [p["bpp"] for p in other], [p["psnr"] for p in other])


def conv_vs_fc(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seed-level tests at each lambda: conv minus fc in PSNR and in bpp, seeds paired; Holm over lambdas."""
    from ...stats import holm
    from ...stats.seeds import seed_level_test

    out = []
    for lam in sorted({r["lambda"] for r in rows}):
        by = {(r["variant"], r["seed"]): r for r in rows if r["lambda"] == lam}
        seeds = sorted(s for v, s in by if v == "conv" and ("fc", s) in by)
        if len(seeds) < 2:
            continue
        for metric in ("psnr", "bpp"):
            t = seed_level_test([by[("conv", s)][metric] - by[("fc", s)][metric] for s in seeds])
            out.append({"lambda": lam, "metric": metric, "seeds": len(seeds), "conv - fc (mean)": t["mean"],
                        "95% CI low": t["ci_low"], "95% CI high": t["ci_high"], "t-test p": t["t_p"],
                        "sign-flip p": t["sign_flip_p"], "least possible sign-flip p": t["min_sign_flip_p"]})
    for metric in ("psnr", "bpp"):
        sel = [r for r in out if r["metric"] == metric]
        ps = [r["t-test p"] if math.isfinite(r["t-test p"]) else 1.0 for r in sel]
        for r, p in zip(sel, holm(ps) if ps else [], strict=True):
            r["Holm p (t)"] = float(p)
    return out


def anchor(ctx: ReportContext) -> dict[str, Any] | None:
    path = ctx.store.root / ANCHOR_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("points"), list):
            raise ValueError("no 'points' list")
        return data
    except (OSError, ValueError) as e:
        return {"error": f"{path}: {e}"}


def _anchor_runs(theirs: list[dict[str, Any]], variant: str) -> dict[tuple[float, int], dict[str, Any]]:
    return {(float(p["lambda"]), int(p["seed"])): p for p in theirs
            if p.get("variant", p.get("architecture")) == variant}


def anchor_pairs(rows: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run both libraries trained, side by side (what a BD-rate refused for overlap leaves)."""
    by_variant = {v: _anchor_runs(theirs, v) for v in {r["variant"] for r in rows}}
    out = []
    for r in rows:
        p = by_variant[r["variant"]].get((r["lambda"], r["seed"]))
        if p is not None:
            out.append({"variant": r["variant"], "lambda": r["lambda"], "seed": r["seed"],
                        "autoenc bpp": r["bpp"], "CompressAI bpp": float(p["bpp"]),
                        "autoenc bpp (likelihood)": r["bpp_likelihood"],
                        "CompressAI bpp (likelihood)": float(p["bpp_likelihood"]),
                        "autoenc PSNR": r["psnr"], "CompressAI PSNR": float(p["psnr"])})
    return sorted(out, key=lambda r: (r["variant"], r["lambda"], r["seed"]))


def anchor_rows(rows: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per architecture: BD-rates of autoenc's runs against CompressAI's on the runs both trained
    (variant, lambda, seed), by real bytes and by likelihood, and the seconds per epoch of both."""
    out = []
    for variant in sorted({r["variant"] for r in rows}):
        anchor_runs = _anchor_runs(theirs, variant)
        ours = [r for r in rows if r["variant"] == variant and (r["lambda"], r["seed"]) in anchor_runs]
        if not ours:
            continue
        mine = mean_curves(ours)[variant]
        matched = [anchor_runs[(r["lambda"], r["seed"])] for r in ours]
        ref = mean_curves([{**p, "variant": variant, "lambda": float(p["lambda"]), "ssim": math.nan}
                           for p in matched])[variant]
        like = bd_rate_overlap([p["bpp_likelihood"] for p in mine], [p["psnr"] for p in mine],
                               [p["bpp_likelihood"] for p in ref], [p["psnr"] for p in ref])
        ours_time = float(np.nanmean([r["seconds_per_epoch"] for r in ours]))
        their_time = float(np.mean([p["seconds_per_epoch"] for p in matched]))
        out.append({"architecture": variant, "runs": len(ours), "seeds": len({r["seed"] for r in ours}),
                    "BD-rate (real bytes)": _bd(mine, ref).text(), "BD-rate (likelihood)": like.text(),
                    "autoenc s/epoch": ours_time, "CompressAI s/epoch": their_time,
                    "time ratio": ours_time / their_time})
    return out


def posthoc(ctx: ReportContext, n_test: int) -> tuple[list[dict[str, Any]] | None, str]:
    """The post-hoc codecs of ``POSTHOC_STUDY`` (every size's best cell, chosen on validation) when its
    report has written them for the same test images; else None and why not."""
    from ..autoencoder.compression import POSTHOC_FILE

    path = ctx.store.root.parent / POSTHOC_STUDY / POSTHOC_FILE
    command = (f"`python -m autoenc.study sweep {POSTHOC_STUDY} --out {ctx.store.root.parent}` and its report write "
               "it; then report this study again")
    if not path.is_file():
        return None, f"No {path} yet: {command}."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sizes = data["sizes"]
        for size in sizes:
            if not all(isinstance(p.get(k), int | float) for p in size["test"] for k in ("bpp", "psnr")):
                raise ValueError("a test point without bpp and psnr")
        same = (data["data"].get("dataset") == ctx.data_settings.get("dataset") and int(data["n_images"]) == n_test
                and bool(data["whole_test_split"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return None, f"{path} is unreadable ({e}): {command}."
    if not same:
        return None, (f"{path} codes other test images ({data['data'].get('dataset')}, {data['n_images']:,} images) "
                      f"than this study's {n_test:,}: not compared.")
    return sizes, (f"{POSTHOC_LABEL}: the autoencoders of {data['study']} (preset {data['preset']}), each made a "
                   f"codec after training; {data['selection']}. Their curve joins the chosen codecs of every code "
                   f"size ({', '.join(str(s['latent']) for s in sizes)}), as PCA's joins its sizes.")


def analyze(ctx: ReportContext) -> AnalysisResult:
    """The learned-compression report (module docstring)."""
    alerts: list[Alert] = []
    if not ctx.results.done:
        return AnalysisResult("No completed compression runs.", "no runs")
    X_train, _ = ctx.load_split("train")
    X_test, _ = ctx.load_split("test")
    X_test = np.asarray(X_test, np.float64)
    side = _side(X_test.shape[1])
    with ctx.timed("learned codecs"):
        rows = run_rows(ctx, np.asarray(X_train, np.float64), X_test, side)
    bad = [r["run"] for r in rows if not r["round_trip_exact"] or r["clipped"]]
    if bad:
        alerts.append(Alert("warning", f"{len(bad)} runs did not decode every latent exactly", "Values beyond the "
                            "learned tables are clipped to their end symbols.", bad[:12]))
    curves = mean_curves(rows)
    with ctx.timed("baselines"):
        base = baselines(ctx, X_train, X_test, side)
    n_test = len(X_test)
    post, post_text = posthoc(ctx, n_test)
    if post is not None:
        base = {POSTHOC_LABEL: [p for size in post for p in size["test"]], **base}
    settings = Section("Settings", paragraphs=[
        f"{len(rows)} runs; each run's model is a codec here (its learned densities as the range coder's "
        "integer tables); every rate is the range-coded payload per image (32-bit words, as `constriction` emits them; "
        "the stream's container header is counted apart, like JPEG's and WebP's headers) "
        f"on {n_test:,} test images, PSNR and SSIM of the decoded images. Loss: lambda x 255^2 x MSE (pixels in "
        "[0, 1]) + bits per pixel, CompressAI's convention. Training budgets are fixed (see the study file); "
        "results at a short budget are labelled by it."])
    settings.add_table(Table([{k: r[k] for k in ("variant", "lambda", "seed", "bpp", "bpp_likelihood", "psnr", "ssim",
                                                 "epochs", "seconds_per_epoch")} for r in rows],
                             title="Every run", formats={"bpp": ".3f", "bpp_likelihood": ".3f", "psnr": ".2f",
                                                         "ssim": ".3f", "seconds_per_epoch": ".1f"}))
    rd = Section("Rate-distortion curves")
    rd.add_text("Mean over seeds at each lambda; the bands span the seeds. Rates: the range-coded payload; "
                "'likelihood' is what the learned density predicts for the same symbols (the gap is the coder's "
                "word granularity).")
    rd.add_text(post_text)
    a = anchor(ctx)
    marks = {}
    for v in curves if a is not None and "error" not in a else ():
        points = [p for p in a["points"] if p.get("architecture") == v]
        if points:
            marks[f"CompressAI {v} (seed {', '.join(sorted({str(p['seed']) for p in points}))})"] = points
    rd.add_figure(rd_figure(ctx, curves, base, "psnr", marks))
    rd.add_figure(rd_figure(ctx, curves, base, "ssim"))
    bd_rows = []
    for variant, points in curves.items():
        for name in base:
            b = _bd(points, base[name])
            bd_rows.append({"learned": variant, "against": name, "BD-rate (PSNR)": b.text()})
    if {"fc", "conv"} <= set(curves):
        bd_rows.append({"learned": "conv", "against": "fc", "BD-rate (PSNR)": _bd(curves["conv"], curves["fc"]).text()})
    rd.add_table(Table(bd_rows, title="BD-rates (piecewise cubic; negative: fewer bits at equal PSNR), with the "
                                      "shared PSNR range"))
    tests = conv_vs_fc(rows)
    sections = [settings, rd]
    if tests:
        sections.append(Section("Conv vs fully connected at matched lambda", tables=[Table(
            tests, title="Seed-level tests (seeds paired; the unit of replication is the seed)",
            formats={"conv - fc (mean)": "signed", "95% CI low": "signed", "95% CI high": "signed"})],
            paragraphs=["With n seeds the exact sign-flip test cannot go below 2 / 2^n; the t-test rests on "
                        "normality. Both are shown; Holm adjusts the t-test over the lambdas."]))
    recon = Section("Reconstructions at equal rate")
    recon.add_figure(reconstructions_figure(ctx, rows, X_test, side))
    dens = Section("Learned densities")
    dens.add_figure(densities_figure(ctx, rows))
    sections += [recon, dens]
    headline_anchor = ""
    anchor_section = Section("CompressAI anchor")
    if a is None:
        anchor_section.add_text(f"No {ANCHOR_FILE} in the store: run `make compressai-anchor` (see "
                                "docs/learned_compression.md) to train CompressAI's EntropyBottleneck with the same "
                                "layers, data, lambdas, optimiser and epochs.")
    elif "error" in a:
        alerts.append(Alert("warning", "CompressAI anchor file unreadable", a["error"]))
    else:
        out = anchor_rows(rows, a["points"])
        for r in out:
            headline_anchor += (f" {r['architecture']}: BD-rate vs CompressAI {r['BD-rate (real bytes)']} by real "
                                f"bytes, {r['BD-rate (likelihood)']} by likelihood; {r['time ratio']:.2f}x its time "
                                "per epoch.")
        anchor_section.add_text(
            "The same runs on both sides (each variant, lambda and seed the anchor trained), mean over those seeds "
            "at each lambda. 'Real bytes': each library's own range coder (autoenc: `constriction`'s 32-bit words; "
            "CompressAI: its rANS strings, byte-granular); 'likelihood': the rate the learned densities predict for "
            "the rounded latents, which compares the models without their coders. Seconds per epoch: training and "
            "the validation pass, with as many runs at once and threads per run on both sides (the anchor's "
            "settings below).")
        anchor_section.add_table(Table(out, title="autoenc against CompressAI 1.2.8 (same layers, data, lambdas, "
                                                  "optimiser, epochs)", formats={"autoenc s/epoch": ".1f",
                                                                                 "CompressAI s/epoch": ".1f",
                                                                                 "time ratio": ".2f"}))
        anchor_section.add_table(Table(anchor_pairs(rows, a["points"]), title="Run by run (the same variant, lambda "
                                       "and seed on both sides)", formats={k: ".3f" if "bpp" in k else ".2f" for k in (
                                           "autoenc bpp", "CompressAI bpp", "autoenc bpp (likelihood)",
                                           "CompressAI bpp (likelihood)", "autoenc PSNR", "CompressAI PSNR")}))
        anchor_section.add_note(f"Anchor settings: {json.dumps(a.get('settings', {}), sort_keys=True)}")
    sections.append(anchor_section)
    span = [p["bpp"] for pts in curves.values() for p in pts]
    headline = (f"{len(rows)} learned codecs ({', '.join(curves)}) from {min(span):.2f} to {max(span):.2f} bpp on "
                f"{n_test:,} test images; every stream decoded {'exactly' if not bad else 'with clipping'}."
                + headline_anchor)
    return AnalysisResult(headline, f"{len(rows)} runs", None, sections, alerts,
                          datasets=[str(ctx.data_settings.get("dataset", ""))])
