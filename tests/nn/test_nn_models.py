"""Model builders: shapes, layer choices, seeds and errors."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.models import ACTIVATIONS, AutoEncoder, autoencoder, conv1d_net, hidden_widths, mlp
from autoenc.nn import Conv1D, Linear, LogSoftmax, MaxPool1D, ReLU, Sequential, Sigmoid, TanH, module_from_config


def _linears(seq):
    return [m for m in seq.modules if isinstance(m, Linear)]


def test_hidden_widths():
    assert hidden_widths(1, 64) == []
    assert hidden_widths(2, 64) == [256]
    assert hidden_widths(3, 64) == [256, 128]
    assert hidden_widths(3, 200) == [256, 200]
    assert hidden_widths(2, 400, widths=(256,)) == [400]  # never narrower than the code
    assert hidden_widths(3, 400, widths=(256, 128), min_width_factor=2) == [800, 800]
    assert hidden_widths(3, 16, widths=(256, 128), min_width_factor=2) == [256, 128]
    with pytest.raises(ValueError, match="min_width_factor"):
        hidden_widths(2, 8, min_width_factor=0)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        hidden_widths(0, 8)
    with pytest.raises(ValueError, match="depth 4 needs 3 hidden widths"):
        hidden_widths(4, 8)


def test_benchmark_autoencoder_shape():
    ae = autoencoder(784, 64, depth=2, widths=(256,), seed=0)
    assert isinstance(ae, AutoEncoder) and ae.latent_size == 64
    sizes = [(m.in_features, m.out_features) for m in _linears(ae.encoder) + _linears(ae.decoder)]
    assert sizes == [(784, 256), (256, 64), (64, 256), (256, 784)]
    assert [type(m) for m in ae.encoder.modules] == [Linear, ReLU, Linear]
    assert [type(m) for m in ae.decoder.modules] == [Linear, ReLU, Linear, Sigmoid]
    assert ae.n_parameters() == 784 * 256 + 256 + 256 * 64 + 64 + 64 * 256 + 256 + 256 * 784 + 784
    assert _linears(ae.encoder)[0].init == "he" and _linears(ae.encoder)[1].init == "xavier"
    X = np.random.default_rng(0).uniform(size=(5, 784)).astype(np.float32)
    codes = ae.encode(X)
    assert codes.shape == (5, 64) and ae.decode(codes).shape == (5, 784)
    out = ae.forward(X)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, ae.decode(codes))
    assert isinstance(ae.final_module(), Sigmoid)


def test_autoencoder_options():
    ae = autoencoder(10, 3, depth=1, activation="tanh", latent_activation="tanh", output_activation=None,
                     dtype=np.float64, seed=0)
    assert [type(m) for m in ae.encoder.modules] == [Linear, TanH]
    assert [type(m) for m in ae.decoder.modules] == [Linear]
    assert ae.param_dtype == np.float64 and ae.latent_size == 3
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        autoencoder(10, 3, activation="gelu")


def test_builders_are_seeded():
    a, b, c = (autoencoder(20, 4, depth=3, widths=(10, 8), seed=s) for s in (0, 0, 1))
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert any(not np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), c.parameters(), strict=True))
    # layers draw from one generator: no two layers of the same shape start equal
    w = [m.weight.data for m in _linears(a.encoder) + _linears(a.decoder)]
    assert not np.array_equal(w[1].T, w[-2])


def test_autoencoder_config_round_trip():
    ae = autoencoder(12, 3, depth=2, widths=(6,), seed=0)
    rebuilt = module_from_config(ae.to_config())
    assert isinstance(rebuilt, AutoEncoder) and repr(rebuilt) == repr(ae)
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in ae.named_parameters()]
    assert [n for n, _ in ae.named_parameters()][0] == "encoder.0.weight"


def test_mlp():
    net = mlp([784, 128, 64, 10], activation="tanh", output_activation="log_softmax", seed=0)
    assert isinstance(net, Sequential)
    assert [type(m) for m in net.modules] == [Linear, TanH, Linear, TanH, Linear, LogSoftmax]
    out = net.forward(np.zeros((2, 784), np.float32))
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1, rtol=1e-6)
    assert type(mlp([4, 2]).modules[-1]) is Linear
    with pytest.raises(ValueError, match="at least input and output sizes"):
        mlp([4])


def test_conv1d_net_is_the_original_network():
    net = conv1d_net(seed=0)
    # exactly the original's layers: no activation between the convolution and the pooling
    assert [type(m).__name__ for m in net.modules] == ["Conv1D", "MaxPool1D", "Flatten", "Linear", "ReLU", "Linear"]
    conv, pool, _, lin1, _, lin2 = net.modules
    assert isinstance(conv, Conv1D) and (conv.k_size, conv.chan_in, conv.chan_out, conv.stride) == (3, 1, 32, 1)
    assert isinstance(pool, MaxPool1D) and (pool.k_size, pool.stride) == (2, 2)
    assert (lin1.in_features, lin1.out_features) == (4064, 100) and (lin2.in_features, lin2.out_features) == (100, 10)
    assert net.forward(np.zeros((3, 256, 1), np.float32)).shape == (3, 10)
    small = conv1d_net(length=16, channels=4, k_size=5, pool=3, hidden=7, n_classes=2, conv_activation="relu")
    assert small.forward(np.zeros((2, 16, 1), np.float32)).shape == (2, 2)
    assert type(small.modules[1]).__name__ == "ReLU"
    with pytest.raises(ValueError, match="unknown activation"):
        conv1d_net(conv_activation="gelu")


def test_activation_registry():
    assert set(ACTIVATIONS) == {"relu", "tanh", "sigmoid", "softmax", "log_softmax"}


def test_layer_sizes_and_relu_activity():
    from autoenc.models import layer_sizes, relu_activity

    ae = autoencoder(10, 3, depth=3, widths=(6, 5), seed=0, dtype=np.float64)
    assert layer_sizes(ae) == [10, 6, 5, 3, 5, 6, 10]
    X = np.random.default_rng(0).random((50, 10))
    activity = relu_activity(ae, X, batch_size=7)  # batches of 7: the counts add up across batches
    assert [a["width"] for a in activity] == [6, 5, 5, 6]
    h = np.maximum(ae.encoder.modules[0].forward(X), 0)  # the first hidden layer by hand
    assert activity[0]["active"] == pytest.approx(float((h > 0).mean()))
    assert activity[0]["dead"] == pytest.approx(float(1 - (h > 0).any(axis=0).mean()))
    assert all(0 <= a["active"] <= 1 and 0 <= a["dead"] <= 1 for a in activity)
