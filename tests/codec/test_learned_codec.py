"""A learned density as the range coder's tables: real bytes, exact round trip, bpp from bytes
against bpp from the likelihoods, and the codec file."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.codec import LatentCodec
from autoenc.datasets import load_settings
from autoenc.models.compression import compression_autoencoder
from autoenc.nn import Adam, fit


@pytest.fixture(scope="module")
def trained():
    data = {"dataset": "fashion_mnist", "shape": "flat", "scale": "unit", "train_subset": 2000}
    X, _ = load_settings(data, "train")
    X_test, _ = load_settings({**data, "test_subset": 300}, "test")
    model = compression_autoencoder("fc", 784, latent=32, hidden=64, seed=0)
    fit(model, model.rd_loss(0.01), Adam(model, lr=2e-3), X, epochs=2, batch_size=64, seed=0)
    model.bottleneck.update_quantiles()  # as the task does after training
    return model.eval(), X, X_test


def test_round_trip_is_exact_and_rates_agree(trained):
    model, X, X_test = trained
    codec = LatentCodec.from_learned(model, 784, model.encode(X))
    blobs = codec.encode(X_test)
    symbols = codec.decode_symbols(blobs)
    # decode(encode(x)) gives back the latents rounded around the medians, exactly
    latents = codec.encode_fn(X_test)
    assert np.allclose(latents, model.encode(X_test).reshape(len(X_test), -1), atol=1e-4)
    rounded = np.rint(latents - np.tile(model.bottleneck.medians, latents.shape[1] // 32))
    assert np.array_equal(symbols + codec.offset, rounded)
    # ... and the images the model itself gives at test time
    assert np.allclose(codec.decode(blobs), model.forward(X_test), atol=1e-4)
    bpp_likelihood = model.bottleneck.bits.mean() / 784
    bpp_ideal = codec.ideal_bits(symbols).mean() / 784
    bpp_bytes = codec.payload_bits(blobs).mean() / 784  # the coded words, without the stream header
    assert abs(bpp_ideal - bpp_likelihood) < 0.01 * bpp_likelihood + 1e-3  # 16-bit tables, folded tails
    assert bpp_ideal <= bpp_bytes <= bpp_ideal + 32 / 784 + 1e-3  # the coder's last 32-bit word at most


def test_codec_file_round_trip(trained, tmp_path):
    model, X, X_test = trained
    codec = LatentCodec.from_learned(model, 784, model.encode(X))
    loaded = LatentCodec.load(codec.save(tmp_path / "learned.npz"))
    blobs = codec.encode(X_test[:20])
    assert loaded.encode(X_test[:20]) == blobs
    assert np.array_equal(loaded.decode(blobs), codec.decode(blobs))
