"""GDN and inverse GDN: values against the formula, finite-difference gradients in float64, the
reparametrization's lower bound (CompressAI's), configs and errors."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.nn import GDN, gradcheck, module_from_config
from autoenc.nn.gdn import PEDESTAL


def _gdn(inverse: bool, channels: int = 4, seed: int = 0) -> GDN:
    layer = GDN(channels, inverse=inverse, dtype=np.float64)
    rng = np.random.default_rng(seed)
    layer._parameters["beta"].data[:] = rng.uniform(0.5, 1.5, channels)
    layer._parameters["gamma"].data[:] = rng.uniform(0.05, 0.6, (channels, channels))
    return layer


@pytest.mark.parametrize("inverse", [False, True])
def test_values_match_the_formula(inverse):
    layer = _gdn(inverse)
    X = np.random.default_rng(1).normal(size=(2, 3, 5, 4))
    beta, gamma = layer.effective_beta, layer.effective_gamma
    norm = np.sqrt(beta + np.einsum("ij,nhwj->nhwi", gamma, X**2))
    np.testing.assert_allclose(layer.forward(X), X * norm if inverse else X / norm, rtol=1e-12)


def test_starts_at_beta_one_and_a_diagonal_gamma_and_inverts_itself_near_zero():
    layer = GDN(3, dtype=np.float64)
    np.testing.assert_allclose(layer.effective_beta, 1.0, rtol=1e-12)
    np.testing.assert_allclose(layer.effective_gamma, 0.1 * np.eye(3), atol=1e-12)
    x = np.full((1, 3), 1e-4)
    np.testing.assert_allclose(GDN(3, inverse=True, dtype=np.float64).forward(layer.forward(x)), x, rtol=1e-8)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (6, 4)])
def test_gradcheck(inverse, shape):
    result = gradcheck(_gdn(inverse), np.random.default_rng(2).normal(size=shape))
    assert result.ok, result


def test_lower_bound_passes_only_gradients_that_raise_the_parameter():
    layer = _gdn(False)
    gamma = layer._parameters["gamma"]
    gamma.data[0, 1] = 1e-9  # below its bound: effective gamma 0
    assert layer.effective_gamma[0, 1] == pytest.approx(0.0, abs=1e-12)
    X = np.random.default_rng(3).normal(size=(5, 4))
    layer.forward(X)
    layer.zero_grad()
    layer.backward_update_gradient(X, X.copy())  # delta = x: dL/dgamma_eff < 0 everywhere for GDN
    assert gamma.grad[0, 1] < 0  # passed: a step raises the parameter back to the bound
    layer.forward(X)
    layer.zero_grad()
    layer.backward_update_gradient(X, -X)  # would push it further down: blocked
    assert gamma.grad[0, 1] == 0 and (np.delete(gamma.grad.ravel(), 1) > 0).all()
    assert np.sqrt(PEDESTAL) == 2.0**-18


def test_float32_config_and_errors():
    layer = GDN(8, inverse=True)
    out = layer.forward(np.ones((2, 4, 4, 8), np.float32))
    assert out.dtype == np.float32 and layer.param_dtype == np.float32
    rebuilt = module_from_config(layer.to_config())
    expected = "GDN(channels=8, inverse=True, beta_min=1e-06, gamma_init=0.1, dtype='float32')"
    assert repr(rebuilt) == repr(layer) == expected
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 8\) \(channels last\), got \(2, 8, 4, 4\)"):
        layer.forward(np.ones((2, 8, 4, 4), np.float32))
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        GDN(0)
    with pytest.raises(ValueError, match="beta_min must be > 0"):
        GDN(2, beta_min=0.0)
