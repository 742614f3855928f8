"""The compression task's validation bookkeeping: the epoch's validation bpp and MSE come from fit's
validation pass (recorded by the loss), and agree with a separate evaluation pass."""

from __future__ import annotations

import numpy as np

from autoenc.models.compression import compression_autoencoder
from autoenc.nn import Adam, fit
from autoenc.study.tasks.compression import _RecordingLoss, rate_distortion


def test_recorded_validation_pass_matches_a_separate_one():
    rng = np.random.default_rng(0)
    X = rng.random((96, 784), dtype=np.float32)
    X_train, X_val = X[:64], X[64:]
    model = compression_autoencoder("conv", 784, latent=4, hidden=8, seed=0)
    loss = _RecordingLoss(model.bottleneck, 0.01)
    seen = []

    def after_epoch(epoch: int, values: dict[str, float]) -> None:
        recorded = loss.take(len(X_val))
        again = rate_distortion(model, X_val, batch=5)
        model.train()
        np.testing.assert_allclose(recorded["bits"], again["bits"], rtol=1e-6)
        np.testing.assert_allclose(recorded["mse"], again["mse"], rtol=1e-4)
        # the validation loss fit reports is the same pass
        expected = np.mean(0.01 * 255**2 * recorded["mse"] + recorded["bits"] / 784)
        np.testing.assert_allclose(values["val_loss"], expected, rtol=1e-5)
        seen.append(epoch)

    fit(model, loss, Adam(model, lr=1e-3), X_train, epochs=2, batch_size=16, validation_data=(X_val, X_val),
        callback=after_epoch, eval_batch_size=7)
    assert seen == [1, 2] and not loss.recorded  # training-mode passes record nothing
