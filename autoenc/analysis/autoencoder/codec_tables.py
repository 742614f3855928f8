"""Tables of the "Compression in bits" section: quantizer designs and side information per codec,
BD-rates with their overlaps, rates at fixed PSNR, and the choices made on validation images.

Inputs (built by ``compression.section_rate_distortion``): ``ae[(depth, latent, arm)][seed]`` and
``pca[k]`` are the results of ``rate_distortion.designed_curves`` (``"validation"`` and ``"test"``
points, the chosen ``"design"``, side information); ``library[fmt]`` holds the Pillow codecs'
``"validation"`` and ``"test"`` points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..context import Table
from ..rate_distortion import MIN_OVERLAP_DB, BDRate, bd_rate_overlap, fewest_bits, rate_at_psnr, upper_envelope

__all__ = ["AMORTISED_IMAGES", "CellNames", "bd_rate_table", "best_per_size", "chosen_per_size", "design_table",
           "fixed_psnr_table", "mean_curve", "psnr_at_rate", "winners_table"]

#: Side information is also given in bits per pixel spread over this many coded images.
AMORTISED_IMAGES = 10_000
Points = list[dict[str, float]]


@dataclass(frozen=True)
class CellNames:
    """How the arm of a cell (the loss, and any other factor that varies) is named and ordered.

    Attributes:
        noun: the arm's column name ("loss").
        label: arm -> its short name ("MSE").
        order: arm -> its position (tables list arms in the study's order).
    """

    noun: str
    label: Callable[[Any], str]
    order: Callable[[Any], int]

    def cell(self, key: tuple[int, int, Any]) -> str:
        depth, latent, arm = key
        return f"AE depth {depth}, k={latent}, {self.label(arm)}"

    def sort(self, ae: dict, *, depth_first: bool = False) -> list[tuple[Any, Any]]:
        def key(kv: tuple[Any, Any]) -> tuple[int, int, int]:
            (depth, latent, arm), _ = kv
            return (depth, -latent, self.order(arm)) if depth_first else (-latent, depth, self.order(arm))

        return sorted(ae.items(), key=key)


def mean_curve(by_seed: dict[int, Points]) -> Points:
    """Seed-mean operating points (the same step scales across seeds), over the keys all points have."""
    seeds = sorted(by_seed)
    keys = set.intersection(*(set(p) for s in seeds for p in by_seed[s]))
    return [{k: float(np.mean([by_seed[s][i][k] for s in seeds])) for k in sorted(keys)}
            for i in range(len(by_seed[seeds[0]]))]


def psnr_at_rate(points: Points, rate: float, key: str = "bpp") -> float:
    """The PSNR a codec reaches with at most ``rate`` (its operational rate-distortion curve): log
    rate interpolation on its upper envelope; past its last point that point's PSNR (the codec needs
    fewer bits than the budget); below its first positive rate the PSNR of a zero-rate point (every
    dimension one symbol: no bits), else nan (the codec cannot go that low)."""
    env = upper_envelope(points, rate=key)
    positive = [p for p in env if p[key] > 0]  # a zero-rate point has no place on a log axis
    if not env or rate < env[0][key]:
        return math.nan
    if not positive or rate < positive[0][key]:
        return float(env[0]["psnr"]) if env[0][key] <= 0 else math.nan
    if rate >= positive[-1][key]:
        return float(positive[-1]["psnr"])
    return float(np.interp(math.log(rate), np.log([p[key] for p in positive]), [p["psnr"] for p in positive]))


def _xy(points: Points, key: str = "bpp") -> tuple[list[float], list[float]]:
    return [p[key] for p in points], [p["psnr"] for p in points]


def _range(values: Sequence[float], fmt: str) -> str:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{np.mean(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def seed_bd_text(values: Sequence[BDRate]) -> str:
    """BD-rates of one codec over its seeds: mean [min, max] of the seeds whose overlap reaches
    ``MIN_OVERLAP_DB``, the overlap range, the classic cubic fit when it disagrees in sign."""
    kept = [v for v in values if not v.refused()]
    if not kept:
        return f"overlap {max((v.overlap_db for v in values), default=0.0):.1f} dB < {MIN_OVERLAP_DB:g} dB"
    overlaps = [v.overlap_db for v in kept]
    text = (f"{_range([v.pchip for v in kept], '+.1f')}% over {min(overlaps):.1f}"
            + (f"-{max(overlaps):.1f}" if max(overlaps) - min(overlaps) >= 0.05 else "") + " dB")
    if any(v.fits_disagree for v in kept):
        text += f"; classic cubic {_range([v.cubic for v in kept], '+.1f')}%"
    if len(kept) < len(values):
        text += f" ({len(values) - len(kept)} of {len(values)} seeds: overlap < {MIN_OVERLAP_DB:g} dB)"
    return text


def _side_bits(nbytes: float, n_pixels: int) -> float:
    return 8 * nbytes / (AMORTISED_IMAGES * n_pixels)


def design_table(ae: dict, pca: dict, n_pixels: int, arms: CellNames) -> Table:
    """Per latent codec: the quantizer design chosen on validation, what the other designs would
    have cost there, the side information and the range coder's word overhead."""
    rows = []
    entries = [(f"PCA k={k}", [res]) for k, res in sorted(pca.items(), reverse=True)]
    entries += [(arms.cell(cell), [by_seed[s] for s in sorted(by_seed)]) for cell, by_seed in arms.sort(ae)]
    for name, results in entries:
        chosen = [r["design"] for r in results]
        row: dict[str, Any] = {"codec": name, "design chosen on validation": ", ".join(
            f"{d} ×{chosen.count(d)}" if len(chosen) > 1 else d for d in sorted(set(chosen)))}
        for design in ("uniform", "lagrangian"):
            row[f"{design} vs scaled (validation)"] = (
                _range([r["design_bd"].get(design, math.nan) for r in results], "+.1f") + "%")
        weights = float(np.mean([r["weights_bytes"] for r in results]))
        tables = [t for r in results for t in r["table_bytes"]]
        row["decoder weights (KB)"] = weights / 1000
        row["tables (KB)"] = f"{min(tables) / 1000:.1f}-{max(tables) / 1000:.1f}"
        row[f"side info (bpp over {AMORTISED_IMAGES:,} images)"] = _side_bits(weights + max(tables), n_pixels)
        overhead = [p["bpp"] - p["ideal_bpp"] for r in results for p in r["test"]]
        row["word overhead (bpp)"] = float(np.mean(overhead))
        rows.append(row)
    return Table(rows, title="Latent codecs: the quantizer chosen on validation images, side information",
                 formats={"decoder weights (KB)": ".1f", f"side info (bpp over {AMORTISED_IMAGES:,} images)": ".3f",
                          "word overhead (bpp)": ".4f"},
                 caption="Design: how the step of each code dimension is set (docs/codecs.md): scaled (a step "
                         "proportional to the dimension's spread), uniform (one step for all) or lagrangian (the "
                         "rate-distortion-optimal allocation for the decoder's measured gains); the one needing "
                         "the fewest bits over the PSNR range all three cover on the validation images is used "
                         "(×n: seeds). 'vs scaled': BD-rate of the other designs on validation (mean [min, max] "
                         "over seeds; nan: curves sharing under "
                         f"{MIN_OVERLAP_DB:g} dB). Side information, not counted in the per-image rates: the "
                         "decoder's weights at 32 bits, the probability tables (32 bits per symbol; range over "
                         "operating points), and both spread over "
                         f"{AMORTISED_IMAGES:,} images at the largest tables. Word overhead: the range coder's "
                         "whole 32-bit words above the symbols' information content, mean over operating points "
                         "(included in every rate).")


def bd_rate_table(ae: dict, pca: dict, jpeg: Points, arms: CellNames) -> Table:
    """BD-rate of every autoencoder codec against PCA (same k) and JPEG, per seed, with overlaps."""
    rows = []
    for (depth, latent, arm), by_seed in arms.sort(ae, depth_first=True):
        row: dict[str, Any] = {"depth": depth, "latent": latent, arms.noun: arms.label(arm), "seeds": len(by_seed)}
        refs = {"PCA": pca[latent]["test"] if latent in pca else [], "JPEG (file)": jpeg,
                "JPEG (payload)": [{**p, "bpp": p["payload_bpp"]} for p in jpeg]}
        for name, ref in refs.items():
            row[f"BD-rate vs {name}"] = seed_bd_text(
                [bd_rate_overlap(*_xy(by_seed[s]["test"]), *_xy(ref)) for s in sorted(by_seed)])
        rows.append(row)
    return Table(rows, title="BD-rate of each autoencoder codec (test images; mean over seeds [min, max])",
                 caption="Bjontegaard delta rate at equal PSNR over the PSNR range both curves cover (printed: "
                         "'over X dB'), log rate interpolated as a monotone piecewise cubic (PCHIP) of PSNR; "
                         "negative: the autoencoder needs fewer bits. Refused ('overlap < "
                         f"{MIN_OVERLAP_DB:g} dB') where the curves share less PSNR than that; where the classic "
                         "Bjontegaard fit (a cubic polynomial per curve) disagrees in sign with PCHIP on some "
                         "seed, it is printed too. vs PCA: PCA with the same number of components through the "
                         "same codec, each with its own quantizer chosen on validation.")


def fixed_psnr_table(ae: dict, pca: dict, library: dict, targets: Sequence[float], arms: CellNames) -> Table:
    """Bits per pixel each codec needs for a given PSNR (test images), with seed ranges."""
    rows = []
    for cell, by_seed in arms.sort(ae):
        row: dict[str, Any] = {"codec": arms.cell(cell)}
        for t in targets:
            row[f"bpp at {t:g} dB"] = _range([rate_at_psnr(by_seed[s]["test"], t) for s in sorted(by_seed)], ".3f")
        rows.append(row)
    for k, res in sorted(pca.items(), reverse=True):
        rows.append({"codec": f"PCA k={k}", **{f"bpp at {t:g} dB": _range([rate_at_psnr(res["test"], t)], ".3f")
                                                for t in targets}})
    for fmt, name in (("JPEG", "JPEG"), ("WEBP", "WebP")):
        for key, how in (("bpp", "file"), ("payload_bpp", "payload")):
            pts = library[fmt]["test"]
            rows.append({"codec": f"{name} ({how})", **{f"bpp at {t:g} dB": _range([rate_at_psnr(pts, t, key)], ".3f")
                                                        for t in targets}})
    return Table(rows, title="Bits per pixel at a fixed PSNR (test images; autoencoders: mean over seeds [min, max])",
                 caption="Log rate interpolated linearly in PSNR on each curve's upper envelope; – : the curve does "
                         "not reach that PSNR (or starts above it).")


def _ae_val_curves(ae: dict) -> dict[tuple[int, int, str], Points]:
    return {cell: mean_curve({s: r["validation"] for s, r in by_seed.items()}) for cell, by_seed in ae.items()}


def chosen_per_size(ae: dict, arms: CellNames) -> list[dict[str, Any]]:
    """Per code size, the cell chosen on the validation images (as ``best_per_size``) with its
    seed-mean test curve and each seed's test points: what other studies compare with (the
    learned-compression report reads them as the post-hoc codecs)."""
    val = _ae_val_curves(ae)
    out = []
    for latent in sorted({k for (_, k, _) in ae}, reverse=True):
        best, _ = fewest_bits({cell: val[cell] for cell, _ in arms.sort(ae) if cell[1] == latent})
        by_seed = ae[best]
        keep = ("bpp", "psnr", "ssim")
        out.append({"latent": int(latent), "depth": int(best[0]), "arm": arms.label(best[2]), "cell": arms.cell(best),
                    "seeds": sorted(int(s) for s in by_seed),
                    "test": [{k: float(p[k]) for k in keep if k in p}
                             for p in mean_curve({s: r["test"] for s, r in by_seed.items()})],
                    "test_per_seed": {str(s): [{k: float(p[k]) for k in keep if k in p} for p in r["test"]]
                                      for s, r in sorted(by_seed.items())}})
    return out


def best_per_size(ae: dict, pca: dict, jpeg: Points, arms: CellNames) -> Table:
    """Per code size, the autoencoder cell (depth, arm) that needs the fewest bits on the
    validation images (seed-mean curves), and how it does on the test images."""
    val = _ae_val_curves(ae)
    rows = []
    for latent in sorted({k for (_, k, _) in ae}, reverse=True):
        cells = {cell: val[cell] for cell, _ in arms.sort(ae) if cell[1] == latent}
        best, _ = fewest_bits(cells)
        depth, _, arm = best
        by_seed = ae[best]
        refs = {"PCA": pca[latent]["test"] if latent in pca else [], "JPEG (file)": jpeg}
        row: dict[str, Any] = {"latent": latent, "chosen on validation": f"depth {depth}, {arms.label(arm)}",
                               "cells compared": len(cells)}
        for name, ref in refs.items():
            row[f"test BD-rate vs {name}"] = seed_bd_text(
                [bd_rate_overlap(*_xy(by_seed[s]["test"]), *_xy(ref)) for s in sorted(by_seed)])
        rows.append(row)
    return Table(rows, title="The best autoencoder codec per code size, chosen on validation images",
                 caption=f"Chosen as the (depth, {arms.noun}) cell whose seed-mean curve on the validation images "
                         "needs the fewest bits over the PSNR range all cells of that size cover (ties and thin "
                         "overlaps: the first cell); reported on the test images (BD-rates as in the table above).")


def winners_table(ae: dict, pca: dict, library: dict, targets: Sequence[float], arms: CellNames
                  ) -> tuple[Table, list[dict]]:
    """Which codec family gives the highest PSNR at each rate, every choice made on validation
    images (the member of each family, then the family), reported with test PSNR."""
    val = _ae_val_curves(ae)
    test = {cell: mean_curve({s: r["test"] for s, r in by_seed.items()}) for cell, by_seed in ae.items()}
    families: dict[str, dict[Any, tuple[Points, Points]]] = {
        "autoencoder": {cell: (val[cell], test[cell]) for cell in ae},
        "PCA": {k: (r["validation"], r["test"]) for k, r in pca.items()},
    }
    for fmt, name in (("JPEG", "JPEG"), ("WEBP", "WebP")):
        lib = library[fmt]
        families[f"{name} (file)"] = {fmt: (lib["validation"], lib["test"])}
        families[f"{name} (payload)"] = {fmt: ([{**p, "bpp": p["payload_bpp"]} for p in lib["validation"]],
                                               [{**p, "bpp": p["payload_bpp"]} for p in lib["test"]])}
    rows = []
    for rate in targets:
        row: dict[str, Any] = {"bpp": rate}
        val_psnr = {}
        for fam, members in families.items():
            scores = {m: psnr_at_rate(v, rate) for m, (v, _) in members.items()}
            scores = {m: v for m, v in scores.items() if math.isfinite(v)}
            if not scores:
                row[f"{fam} PSNR"] = math.nan
                continue
            member = max(scores, key=scores.get)
            val_psnr[fam] = scores[member]
            row[f"{fam} PSNR"] = psnr_at_rate(members[member][1], rate)
            if fam == "autoencoder":
                row["autoencoder chosen"] = f"d{member[0]} k={member[1]} {arms.label(member[2])}"
            elif fam == "PCA":
                row["PCA chosen"] = f"k={member}"
        files = {f: v for f, v in val_psnr.items() if "payload" not in f}
        row["winner (validation)"] = max(val_psnr, key=val_psnr.get) if val_psnr else "no codec reaches this rate"
        row["winner, whole files (validation)"] = max(files, key=files.get) if files else "–"
        rows.append(row)
    table = Table(rows, title="Which codec wins at which rate: chosen on validation images, test PSNR (dB) shown",
                  formats={k: ".2f" for r in rows for k in r if k.endswith("PSNR")},
                  caption="At each rate, each family's member (the autoencoder cell, seed-mean curve; PCA's k) with "
                          "the highest PSNR on the validation images is chosen, then the family with the highest "
                          "validation PSNR wins; the PSNR shown is the chosen member's on the test images. A "
                          "codec's PSNR at a rate is the best it reaches with at most that many bits (interpolated "
                          "in log rate on its upper envelope; a curve that ends below the rate counts with its last "
                          "point, as small codes' curves do at the finest step scale; – : no point at or below the "
                          "rate). The payload "
                          "rows leave out the container headers (not decodable alone), a bound JPEG/WebP could "
                          "reach only with headers agreed in advance.")
    return table, rows
