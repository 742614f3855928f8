"""Quantizer designs (autoenc.quantizer), their choice on held-out images, and BD-rates with overlaps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("constriction")

from autoenc.analysis.rate_distortion import (  # noqa: E402
    MIN_OVERLAP_DB,
    BDRate,
    bd_rate,
    bd_rate_overlap,
    codec_curve,
    fewest_bits,
    rate_at_psnr,
    validation_point,
)
from autoenc.codec import LatentCodec  # noqa: E402
from autoenc.quantizer import DESIGNS, CodeStatistics, decoder_gain, design_steps  # noqa: E402


def _anisotropic(n: int, seed: int = 0) -> np.ndarray:
    """Images from a Gaussian source whose principal variances fall by 1,000x over 12 directions
    (the case where one step for all PCA coefficients beats a step per coefficient's spread)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(64, 12)))[0].T
    sd = 0.2 * np.logspace(0, -1.5, 12)
    return (0.5 + (rng.normal(size=(n, 12)) * sd) @ basis).astype(np.float32)


def test_designs_set_the_steps_they_say():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(4000, 3)) * [1.0, 4.0, 0.25] + [10.0, -3.0, 0.0]
    stats = CodeStatistics.measure(Z)
    np.testing.assert_allclose(stats.center, Z.mean(axis=0))
    np.testing.assert_allclose(design_steps("scaled", 0.5, stats), 0.5 * Z.std(axis=0))
    uniform = design_steps("uniform", 0.5, stats)
    assert np.ptp(uniform) == 0 and uniform[0] == pytest.approx(0.5 * np.sqrt(np.mean(Z.var(axis=0))))
    with pytest.raises(ValueError, match="decoder gains"):
        design_steps("lagrangian", 0.5, stats)
    with pytest.raises(ValueError, match="unknown quantizer design"):
        design_steps("nope", 0.5, stats)
    with pytest.raises(ValueError, match="> 0"):
        design_steps("uniform", math.nan, stats)


def test_decoder_gain_of_a_linear_decoder_is_exact():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 20))
    gain = decoder_gain(lambda Z: Z @ W, rng.normal(size=(30, 4)), np.full(4, 0.1), max_rows=50)
    np.testing.assert_allclose(gain, (W**2).mean(axis=1))


def test_lagrangian_allocation_equalises_weighted_steps_and_drops_unused_dimensions():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(8000, 4)) * [1.0, 0.5, 2.0, 1.0]
    W = np.diag([1.0, 1.0, 4.0, 0.0])  # dimension 3 never reaches the output; dimension 2 is weighted x4 ... x16
    stats = CodeStatistics.measure(Z, lambda C: C @ W)
    np.testing.assert_allclose(stats.gain, [0.25, 0.25, 4.0, 0.0], rtol=1e-5)
    steps = design_steps("lagrangian", 0.05, stats)  # high rate: gain * step^2 about equal
    weighted = stats.gain[:3] * steps[:3] ** 2
    assert weighted.max() / weighted.min() < 2 ** (2 / 3) + 1e-9  # within the candidate grid's spacing
    assert steps[3] > 4 * np.abs(Z[:, 3]).max() / 2  # dropped: one symbol
    codec = LatentCodec.fit(lambda X: X, lambda C: C @ W, Z, step_scale=0.05, design="lagrangian")
    assert codec.support[3] == 1 and codec.quantizer == {"design": "lagrangian", "scale": 0.05}


def test_every_design_quantizes_around_the_train_mean():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(2000, 2)) * 0.01 + [0.37, -5.2]  # narrow dimensions far from 0
    for design in ("scaled", "uniform"):
        codec = LatentCodec.fit(lambda X: X, lambda C: C, Z, step_scale=8.0, design=design)
        assert (codec.support == 1).all()  # steps much wider than the spread: one symbol, ~no bits
        np.testing.assert_allclose(codec.dequantize(codec.quantize_codes(Z[:5])), np.tile(Z.mean(axis=0), (5, 1)),
                                   rtol=1e-6)  # rebuilt at the mean, not at a multiple of the step


def test_uniform_step_wins_for_pca_and_the_choice_is_made_on_held_out_images(tmp_path):
    """The textbook result on a source with very unequal variances: PCA with one step for all
    coefficients needs fewer bits than a step per coefficient's spread, on held-out images, and
    ``fewest_bits`` finds it; the chosen design travels with the codec file."""
    X = _anisotropic(7000)
    X_train, X_val, X_test = X[:5000], X[5000:6000], X[6000:]
    codec = LatentCodec.from_pca(X_train, 12, clip=False)
    codes = codec.train_codes(X_train)
    stats = CodeStatistics.measure(codes, codec.decode_fn)
    np.testing.assert_allclose(stats.gain, 1 / 64, rtol=1e-5)  # orthonormal components: all gains equal
    val = codec.train_codes(X_val)
    scales = (4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)
    curves = {d: [validation_point(codec.refit(s, codes, design=d, statistics=stats), X_val, val) for s in scales]
              for d in DESIGNS}
    best, delta = fewest_bits(curves)
    assert best != "scaled" and delta["scaled"] == 0 and delta["uniform"] < -10
    test = {d: codec_curve(codec, None, X_test, 8, scales, train_codes=codes, design=d, statistics=stats)
            for d in ("scaled", "uniform")}
    bd = bd_rate_overlap([p["bpp"] for p in test["uniform"]], [p["psnr"] for p in test["uniform"]],
                         [p["bpp"] for p in test["scaled"]], [p["psnr"] for p in test["scaled"]])
    assert bd.pchip < -10 and not bd.refused()
    chosen = codec.refit(1.0, codes, design=best, statistics=stats)
    again = LatentCodec.load(chosen.save(tmp_path / "chosen.npz"))
    assert again.quantizer == {"design": best, "scale": 1.0}
    np.testing.assert_array_equal(again.center, chosen.center)
    np.testing.assert_array_equal(again.decode(chosen.encode(X_test[:20])), chosen.reconstruct(X_test[:20]))


def test_bd_rate_reports_its_overlap_and_both_fits():
    rate = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    psnr = np.array([20.0, 23.0, 25.0, 26.5, 27.5])
    half = bd_rate_overlap(rate / 2, psnr, rate, psnr)
    assert half.pchip == pytest.approx(-50.0, abs=1e-6) and half.cubic == pytest.approx(-50.0, abs=1e-6)
    assert (half.low, half.high, half.overlap_db) == (20.0, 27.5, 7.5)
    assert half.text() == "-50.0% over 7.5 dB"
    assert bd_rate(rate / 2, psnr, rate, psnr) == pytest.approx(half.pchip)
    thin = bd_rate_overlap(rate, psnr, rate * 0.9, psnr + 6.5)  # shares 26.5 .. 27.5 dB only
    assert thin.overlap_db == pytest.approx(1.0) and thin.refused()
    assert thin.text() == f"overlap 1.0 dB < {MIN_OVERLAP_DB:g} dB"
    # just under the threshold: a digit more, never "overlap 2.0 dB < 2 dB"
    assert BDRate(5.0, 5.0, 20.0, 20.0 + MIN_OVERLAP_DB - 0.02).text() == f"overlap {MIN_OVERLAP_DB - 0.02:.2f} dB < " \
        f"{MIN_OVERLAP_DB:g} dB"
    none = bd_rate_overlap(rate, psnr, rate, psnr + 100)
    assert none.refused() and math.isnan(none.pchip) and "overlap 0.0 dB" in none.text()
    split = BDRate(pchip=-3.0, cubic=4.0, low=20.0, high=25.0)
    assert split.fits_disagree and split.text() == "-3.0% (classic cubic +4.0%) over 5.0 dB"


def test_rate_at_fixed_psnr():
    points = [{"bpp": 0.1, "psnr": 20.0}, {"bpp": 0.4, "psnr": 24.0}, {"bpp": 0.3, "psnr": 19.0}]
    assert rate_at_psnr(points, 22.0) == pytest.approx(0.2)  # log rate halfway; the dominated point ignored
    assert math.isnan(rate_at_psnr(points, 28.0)) and math.isnan(rate_at_psnr(points, 10.0))
    # a zero-rate point (every dimension dropped): the rate itself on its segment, no log(0) warning
    with_zero = [*points, {"bpp": 0.0, "psnr": 12.0}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rate_at_psnr(with_zero, 16.0) == pytest.approx(0.05)
        assert rate_at_psnr(with_zero, 12.0) == 0.0
        assert rate_at_psnr(with_zero, 22.0) == pytest.approx(0.2)


def _curve(shift: float, rates=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6)) -> list[dict[str, float]]:
    return [{"bpp": r, "ideal_bpp": r * 0.9, "psnr": 20 + 3 * math.log2(r / 0.05) + shift, "mse": 0.01, "ssim": 0.5,
             "payload_bpp": r / 2} for r in rates]


def _result(val_shift: float, test_shift: float, design: str = "uniform") -> dict:
    return {"design": design, "design_bd": {"scaled": 0.0, "uniform": -20.0, "lagrangian": -25.0},
            "validation": _curve(val_shift), "test": _curve(test_shift), "weights_bytes": 4000,
            "table_bytes": [100, 900]}


def test_codec_tables_choose_on_validation_and_report_overlaps():
    """A cell better on validation but worse on test is still the one chosen (choices never look at
    test images); thin overlaps are refused with the threshold printed; side information in bpp."""
    from autoenc.analysis.autoencoder.codec_tables import (
        CellNames,
        bd_rate_table,
        best_per_size,
        design_table,
        winners_table,
    )

    ae = {(1, 8, "mse"): {0: _result(1.0, -1.0), 1: _result(1.0, -1.0)},
          (2, 8, "mse"): {0: _result(0.0, 2.0, "lagrangian"), 1: _result(0.0, 2.0, "lagrangian")}}
    pca = {8: _result(0.5, 0.5)}
    far = [{**p, "psnr": p["psnr"] + 13.5} for p in _curve(0.0)]  # shares 0.5 dB with the chosen cell
    library = {fmt: {"validation": far, "test": far} for fmt in ("JPEG", "WEBP")}
    arms = CellNames("loss", str.upper, ["mse"].index)
    best = best_per_size(ae, pca, far, arms).data[0]
    assert best["chosen on validation"] == "depth 1, MSE"
    assert best["test BD-rate vs JPEG (file)"].startswith(f"overlap 0.5 dB < {MIN_OVERLAP_DB:g} dB")
    rows = bd_rate_table(ae, pca, far, arms).data
    assert rows[0]["BD-rate vs PCA"].endswith("over 13.5 dB") and rows[0]["BD-rate vs PCA"].startswith("+")
    _, wins = winners_table(ae, pca, library, [0.2], arms)
    assert wins[0]["autoencoder chosen"] == "d1 k=8 MSE"
    assert wins[0]["autoencoder PSNR"] == pytest.approx(20 + 6 - 1.0)  # its test PSNR, not its validation PSNR
    design = design_table(ae, pca, 64, arms).data
    assert design[0]["codec"] == "PCA k=8" and design[1]["design chosen on validation"] == "uniform ×2"
    assert design[0]["side info (bpp over 10,000 images)"] == pytest.approx(8 * 4900 / (10_000 * 64))
    assert design[0]["word overhead (bpp)"] == pytest.approx(np.mean([0.1 * p["bpp"] for p in _curve(0)]))


def test_psnr_at_rate_is_the_best_within_the_budget():
    """The PSNR reached with at most the rate: log-rate interpolation on the envelope, a 0-bpp point
    (one-symbol tables) kept off the log axis but reachable, a curve's last point past its end."""
    from autoenc.analysis.autoencoder.codec_tables import psnr_at_rate

    points = [{"bpp": 0.0, "psnr": 12.0}, {"bpp": 0.1, "psnr": 16.0}, {"bpp": 0.4, "psnr": 20.0},
              {"bpp": 0.3, "psnr": 15.0}]  # the last one dominated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr_at_rate(points, 0.2) == pytest.approx(18.0)
        assert psnr_at_rate(points, 0.05) == 12.0  # below the first coded point: the zero-rate point
        assert psnr_at_rate(points, 1.6) == 20.0  # past the end: the curve's best, with fewer bits
        assert math.isnan(psnr_at_rate(points[1:], 0.05))  # no zero-rate point: cannot go that low
        assert math.isnan(psnr_at_rate([], 0.2))
