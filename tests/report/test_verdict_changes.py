"""The short-budget comparison counts every cell whose decided outcome differs, and picks the
autoencoder it compares with PCA on validation errors only."""

from __future__ import annotations

import pandas as pd

from autoenc.analysis.seed_level import better_on_validation, budget_comparison, pca_outcome


def _runs(early_r: float, end_r: float, *, val_better: str = "mse") -> pd.DataFrame:
    rows = []
    for seed in range(6):
        jitter = 1 + 0.001 * seed
        for loss in ("mse", "bce"):
            base = 0.010 * jitter
            spread = 1 + 0.1 * seed  # seeds differ in the size of the effect, not its sign
            end = base * (1 + end_r * spread) if loss == "bce" else base
            early = 2 * base * (1 + early_r * spread) if loss == "bce" else 2 * base
            # validation prefers val_better even where the test errors would say otherwise
            val = 0.009 if loss == val_better else 0.011
            rows.append({"depth": 1, "latent_size": 16, "loss": loss, "seed": seed, "mse_mean": end,
                         "test_at_12_mse_mean": early, "val_mse_mean": val, "val_at_12_mse_mean": val})
    return pd.DataFrame(rows)


def test_a_change_of_decided_outcome_is_counted_and_named():
    # epoch 12: BCE 5% worse on every seed (MSE better); end: the sign flips with every seed: BCE better
    rows = budget_comparison(_runs(0.05, -0.05), {16: 0.015}, 12)
    assert len(rows) == 1 and rows[0]["BCE vs MSE, epoch 12"] == "MSE better" and rows[0]["BCE vs MSE, end"] == \
        "BCE better"
    assert "BCE vs MSE: MSE better → BCE better" in rows[0]["changes"]
    # the AE against PCA: 0.02 at epoch 12 does not beat 0.015, 0.01 at the end beats it
    assert "vs PCA: does not beat PCA → beats PCA" in rows[0]["changes"]
    same = budget_comparison(_runs(0.05, 0.06), {16: 0.005}, 12)
    assert same[0]["changes"] == "none"  # decided the same way and never beating PCA: nothing changes


def test_the_better_loss_is_chosen_on_validation_not_on_test():
    runs = _runs(0.05, -0.05, val_better="mse")  # BCE has the lower test MSE, MSE the lower validation MSE
    assert better_on_validation(runs) == ("mse",)
    assert better_on_validation(runs.drop(columns=["val_mse_mean"])) is None
    rows = budget_comparison(runs, {16: 0.015}, 12)
    assert rows[0]["vs PCA, end"].startswith("MSE:")
    assert pca_outcome([0.1, 0.3], 0.2) == "mixed (1/2 seeds)"
