"""Holm and Bonferroni against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.stats import holm


def test_holm_hand_computed():
    # sorted p: 0.01 (x3 -> 0.03), 0.03 (x2 -> 0.06), 0.04 (x1 -> 0.04 -> monotone 0.06)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_holm_textbook_five():
    # p = .01 .02 .03 .04 .05, m = 5: 5*.01=.05, 4*.02=.08, 3*.03=.09, 2*.04=.08 -> .09,
    # 1*.05=.05 -> .09 (step-down maximum keeps the adjusted values monotone)
    np.testing.assert_allclose(holm([0.01, 0.02, 0.03, 0.04, 0.05]),
                               [0.05, 0.08, 0.09, 0.09, 0.09])


def test_holm_unsorted_input_order_and_clipping():
    p = [0.5, 0.001, 0.2, 0.04]
    # sorted: .001*4=.004, .04*3=.12, .2*2=.4, .5*1=.5
    np.testing.assert_allclose(holm(p), [0.5, 0.004, 0.4, 0.12])
    np.testing.assert_allclose(holm([0.3, 0.6, 0.9]), [0.9, 1.0, 1.0])


def test_holm_ties_and_monotone_and_dominates_raw():
    rng = np.random.default_rng(0)
    p = rng.random(50) ** 3
    adj = holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)
    assert np.all(adj >= p) and np.all(adj <= 1)
    assert np.all(adj <= np.minimum(1, len(p) * p) + 1e-15)  # never above Bonferroni
    np.testing.assert_allclose(holm([0.02, 0.02]), [0.04, 0.04])


def test_holm_single_and_nan_ignored():
    assert holm([0.03]).tolist() == [0.03]
    out = holm([0.01, np.nan, 0.04])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])  # m = 2, not 3
    assert holm([]).size == 0


@pytest.mark.parametrize("bad", [[0.1, 1.5], [-0.1], [[0.1, 0.2]]])
def test_rejects_non_pvalues(bad):
    with pytest.raises(ValueError):
        holm(bad)
