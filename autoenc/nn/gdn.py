"""Generalized divisive normalization (GDN) and its inverse, the nonlinearity of Balle et al.'s
learned image codecs (CompressAI's ``GDN``), channels last."""

from __future__ import annotations

from typing import Any

import numpy as np

from .module import Module, Parameter

#: CompressAI's reparametrization: parameters are stored as ``sqrt(value + pedestal)`` and
#: bounded below, so that beta stays >= beta_min and gamma >= 0 under any gradient step.
REPARAM_OFFSET = 2.0**-18
PEDESTAL = REPARAM_OFFSET**2


class GDN(Module):
    """Generalized divisive normalization over the channel (last) axis.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j^2)``; with ``inverse=True`` (IGDN, used in
    decoders) ``y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j^2)``. Each pixel (or feature
    vector) is normalized on its own: any input whose last axis has ``channels`` entries.

    ``beta`` (C,) and ``gamma`` (C, C) are stored reparametrized as CompressAI does:
    ``beta = max(beta_p, sqrt(beta_min + pedestal))^2 - pedestal`` and
    ``gamma = max(gamma_p, sqrt(pedestal))^2 - pedestal`` (pedestal = 2^-36), with the bound's
    gradient passed only when it moves the parameter up (CompressAI's ``LowerBound``). They start
    at ``beta = 1`` and ``gamma = gamma_init * I``. ``effective_beta`` and ``effective_gamma`` give
    the values in use.

    Args:
        channels: size of the last axis.
        inverse: IGDN (multiply) instead of GDN (divide).
        beta_min: least value of beta (keeps the denominator away from zero).
        gamma_init: the diagonal of the initial gamma.
        dtype: parameter dtype.

    Shape:
        Input (*, channels), e.g. (N, H, W, C) or (N, C); output the same shape.
        Parameters ``beta`` (channels,), ``gamma`` (channels, channels) (reparametrized).

    Example:
        >>> gdn = GDN(32)
        >>> gdn.forward(np.ones((8, 14, 14, 32), np.float32)).shape
        (8, 14, 14, 32)
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if not isinstance(channels, int | np.integer) or isinstance(channels, bool) or channels < 1:
            raise ValueError(f"GDN: channels must be a positive integer, got {channels!r}")
        if not float(beta_min) > 0 or not float(gamma_init) >= 0:
            raise ValueError(f"GDN: beta_min must be > 0 and gamma_init >= 0, got {beta_min!r}, {gamma_init!r}")
        self.channels, self.inverse = int(channels), bool(inverse)
        self.beta_min, self.gamma_init, self.dtype = float(beta_min), float(gamma_init), np.dtype(dtype)
        beta = np.sqrt(np.ones(self.channels) + PEDESTAL)
        gamma = np.sqrt(self.gamma_init * np.eye(self.channels) + PEDESTAL)
        self._parameters["beta"] = Parameter(beta.astype(self.dtype))
        self._parameters["gamma"] = Parameter(gamma.astype(self.dtype))
        # what the backward pass reuses: "input", "x", "x2", "z" of the last forward pass, then
        # "delta" and "grads" of its backward pass (one attribute, so that clearing it frees all)
        self._cache: dict[str, Any] | None = None

    def _bounds(self) -> tuple[float, float]:
        return float(np.sqrt(self.beta_min + PEDESTAL)), REPARAM_OFFSET

    @property
    def effective_beta(self) -> np.ndarray:
        return np.maximum(self._parameters["beta"].data, self._bounds()[0]) ** 2 - PEDESTAL

    @property
    def effective_gamma(self) -> np.ndarray:
        return np.maximum(self._parameters["gamma"].data, self._bounds()[1]) ** 2 - PEDESTAL

    def _norm(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X as (M, C), its squares, z = beta + x^2 @ gamma.T), cached for the backward pass."""
        cache = self._cache
        if cache is not None and cache["input"] is X:
            return cache["x"], cache["x2"], cache["z"]
        x = X.reshape(-1, self.channels)
        x2 = np.square(x)
        z = x2 @ self.effective_gamma.T
        z += self.effective_beta
        self._cache = {"input": X, "x": x, "x2": x2, "z": z}
        return x, x2, z

    def forward(self, X: np.ndarray) -> np.ndarray:
        ndim = X.ndim if isinstance(X, np.ndarray) and X.ndim >= 1 else 1  # any number of leading axes
        self._check_input(X, ndim, f"(..., {self.channels}) (channels last)", self.channels)
        self._cache = None  # X may have changed in place since the last pass
        x, _, z = self._norm(X)
        out = x * np.sqrt(z) if self.inverse else x / np.sqrt(z)
        return out.reshape(X.shape)

    def _grads(self, input: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, ...]:
        """(dL/dx, dL/dbeta_effective, dL/dgamma_effective), computed once per backward pass."""
        cache = self._cache
        if cache is not None and cache["input"] is input and cache.get("delta") is delta:
            return cache["grads"]
        if delta.shape != input.shape:
            raise ValueError(f"{self!r}: delta has shape {delta.shape}, the input {input.shape}")
        x, x2, z = self._norm(input)
        d = delta.reshape(-1, self.channels)
        gamma = self.effective_gamma
        root = np.sqrt(z)
        if self.inverse:  # y = x * sqrt(z)
            v = d * x / root
            dx = d * root + x * (v @ gamma)
            half = 0.5
        else:  # y = x / sqrt(z)
            v = d * x / (z * root)
            dx = d / root - x * (v @ gamma)
            half = -0.5
        grads = (dx.reshape(input.shape), half * v.sum(axis=0), half * (v.T @ x2))
        if self._cache is not None:  # _norm filled it
            self._cache.update(delta=delta, grads=grads)
        return grads

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        _, d_beta, d_gamma = self._grads(input, delta)
        for name, d_eff, bound in (("beta", d_beta, self._bounds()[0]), ("gamma", d_gamma, self._bounds()[1])):
            p = self._parameters[name]
            bounded = np.maximum(p.data, bound)
            g = 2 * bounded * d_eff  # d(max(p, bound)^2 - pedestal)
            # CompressAI's LowerBound: below the bound, pass only gradients that raise the parameter
            g *= (p.data >= bound) | (g < 0)
            p.grad += g.astype(p.data.dtype, copy=False)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return self._grads(input, delta)[0]

    def get_config(self) -> dict[str, Any]:
        return {"channels": self.channels, "inverse": self.inverse, "beta_min": self.beta_min,
                "gamma_init": self.gamma_init, "dtype": self.dtype.name}
