"""The learned-compression models (fully connected and convolutional) under the rate-distortion
loss: every parameter's gradient against finite differences (float64, noise fixed), and the
model file round trip."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.models.compression import compression_autoencoder
from autoenc.nn import load, save
from autoenc.nn.gradcheck import _rel_error, numeric_gradient


@pytest.mark.parametrize("architecture", ["fc", "conv"])
def test_rate_distortion_gradients(architecture):
    model = compression_autoencoder(architecture, 16, latent=2, hidden=3, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (3, 16))
    Y = X.copy()
    elements = 2 * 3 if architecture == "fc" else 2 * 3 * 1 * 1
    model.bottleneck.fixed_noise = rng.uniform(-0.5, 0.5, (2, elements // 2))
    model.bottleneck.aux_weight = 0.0
    loss = model.rd_loss(0.002)

    def f() -> float:
        return loss.forward(Y, model.forward(X), reduction="mean")

    model.zero_grad()
    dx = model.backward(loss.backward(Y, model.forward(X)))
    assert _rel_error(dx, numeric_gradient(f, X)) < 1e-5
    for name, p in model.named_parameters():
        if not name.endswith("quantiles"):
            assert _rel_error(p.grad, numeric_gradient(f, p.data)) < 1e-5, name


def test_model_file_round_trip(tmp_path):
    model = compression_autoencoder("conv", 64, latent=3, hidden=4, seed=1).eval()
    X = np.random.default_rng(1).uniform(0, 1, (2, 64)).astype(np.float32)
    save(tmp_path / "model.npz", model)
    loaded = load(tmp_path / "model.npz").eval()
    assert np.array_equal(loaded.forward(X), model.forward(X))
    assert np.array_equal(loaded.bottleneck.bits, model.bottleneck.bits)
