"""Statistics for comparing models image by image.

Paired tests with effect sizes (:func:`paired_comparison`, over a family of cells with
Holm-adjusted p-values: :func:`paired_table`), multiple-comparison adjustment
(:func:`holm`, :func:`bonferroni`), agreement across seeds (:func:`seed_agreement`), error
tables (:func:`reconstruction_metrics`, :func:`error_table`), trend over latent size
(:func:`trend_test`) and baselines (:func:`pca_reconstruction_errors`, :func:`linear_probe`).

Only numpy is imported here; scipy, scikit-learn and pandas load inside the functions.
"""

from __future__ import annotations

from autoenc.stats.adjust import bonferroni, holm
from autoenc.stats.baselines import fit_pca, linear_probe, pca_codes, pca_reconstruction_errors
from autoenc.stats.bootstrap import bootstrap_ci
from autoenc.stats.metrics import BCE_EPS, error_table, reconstruction_metrics, summarize
from autoenc.stats.paired import (
    PairedResult,
    paired_comparison,
    paired_table,
    seed_agreement,
    signed_rank_sums,
)
from autoenc.stats.trend import trend_test

__all__ = [
    "BCE_EPS",
    "PairedResult",
    "bonferroni",
    "bootstrap_ci",
    "error_table",
    "fit_pca",
    "holm",
    "linear_probe",
    "paired_comparison",
    "paired_table",
    "pca_codes",
    "pca_reconstruction_errors",
    "reconstruction_metrics",
    "seed_agreement",
    "signed_rank_sums",
    "summarize",
    "trend_test",
]
