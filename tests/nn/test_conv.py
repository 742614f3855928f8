"""Image layers (autoenc.nn.conv): forward values against naive loops, finite-difference
gradients in float64 (stride, padding and odd sizes), the transposed convolution as the exact
adjoint of Conv2D, float32, configs and model files, and the error messages."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.nn import (
    Conv2D,
    ConvTranspose2D,
    Flatten,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Upsample2D,
    gradcheck,
    load,
    module_from_config,
    save,
)


def naive_conv2d(X, W, b, stride, padding):
    """Reference: explicit loops over samples, output positions and kernel offsets."""
    (sh, sw), (ph, pw) = stride, padding
    Xp = np.pad(X, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    n, h, w, _ = Xp.shape
    kh, kw, _, cout = W.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, ho, wo, cout))
    for s in range(n):
        for i in range(ho):
            for j in range(wo):
                patch = Xp[s, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
                out[s, i, j] = np.tensordot(patch, W, axes=3) + (0 if b is None else b)
    return out


def naive_conv_transpose2d(X, W, b, stride, padding, output_padding):
    """Reference: every input pixel adds its weighted kernel patch, then the crop."""
    (sh, sw), (ph, pw), (oh, ow) = stride, padding, output_padding
    n, h, w, _ = X.shape
    _, kh, kw, cout = W.shape
    ho, wo = (h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow
    full = np.zeros((n, max((h - 1) * sh + kh, ph + ho), max((w - 1) * sw + kw, pw + wo), cout))
    for s in range(n):
        for i in range(h):
            for j in range(w):
                full[s, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.tensordot(X[s, i, j], W, axes=1)
    return full[:, ph : ph + ho, pw : pw + wo] + (0 if b is None else b)


CONV_CASES = [  # chan_in, chan_out, kernel, stride, padding, (H, W)
    (1, 3, 5, 2, 2, (28, 28)),  # the study's first layer
    (2, 3, 3, 1, 1, (5, 7)),  # "same" padding, odd sizes
    (3, 2, (3, 2), (2, 1), (0, 1), (8, 5)),  # rectangular kernel, stride and padding
    (2, 2, 4, 3, 0, (11, 10)),  # stride leaves the last rows unused
    (1, 1, 1, 1, 0, (3, 4)),  # 1x1 kernel
]
TRANSPOSE_CASES = [  # chan_in, chan_out, kernel, stride, padding, output_padding, (H, W)
    (3, 1, 5, 2, 2, 1, (7, 7)),  # the study's last layer: 7 -> 14
    (2, 3, 3, 1, 1, 0, (5, 6)),
    (2, 3, (3, 2), (2, 3), (0, 1), (1, 2), (4, 5)),  # output padding beyond the padding
    (2, 2, 3, 3, 1, 2, (3, 4)),
    (1, 2, 2, 2, 0, 0, (3, 3)),  # non-overlapping patches
]


def _conv(case, dtype=np.float64, bias=True):
    cin, cout, k, s, p, _ = case
    layer = Conv2D(cin, cout, k, stride=s, padding=p, bias=bias, dtype=dtype, seed=0)
    if bias:
        layer._parameters["bias"].data[:] = np.random.default_rng(1).normal(size=cout)
    return layer


def _transpose(case, dtype=np.float64, bias=True):
    cin, cout, k, s, p, op, _ = case
    layer = ConvTranspose2D(cin, cout, k, stride=s, padding=p, output_padding=op, bias=bias, dtype=dtype, seed=0)
    if bias:
        layer._parameters["bias"].data[:] = np.random.default_rng(1).normal(size=cout)
    return layer


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_naive_loops(case, bias):
    layer = _conv(case, bias=bias)
    X = np.random.default_rng(2).normal(size=(2, *case[-1], case[0]))
    b = layer._parameters["bias"].data if bias else None
    expected = naive_conv2d(X, layer.weight.data, b, layer.stride, layer.padding)
    out = layer.forward(X)
    assert out.shape == expected.shape == (2, *layer.output_shape(*case[-1]), case[1])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_naive_loops(case):
    layer = _transpose(case)
    X = np.random.default_rng(2).normal(size=(2, *case[-1], case[0]))
    expected = naive_conv_transpose2d(X, layer.weight.data, layer._parameters["bias"].data, layer.stride,
                                      layer.padding, layer.output_padding)
    out = layer.forward(X)
    assert out.shape == expected.shape == (2, *layer.output_shape(*case[-1]), case[1])
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES[1:])  # the 28x28 case is slow to difference
def test_conv2d_gradcheck(case):
    X = np.random.default_rng(3).normal(size=(2, *case[-1], case[0]))
    result = gradcheck(_conv(case), X)
    assert result.ok, result


def test_conv2d_gradcheck_study_shape():
    # the study's 5x5 stride-2 layer, on a smaller odd image to keep the differences few
    result = gradcheck(Conv2D(1, 2, 5, stride=2, padding=2, dtype=np.float64, seed=0),
                       np.random.default_rng(4).normal(size=(2, 9, 9, 1)))
    assert result.ok, result


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_gradcheck(case):
    X = np.random.default_rng(3).normal(size=(2, *case[-1], case[0]))
    result = gradcheck(_transpose(case), X)
    assert result.ok, result


@pytest.mark.parametrize("scale", [2, (3, 1)])
def test_upsample_and_reshape_gradcheck(scale):
    X = np.random.default_rng(5).normal(size=(2, 3, 4, 2))
    assert gradcheck(Upsample2D(scale), X).ok
    assert gradcheck(Reshape((4, 6)), X).ok


@pytest.mark.parametrize("conv_case", [(2, 3, 5, 2, 2, (14, 14)), (2, 3, 3, 2, 1, (7, 9)), (3, 2, 3, 1, 0, (6, 5))])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(conv_case):
    """<conv(x), y> == <x, convT(y)> with the same weights: the way back undoes the size change."""
    cin, cout, k, s, p, (h, w) = conv_case
    conv = Conv2D(cin, cout, k, stride=s, padding=p, bias=False, dtype=np.float64, seed=0)
    ho, wo = conv.output_shape(h, w)
    op = (h - ((ho - 1) * s - 2 * p + k), w - ((wo - 1) * s - 2 * p + k))
    up = ConvTranspose2D(cout, cin, k, stride=s, padding=p, output_padding=op, bias=False, dtype=np.float64)
    up.weight.data[...] = conv.weight.data.transpose(3, 0, 1, 2)  # (kh, kw, in, out) -> (out, kh, kw, in)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(2, h, w, cin)), rng.normal(size=(2, ho, wo, cout))
    assert up.forward(y).shape == x.shape
    np.testing.assert_allclose(np.vdot(conv.forward(x), y), np.vdot(x, up.forward(y)), rtol=1e-12)
    np.testing.assert_allclose(conv.backward_delta(x, y), up.forward(y), rtol=1e-12, atol=1e-12)


def test_upsample_values_and_sizes():
    X = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2)
    out = Upsample2D((2, 3)).forward(X)
    assert out.shape == (1, 4, 9, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :, :, 1], np.repeat(np.repeat(X[0, :, :, 1], 2, 0), 3, 1))
    np.testing.assert_array_equal(Upsample2D(2).backward_delta(X, np.ones((1, 4, 6, 2), np.float32)), 4)


def test_study_shapes_float32_round_trip_28_14_7():
    net = Sequential(
        Reshape((28, 28, 1)),
        Conv2D(1, 8, 5, stride=2, padding=2, init="he", seed=0), ReLU(),
        Conv2D(8, 4, 5, stride=2, padding=2, seed=1),
        ConvTranspose2D(4, 8, 5, stride=2, padding=2, output_padding=1, init="he", seed=2), ReLU(),
        ConvTranspose2D(8, 1, 5, stride=2, padding=2, output_padding=1, seed=3),
        Flatten(), Sigmoid(),
    )
    X = np.random.default_rng(7).random((3, 784), dtype=np.float32)
    out = net.forward(X)
    assert out.shape == (3, 784) and out.dtype == np.float32
    assert net._inputs[4].shape == (3, 7, 7, 4)  # the latent map
    net.zero_grad()
    dx = net.backward(out - X)
    assert dx.shape == X.shape and dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 and np.isfinite(p.grad).all() and p.grad.any() for p in net.parameters())
    # float64 gives the same numbers to float32 precision
    net64 = module_from_config(net.to_config()).astype(np.float64)
    net64.load_state_dict(net.state_dict())
    np.testing.assert_allclose(net64.forward(X.astype(np.float64)), out, rtol=1e-4, atol=1e-5)


def test_backward_reuses_columns_only_for_the_same_input():
    conv = Conv2D(2, 3, 3, padding=1, dtype=np.float64, seed=0)
    rng = np.random.default_rng(8)
    X, D = rng.normal(size=(2, 5, 5, 2)), rng.normal(size=(2, 5, 5, 3))
    conv.forward(X)
    other = X + 1.0  # a different input than the forward pass saw: the columns are rebuilt
    conv.zero_grad()
    conv.backward_update_gradient(other, D)
    reference = Conv2D(2, 3, 3, padding=1, dtype=np.float64, seed=0)
    reference.zero_grad()
    reference.forward(other)
    reference.backward_update_gradient(other, D)
    np.testing.assert_allclose(conv.weight.grad, reference.weight.grad, rtol=1e-12)


def test_gradients_accumulate():
    conv = ConvTranspose2D(2, 3, 3, stride=2, padding=1, output_padding=1, dtype=np.float64, seed=0)
    rng = np.random.default_rng(9)
    X = rng.normal(size=(2, 4, 4, 2))
    D = rng.normal(size=conv.forward(X).shape)
    conv.zero_grad()
    conv.backward_update_gradient(X, D)
    once = {n: p.grad.copy() for n, p in conv.named_parameters()}
    conv.backward_update_gradient(X, D)
    for name, p in conv.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [1, 5000])
def test_chunked_passes_give_the_same_numbers(monkeypatch, chunk_bytes):
    """The layers run the batch in chunks of about CHUNK_BYTES of temporaries; any chunking gives
    the same outputs and input gradients (one image, a few, or the whole batch at a time), up to
    float32 rounding (BLAS may round a matrix's edge rows differently)."""
    import autoenc.nn.conv as conv_module

    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, 14, 14, 4)).astype(np.float32)
    layers = [Conv2D(4, 3, 5, stride=2, padding=2, seed=0),
              ConvTranspose2D(4, 3, 5, stride=2, padding=2, output_padding=1, seed=1)]
    results = []
    for size in (1 << 40, chunk_bytes):
        monkeypatch.setattr(conv_module, "CHUNK_BYTES", size)
        run = []
        for layer in layers:
            out = layer.forward(X)
            run += [out, layer.backward_delta(X, np.ones_like(out))]
        results.append(run)
    for whole, chunked in zip(*results, strict=True):
        np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)


def test_configs_and_model_files_round_trip(tmp_path):
    net = Sequential(Reshape((6, 5, 1)), Conv2D(1, 3, (3, 2), stride=(2, 1), padding=(1, 0), seed=0), ReLU(),
                     ConvTranspose2D(3, 2, 3, stride=2, padding=1, output_padding=1, bias=False, seed=1),
                     Upsample2D((1, 2)), Flatten())
    X = np.random.default_rng(10).random((2, 30), dtype=np.float32)
    save(tmp_path / "m.npz", net)
    loaded = load(tmp_path / "m.npz")
    assert repr(loaded) == repr(net)
    assert "Conv2D(chan_in=1, chan_out=3, kernel_size=[3, 2], stride=[2, 1], padding=[1, 0]" in repr(net)
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    rebuilt = module_from_config(net.to_config())
    assert [type(m).__name__ for m in rebuilt.modules] == [type(m).__name__ for m in net.modules]


def test_errors_say_what_is_wrong():
    conv = Conv2D(3, 4, 5, stride=2, padding=2)
    channels_last = r"expected input of shape \(N, H, W, 3\) \(channels last\), got \(2, 3, 8, 8\)"
    with pytest.raises(ValueError, match=channels_last):
        conv.forward(np.zeros((2, 3, 8, 8), np.float32))  # channels first
    with pytest.raises(ValueError, match="expected input of shape"):
        conv.forward(np.zeros((2, 64, 3), np.float32))
    with pytest.raises(TypeError, match="does not match the parameters' float32"):
        conv.forward(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"the padded input 5x10 is smaller than the 6x6 kernel"):
        Conv2D(3, 4, 6, padding=1).forward(np.zeros((1, 3, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"delta has shape \(2, 8, 8, 4\); the output for input"):
        conv.backward_delta(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 4), np.float32))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        Conv2D(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="kernel_size must be an integer or a pair"):
        Conv2D(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="chan_in and chan_out must be positive"):
        ConvTranspose2D(0, 1, 3)
    with pytest.raises(ValueError, match="output_padding 2 must be smaller than the stride 2"):
        ConvTranspose2D(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="empty output"):
        ConvTranspose2D(1, 1, 1, padding=1).forward(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(10,\) \(10 values\) to \(28, 28, 1\)"):
        Reshape((28, 28, 1)).forward(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="at most one -1"):
        Reshape((-1, -1))
    assert Reshape((-1, 2)).forward(np.zeros((3, 8))).shape == (3, 4, 2)
