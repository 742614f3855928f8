"""The convolutional autoencoder builder: layer plan, exact sizes back (even and odd), code
shapes, GDN variant, model files, seeds, errors, and that it learns on real Fashion-MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc import datasets
from autoenc.models import AutoEncoder, autoencoder, code_shape, conv_autoencoder
from autoenc.nn import (
    GDN,
    Adam,
    Conv2D,
    ConvTranspose2D,
    Flatten,
    Linear,
    MSELoss,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    fit,
    gradcheck,
    load,
    save,
)


def test_default_plan_28_14_7_and_back():
    ae = conv_autoencoder(seed=0)
    assert isinstance(ae, AutoEncoder)
    assert [type(m) for m in ae.encoder.modules] == [Reshape, Conv2D, ReLU, Conv2D]
    assert [type(m) for m in ae.decoder.modules] == [ConvTranspose2D, ReLU, ConvTranspose2D, Flatten, Sigmoid]
    assert ae.latent_shape == (7, 7, 64) and ae.latent_size == 3136
    convs = [m for m in ae.encoder.modules if isinstance(m, Conv2D)]
    assert [(c.chan_in, c.chan_out, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 32, (5, 5), (2, 2), (2, 2)), (32, 64, (5, 5), (2, 2), (2, 2))]
    assert [c.init for c in convs] == ["he", "xavier"]
    ups = [m for m in ae.decoder.modules if isinstance(m, ConvTranspose2D)]
    assert [(u.chan_in, u.chan_out, u.output_padding) for u in ups] == [(64, 32, (1, 1)), (32, 1, (1, 1))]
    X = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    codes = ae.encode(X)
    assert codes.shape == (3, 7, 7, 64) and codes.dtype == np.float32
    out = ae.forward(X)
    assert out.shape == (3, 784) and ((out > 0) & (out < 1)).all()


@pytest.mark.parametrize("image_shape, channels, latent_shape", [
    ((9, 7, 2), (4,), (3, 2, 3)),  # odd sizes: 9 -> 5 -> 3, 7 -> 4 -> 2
    ((28, 28, 1), (4, 4), (4, 4, 3)),  # three layers: 28 -> 14 -> 7 -> 4
    ((5, 6, 3), (), (3, 3, 3)),  # one layer each way
])
def test_sizes_come_back_exactly(image_shape, channels, latent_shape):
    ae = conv_autoencoder(image_shape, channels=channels, latent_channels=3, kernel_size=3, seed=1)
    assert ae.latent_shape == latent_shape
    X = np.random.default_rng(1).random((2, int(np.prod(image_shape))), dtype=np.float32)
    assert ae.encode(X).shape == (2, *latent_shape) and ae.forward(X).shape == X.shape


def test_gdn_variant_flat_code_and_model_file(tmp_path):
    ae = conv_autoencoder(channels=(8, 8), latent_channels=6, activation="gdn", output_activation=None,
                          flatten_latent=True, seed=2)
    gdns = [m for m in ae.encoder.modules + ae.decoder.modules if isinstance(m, GDN)]
    assert [g.inverse for g in gdns] == [False, False, True, True]
    assert isinstance(ae.encoder.modules[-1], Flatten) and isinstance(ae.decoder.modules[0], Reshape)
    assert isinstance(ae.decoder.modules[-1], Flatten)  # no output activation
    assert ae.latent_shape == (4 * 4 * 6,) and ae.latent_size == 96
    X = np.random.default_rng(2).random((4, 784), dtype=np.float32)
    assert ae.encode(X).shape == (4, 96)
    save(tmp_path / "ae.npz", ae)
    loaded = load(tmp_path / "ae.npz")
    assert isinstance(loaded, AutoEncoder) and loaded.latent_shape == ae.latent_shape
    np.testing.assert_array_equal(loaded.forward(X), ae.forward(X))


def test_whole_model_gradcheck_float64():
    ae = conv_autoencoder((6, 5, 1), channels=(2,), latent_channels=2, kernel_size=3, activation="gdn",
                          dtype=np.float64, seed=3)
    rng = np.random.default_rng(3)
    for m in ae.encoder.modules + ae.decoder.modules:
        if isinstance(m, GDN):  # off the lower bound, where the reparametrization has a kink (GDN's own tests)
            m._parameters["gamma"].data[:] = rng.uniform(0.1, 0.5, (2, 2))
    # eps 1e-4: some weight gradients are ~1e-6 (against ~0.1 for the largest), and at eps 1e-6
    # the rounding of the differenced sums alone is a 1e-4 relative error there
    result = gradcheck(ae, rng.random((2, 30)), eps=1e-4)
    assert result.ok, result


def test_seeds_and_code_shape_of_other_encoders():
    a, b, c = (conv_autoencoder(channels=(4,), latent_channels=2, seed=s) for s in (5, 5, 6))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert any(not np.array_equal(p.data, r.data) for p, r in zip(a.parameters(), c.parameters(), strict=True))
    assert autoencoder(784, 16).latent_shape == (16,) and autoencoder(784, 16).latent_size == 16
    assert code_shape(Sequential(Linear(8, 12), Reshape((-1, 4)))) == (3, 4)
    assert code_shape(Sequential(Linear(8, 12), Reshape((-1, 4)), Flatten())) == (12,)
    with pytest.raises(ValueError, match="its shape cannot be resolved"):
        code_shape(Sequential(Reshape((-1, 4)), Flatten()))
    with pytest.raises(ValueError, match=r"start the encoder with Reshape\(\(h, w, c\)\)"):
        code_shape(Sequential(Conv2D(1, 2, 3)))
    with pytest.raises(ValueError, match="no layer that fixes"):
        code_shape(Sequential(ReLU()))


def test_errors():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        conv_autoencoder(kernel_size=4)
    with pytest.raises(ValueError, match=r"image_shape must be \(height, width, channels\)"):
        conv_autoencoder(image_shape=(28, 28))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        conv_autoencoder(activation="gelu")


@pytest.mark.needs_fashion
def test_learns_on_real_fashion_mnist():
    try:
        X, _ = datasets.load("fashion_mnist", "test")
    except datasets.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST not installed")
    X = X[:512]
    ae = conv_autoencoder(channels=(8,), latent_channels=8, seed=0)
    loss = MSELoss()
    before = float(loss.forward(X, ae.forward(X)))
    history = fit(ae, loss, Adam(ae.parameters(), lr=3e-3), X, epochs=4, batch_size=64, seed=0)
    after = float(loss.forward(X, ae.forward(X)))
    assert history.train_loss[-1] < history.train_loss[0] and after < 0.5 * before, (before, after)
