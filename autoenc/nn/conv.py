"""Image layers, channels last: Conv2D, ConvTranspose2D, Upsample2D and Reshape.

Images are ``(N, H, W, C)`` (NHWC), the 2-D form of Conv1D's ``(N, L, C)``: a pixel's channels
are contiguous, so a convolution is one matrix product of the im2col matrix (a strided view,
copied once) with the weights, and the way back scatters the column gradients back onto the image
(``kernels.col2im``: one compiled pass, or one strided NumPy add per kernel offset).
``ConvTranspose2D`` is the adjoint of ``Conv2D``: its forward pass is Conv2D's input gradient
and its input gradient is Conv2D's forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .kernels import col2im
from .layers import init_weight
from .module import Module, Parameter


def _pair(value: int | tuple[int, int] | list[int], name: str, least: int) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; a pair stays a pair; each value must be an integer >= ``least``."""
    pair = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
    if min(pair) < least:
        raise ValueError(f"{name} must be >= {least}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _config_pair(pair: tuple[int, int]) -> int | list[int]:
    return pair[0] if pair[0] == pair[1] else list(pair)


def _im2col(X: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int],
            out: np.ndarray | None = None) -> np.ndarray:
    """The (N * Ho * Wo, kh * kw * C) matrix of X's (N, H, W, C) windows, in (kh, kw, C) order
    (written into ``out``, C-contiguous of that shape, when given).

    One copy of a strided view; a kernel row's ``kw * C`` values are contiguous in a C-contiguous
    X, so the view has five axes and the copy runs over contiguous rows.
    """
    n, _, w, c = X.shape
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    s0, s1, s2, s3 = X.strides
    if s2 == c * s3:  # a pixel's channels follow the previous pixel's
        view = as_strided(X, (n, ho, wo, kh, kw * c), (s0, s1 * sh, s2 * sw, s1, s3), writeable=False)
    else:
        view = as_strided(X, (n, ho, wo, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)
    if out is None:
        return view.reshape(n * ho * wo, kh * kw * c)
    np.copyto(out.reshape(view.shape), view)
    return out


#: bytes of the per-chunk temporary (im2col rows, or a transposed convolution's patches) that the
#: layers produce and consume chunk by chunk: the matrix product then reads it from cache, not
#: from memory (at batch 64 the 32 -> 16 channel layers' temporaries are 10 MB; ~7% of a
#: fashion_rd conv step). Same numbers up to float rounding (BLAS may round edge rows differently).
CHUNK_BYTES = 1 << 20


def _chunks(n: int, bytes_per_image: int) -> range:
    """Start indices of the batch's chunks of about ``CHUNK_BYTES``."""
    return range(0, n, max(1, CHUNK_BYTES // max(1, bytes_per_image)))


class _ConvBase(Module):
    """What Conv2D and ConvTranspose2D share: arguments, parameters, the im2col cache, config."""

    def __init__(self, chan_in: int, chan_out: int, kernel_size: int | tuple[int, int], stride: int | tuple[int, int],
                 padding: int | tuple[int, int], bias: bool, init: str, dtype: Any,
                 seed: int | np.random.Generator | None) -> None:
        super().__init__()
        name = type(self).__name__
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (chan_in, chan_out)) \
                or min(chan_in, chan_out) < 1:
            raise ValueError(f"{name}: chan_in and chan_out must be positive integers, got ({chan_in!r}, {chan_out!r})")
        self.chan_in, self.chan_out = int(chan_in), int(chan_out)
        self.kernel_size = _pair(kernel_size, f"{name}: kernel_size", 1)
        self.stride = _pair(stride, f"{name}: stride", 1)
        self.padding = _pair(padding, f"{name}: padding", 0)
        self.bias, self.init, self.dtype = bool(bias), init, np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name}: dtype must be float32 or float64, got {self.dtype}")
        self._seed = seed
        if bias:
            self._parameters["bias"] = Parameter(np.zeros(chan_out, dtype=dtype))
        # (array the columns were built from, the columns): the weight gradient and the input
        # gradient of one backward pass share one im2col copy
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def _make_weight(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> None:
        self._parameters["weight"] = Parameter(
            init_weight(shape, fan_in, fan_out, self.init, np.random.default_rng(self._seed), self.dtype))
        self._seed = None  # the generator is consumed; do not keep it alive

    @property
    def weight(self) -> Parameter:
        return self._parameters["weight"]

    def _cols(self, X: np.ndarray, padded: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
        """im2col of ``padded`` (X with its borders), remembered as built from the object ``X``."""
        cols = _im2col(padded, self.kernel_size, self.stride, out_hw)
        self._cache = (X, cols)
        return cols

    def _cached_cols(self, X: np.ndarray) -> np.ndarray | None:
        # the weight and input gradients of one backward pass share one im2col copy; a forward
        # pass always rebuilds it (its input may have changed in place since)
        return self._cache[1] if self._cache is not None and self._cache[0] is X else None

    def _check_delta(self, input: np.ndarray, delta: np.ndarray) -> None:
        expected = (input.shape[0], *self.output_shape(input.shape[1], input.shape[2]), self.chan_out)
        if delta.shape != expected:
            raise ValueError(f"{self!r}: delta has shape {delta.shape}; the output for input {input.shape} "
                             f"has shape {expected}")

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        raise NotImplementedError

    def _add_bias_grad(self, delta2d: np.ndarray) -> None:
        if self.bias:
            self._parameters["bias"].add_sum(delta2d)

    def get_config(self) -> dict[str, Any]:
        return {
            "chan_in": self.chan_in,
            "chan_out": self.chan_out,
            "kernel_size": _config_pair(self.kernel_size),
            "stride": _config_pair(self.stride),
            "padding": _config_pair(self.padding),
            "bias": self.bias,
            "init": self.init,
            "dtype": self.dtype.name,
        }


class Conv2D(_ConvBase):
    """2-D convolution (cross-correlation) with zero padding, channels last.

    Args:
        chan_in: input channels.
        chan_out: output channels (number of filters).
        kernel_size: ``k`` or ``(kh, kw)``.
        stride: step between windows, ``s`` or ``(sh, sw)``.
        padding: zeros added on each side, ``p`` or ``(ph, pw)``.
        bias: learn one bias per output channel.
        init: weight initialisation (see ``Linear``); fans are ``kh*kw*chan_in`` and ``kh*kw*chan_out``.
        dtype: parameter dtype (float32 default; float64 for gradient checks).
        seed: int or ``np.random.Generator``.

    Shape:
        Input (N, H, W, chan_in) (NHWC, like Conv1D's (N, L, C); PyTorch's Conv2d is NCHW);
        weights (kh, kw, chan_in, chan_out);
        output (N, (H + 2*ph - kh) // sh + 1, (W + 2*pw - kw) // sw + 1, chan_out).

    Example:
        >>> conv = Conv2D(1, 32, 5, stride=2, padding=2)
        >>> conv.forward(np.zeros((8, 28, 28, 1), np.float32)).shape
        (8, 14, 14, 32)
    """

    def __init__(
        self,
        chan_in: int,
        chan_out: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        init: str = "xavier",
        dtype: Any = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(chan_in, chan_out, kernel_size, stride, padding, bias, init, dtype, seed)
        (kh, kw) = self.kernel_size
        self._make_weight((kh, kw, self.chan_in, self.chan_out), kh * kw * self.chan_in, kh * kw * self.chan_out)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(Ho, Wo) for an (H, W) input."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1

    def _padded(self, X: np.ndarray) -> np.ndarray:
        ph, pw = self.padding
        if not ph and not pw:
            return X
        return np.pad(X, ((0, 0), (ph, ph), (pw, pw), (0, 0)))

    def forward(self, X: np.ndarray) -> np.ndarray:
        kh, kw = self.kernel_size
        self._check_input(X, 4, f"(N, H, W, {self.chan_in}) (channels last)", self.chan_in)
        ph, pw = self.padding
        if X.shape[1] + 2 * ph < kh or X.shape[2] + 2 * pw < kw:
            raise ValueError(f"{self!r}: the padded input {X.shape[1] + 2 * ph}x{X.shape[2] + 2 * pw} is smaller "
                             f"than the {kh}x{kw} kernel (input shape {X.shape})")
        n, (ho, wo) = X.shape[0], self.output_shape(X.shape[1], X.shape[2])
        padded, weight = self._padded(X), self.weight.data.reshape(-1, self.chan_out)
        cols = np.empty((n * ho * wo, weight.shape[0]), dtype=X.dtype)  # kept for the backward pass
        out = np.empty((n * ho * wo, self.chan_out), dtype=np.result_type(X, weight))
        step = ho * wo  # rows per image
        chunks = _chunks(n, step * weight.shape[0] * X.itemsize)
        for start in chunks:
            rows = slice(start * step, min(n, start + chunks.step) * step)
            _im2col(padded[start:start + chunks.step], self.kernel_size, self.stride, (ho, wo), out=cols[rows])
            np.matmul(cols[rows], weight, out=out[rows])
        self._cache = (X, cols)
        if self.bias:
            out += self._parameters["bias"].data
        return out.reshape(n, ho, wo, self.chan_out)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        self._check_delta(input, delta)
        cols = self._cached_cols(input)
        if cols is None:
            cols = self._cols(input, self._padded(input), delta.shape[1:3])
        d2 = delta.reshape(-1, self.chan_out)
        self.weight.add_matmul(cols.T, d2)
        self._add_bias_grad(d2)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        self._check_delta(input, delta)
        n, ho, wo, _ = delta.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        weight_t = self.weight.data.reshape(-1, self.chan_out).T
        h, w = input.shape[1] + 2 * ph, input.shape[2] + 2 * pw
        grad = np.empty((n, h, w, self.chan_in), dtype=np.result_type(delta, weight_t))
        chunks = _chunks(n, ho * wo * weight_t.shape[1] * grad.itemsize)
        for start in chunks:
            end = min(n, start + chunks.step)
            grad_cols = delta[start:end].reshape(-1, self.chan_out) @ weight_t
            grad[start:end] = col2im(grad_cols.reshape(end - start, ho, wo, kh, kw, self.chan_in), (h, w),
                                     self.stride)
        if ph or pw:
            grad = np.ascontiguousarray(grad[:, ph : h - ph, pw : w - pw])
        return grad


class ConvTranspose2D(_ConvBase):
    """Transposed 2-D convolution (the adjoint of ``Conv2D``), channels last.

    Each input pixel adds its kernel-sized patch, weighted by its channels, into the output at
    ``stride`` steps; ``padding`` crops that many rows and columns from each side, and
    ``output_padding`` adds rows and columns at the bottom and right, as in PyTorch's
    ``ConvTranspose2d``. ``ConvTranspose2D(cin, cout, 5, stride=2, padding=2, output_padding=1)``
    doubles the size (7 -> 14 -> 28) and undoes the size change of ``Conv2D(cout, cin, 5,
    stride=2, padding=2)``.

    Args:
        chan_in: input channels.
        chan_out: output channels.
        kernel_size: ``k`` or ``(kh, kw)``.
        stride: ``s`` or ``(sh, sw)``.
        padding: ``p`` or ``(ph, pw)``, cropped from each side of the output.
        output_padding: ``op`` or ``(oph, opw)``, added at the bottom and right; smaller than
            the stride, as in PyTorch.
        bias: learn one bias per output channel.
        init: weight initialisation (see ``Linear``); fan-in is ``chan_in*kh*kw / (sh*sw)`` (the
            inputs an output pixel sees), fan-out ``chan_out*kh*kw``.
        dtype: parameter dtype.
        seed: int or ``np.random.Generator``.

    Shape:
        Input (N, H, W, chan_in); weights (chan_in, kh, kw, chan_out) (PyTorch: (in, out, kh, kw));
        output (N, (H - 1)*sh - 2*ph + kh + oph, (W - 1)*sw - 2*pw + kw + opw, chan_out).

    Example:
        >>> up = ConvTranspose2D(64, 32, 5, stride=2, padding=2, output_padding=1)
        >>> up.forward(np.zeros((8, 7, 7, 64), np.float32)).shape
        (8, 14, 14, 32)
    """

    def __init__(
        self,
        chan_in: int,
        chan_out: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        bias: bool = True,
        init: str = "xavier",
        dtype: Any = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(chan_in, chan_out, kernel_size, stride, padding, bias, init, dtype, seed)
        self.output_padding = _pair(output_padding, "ConvTranspose2D: output_padding", 0)
        if any(op >= s for op, s in zip(self.output_padding, self.stride, strict=True)):
            raise ValueError(f"ConvTranspose2D: output_padding {output_padding!r} must be smaller than the "
                             f"stride {stride!r} (as in PyTorch)")
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        self._make_weight((self.chan_in, kh, kw, self.chan_out), max(1, round(self.chan_in * kh * kw / (sh * sw))),
                          self.chan_out * kh * kw)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(Ho, Wo) for an (H, W) input."""
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.kernel_size, self.stride, self.padding, self.output_padding
        return (height - 1) * sh - 2 * ph + kh + oh, (width - 1) * sw - 2 * pw + kw + ow

    def _full_shape(self, height: int, width: int) -> tuple[int, int]:
        # the uncropped output, tall enough for the crop window [p, p + Ho) (output padding
        # beyond the last patch stays zero)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = self.output_shape(height, width)
        return max((height - 1) * sh + kh, ph + ho), max((width - 1) * sw + kw, pw + wo)

    def _uncropped(self, delta: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
        # the output gradient placed back in the uncropped output (zeros where it was cropped)
        n, ho, wo, c = delta.shape
        (ph, pw), (fh, fw) = self.padding, self._full_shape(*input_hw)
        if (ph, pw) == (0, 0) and (ho, wo) == (fh, fw):
            return delta
        full = np.zeros((n, fh, fw, c), dtype=delta.dtype)
        full[:, ph : ph + ho, pw : pw + wo] = delta
        return full

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_input(X, 4, f"(N, H, W, {self.chan_in}) (channels last)", self.chan_in)
        n, h, w, _ = X.shape
        ho, wo = self.output_shape(h, w)
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input {h}x{w} gives an empty output ({ho}x{wo}); the padding is too large")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        weight = self.weight.data.reshape(self.chan_in, -1)
        full_hw = self._full_shape(h, w)
        full = np.empty((n, *full_hw, self.chan_out), dtype=np.result_type(X, weight))
        chunks = _chunks(n, h * w * weight.shape[1] * full.itemsize)
        for start in chunks:
            end = min(n, start + chunks.step)
            patches = X[start:end].reshape(-1, self.chan_in) @ weight
            full[start:end] = col2im(patches.reshape(end - start, h, w, kh, kw, self.chan_out), full_hw, self.stride)
        if self.bias:
            out = np.add(full[:, ph : ph + ho, pw : pw + wo], self._parameters["bias"].data)
        else:
            out = np.ascontiguousarray(full[:, ph : ph + ho, pw : pw + wo])
        return out

    def _delta_cols(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        cols = self._cached_cols(delta)
        if cols is not None:
            return cols
        self._check_delta(input, delta)
        hw = (input.shape[1], input.shape[2])
        return self._cols(delta, self._uncropped(delta, hw), hw)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        cols = self._delta_cols(input, delta)
        self.weight.add_matmul(input.reshape(-1, self.chan_in).T, cols)
        self._add_bias_grad(delta.reshape(-1, self.chan_out))

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        cols = self._delta_cols(input, delta)
        return (cols @ self.weight.data.reshape(self.chan_in, -1).T).reshape(input.shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["output_padding"] = _config_pair(self.output_padding)
        return config


class Upsample2D(Module):
    """Nearest-neighbour upsampling: each pixel becomes a ``scale`` x ``scale`` block.

    Followed by a ``Conv2D`` (stride 1, ``padding = k // 2``) it is the checkerboard-free
    alternative to ``ConvTranspose2D``.

    Args:
        scale: ``s`` or ``(sh, sw)``.

    Shape:
        Input (N, H, W, C); output (N, H*sh, W*sw, C).

    Example:
        >>> Upsample2D(2).forward(np.zeros((8, 7, 7, 16), np.float32)).shape
        (8, 14, 14, 16)
    """

    def __init__(self, scale: int | tuple[int, int] = 2) -> None:
        super().__init__()
        self.scale = _pair(scale, "Upsample2D: scale", 1)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_input(X, 4, "(N, H, W, C) (channels last)")
        n, h, w, c = X.shape
        sh, sw = self.scale
        out = np.empty((n, h, sh, w, sw, c), dtype=X.dtype)
        out[...] = X[:, :, None, :, None, :]
        return out.reshape(n, h * sh, w * sw, c)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        n, h, w, c = input.shape
        sh, sw = self.scale
        return delta.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))

    def get_config(self) -> dict[str, Any]:
        return {"scale": _config_pair(self.scale)}


class Reshape(Module):
    """Reshape every sample: (N, *in) -> (N, *shape), e.g. flat images to (28, 28, 1).

    Args:
        shape: the per-sample shape of the output (one entry may be -1).

    Shape:
        Input (N, *) with prod(*) == prod(shape); output (N, *shape).

    Example:
        >>> Reshape((28, 28, 1)).forward(np.zeros((8, 784), np.float32)).shape
        (8, 28, 28, 1)
    """

    def __init__(self, shape: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if not self.shape or any(s < 1 and s != -1 for s in self.shape) or self.shape.count(-1) > 1:
            raise ValueError(f"Reshape: shape must be positive sizes (at most one -1), got {shape!r}")

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not isinstance(X, np.ndarray) or X.ndim < 1:
            raise TypeError(f"{self!r}: expected a NumPy array of shape (N, ...), got {type(X).__name__}")
        size = int(np.prod(X.shape[1:]))
        known = int(np.prod([s for s in self.shape if s != -1]))
        if (size != known) if -1 not in self.shape else (size % known):
            raise ValueError(f"{self!r}: cannot reshape samples of shape {X.shape[1:]} ({size} values) "
                             f"to {self.shape}")
        return X.reshape(X.shape[0], *self.shape)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta.reshape(input.shape)

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}
