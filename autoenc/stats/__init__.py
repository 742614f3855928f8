"""Statistics for comparing models image by image.

Paired tests with effect sizes (:func:`paired_comparison`), Holm's multiple-comparison
adjustment (:func:`holm`), agreement across seeds (:func:`seed_agreement`), per-image errors
(:func:`reconstruction_metrics`), trend over latent size
(:func:`trend_test`) and baselines (:func:`pca_reconstruction_errors`, :func:`linear_probe`).

Only numpy is imported here; scipy, scikit-learn and pandas load inside the functions.
"""

from __future__ import annotations

from autoenc.stats.adjust import holm
from autoenc.stats.baselines import fit_pca, linear_probe, pca_codes, pca_reconstruction_errors
from autoenc.stats.bootstrap import bootstrap_ci
from autoenc.stats.metrics import BCE_EPS, reconstruction_metrics, summarize
from autoenc.stats.paired import (
    PairedResult,
    paired_comparison,
    seed_agreement,
    signed_rank_sums,
)
from autoenc.stats.trend import trend_test

__all__ = [
    "BCE_EPS",
    "PairedResult",
    "bootstrap_ci",
    "fit_pca",
    "holm",
    "linear_probe",
    "paired_comparison",
    "pca_codes",
    "pca_reconstruction_errors",
    "reconstruction_metrics",
    "seed_agreement",
    "signed_rank_sums",
    "summarize",
    "trend_test",
]
