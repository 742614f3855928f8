"""How a latent codec's quantization steps are chosen: one procedure for every encoder.

Every code dimension ``d`` is quantized around its train-split mean ``center[d]`` with a plain
uniform quantizer (rounding, no dead zone, reconstruction at the middle of each cell), so that
a dimension too narrow for its step costs no bits and is rebuilt at its mean. Only the steps
differ between *designs*, each a one-parameter family (``scale``: finer is more bits):

``scaled``
    ``step[d] = scale * sd[d]``: each dimension's step proportional to its own spread (every
    dimension gets about the same number of bits).
``uniform``
    ``step[d] = scale * sd_rms``: one step for all dimensions (``sd_rms``: the root mean square
    of the spreads). The textbook choice for an orthogonal transform under MSE (PCA): low-variance
    components then cost almost nothing (reverse water-filling).
``lagrangian``
    For a decoder whose output moves by ``gain[d]`` (mean squared change of the pixels per unit
    squared change of code ``d``, measured by finite differences) the image MSE of the quantized
    code is about ``sum_d gain[d] * E[(z_d - z_hat_d)^2]``. Each dimension takes, from a grid of
    candidate steps (``sd[d] * 2**(j/3)``) and "drop" (one symbol: the mean), the one that
    minimises ``gain[d] * mse_d(step) + lam * entropy_d(step)`` on the train codes, at the slope
    ``lam = mean(gain) * ln(2) / 6 * (scale * sd_rms)**2`` (at high rate this gives equal
    ``gain[d] * step[d]**2``, i.e. the uniform step for PCA, whose gains are 1; at low rate it
    drops the dimensions not worth their bits). This is the rate-distortion-optimal allocation
    of a separable (high-rate, linearised) model of the decoder.

Which design a codec gets is chosen on held-out (validation) images by rate-distortion; see
``autoenc.analysis.rate_distortion.fewest_bits`` and docs/codecs.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .nn.kernels import row_blocks

__all__ = ["DESIGNS", "CodeStatistics", "decoder_gain", "design_steps", "row_blocks"]

DESIGNS = ("scaled", "uniform", "lagrangian")
#: Train codes used for the decoder gains and the Lagrangian search (a fixed sample: rows spread evenly).
#: The gains take 2 x k decoder passes per code, so at most ``GAIN_PASSES`` passes in all: 64 codes up
#: to k = 128, fewer beyond (20 at k = 400; each gain still averages 20 x 784 pixel derivatives).
GAIN_SAMPLES = 64
GAIN_PASSES = 16_384
SEARCH_SAMPLES = 8192
#: Candidate steps of the Lagrangian search: sd * 2**(j / 3), j = -18 .. 9 (sd / 64 .. 8 sd), then "drop".
CANDIDATE_EXPONENTS = np.arange(-18, 10) / 3.0


def _even_rows(n: int, m: int) -> np.ndarray:
    return np.arange(n) if n <= m else np.linspace(0, n - 1, m).round().astype(np.int64)


@dataclass
class CodeStatistics:
    """What the designs need from the train codes: per-dimension mean, spread and decoder gain.

    Args:
        center: mean of each code dimension, shape (k,).
        spread: standard deviation of each dimension (1 where constant), shape (k,).
        sample: a fixed sample of the train codes (rows spread evenly), for the Lagrangian search.
        gain: the decoder's mean squared pixel change per unit squared code change, shape (k,);
            None until measured (only the ``lagrangian`` design needs it).
        low, high: the smallest and largest code of each dimension, shape (k,): tables fitted on
            ``sample`` with these statistics still span every train code (None: unknown).
    """

    center: np.ndarray
    spread: np.ndarray
    sample: np.ndarray
    gain: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    _table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def measure(cls, codes: np.ndarray, decode_fn: Callable[[np.ndarray], np.ndarray] | None = None
                ) -> CodeStatistics:
        """Statistics of train ``codes`` (n, k); with ``decode_fn`` the decoder gains too."""
        Z = np.asarray(codes)
        n, k = Z.shape
        total = np.zeros(k)
        for zb in row_blocks(Z):
            if not np.isfinite(zb).all():
                raise ValueError("the encoder gave non-finite codes on the training images")
            total += zb.sum(axis=0)
        center = total / n
        spread = np.sqrt(sum(np.einsum("ij,ij->j", zb - center, zb - center) for zb in row_blocks(Z)) / n)
        spread[spread == 0] = 1.0  # a constant dimension: one symbol, costs ~0 bits
        stats = cls(center, spread, np.asarray(Z[_even_rows(n, SEARCH_SAMPLES)], np.float64),
                    low=Z.min(axis=0).astype(np.float64), high=Z.max(axis=0).astype(np.float64))
        if decode_fn is not None:
            m = max(1, min(GAIN_SAMPLES, GAIN_PASSES // (2 * k)))
            stats.gain = decoder_gain(decode_fn, stats.sample[_even_rows(len(stats.sample), m)], 0.1 * spread)
        return stats

    @property
    def spread_rms(self) -> float:
        return float(np.sqrt(np.mean(self.spread**2)))

    def lagrangian_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(candidate steps (k, c), weighted distortion (k, c), entropy in bits (k, c)) on the sample;
        the last candidate is "drop" (a step wider than the sample's range: one symbol)."""
        if self._table is None:
            if self.gain is None:
                raise ValueError("the lagrangian design needs the decoder gains: CodeStatistics.measure(codes, "
                                 "decode_fn)")
            D = self.sample - self.center
            drop = 4 * np.abs(D).max(axis=0) + self.spread
            steps = np.concatenate([self.spread[:, None] * 2.0 ** CANDIDATE_EXPONENTS[None, :], drop[:, None]], 1)
            dist, bits = np.empty_like(steps), np.empty_like(steps)
            m, k = D.shape
            for j in range(steps.shape[1]):
                Q = np.rint(D / steps[:, j])
                dist[:, j] = self.gain * ((D - Q * steps[:, j]) ** 2).mean(axis=0)
                low = Q.min(axis=0)
                width = int((Q.max(axis=0) - low).max()) + 1
                counts = np.bincount((Q - low + np.arange(k) * width).astype(np.int64).ravel(),
                                     minlength=k * width).reshape(k, width)
                p = counts / m
                with np.errstate(divide="ignore", invalid="ignore"):
                    bits[:, j] = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
            self._table = (steps, dist, bits)
        return self._table


def decoder_gain(decode_fn: Callable[[np.ndarray], np.ndarray], codes: np.ndarray, delta: np.ndarray,
                 max_rows: int = 8192) -> np.ndarray:
    """Mean squared change of the decoder's output pixels per unit squared change of each code
    dimension at ``codes`` (central differences of half-width ``delta[d]``), shape (k,)."""
    Z = np.asarray(codes, np.float64)
    m, k = Z.shape
    gain = np.zeros(k)
    per_call = max(1, max_rows // (2 * m))
    for first in range(0, k, per_call):
        dims = np.arange(first, min(k, first + per_call))
        shifted = np.repeat(Z[None], 2 * len(dims), axis=0)  # (2 * dims, m, k)
        for i, d in enumerate(dims):
            shifted[2 * i, :, d] += delta[d]
            shifted[2 * i + 1, :, d] -= delta[d]
        out = np.asarray(decode_fn(shifted.reshape(-1, k).astype(np.float32)), np.float64)
        out = out.reshape(len(dims), 2, m, -1)
        diff = (out[:, 0] - out[:, 1]) / (2 * delta[dims])[:, None, None]
        gain[dims] = (diff**2).mean(axis=(1, 2))
    return gain


def design_steps(design: str, scale: float, stats: CodeStatistics) -> np.ndarray:
    """Quantization step per code dimension of ``design`` at ``scale`` (see the module docstring)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"the step scale must be a finite number > 0, got {scale}")
    if design == "scaled":
        return scale * stats.spread
    if design == "uniform":
        return np.full(stats.spread.shape, scale * stats.spread_rms)
    if design == "lagrangian":
        steps, dist, bits = stats.lagrangian_table()
        assert stats.gain is not None  # lagrangian_table checked it
        lam = float(np.mean(stats.gain)) * math.log(2) / 6 * (scale * stats.spread_rms) ** 2
        best = np.argmin(dist + lam * bits, axis=1)
        return steps[np.arange(len(best)), best]
    raise ValueError(f"unknown quantizer design {design!r}; expected one of {', '.join(DESIGNS)}")
