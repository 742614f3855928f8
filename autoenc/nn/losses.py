"""Losses: ``forward(y, yhat)`` gives per-sample values reduced by ``reduction``;
``backward(y, yhat)`` gives dL/dyhat for the same reduction.

Per-sample values average over the features (PyTorch's convention), so the "mean"
reduction equals PyTorch's element-wise mean and per-image MSE is a per-pixel mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import log_softmax
from .kernels import mse_sigmoid_grad

REDUCTIONS = ("none", "mean", "sum")


class Loss:
    """Base class: subclasses implement ``_per_sample`` and ``_grad`` (gradient of the sum)."""

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _check(self, y: np.ndarray, yhat: np.ndarray) -> None:
        if not isinstance(yhat, np.ndarray) or yhat.ndim != 2:
            raise ValueError(f"{type(self).__name__}: yhat must have shape (N, D), got {getattr(yhat, 'shape', yhat)}")
        if np.shape(y) != yhat.shape:
            raise ValueError(
                f"{type(self).__name__}: y has shape {np.shape(y)}, yhat has {yhat.shape}; they must match"
            )

    def forward(self, y: np.ndarray, yhat: np.ndarray, reduction: str | None = None) -> Any:
        self._check(y, yhat)
        red = self._reduction(reduction)
        per_sample = self._per_sample(y, yhat)
        if red == "none":
            return per_sample
        value = float(per_sample.sum() if red == "sum" else per_sample.mean())
        if not np.isfinite(value):
            raise FloatingPointError(
                f"{type(self).__name__}: loss is {value}; the inputs hold NaN/inf or training "
                "diverged (lower the learning rate)"
            )
        return value

    __call__ = forward

    def backward(self, y: np.ndarray, yhat: np.ndarray, reduction: str | None = None) -> np.ndarray:
        """dL/dyhat, shape of ``yhat``. For ``none``, the gradient of the sum of per-sample values."""
        self._check(y, yhat)
        grad = self._grad(y, yhat)  # gradient of sum over samples of per-sample values
        if self._reduction(reduction) == "mean":
            grad *= 1.0 / yhat.shape[0]
        return grad

    def _reduction(self, reduction: str | None) -> str:
        red = reduction or self.reduction
        if red not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {red!r}")
        return red

    def floor(self, y: np.ndarray) -> float:
        """The least mean loss any prediction can reach on targets ``y`` (0 for most losses);
        convergence is judged on the loss above it."""
        return 0.0

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grad(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(Loss):
    """Mean squared error per sample: mean_j (y_j - yhat_j)^2."""

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        d = yhat - y
        return np.einsum("ij,ij->i", d, d) / y.shape[1]

    def _grad(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        g = yhat - y
        g *= 2.0 / y.shape[1]
        return g

    def grad_through_sigmoid(self, y: np.ndarray, yhat: np.ndarray, reduction: str | None = None) -> np.ndarray:
        """dL/dlogits when ``yhat`` is a final Sigmoid's output: the loss's and the sigmoid's
        backward passes in one (same float operations, one pass with numba)."""
        self._check(y, yhat)
        batch = 1.0 / yhat.shape[0] if self._reduction(reduction) == "mean" else None
        return mse_sigmoid_grad(yhat, y, 2.0 / y.shape[1], batch)


class BCELoss(Loss):
    """Binary cross-entropy on probabilities, per sample averaged over features.

    Logs are clipped at ``eps`` so outputs of exactly 0 or 1 give finite values.

    Args:
        reduction: ``none`` | ``mean`` | ``sum``.
        eps: clipping of the probabilities into [eps, 1 - eps].
    """

    def __init__(self, reduction: str = "mean", eps: float = 1e-7) -> None:
        super().__init__(reduction)
        self.eps = eps

    def _clip(self, yhat: np.ndarray) -> np.ndarray:
        return np.clip(yhat, self.eps, 1 - self.eps)

    def floor(self, y: np.ndarray) -> float:
        """The targets' own mean entropy (BCE is least at ``yhat = y``): > 0 for grey levels."""
        y = np.asarray(y)
        if y.ndim != 2 or y.dtype.kind != "f" or len(y) == 0:
            return 0.0
        return float(self._per_sample(y, y).mean())

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        p = self._clip(yhat)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p)).mean(axis=1)

    def _grad(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        p = self._clip(yhat)
        return (p - y) / (p * (1 - p)) / y.shape[1]

    def grad_wrt_logits(self, y: np.ndarray, yhat: np.ndarray, reduction: str | None = None) -> np.ndarray:
        """Fused gradient through a final Sigmoid: dL/dlogits = (yhat - y) / D (stable)."""
        g = yhat - y
        scale = 1.0 / y.shape[1]
        if self._reduction(reduction) == "mean":
            scale /= y.shape[0]
        g *= scale
        return g


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits (stable log-sum-exp form), averaged over features."""

    def _per_sample(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return (np.logaddexp(0, z) - y * z).mean(axis=1)

    def _grad(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        p = 0.5 * (1 + np.tanh(0.5 * z))
        return (p - y) / y.shape[1]


class _ClassLoss(Loss):
    """Targets as integer labels (N,) or one-hot / probability rows (N, C)."""

    def _targets(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"{type(self).__name__}: 1-D targets must be integer class labels, got {y.dtype}")
            if y.size and (y.min() < 0 or y.max() >= yhat.shape[1]):
                raise ValueError(f"{type(self).__name__}: labels must lie in [0, {yhat.shape[1] - 1}]")
            onehot = np.zeros(yhat.shape, dtype=yhat.dtype)
            onehot[np.arange(len(y)), y] = 1
            return onehot
        return y.astype(yhat.dtype, copy=False)

    def _check(self, y: np.ndarray, yhat: np.ndarray) -> None:
        if not isinstance(yhat, np.ndarray) or yhat.ndim != 2:
            raise ValueError(f"{type(self).__name__}: yhat must have shape (N, C), got {getattr(yhat, 'shape', yhat)}")
        if np.shape(y) not in ((yhat.shape[0],), yhat.shape):
            raise ValueError(
                f"{type(self).__name__}: targets must be labels ({yhat.shape[0]},) "
                f"or one-hot {yhat.shape}, got {np.shape(y)}"
            )


class CrossEntropyLoss(_ClassLoss):
    """Log-softmax + negative log-likelihood on raw scores (logits), per sample.

    Args:
        reduction: ``none`` | ``mean`` | ``sum``.
        label_smoothing: in [0, 1): the target becomes ``(1 - s) * t + s / C`` (as
            ``torch.nn.CrossEntropyLoss``); 0 leaves the targets as given.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must lie in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def _targets(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        t = super()._targets(y, yhat)
        if self.label_smoothing:
            s = self.label_smoothing
            # the uniform share scales with the row's mass, so unnormalised rows stay consistent
            t = (1 - s) * t + (s / yhat.shape[1]) * t.sum(axis=1, keepdims=True)
        return t

    def floor(self, y: np.ndarray) -> float:
        """The targets' own entropy (cross-entropy is least when the softmax equals the target
        row): 0 for hard labels, > 0 with label smoothing or soft targets."""
        y = np.asarray(y)
        if len(y) == 0 or (y.ndim == 1 and not self.label_smoothing):
            return 0.0
        n_classes = int(y.max()) + 1 if y.ndim == 1 else y.shape[1]
        t = self._targets(y, np.zeros((len(y), n_classes)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(-np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0).sum(axis=1).mean())

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return -(self._targets(y, yhat) * log_softmax(yhat)).sum(axis=1)

    def _grad(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        t = self._targets(y, yhat)
        return np.exp(log_softmax(yhat)) * t.sum(axis=1, keepdims=True) - t

    def __repr__(self) -> str:
        return f"CrossEntropyLoss(reduction={self.reduction!r}, label_smoothing={self.label_smoothing})"


class NLLLoss(_ClassLoss):
    """Negative log-likelihood on log-probabilities (after a ``LogSoftmax`` layer)."""

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return -(self._targets(y, yhat) * yhat).sum(axis=1)

    def _grad(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return -self._targets(y, yhat)


LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "bce": BCELoss,
    "bce_logits": BCEWithLogitsLoss,
    "cross_entropy": CrossEntropyLoss,
    "nll": NLLLoss,
}


def get_loss(name: str, **kwargs: Any) -> Loss:
    """Loss by short name: mse, bce, bce_logits, cross_entropy, nll."""
    try:
        return LOSSES[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None
