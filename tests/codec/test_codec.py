"""The latent codec: exact round trip, real bitstreams, files without pickle, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("constriction")

from autoenc.analysis.rate_distortion import bd_rate, distortion, pillow_curve, ssim_batch  # noqa: E402
from autoenc.codec import CodecError, LatentCodec  # noqa: E402
from autoenc.models import autoencoder  # noqa: E402


def _images(n: int, seed: int = 0) -> np.ndarray:
    """Smooth 8 x 8 blobs with pixels in [0, 1] (something a small code can describe)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8, 0:8]
    centres = rng.uniform(1, 7, size=(n, 2))
    widths = rng.uniform(1, 3, size=(n, 1, 1))
    img = np.exp(-((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2) / widths**2)
    return img.reshape(n, 64).astype(np.float32)


@pytest.fixture(scope="module")
def trained():
    from autoenc.nn import Adam, MSELoss, fit

    X = _images(600)
    model = autoencoder(64, 6, depth=2, widths=(32,), seed=0)
    fit(model, MSELoss(), Adam(model.parameters(), lr=3e-3), X, epochs=20, batch_size=32, seed=0)
    return model, X


@pytest.mark.parametrize("step", [2.0, 0.5, 0.1])
def test_round_trip_is_exact(trained, step):
    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=step)
    blobs = codec.encode(X[400:])
    assert all(isinstance(b, bytes) and len(b) % 4 == 0 and len(b) > 0 for b in blobs)
    np.testing.assert_array_equal(codec.decode(blobs), codec.reconstruct(X[400:]))
    # finer steps cost more bits and distort less
    assert codec.quantize(X[400:]).shape == (200, 6)


def test_rate_falls_and_distortion_rises_with_the_step(trained):
    model, X = trained
    points = []
    for step in (0.1, 0.5, 2.0):
        codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=step)
        bits = codec.payload_bits(codec.encode(X[400:])).mean()
        err = float(((codec.reconstruct(X[400:]) - X[400:]) ** 2).mean())
        ideal = float(codec.ideal_bits(codec.quantize(X[400:])).mean())
        assert ideal <= bits + 1e-9  # whole 32-bit words never beat the information content
        points.append((bits, err))
    assert points[0][0] > points[1][0] >= points[2][0]
    assert points[0][1] < points[2][1]


def test_save_load_round_trip_without_pickle(trained, tmp_path):
    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=0.5)
    path = codec.save(tmp_path / "codec.npz")
    with np.load(path, allow_pickle=False) as z:
        assert "__header__" in z.files
    again = LatentCodec.load(path)
    blobs = codec.encode(X[400:420])
    assert again.encode(X[400:420]) == blobs
    np.testing.assert_array_equal(again.decode(blobs), codec.decode(blobs))


def test_pca_codec_round_trip(tmp_path):
    X = _images(500, seed=1)
    codec = LatentCodec.from_pca(X[:400], 5, step_scale=0.25)
    blobs = codec.encode(X[400:])
    np.testing.assert_array_equal(codec.decode(blobs), codec.reconstruct(X[400:]))
    assert codec.reconstruct(X[400:]).min() >= 0 and codec.reconstruct(X[400:]).max() <= 1  # clipped
    again = LatentCodec.load(codec.save(tmp_path / "pca.npz"))
    np.testing.assert_array_equal(again.decode(blobs), codec.decode(blobs))


def test_bad_input_and_damaged_files(trained, tmp_path):
    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=0.5)
    with pytest.raises(CodecError, match="NaN"):
        codec.encode(np.full((2, 64), np.nan, np.float32))
    with pytest.raises(CodecError, match="truncated"):
        codec.decode([b"abc"])
    with pytest.raises(CodecError, match="step_scale"):
        LatentCodec.from_autoencoder(model, X[:400], step_scale=0)
    path = codec.save(tmp_path / "c.npz")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CodecError, match="re-create"):
        LatentCodec.load(damaged)
    with pytest.raises(CodecError, match="not found"):
        LatentCodec.load(tmp_path / "missing.npz")
    pickled = tmp_path / "pickle.npz"
    np.savez(pickled, __header__=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CodecError):
        LatentCodec.load(pickled)


def test_both_coding_paths_give_the_same_bits(trained, monkeypatch):
    """Wide alphabets are coded with prebuilt per-dimension models, narrow ones with the table
    passed per call: the bitstreams must be the same bytes, and each path decodes the other's."""
    import autoenc.codec as codec_mod

    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=0.02)
    assert codec.probabilities.shape[1] > 20
    symbols = codec.quantize(X[400:])
    monkeypatch.setattr(codec_mod, "PREBUILT_FROM", 10**9)
    per_call = codec.encode_symbols(symbols)
    assert codec._prebuilt() is None
    monkeypatch.setattr(codec_mod, "PREBUILT_FROM", 2)
    prebuilt = codec.encode_symbols(symbols)
    assert codec._prebuilt() is not None
    assert prebuilt == per_call
    np.testing.assert_array_equal(codec.coded_bits(symbols), codec.payload_bits(prebuilt))
    np.testing.assert_array_equal(codec.decode_symbols(per_call), symbols)
    np.testing.assert_array_equal(codec.decode(prebuilt), codec.dequantize(symbols))
    with pytest.raises(CodecError, match="shape"):
        codec.encode_symbols(symbols[:, :-1])
    with pytest.raises(CodecError, match="shape"):
        codec.quantize_codes(np.zeros((3, codec.latent_size + 1)))


def test_refit_and_curve_match_fitting_from_scratch(trained):
    from autoenc.analysis.rate_distortion import codec_curve, codec_point

    model, X = trained
    base = LatentCodec.from_autoencoder(model, X[:400], step_scale=1.0)
    curve = codec_curve(base, X[:400], X[400:], 8, step_scales=(1.0, 0.25))
    for s, point in zip((1.0, 0.25), curve, strict=True):
        fresh = LatentCodec.from_autoencoder(model, X[:400], step_scale=s)
        np.testing.assert_array_equal(base.refit(s, base.train_codes(X[:400])).probabilities, fresh.probabilities)
        assert point == codec_point(fresh, X[400:], 8)


def test_measuring_decoder_matches_the_codecs_own(trained):
    """The report measures distortion with the network in float32 (``exact=False``): pixels
    within float32 rounding of the codec's float64 decoder, PSNR within 1e-4 dB."""
    from autoenc.analysis.rate_distortion import distortion

    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=0.25)
    values = codec.code_values(codec.quantize(X[400:]))
    exact, fast = codec.decode_values(values), codec.decode_values(values, exact=False)
    np.testing.assert_array_equal(exact, codec.dequantize(codec.quantize(X[400:])))
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-5)
    np.testing.assert_allclose(distortion(X[400:], fast, 8)["psnr"], distortion(X[400:], exact, 8)["psnr"], atol=1e-4)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("side", [7, 8, 28])
def test_batch_ssim_matches_scikit_image(side, compiled, monkeypatch):
    """Both the numba kernel and the NumPy path (no numba) against scikit-image."""
    from autoenc.analysis import rate_distortion as rd

    skimage_metrics = pytest.importorskip("skimage.metrics")
    if compiled and rd._kernel("ssim") is None:
        pytest.skip("numba unavailable here: only the NumPy path runs")
    if not compiled:
        monkeypatch.setattr(rd, "_KERNELS", {"ssim": None, "mse": None})
    rng = np.random.default_rng(side)
    X = rng.random((5 if compiled else 300, side, side))  # 300: several NumPy blocks
    Y = np.clip(X + rng.normal(0, 0.1, X.shape), 0, 1)
    Y[0] = X[0]
    Y[1] = 0.0  # a flat image
    ours = ssim_batch(X, Y, side)
    assert ours.shape == (len(X),)
    ref = [skimage_metrics.structural_similarity(x, y, data_range=1.0) for x, y in zip(X, Y, strict=True)]
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim_batch(X[:, :6, :6], Y[:, :6, :6], 6)
    d = distortion(X.reshape(len(X), -1), X.reshape(len(X), -1), side)
    assert (d["psnr"] == 100).all() and np.allclose(d["ssim"], 1)


def test_pillow_baselines_count_real_bytes():
    X = _images(20, seed=2)
    X28 = np.zeros((20, 28, 28), np.float32)
    X28[:, 10:18, 10:18] = np.rint(X.reshape(20, 8, 8) * 255) / 255  # 8-bit images, as Fashion-MNIST
    jpeg = pillow_curve(X28.reshape(20, -1), 28, "JPEG", [10, 90])
    png = pillow_curve(X28.reshape(20, -1), 28, "PNG", [None])
    assert jpeg[0]["bpp"] < jpeg[1]["bpp"] and jpeg[0]["psnr"] < jpeg[1]["psnr"]
    assert all(p["payload_bpp"] < p["bpp"] for p in jpeg + png)  # headers are left out
    assert png[0]["psnr"] == 100  # lossless on 8-bit data


def test_bd_rate_of_a_shifted_curve():
    rate = np.array([0.1, 0.2, 0.4, 0.8])
    psnr = np.array([20.0, 24.0, 28.0, 32.0])
    # A reaches each PSNR with half the bits of B: BD-rate -50%
    assert bd_rate(rate / 2, psnr, rate, psnr) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(rate, psnr, rate, psnr) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(bd_rate(rate, psnr, rate, psnr + 100))  # no shared PSNR range


def test_bits_do_not_depend_on_the_batch(trained, tmp_path):
    """An image's bitstream and reconstruction are the same coded alone or among others (the
    encoder and decoder run in float64: BLAS kernels chosen by batch shape cannot change a symbol)."""
    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=0.1)
    blobs = codec.encode(X[400:430])
    assert blobs == [codec.encode(X[i:i + 1])[0] for i in range(400, 430)]
    np.testing.assert_array_equal(codec.decode(blobs), np.concatenate([codec.decode([b]) for b in blobs]))
    loaded = LatentCodec.load(codec.save(tmp_path / "c.npz"))
    assert loaded.encode(X[400:430]) == blobs


def test_a_single_image_is_a_batch_of_one(trained):
    model, X = trained
    codec = LatentCodec.from_autoencoder(model, X[:400], step_scale=0.5)
    assert codec.input_size == 64 and LatentCodec.from_pca(X[:400], 6).input_size == 64
    one = codec.encode(X[400:401])
    assert codec.encode(X[400]) == one and codec.encode(X[400].reshape(8, 8)) == one  # (64,) and (8, 8)
    np.testing.assert_array_equal(codec.reconstruct(X[400]), codec.decode(one))
    with pytest.raises(CodecError, match="encoder takes 64"):
        codec.encode(X[400:402, :32])
    with pytest.raises(CodecError, match="one image of 64 values"):
        codec.encode(X[400, :10])
