"""Figures of the learned-compression report: RD curves with seed bands, reconstructions at equal
rate, the learned densities."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...viz.style import new_figure
from ..content import FigureRef
from ..context import ReportContext
from ..rate_distortion import upper_envelope

#: the curve of another study's post-hoc codecs (``posthoc``)
POSTHOC_LABEL = "post-hoc AE"
COLORS = {"fc": "tab:blue", "conv": "tab:red", "PCA": "tab:gray", "JPEG": "tab:orange", "WebP": "tab:green",
          POSTHOC_LABEL: "tab:purple"}


def rd_figure(ctx: ReportContext, curves: dict[str, list[dict]], base: dict[str, list[dict]], metric: str,
              marks: dict[str, list[dict]] | None = None) -> FigureRef:
    """bpp against ``metric`` (psnr or ssim): the learned codecs (mean over seeds, seed range as
    bars in both directions), the baselines' upper envelopes and ``marks`` (e.g. the CompressAI
    anchor's runs) as open markers."""
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot(111)
    for name, points in base.items():
        env = upper_envelope([p for p in points if metric in p], quality=metric)
        ax.plot([p["bpp"] for p in env], [p[metric] for p in env], "--", color=COLORS.get(name), label=name)
    for variant, points in curves.items():
        x, y = np.array([p["bpp"] for p in points]), np.array([p[metric] for p in points])
        xerr = [x - [p["bpp_min"] for p in points], [p["bpp_max"] for p in points] - x]
        yerr = [y - [p[f"{metric}_min"] for p in points], [p[f"{metric}_max"] for p in points] - y]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o-", color=COLORS.get(variant), capsize=2,
                    label=f"learned {variant} (seed range)")
    for (name, points), marker in zip((marks or {}).items(), "sD^v", strict=False):
        variant = name.split()[1] if len(name.split()) > 1 else ""
        ax.plot([p["bpp"] for p in points], [p[metric] for p in points], marker, mfc="none", ms=8, ls="none",
                color=COLORS.get(variant, "black"), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (payload, without container headers)")
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ctx.figure(fig, f"rd-{metric}", f"Rate against {metric.upper()} on the test images",
                      alt=f"rate-distortion curves, {metric}")


def reconstructions_figure(ctx: ReportContext, rows: list[dict[str, Any]], X_test: np.ndarray, side: int,
                           n_images: int = 8) -> FigureRef | None:
    """Originals and, per variant, the seed-0 run whose rate is nearest the variants' shared median rate."""
    variants = sorted({r["variant"] for r in rows})
    if not variants:
        return None
    target = float(np.median([r["bpp"] for r in rows]))
    chosen = []
    for v in variants:
        cand = [r for r in rows if r["variant"] == v]
        chosen.append(min(cand, key=lambda r: (abs(np.log(r["bpp"] / target)), r["seed"])))
    idx = np.linspace(0, len(X_test) - 1, n_images).astype(int)
    images = [("original", X_test[idx])]
    for r in chosen:
        model = ctx.store.run(r["run"]).load_model().eval()
        images.append((f"{r['variant']} λ={r['lambda']:g}\n{r['bpp']:.2f} bpp", model.forward(
            X_test[idx].astype(np.float32))))
    fig = new_figure(1.1 * n_images, 1.2 * len(images))
    for row, (label, batch) in enumerate(images):
        for col in range(n_images):
            ax = fig.add_subplot(len(images), n_images, row * n_images + col + 1)
            ax.imshow(np.asarray(batch[col]).reshape(side, side), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(label, fontsize=7)
    return ctx.figure(fig, "rd-reconstructions", f"Test images decoded at about {target:.2f} bpp",
                      alt="reconstructions at equal rate")


def densities_figure(ctx: ReportContext, rows: list[dict[str, Any]], n_channels: int = 6) -> FigureRef | None:
    """The learned probability of each integer offset from the median, for the channels of the
    highest-rate seed-0 run of each variant that carry the most bits (entropy of the table)."""
    variants = sorted({r["variant"] for r in rows})
    if not variants:
        return None
    fig = new_figure(6.4, 2.6 * len(variants))
    for i, v in enumerate(variants):
        r = max((r for r in rows if r["variant"] == v), key=lambda r: (r["seed"] == 0, r["bpp"]))
        eb = ctx.store.run(r["run"]).load_model().bottleneck
        low, high = eb.symbol_range()
        low, high = np.maximum(low, -30), np.minimum(high, 30)
        pmf = eb.pmf(low, high)
        entropy = -(np.where(pmf > 0, pmf * np.log2(np.where(pmf > 0, pmf, 1)), 0)).sum(axis=1)
        ax = fig.add_subplot(len(variants), 1, i + 1)
        for c in np.argsort(entropy)[::-1][:n_channels]:
            length = high[c] - low[c] + 1
            ax.plot(np.arange(low[c], high[c] + 1), pmf[c, :length], ".-", label=f"ch {c}: {entropy[c]:.1f} bits")
        ax.set_title(f"{v}, λ={r['lambda']:g}, seed {r['seed']}", fontsize=9)
        ax.set_xlabel("symbol (offset from the learned median)")
        ax.set_ylabel("probability")
        ax.legend(fontsize=7)
    return ctx.figure(fig, "rd-densities", "Learned densities of the channels with the most bits",
                      alt="learned densities")
