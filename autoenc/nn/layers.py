"""Layers with parameters or shape changes: Linear, Conv1D, MaxPool1D, Flatten, and Dropout.

All are vectorised over samples and positions (Conv1D and MaxPool1D use strided views and
loop only over the few kernel offsets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .module import Module, Parameter

INITS = ("xavier", "he", "uniform", "normal", "zeros")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def init_weight(
    shape: tuple[int, ...], fan_in: int, fan_out: int, init: str, rng: np.random.Generator, dtype: Any
) -> np.ndarray:
    """Draw an initial weight array.

    ``xavier``: Glorot uniform, U(+-sqrt(6/(fan_in+fan_out))); ``he``: Kaiming normal,
    N(0, 2/fan_in) (for ReLU); ``uniform``: PyTorch's default U(+-1/sqrt(fan_in));
    ``normal``: N(0, 0.01^2); ``zeros``.
    """
    if init == "xavier":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, shape)
    elif init == "he":
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif init == "uniform":
        a = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-a, a, shape)
    elif init == "normal":
        w = rng.normal(0.0, 0.01, shape)
    elif init == "zeros":
        w = np.zeros(shape)
    else:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    return w.astype(dtype)


class Linear(Module):
    """Fully connected layer: ``y = x @ W + b``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        init: weight initialisation, one of ``xavier`` (default), ``he``, ``uniform``,
            ``normal``, ``zeros``; the bias starts at zero.
        dtype: parameter dtype (float32 default; float64 for gradient checks).
        seed: int or ``np.random.Generator`` for the initial weights.

    Shape:
        Input (N, in_features); output (N, out_features). W is (in_features, out_features).

    Example:
        >>> layer = Linear(784, 256, init="he", seed=0)
        >>> layer.forward(np.zeros((32, 784), np.float32)).shape
        (32, 256)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "xavier",
        dtype: Any = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: sizes must be positive, got ({in_features}, {out_features})")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.bias, self.init, self.dtype = bool(bias), init, np.dtype(dtype)
        self._parameters["weight"] = Parameter(
            init_weight((in_features, out_features), in_features, out_features, init, _rng(seed), dtype)
        )
        if bias:
            self._parameters["bias"] = Parameter(np.zeros(out_features, dtype=dtype))

    @property
    def weight(self) -> Parameter:
        return self._parameters["weight"]

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_input(X, 2, f"(N, {self.in_features})", self.in_features)
        out = X @ self.weight.data
        if self.bias:
            out += self._parameters["bias"].data
        return out

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        self.weight.add_matmul(input.T, delta)
        if self.bias:
            self._parameters["bias"].add_sum(delta)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta @ self.weight.data.T

    def get_config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "init": self.init,
            "dtype": self.dtype.name,
        }


def _windows(X: np.ndarray, k: int, stride: int, n_out: int) -> np.ndarray:
    """Strided view (N, n_out, k, C) of the sliding windows of X (N, L, C); no copy."""
    n, _, c = X.shape
    s0, s1, s2 = X.strides
    return as_strided(X, shape=(n, n_out, k, c), strides=(s0, s1 * stride, s1, s2), writeable=False)


def _scatter_windows(grad_windows: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Adjoint of ``_windows``: add (N, n_out, k, C) window gradients back onto (N, L, C)."""
    n, n_out, k, c = grad_windows.shape
    out = np.zeros((n, length, c), dtype=grad_windows.dtype)
    stop = stride * (n_out - 1) + 1
    for j in range(k):  # loop over kernel offsets only (k is small)
        out[:, j : j + stop : stride, :] += grad_windows[:, :, j, :]
    return out


class Conv1D(Module):
    """1-D convolution (cross-correlation, no padding), channels last as in the course.

    Args:
        k_size: kernel length.
        chan_in: input channels.
        chan_out: output channels (number of filters).
        stride: step between windows.
        bias: learn one bias per output channel.
        init: weight initialisation (see ``Linear``); fans are k_size*chan_in and chan_out.
        dtype: parameter dtype.
        seed: int or ``np.random.Generator``.

    Shape:
        Input (N, L, chan_in); weights (k_size, chan_in, chan_out);
        output (N, (L - k_size) // stride + 1, chan_out).

    Example:
        >>> conv = Conv1D(3, 1, 32)
        >>> conv.forward(np.zeros((8, 256, 1), np.float32)).shape
        (8, 254, 32)
    """

    def __init__(
        self,
        k_size: int,
        chan_in: int,
        chan_out: int,
        stride: int = 1,
        bias: bool = True,
        init: str = "xavier",
        dtype: Any = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if min(k_size, chan_in, chan_out, stride) < 1:
            raise ValueError("Conv1D: k_size, chan_in, chan_out and stride must be >= 1")
        self.k_size, self.chan_in, self.chan_out, self.stride = k_size, chan_in, chan_out, stride
        self.bias, self.init, self.dtype = bool(bias), init, np.dtype(dtype)
        self._parameters["weight"] = Parameter(
            init_weight((k_size, chan_in, chan_out), k_size * chan_in, chan_out, init, _rng(seed), dtype)
        )
        if bias:
            self._parameters["bias"] = Parameter(np.zeros(chan_out, dtype=dtype))
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def _cols(self, X: np.ndarray, reuse: bool = True) -> np.ndarray:
        # Backward reuses the im2col matrix (a copy) of the forward pass when it gets the same
        # input object; forward always rebuilds it, as X may have been changed in place.
        if reuse and self._cache is not None and self._cache[0] is X:
            return self._cache[1]
        n_out = self._n_out(X.shape[1])
        cols = _windows(X, self.k_size, self.stride, n_out).reshape(-1, self.k_size * self.chan_in)
        self._cache = (X, cols)
        return cols

    def _n_out(self, length: int) -> int:
        return (length - self.k_size) // self.stride + 1

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_input(X, 3, f"(N, L >= {self.k_size}, {self.chan_in})", self.chan_in)
        if X.shape[1] < self.k_size:
            raise ValueError(f"{self!r}: input length {X.shape[1]} is shorter than the kernel")
        n_out = self._n_out(X.shape[1])
        out = self._cols(X, reuse=False) @ self._parameters["weight"].data.reshape(-1, self.chan_out)
        if self.bias:
            out += self._parameters["bias"].data
        return out.reshape(X.shape[0], n_out, self.chan_out)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        d2 = delta.reshape(-1, self.chan_out)
        self._parameters["weight"].add_matmul(self._cols(input).T, d2)
        if self.bias:
            self._parameters["bias"].add_sum(d2)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        n, n_out = delta.shape[0], delta.shape[1]
        w = self._parameters["weight"].data.reshape(-1, self.chan_out)
        grad_cols = (delta.reshape(-1, self.chan_out) @ w.T).reshape(n, n_out, self.k_size, self.chan_in)
        return _scatter_windows(grad_cols, input.shape[1], self.stride)

    def get_config(self) -> dict[str, Any]:
        return {
            "k_size": self.k_size,
            "chan_in": self.chan_in,
            "chan_out": self.chan_out,
            "stride": self.stride,
            "bias": self.bias,
            "init": self.init,
            "dtype": self.dtype.name,
        }


class MaxPool1D(Module):
    """Max over sliding windows along the length axis, per channel.

    Args:
        k_size: window length.
        stride: step between windows (defaults to ``k_size``).

    Shape:
        Input (N, L, C); output (N, (L - k_size) // stride + 1, C).

    Example:
        >>> MaxPool1D(2, 2).forward(np.zeros((8, 254, 32), np.float32)).shape
        (8, 127, 32)
    """

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.k_size, self.stride = int(k_size), int(stride or k_size)
        if self.k_size < 1 or self.stride < 1:
            raise ValueError("MaxPool1D: k_size and stride must be >= 1")
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_input(X, 3, f"(N, L >= {self.k_size}, C)")
        n_out = (X.shape[1] - self.k_size) // self.stride + 1
        if n_out < 1:
            raise ValueError(f"{self!r}: input length {X.shape[1]} is shorter than the window")
        # One pass per kernel offset over strided slices: far faster than argmax over a
        # window axis. ``idx`` records the first offset holding the max (argmax semantics).
        k, s = self.k_size, self.stride
        stop = s * (n_out - 1) + 1
        out = X[:, 0:stop:s].copy()
        idx = np.zeros(out.shape, dtype=np.int8 if k <= 127 else np.intp)
        if k > 1:
            greater = np.empty(out.shape, dtype=bool)
            for j in range(1, k):
                xj = X[:, j : j + stop : s]
                np.greater(xj, out, out=greater)
                # offsets grow, so the newest strict winner is the largest: max() records it
                np.maximum(idx, np.multiply(greater, idx.dtype.type(j)), out=idx)
                np.maximum(out, xj, out=out)
        self._cache = (X, idx)
        return out

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        if self._cache is None or self._cache[0] is not input:
            self.forward(input)
        idx = self._cache[1]  # type: ignore[index]
        k, s = self.k_size, self.stride
        out = np.zeros(input.shape, dtype=delta.dtype)
        stop = s * (idx.shape[1] - 1) + 1
        for j in range(k):
            target = out[:, j : j + stop : s]
            # multiply by the mask rather than np.where: no branches, several times faster
            if s >= k:  # windows do not overlap: each input position gets one window at most
                np.multiply(delta, idx == j, out=target)
            else:
                target += delta * (idx == j)
        return out

    def get_config(self) -> dict[str, Any]:
        return {"k_size": self.k_size, "stride": self.stride}


class Flatten(Module):
    """Flatten every axis but the first.

    Shape:
        Input (N, *); output (N, prod(*)).
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not isinstance(X, np.ndarray) or X.ndim < 2:
            raise ValueError(f"Flatten: expected input of shape (N, ...), got {getattr(X, 'shape', X)}")
        return X.reshape(X.shape[0], -1)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta.reshape(input.shape)


class Dropout(Module):
    """Inverted dropout: in training mode each input value is zeroed with probability ``p`` and
    the others are scaled by ``1 / (1 - p)``; in eval mode (and for ``p = 0``) the identity,
    so a trained network predicts without rescaling.

    Args:
        p: drop probability in [0, 1).
        seed: int or ``np.random.Generator`` for the masks (a new mask at every training
            forward pass).

    Shape:
        Any; output has the input's shape.
    """

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = 0) -> None:
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout: p must lie in [0, 1), got {p!r}")
        self.p = float(p)
        self._seed = seed if isinstance(seed, int) else None
        self._rng = _rng(seed)
        self._mask: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{self!r}: expected a NumPy array, got {type(X).__name__}")
        if not self.training or self.p == 0.0:
            self._mask = None
            return X
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        keep = self._rng.random(X.shape, dtype=dtype) >= self.p
        self._mask = keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.p))
        return X * self._mask

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        # the mask of the last forward pass (the one whose output produced delta)
        return delta if self._mask is None else delta * self._mask

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p, "seed": self._seed}
