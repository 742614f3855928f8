"""The learned-compression report's comparison with the CompressAI anchor, on made-up rows."""

from __future__ import annotations

import math

import pytest

from autoenc.analysis.compression import anchor_rows

LAMBDAS = (0.001, 0.01, 0.1)


def _rows(variant: str, seeds, scale: float = 1.0, *, anchor: bool = False) -> list[dict]:
    rows = []
    for seed in seeds:
        for i, lam in enumerate(LAMBDAS):
            bpp = scale * 0.2 * 3**i * (1 + 0.01 * seed)
            row = {"variant": variant, "lambda": lam, "seed": seed, "bpp": bpp, "bpp_likelihood": 0.9 * bpp,
                   "psnr": 20.0 + 4 * i + 0.1 * seed, "seconds_per_epoch": 2.0}
            if anchor:
                row = {**row, "architecture": variant, "epochs": 20, "seconds_per_epoch": 4.0}
                row.pop("variant") if variant == "conv" else None  # older files name only the architecture
            else:
                row["ssim"] = 0.5
            rows.append(row)
    return rows


def _percent(text: str) -> float:
    return float(text.split("%")[0])


def test_same_curves_give_zero_and_only_matched_runs_count():
    ours = _rows("conv", seeds=(0, 1, 2))
    # the anchor trained seed 0 only: seeds 1 and 2 of ours must not enter its comparison
    theirs = _rows("conv", seeds=(0,), anchor=True)
    (row,) = anchor_rows(ours, theirs)
    assert row["runs"] == 3 and row["seeds"] == 1
    assert _percent(row["BD-rate (real bytes)"]) == pytest.approx(0.0, abs=1e-6)
    assert _percent(row["BD-rate (likelihood)"]) == pytest.approx(0.0, abs=1e-6)
    assert row["time ratio"] == pytest.approx(0.5)


def test_ten_percent_more_bytes_reads_plus_ten():
    ours = _rows("fc", seeds=(0, 1), scale=1.1)
    theirs = _rows("fc", seeds=(0, 1), anchor=True)
    (row,) = anchor_rows(ours, theirs)
    assert _percent(row["BD-rate (real bytes)"]) == pytest.approx(10.0, abs=1e-6)
    assert _percent(row["BD-rate (likelihood)"]) == pytest.approx(10.0, abs=1e-6)


def test_variants_the_anchor_lacks_are_left_out():
    ours = _rows("fc", seeds=(0,)) + _rows("conv", seeds=(0,))
    rows = anchor_rows(ours, _rows("conv", seeds=(0,), anchor=True))
    assert [r["architecture"] for r in rows] == ["conv"]
    assert anchor_rows(ours, _rows("conv", seeds=(5,), anchor=True)) == []
    assert math.isfinite(rows[0]["CompressAI s/epoch"])
