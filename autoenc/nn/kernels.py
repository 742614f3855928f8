"""Compiled element-wise kernels for the hot loops (numba), with NumPy as the fallback.

Adam's update is a dozen element-wise passes in NumPy; over a model's flat buffers it is
memory-bound and was a quarter of a training step. The numba kernel does the same float
operations in the same order in one pass, so both paths give bit-identical weights
(tests/nn/test_kernels.py checks it): the kernel rounds to float32 where NumPy >= 2 rounds
(a Python float scalar acts as float32, a ``np.float64`` scalar computes in float64 and the
in-place result is cast back), never uses fused multiply-add, and reads the same inputs.

numba is a dependency; if it cannot be imported (a platform without wheels) or
``AUTOENC_NUMBA=0`` is set, the NumPy path runs with the same results, only slower.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_KERNELS: dict[str, Callable[..., Any]] | None = None


def numba_enabled() -> bool:
    """Whether the compiled kernels are used (numba importable and not disabled)."""
    return bool(_kernels())


def _kernels() -> dict[str, Callable[..., Any]]:
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    _KERNELS = {}
    if os.environ.get("AUTOENC_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        return _KERNELS
    try:
        _KERNELS.update(_compile())
    except Exception as e:  # noqa: BLE001 - no numba, or it cannot compile here: the NumPy path, same numbers
        _KERNELS.clear()
        if not isinstance(e, ImportError):
            logging.getLogger("autoenc").warning(f"numba kernels unavailable ({type(e).__name__}: {e}); "
                                                 "training uses the NumPy path (same results, slower)")
    return _KERNELS


def _compile() -> dict[str, Callable[..., Any]]:
    """The kernels, compiled (and cached by numba) for float32 before first use, so that a
    platform where numba cannot compile falls back here rather than in the middle of a run."""
    import numba

    jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @jit
    def adam(p, g, m, v, c1, c2, wd, use_wd, eps, step):  # pragma: no cover - compiled
        # c1 = 1 - beta1, c2 = 1 - beta2, wd: same dtype as p (NumPy's weak Python-float
        # scalars); eps, step: float64 (NumPy's np.float64 scalars), rounded back like NumPy's
        # in-place operations.
        for i in range(p.size):
            gi = g[i]
            if use_wd:
                gi = gi + wd * p[i]
            mi = m[i] + (gi - m[i]) * c1
            m[i] = mi
            vi = v[i] + (gi * gi - v[i]) * c2
            v[i] = vi
            denom = p.dtype.type(np.sqrt(vi) + eps)
            p[i] = p[i] - p.dtype.type((mi / denom) * step)

    @jit
    def mse_sigmoid(yhat, y, a, b, out):  # pragma: no cover - compiled
        # MSELoss gradient ((yhat - y) * a * b) through the Sigmoid that produced yhat:
        # times yhat, times (1 - yhat), rounded after every operation as NumPy does.
        one = yhat.dtype.type(1)
        for i in range(yhat.size):
            s = yhat[i]
            out[i] = (((s - y[i]) * a) * b * s) * (one - s)

    @jit
    def relu_backward(x, delta, out):  # pragma: no cover - compiled
        zero, one = delta.dtype.type(0), delta.dtype.type(1)
        for i in range(x.size):
            out[i] = delta[i] * (one if x[i] > 0 else zero)

    @jit
    def col2im(cols, out, sh, sw):  # pragma: no cover - compiled
        # reads the windows in memory order, one sample's image in cache; every output value
        # gets its terms in the NumPy path's order (offsets (a, b) descending: i ascending means
        # a descending for a given output row)
        n, ho, wo, kh, kw, c = cols.shape
        for s in range(n):
            for i in range(ho):
                for j in range(wo):
                    for a in range(kh):
                        for b in range(kw):
                            y, x = i * sh + a, j * sw + b
                            for k in range(c):
                                out[s, y, x, k] += cols[s, i, j, a, b, k]

    @jit
    def symbol_counts(Z, center, step, base, counts):  # pragma: no cover - compiled
        # the NumPy path's operations per value: float64 (z - center) / step, rounded half to even
        n, k = Z.shape
        for i in range(n):
            for d in range(k):
                at = np.rint((np.float64(Z[i, d]) - center[d]) / step[d]) + base[d]
                if not 0 <= at < counts.size:
                    raise ValueError("a code outside the range its table was sized for")
                counts[np.int64(at)] += 1.0

    @jit
    def quantize(Z, center, step, offset, support, max_code, out):  # pragma: no cover - compiled
        # the NumPy path's operations per value; False at the first non-finite code
        n, k = Z.shape
        for i in range(n):
            for d in range(k):
                z = np.float64(Z[i, d])
                if not np.isfinite(z):
                    return False
                q = min(max(np.rint((z - center[d]) / step[d]), -max_code), max_code)
                s = np.int64(q) - offset[d]
                out[i, d] = min(max(s, 0), support[d] - 1)
        return True

    one = np.ones(4, np.float32)
    f32 = np.float32
    i64 = np.zeros(1, np.int64)
    for dtype in (np.float32, np.float64):
        symbol_counts(np.zeros((1, 1), dtype), np.zeros(1), np.ones(1), np.zeros(1), np.zeros(1))
        quantize(np.zeros((1, 1), dtype), np.zeros(1), np.ones(1), i64, i64 + 1, 1.0, np.zeros((1, 1), np.int32))
    adam(one.copy(), one, one.copy(), one.copy(), f32(0.1), f32(0.001), f32(0.0), False, 1e-8, 1e-3)
    mse_sigmoid(one, one, f32(1.0), f32(1.0), one.copy())
    relu_backward(one, one, one.copy())
    col2im(np.ones((1, 1, 1, 1, 1, 1), f32), np.zeros((1, 1, 1, 1), f32), 1, 1)
    return {"adam": adam, "mse_sigmoid": mse_sigmoid, "relu_backward": relu_backward, "col2im": col2im,
            "symbol_counts": symbol_counts, "quantize": quantize}


def _flat(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """1-D views of same-dtype C-contiguous float arrays (what the kernels take), else None."""
    dtype = arrays[0].dtype
    if dtype.kind != "f" or any(a.dtype != dtype or not a.flags.c_contiguous for a in arrays):
        return None
    return [a.reshape(-1) for a in arrays]


def mse_sigmoid_grad(yhat: np.ndarray, y: np.ndarray, scale: float, batch_scale: float | None) -> np.ndarray:
    """dL/dlogits of ``MSELoss`` after a final ``Sigmoid`` (``yhat`` = the sigmoid's output):
    ``(yhat - y) * scale [* batch_scale] * yhat * (1 - yhat)``, as the two backward passes compute it."""
    kernel = _kernels().get("mse_sigmoid")
    if kernel is not None and batch_scale is not None and yhat.shape == np.shape(y):
        flat = _flat(yhat, np.asarray(y))
        if flat is not None:
            out = np.empty_like(yhat)
            t = yhat.dtype.type
            kernel(flat[0], flat[1], t(scale), t(batch_scale), out.reshape(-1))
            return out
    g = yhat - y
    g *= scale
    if batch_scale is not None:
        g *= batch_scale
    g *= yhat
    g *= np.subtract(1, yhat)
    return g


def relu_backward(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``delta * (x > 0)`` (the mask multiplied, so NaN and -0.0 propagate as in NumPy)."""
    kernel = _kernels().get("relu_backward")
    if kernel is not None and x.shape == delta.shape:
        flat = _flat(x, delta)
        if flat is not None:
            out = np.empty_like(delta)
            kernel(flat[0], flat[1], out.reshape(-1))
            return out
    return delta * (x > 0)


def row_blocks(Z: np.ndarray) -> Iterator[np.ndarray]:
    """Row blocks of a few MB in float64: whole-array temporaries of the train codes (60,000 x 400)
    cost more in page faults than in arithmetic."""
    rows = max(1, 2**19 // max(1, Z.shape[1]))
    for i in range(0, len(Z), rows):
        yield np.asarray(Z[i:i + rows], np.float64)


def symbol_counts(Z: np.ndarray, center: np.ndarray, step: np.ndarray, low: np.ndarray, n_symbols: int
                  ) -> np.ndarray:
    """How often each symbol ``rint((Z[:, d] - center[d]) / step[d]) - low[d]`` occurs in each
    dimension ``d`` of the codes ``Z`` (n, k): float64 counts, shape (k, n_symbols). Every symbol
    must lie in ``0 .. n_symbols - 1``. The compiled path makes one pass without temporaries and
    computes each value as the NumPy path does (same counts)."""
    Z = np.asarray(Z)  # a memory map as a plain array for numba
    k = Z.shape[1]
    base = np.arange(k) * float(n_symbols) - low  # symbol s of dimension d counts at d * n_symbols + s
    counts = np.zeros(k * n_symbols)
    kernel = _kernels().get("symbol_counts")
    if kernel is not None and Z.dtype in (np.float32, np.float64):
        kernel(Z, np.asarray(center, np.float64), np.asarray(step, np.float64), base, counts)
        return counts.reshape(k, n_symbols)
    for zb in row_blocks(Z):
        q = zb - center  # in place from here: one temporary per block
        q /= step
        np.rint(q, out=q)
        q += base
        counts += np.bincount(q.astype(np.intp).ravel(), minlength=k * n_symbols)
    return counts.reshape(k, n_symbols)


def quantize_symbols(Z: np.ndarray, center: np.ndarray, step: np.ndarray, offset: np.ndarray, support: np.ndarray,
                     max_code: float) -> np.ndarray:
    """Symbols ``clip(clip(rint((Z - center) / step), -max_code, max_code) - offset, 0, support - 1)``
    (int32, shape (n, k)) of codes ``Z`` (n, k), computed in float64; the compiled path makes one
    pass without temporaries (same symbols).

    Raises
    ------
    ValueError
        A code is NaN or infinite.
    """
    Z = np.asarray(Z)
    center, step = np.asarray(center, np.float64), np.asarray(step, np.float64)
    offset, support = np.asarray(offset, np.int64), np.asarray(support, np.int64)
    kernel = _kernels().get("quantize")
    if kernel is not None and Z.ndim == 2 and Z.dtype in (np.float32, np.float64):
        out = np.empty(Z.shape, np.int32)
        if not kernel(Z, center, step, offset, support, float(max_code), out):
            raise ValueError("non-finite codes")
        return out
    Z = Z.astype(np.float64, copy=False)
    if not np.isfinite(Z).all():
        raise ValueError("non-finite codes")
    Q = np.clip(np.rint((Z - center) / step), -max_code, max_code).astype(np.int64) - offset
    return np.clip(Q, 0, support - 1).astype(np.int32)


def col2im(cols: np.ndarray, image_hw: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Add (N, Ho, Wo, kh, kw, C) window values onto a zero (N, H, W, C) image (the adjoint of
    im2col: a convolution's input gradient, a transposed convolution's output).

    Window (i, j) covers rows ``i*sh .. i*sh + kh - 1`` and columns ``j*sw .. j*sw + kw - 1``.
    Both paths add each output value's terms in the same order (bit-identical results); the
    compiled one reads the windows once, in memory order, in place of ``kh * kw`` strided passes
    over the batch (2-3x faster on the fashion_rd shapes).
    """
    n, ho, wo, kh, kw, c = cols.shape
    (sh, sw), (h, w) = stride, image_hw
    if (ho - 1) * sh + kh > h or (wo - 1) * sw + kw > w:  # the compiled loop does not check bounds
        raise ValueError(f"col2im: {ho}x{wo} windows of {kh}x{kw} at stride {stride} do not fit a {h}x{w} image")
    out = np.zeros((n, h, w, c), dtype=cols.dtype)
    kernel = _kernels().get("col2im")
    if kernel is not None and cols.dtype.kind == "f" and cols.flags.c_contiguous:
        kernel(cols, out, sh, sw)
        return out
    stop_h, stop_w = sh * (ho - 1) + 1, sw * (wo - 1) + 1
    for a in range(kh - 1, -1, -1):  # kernel offsets only (25 for 5x5), in the compiled path's order
        for b in range(kw - 1, -1, -1):
            out[:, a : a + stop_h : sh, b : b + stop_w : sw] += cols[:, :, :, a, b]
    return out


def adam_update(
    p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, tmp: np.ndarray,
    beta1: float, beta2: float, weight_decay: float, eps: Any, step_size: Any,
) -> None:
    """One Adam update in place on 1-D float arrays (parameters, gradient, moments).

    ``eps`` and ``step_size`` carry the bias corrections (``Adam.step``); ``tmp`` is scratch
    space of ``p``'s shape for the NumPy path.
    """
    kernel = _kernels().get("adam")
    if kernel is not None and p.ndim == 1 and all(a.flags.c_contiguous for a in (p, g, m, v)):
        t = p.dtype.type
        kernel(p, g, m, v, t(1 - beta1), t(1 - beta2), t(weight_decay), bool(weight_decay),
               np.float64(eps), np.float64(step_size))
        return
    if weight_decay:
        g = g + weight_decay * p
    # m += (1 - b1) * (g - m); v += (1 - b2) * (g*g - v), all in place
    np.subtract(g, m, out=tmp)
    tmp *= 1 - beta1
    m += tmp
    np.multiply(g, g, out=tmp)
    tmp -= v
    tmp *= 1 - beta2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp += np.float64(eps)  # float64 scalars: computed in float64, rounded back (NumPy >= 2)
    np.divide(m, tmp, out=tmp)
    tmp *= np.float64(step_size)
    p -= tmp
