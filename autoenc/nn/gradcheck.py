"""Finite-difference gradient checks (central differences, float64) for modules and
losses: ship them so users can check their own layers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .losses import Loss
from .module import Module


@dataclass
class GradcheckResult:
    """Largest relative error per checked tensor; ``ok`` when all are below ``tol``."""

    errors: dict[str, float]
    tol: float

    @property
    def ok(self) -> bool:
        return all(e <= self.tol for e in self.errors.values())

    def __str__(self) -> str:
        rows = ", ".join(f"{k}: {v:.2e}" for k, v in self.errors.items())
        return f"gradcheck {'ok' if self.ok else 'FAILED'} (tol {self.tol:.0e}): {rows}"


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.abs(a) + np.abs(b), 1e-8)
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def numeric_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of scalar ``f()`` with respect to array ``x`` (perturbed in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def gradcheck(module: Module, X: np.ndarray, *, eps: float = 1e-6, tol: float = 1e-5, seed: int = 0) -> GradcheckResult:
    """Check ``backward_update_gradient`` and ``backward_delta`` of ``module`` at ``X``.

    The module and ``X`` must be float64. The scalar checked is ``sum(forward(X) * R)`` for a
    fixed random ``R``, so dL/doutput = R.
    """
    if X.dtype != np.float64 or (module.param_dtype not in (None, np.float64)):
        raise TypeError("gradcheck needs float64 input and parameters: call module.astype(np.float64)")
    X = X.copy()
    out = module.forward(X)
    R = np.random.default_rng(seed).normal(size=out.shape)

    def f() -> float:
        return float((module.forward(X) * R).sum())

    errors: dict[str, float] = {}
    module.zero_grad()
    module.forward(X)
    module.backward_update_gradient(X, R)
    analytic_dx = module.backward_delta(X, R)
    for name, p in module.named_parameters():
        errors[name] = _rel_error(p.grad, numeric_gradient(f, p.data, eps))
    errors["input"] = _rel_error(analytic_dx, numeric_gradient(f, X, eps))
    return GradcheckResult(errors, tol)


def gradcheck_loss(
    loss: Loss, y: np.ndarray, yhat: np.ndarray, *, eps: float = 1e-6, tol: float = 1e-5
) -> GradcheckResult:
    """Check ``loss.backward`` against central differences of ``loss.forward`` in its reduction.

    For ``reduction="none"`` the checked scalar is the sum of the per-sample values.
    """
    yhat = yhat.astype(np.float64, copy=True)

    def f() -> float:
        v = loss.forward(y, yhat)
        return float(np.sum(v))

    analytic = loss.backward(y, yhat)
    return GradcheckResult({"yhat": _rel_error(analytic, numeric_gradient(f, yhat, eps))}, tol)
