"""The entropy bottleneck of Balle et al. (2018) and the rate-distortion loss.

``EntropyBottleneck`` learns one cumulative density per channel (the non-parametric "factorized
prior" of J. Balle, D. Minnen, S. Singh, S. J. Hwang, N. Johnston, "Variational image compression
with a scale hyperprior", ICLR 2018, appendix 6.1), as CompressAI's ``EntropyBottleneck`` does:
per channel a small monotone network ``x -> logits`` (matrices passed through softplus, biases,
``tanh`` factors) whose sigmoid is the cumulative density ``F``. The likelihood of a quantized
value ``v`` is ``F(v + 1/2) - F(v - 1/2)`` (computed on the side of the median where both terms
are small: the sign trick of the TensorFlow original), bounded below by ``likelihood_bound``;
its ``-log2`` is the rate in bits.

In training the bottleneck adds uniform noise U(-1/2, 1/2) (a differentiable stand-in for
rounding); in evaluation it rounds around the learned medians, as the codec does. The quantiles
(median and the two tails of mass ``tail_mass / 2``) are learned by CompressAI's auxiliary loss
(``aux_loss``); its gradient reaches only the quantiles and is added in ``backward``, so one
optimizer trains both (Adam treats each parameter on its own, so this is CompressAI's separate
auxiliary optimizer at the same learning rate).

``RateDistortionLoss`` is CompressAI's ``RateDistortionLoss``: ``lambda * 255^2 * MSE + bpp``,
with MSE on pixels in [0, 1] and the rate in bits per pixel of the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .losses import Loss
from .module import Module, Parameter

__all__ = ["EntropyBottleneck", "RateDistortionLoss", "quantized_cdf"]

_LN2 = float(np.log(2.0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` over stacked matrices; an outer product (inner size 1) by broadcasting, the same
    products without the stacked matmul's ~10x overhead on (C, 3, 1) @ (C, 1, K)."""
    return a * b if a.shape[-1] == 1 else a @ b


class EntropyBottleneck(Module):
    """Per-channel learned density of a latent: noise in training, rounding at test, rate in bits.

    Args:
        channels: number of channels (the last axis of the input); each has its own density.
        filters: widths of the density network's hidden layers (Balle et al. 2018: (3, 3, 3);
            CompressAI 1.2.8 defaults to (3, 3, 3, 3)).
        init_scale: the initial density is spread over about [-init_scale, init_scale].
        tail_mass: probability mass outside the learned quantiles (the codec's table range).
        likelihood_bound: least likelihood (keeps the rate and its gradient finite).
        dtype: parameter dtype (float32; float64 for gradient checks).
        seed: seed of the bias initialisation and of the training noise.

    Shape:
        Input (N, ..., channels): a code (N, C) or a feature map (N, H, W, C). Output: the same
        shape, noisy (training) or rounded around the medians (evaluation). After ``forward``,
        ``likelihoods`` has the input's shape and ``bits`` (N,) is each sample's rate.

    Example:
        >>> eb = EntropyBottleneck(16, seed=0)
        >>> y_tilde = eb.forward(y)             # y: (N, 16)
        >>> bits_per_image = eb.bits            # -log2 of the likelihoods, summed per sample
    """

    def __init__(self, channels: int, filters: Sequence[int] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9, likelihood_bound: float = 1e-9, dtype: Any = np.float32,
                 seed: int | None = None) -> None:
        super().__init__()
        if channels < 1 or not all(int(f) >= 1 for f in filters):
            raise ValueError(f"EntropyBottleneck: channels and filters must be positive, got {channels}, {filters}")
        if not 0 < tail_mass < 1 or not init_scale > 0 or likelihood_bound < 0:
            raise ValueError("EntropyBottleneck: need 0 < tail_mass < 1, init_scale > 0, likelihood_bound >= 0")
        self.channels, self.filters = int(channels), tuple(int(f) for f in filters)
        self.init_scale, self.tail_mass = float(init_scale), float(tail_mass)
        self.likelihood_bound, self.dtype, self.seed = float(likelihood_bound), np.dtype(dtype), seed
        rng = np.random.default_rng(seed)
        widths = (1, *self.filters, 1)
        scale = self.init_scale ** (1 / (len(self.filters) + 1))
        for i in range(len(self.filters) + 1):
            init = np.log(np.expm1(1 / scale / widths[i + 1]))
            self._parameters[f"matrices.{i}"] = Parameter(
                np.full((channels, widths[i + 1], widths[i]), init, dtype=self.dtype))
            self._parameters[f"biases.{i}"] = Parameter(
                rng.uniform(-0.5, 0.5, (channels, widths[i + 1], 1)).astype(self.dtype))
            if i < len(self.filters):
                self._parameters[f"factors.{i}"] = Parameter(np.zeros((channels, widths[i + 1], 1), self.dtype))
        self._parameters["quantiles"] = Parameter(
            np.tile(np.array([-init_scale, 0.0, init_scale], self.dtype), (channels, 1, 1)))
        target = np.log(2 / self.tail_mass - 1)
        self.target = np.array([-target, 0.0, target])
        self._noise_rng = np.random.default_rng(None if seed is None else seed + 1)
        #: dL/d(bits of one latent element); set by ``RateDistortionLoss.backward`` (0: no rate term)
        self.rate_weight = 0.0
        #: weight of the auxiliary (quantile) loss whose gradient ``backward_update_gradient`` adds
        self.aux_weight = 1.0
        #: noise to use instead of fresh draws (shape (channels, elements per channel)); for checks
        self.fixed_noise: np.ndarray | None = None
        self.likelihoods: np.ndarray | None = None
        self.bits: np.ndarray | None = None
        self._cache: dict[str, Any] | None = None

    # ------------------------------------------------------------------ the density network
    def _layers(self) -> range:
        return range(len(self.filters) + 1)

    def _logits_cumulative(self, x: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """Logits of the cumulative density at ``x`` (channels, 1, K), with what backward needs."""
        cache = []
        z = x
        for i in self._layers():
            w = self._parameters[f"matrices.{i}"].data
            h = np.logaddexp(0.0, w)  # softplus: positive weights keep the density monotone
            u = _bmm(h, z) + self._parameters[f"biases.{i}"].data
            if i < len(self.filters):
                a = np.tanh(self._parameters[f"factors.{i}"].data)
                t = np.tanh(u)
                cache.append((z, h, a, t))
                z = u + a * t
            else:
                cache.append((z, h, None, None))
                z = u
        return z, cache

    def _logits_backward(self, g: np.ndarray, cache: list[tuple[np.ndarray, ...]], params: bool) -> np.ndarray:
        """dL/dx of ``_logits_cumulative`` given dL/dlogits ``g``; adds the parameter gradients when
        ``params``."""
        for i in reversed(self._layers()):
            z, h, a, t = cache[i]
            if a is not None:
                if params:
                    self._parameters[f"factors.{i}"].grad += (g * t).sum(axis=-1, keepdims=True) * (1 - a * a)
                g = g * (1 + a * (1 - t * t))
            if params:
                w = self._parameters[f"matrices.{i}"].data
                self._parameters[f"matrices.{i}"].grad += (g @ np.swapaxes(z, -1, -2)) * _sigmoid(w)
                self._parameters[f"biases.{i}"].grad += g.sum(axis=-1, keepdims=True)
            g = _bmm(np.swapaxes(h, -1, -2), g)
        return g

    def _likelihood(self, values: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Likelihood of each value (channels, M) under its channel's density (unbounded)."""
        m = values.shape[1]
        x = np.concatenate([values - 0.5, values + 0.5], axis=1)[:, None, :]
        logits, cache = self._logits_cumulative(x)
        lower, upper = logits[:, 0, :m], logits[:, 0, m:]
        sign = -np.sign(lower + upper)  # both terms on the side of the median where they are small
        high, low = _sigmoid(sign * upper), _sigmoid(sign * lower)
        diff = high - low
        return np.abs(diff), {"cache": cache, "sign": sign, "high": high, "low": low, "diff": diff}

    def _likelihood_backward(self, g_lik: np.ndarray, state: dict[str, Any], params: bool) -> np.ndarray:
        """dL/dvalues from dL/dlikelihood (the unbounded one)."""
        s = np.sign(state["diff"]) * state["sign"]
        g_upper = g_lik * s * state["high"] * (1 - state["high"])
        g_lower = -g_lik * s * state["low"] * (1 - state["low"])
        g = np.concatenate([g_lower, g_upper], axis=1)[:, None, :]
        gx = self._logits_backward(g, state["cache"], params)[:, 0, :]
        m = g_lik.shape[1]
        return gx[:, :m] + gx[:, m:]

    # ------------------------------------------------------------------ Module contract
    @property
    def medians(self) -> np.ndarray:
        """The learned median of each channel (channels,): the codec rounds around it."""
        return self._parameters["quantiles"].data[:, 0, 1].copy()

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_input(X, X.ndim if isinstance(X, np.ndarray) and X.ndim >= 2 else 2,
                          f"(N, ..., {self.channels})", self.channels)
        if not np.isfinite(X).all():
            raise FloatingPointError(f"{self!r}: the latent holds NaN or inf; training diverged (lower the "
                                     "learning rate) or the input is bad")
        values = X.reshape(-1, self.channels).T  # (channels, M): one density per row
        if self.training:
            noise = self.fixed_noise
            if noise is None:
                noise = self._noise_rng.uniform(-0.5, 0.5, values.shape).astype(self.dtype)
            elif noise.shape != values.shape:
                raise ValueError(f"{self!r}: fixed_noise has shape {noise.shape}, expected {values.shape}")
            outputs = values + noise
        else:
            med = self.medians[:, None]
            outputs = np.rint(values - med) + med
        lik, state = self._likelihood(outputs)
        bounded = np.maximum(lik, self.likelihood_bound)
        self._cache = {"input": X, "lik": lik, "bounded": bounded, "state": state, "dx": None}
        self.likelihoods = bounded.T.reshape(X.shape)
        self.bits = (-np.log2(self.likelihoods)).reshape(len(X), -1).sum(axis=1)
        return outputs.T.reshape(X.shape).astype(self.dtype, copy=False)

    def _rate_input_gradient(self, input: np.ndarray, params: bool) -> np.ndarray:
        """dL/dinput of the rate term ``rate_weight * sum(bits)`` (adds parameter gradients when asked)."""
        c = self._cache
        if c is None or c["input"] is not input:
            self.forward(input)
            c = self._cache
        assert c is not None
        if not self.rate_weight:
            return np.zeros_like(input)
        # d(rate_weight * -log2(bounded))/d(bounded); CompressAI's LowerBound passes the gradient
        # where the value is above the bound or the gradient pushes it up
        g = -self.rate_weight / (c["bounded"] * _LN2)
        g = np.where((c["lik"] >= self.likelihood_bound) | (g < 0), g, 0.0)
        gv = self._likelihood_backward(g, c["state"], params)
        return gv.T.reshape(input.shape).astype(self.dtype, copy=False)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        """Adds the rate term's gradient to the density parameters and the auxiliary loss's to the
        quantiles (training only)."""
        dx = self._rate_input_gradient(input, params=True)
        assert self._cache is not None
        self._cache["dx"] = dx
        if self.training and self.aux_weight:
            self._parameters["quantiles"].grad += self.aux_weight * self._aux_gradient()

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """``delta`` passes through (noise and, straight through, rounding); plus the rate's gradient."""
        c = self._cache
        dx = c["dx"] if c is not None and c["input"] is input and c["dx"] is not None \
            else self._rate_input_gradient(input, params=False)
        return delta + dx

    # ------------------------------------------------------------------ auxiliary loss
    def aux_loss(self) -> float:
        """CompressAI's auxiliary loss: the density's logits at the quantiles against their targets
        (tails of mass ``tail_mass / 2``, median at logit 0); it trains only the quantiles."""
        logits, _ = self._logits_cumulative(self._parameters["quantiles"].data)
        return float(np.abs(logits[:, 0, :] - self.target).sum())

    def _aux_gradient(self) -> np.ndarray:
        logits, cache = self._logits_cumulative(self._parameters["quantiles"].data)
        g = np.sign(logits - self.target[None, None, :]).astype(self.dtype)
        return self._logits_backward(g, cache, params=False)

    def update_quantiles(self, search_radius: float = 1e5, tolerance: float = 1e-4) -> None:
        """Set the quantiles to where the density's logits meet their targets, by bisection
        (CompressAI's ``update(update_quantiles=True)``: "often faster and much more precise than
        minimizing aux loss"); the medians the evaluation rounds around move with them."""
        q = self._parameters["quantiles"].data
        for j, target in enumerate(self.target):
            low = np.full((self.channels, 1, 1), -search_radius)
            high = np.full((self.channels, 1, 1), search_radius)
            while (high - low).max() > tolerance:
                mid = (low + high) / 2
                below = self._logits_cumulative(mid.astype(self.dtype))[0] <= target
                low, high = np.where(below, mid, low), np.where(below, high, mid)
            q[:, 0, j] = ((low + high) / 2)[:, 0, 0]

    # ------------------------------------------------------------------ tables for the coder
    def symbol_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(lowest, highest) integer offset from the median per channel that the quantiles cover
        (CompressAI's ``update``: ``-ceil(median - lower quantile)``, ``ceil(upper - median)``)."""
        q = self._parameters["quantiles"].data.astype(np.float64)
        med = q[:, 0, 1]
        minima = np.maximum(np.ceil(med - q[:, 0, 0]), 0).astype(np.int64)
        maxima = np.maximum(np.ceil(q[:, 0, 2] - med), 0).astype(np.int64)
        return -minima, maxima

    def pmf(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Probabilities of the integer offsets ``low[c] .. high[c]`` around each channel's median,
        (channels, max length) zero-padded, with the mass below ``low`` and above ``high`` folded
        into the first and last bins (values outside are clipped to them): each row sums to 1."""
        low, high = np.asarray(low, np.int64), np.asarray(high, np.int64)
        if low.shape != (self.channels,) or high.shape != low.shape or (high < low).any():
            raise ValueError(f"pmf: low and high must be ({self.channels},) with low <= high")
        length = high - low + 1
        samples = np.arange(int(length.max()))[None, :] + low[:, None] + self.medians.astype(np.float64)[:, None]
        # the cumulative density at every bin edge, in float64
        edges = np.concatenate([samples - 0.5, samples[:, -1:] + 0.5], axis=1)
        saved = {k: p.data for k, p in self._parameters.items()}
        try:
            for p in self._parameters.values():
                p.data = p.data.astype(np.float64)
            logits, _ = self._logits_cumulative(edges[:, None, :])
        finally:
            for k, p in self._parameters.items():
                p.data = saved[k]
        cdf = _sigmoid(logits[:, 0, :])
        rows = np.arange(self.channels)
        cdf[:, 0] = 0.0  # everything below the first bin counts in it
        cdf[rows, length] = 1.0  # and everything above the last
        cdf = np.maximum.accumulate(cdf, axis=1)
        pmf = np.diff(cdf, axis=1)
        pmf[np.arange(pmf.shape[1])[None, :] >= length[:, None]] = 0.0
        return pmf

    def get_config(self) -> dict[str, Any]:
        return {"channels": self.channels, "filters": list(self.filters), "init_scale": self.init_scale,
                "tail_mass": self.tail_mass, "likelihood_bound": self.likelihood_bound, "dtype": self.dtype.name,
                "seed": self.seed}


def quantized_cdf(pmf: np.ndarray, precision: int = 16) -> np.ndarray:
    """Integer cumulative frequencies (0 ... 2**precision) of a probability row, every symbol with
    frequency >= 1: CompressAI's ``pmf_to_quantized_cdf`` (round, rescale to the total, then take one
    count from the smallest frequency above 1 for each empty symbol).

    Parameters
    ----------
    pmf
        Non-negative probabilities (n_symbols,), at most ``2**precision`` of them.

    Returns
    -------
    numpy.ndarray
        (n_symbols + 1,) int64, starting at 0 and ending at ``2**precision``.
    """
    pmf = np.asarray(pmf, np.float64)
    total_count = 1 << precision
    if pmf.ndim != 1 or not len(pmf) or len(pmf) > total_count or not np.isfinite(pmf).all() or (pmf < 0).any():
        raise ValueError(f"quantized_cdf: need 1 to {total_count} finite non-negative probabilities")
    freq = np.rint(pmf * total_count).astype(np.int64)
    total = int(freq.sum())
    if total == 0:
        raise ValueError("quantized_cdf: the probabilities round to zero everywhere")
    cdf = np.concatenate([[0], np.cumsum(freq * total_count // total)])
    cdf[-1] = total_count
    for i in range(len(pmf)):
        if cdf[i] == cdf[i + 1]:  # an empty symbol steals one count from the smallest frequency above 1
            freqs = np.diff(cdf)
            candidates = np.where(freqs > 1, freqs, np.iinfo(np.int64).max)
            steal = int(np.argmin(candidates))
            if steal < i:
                cdf[steal + 1:i + 1] -= 1
            else:
                cdf[i + 1:steal + 1] += 1
    return cdf


class RateDistortionLoss(Loss):
    """CompressAI's rate-distortion loss, per sample: ``lmbda * 255^2 * MSE + bits / n_pixels``.

    The distortion is the mean squared error on pixels in [0, 1] (times 255^2: the MSE on
    [0, 255], CompressAI's convention, so its lambdas carry over); the rate is the sample's
    ``bits`` from the ``EntropyBottleneck`` of the model's last ``forward``, per input pixel
    (``n_pixels``: the number of values of a sample, e.g. 784 for 28 x 28 grey images).

    Args:
        bottleneck: the model's ``EntropyBottleneck``; ``backward`` sets its ``rate_weight`` so that
            the model's backward pass adds the rate's gradient.
        lmbda: the weight of the distortion (larger: more bits, less distortion).
        reduction: ``none`` | ``mean`` | ``sum`` (``mean`` is CompressAI's batch loss).
    """

    def __init__(self, bottleneck: EntropyBottleneck, lmbda: float, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if not lmbda > 0:
            raise ValueError(f"RateDistortionLoss: lmbda must be > 0, got {lmbda}")
        self.bottleneck, self.lmbda = bottleneck, float(lmbda)

    def _bits(self, yhat: np.ndarray) -> np.ndarray:
        bits = self.bottleneck.bits
        if bits is None or len(bits) != len(yhat):
            raise ValueError("RateDistortionLoss: the bottleneck's rate is not that of this batch; run the model's "
                             "forward on the batch before the loss")
        return bits

    def distortion(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        """Per-sample MSE on [0, 1] pixels."""
        d = yhat - y
        return np.einsum("ij,ij->i", d, d) / y.shape[1]

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return self.lmbda * 255.0**2 * self.distortion(y, yhat) + self._bits(yhat) / y.shape[1]

    def _grad(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        self._bits(yhat)
        g = yhat - y
        g *= self.lmbda * 255.0**2 * 2.0 / y.shape[1]
        return g

    def backward(self, y: np.ndarray, yhat: np.ndarray, reduction: str | None = None) -> np.ndarray:
        """dL/dyhat (the distortion's part); the rate's part reaches the latent through the bottleneck."""
        grad = super().backward(y, yhat, reduction)
        per_batch = 1.0 / yhat.shape[0] if self._reduction(reduction) == "mean" else 1.0
        self.bottleneck.rate_weight = per_batch / y.shape[1]
        return grad

    def __repr__(self) -> str:
        return f"RateDistortionLoss(lmbda={self.lmbda}, reduction={self.reduction!r})"
