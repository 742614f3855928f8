"""The compression task: an encoder, an entropy bottleneck and a decoder trained together for
rate + lambda x distortion (``autoenc.models.compression``).

After training, the bottleneck's quantiles are set by bisection (CompressAI's
``update(update_quantiles=True)``), and per test image the run stores the rate the likelihoods
predict (bits, at test-time rounding around the medians) and the MSE of the reconstruction. The
report turns each stored model into a real codec (``LatentCodec.from_learned``: the learned
density as the range coder's integer tables) and measures bytes, exact round trips, PSNR and SSIM.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...models.compression import compression_autoencoder
from ...nn import fit
from ...nn import predict as forward
from ...nn.entropy import RateDistortionLoss
from ..grid import RunConfig, resolve
from . import RunContext, batch_size, build_optimizer, load_split


def build(config: RunConfig, input_size: int) -> Any:
    """The compression model of a resolved run config."""
    m = config.model
    widths = list(m["widths"])
    return compression_autoencoder(m["architecture"], input_size, int(m["latent_size"]),
                                   hidden=int(widths[0]) if widths else 256, seed=config.seed)


#: batch size of every evaluation pass: a convolutional model's im2col matrices stay in cache (at
#: 1000 images they take hundreds of MB and the pass ran 3x slower per image); fc is indifferent
EVAL_BATCH = 128


def rate_distortion(model: Any, X: np.ndarray, batch: int = EVAL_BATCH) -> dict[str, np.ndarray]:
    """Per-image rate from the likelihoods (bits, at test-time rounding) and MSE, in eval mode."""
    model.eval()
    bits, mse = [], []
    for i in range(0, len(X), batch):
        xb = X[i:i + batch]
        x_hat = model.forward(xb)
        bits.append(np.asarray(model.bottleneck.bits, np.float64))
        mse.append(((x_hat.astype(np.float64) - xb) ** 2).mean(axis=1))
    return {"bits": np.concatenate(bits), "mse": np.concatenate(mse)}


class _RecordingLoss(RateDistortionLoss):
    """The rate-distortion loss, keeping each image's bits and MSE of the evaluation-mode passes
    (fit's validation pass), so that the epoch's validation bpp and PSNR need no second pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: list[tuple[np.ndarray, np.ndarray]] = []

    def _per_sample(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        if not self.bottleneck.training:
            self.recorded.append((self._bits(yhat).astype(np.float64), self.distortion(y, yhat).astype(np.float64)))
        return super()._per_sample(y, yhat)

    def take(self, n: int) -> dict[str, np.ndarray]:
        """What the evaluation-mode passes since the last call recorded (the ``n`` validation images),
        as ``rate_distortion`` gives it."""
        bits = np.concatenate([b for b, _ in self.recorded]) if self.recorded else np.zeros(0)
        mse = np.concatenate([m for _, m in self.recorded]) if self.recorded else np.zeros(0)
        self.recorded.clear()
        if len(bits) != n:
            raise RuntimeError(f"the validation pass recorded {len(bits)} images, expected {n}")
        return {"bits": bits, "mse": mse}


def run(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    config = resolve(config)
    t, m = config.train, config.model
    if m["architecture"] not in ("fc", "conv"):
        raise ValueError(f"the compression task builds model.architecture 'fc' or 'conv', not {m['architecture']!r}")
    X_all, _ = load_split(config.data, "train")
    X_test, y_test = load_split(config.data, "test")
    n_val = int(round(len(X_all) * float(t["validation_split"])))
    if not 0 < n_val < len(X_all):
        raise ValueError(f"train.validation_split = {t['validation_split']} of {len(X_all)} training images leaves "
                         "no validation or no training images; the compression task needs both")
    X_train, X_val = X_all[:-n_val], X_all[-n_val:]
    model = build(config, X_all.shape[1])
    loss = _RecordingLoss(model.bottleneck, float(t["rd_lambda"]))
    optimizer = build_optimizer(t, model)
    epochs = int(t["epochs"])
    per_epoch: dict[str, list[float]] = {"val_bpp": [], "val_psnr": []}

    def after_epoch(epoch: int, values: dict[str, float]) -> None:
        rd = loss.take(len(X_val))  # fit's validation pass, in evaluation mode
        per_epoch["val_bpp"].append(float(rd["bits"].mean() / X_val.shape[1]))
        per_epoch["val_psnr"].append(float(np.mean(10 * np.log10(1 / np.maximum(rd["mse"], 1e-10)))))
        if ctx.verbose:
            ctx.log_epoch(epoch, epochs, values, f" bpp {per_epoch['val_bpp'][-1]:.3f} "
                                                 f"psnr {per_epoch['val_psnr'][-1]:.2f}")

    start = time.perf_counter()
    history = fit(model, loss, optimizer, X_train, epochs=epochs, batch_size=batch_size(t, len(X_train)),
                  seed=config.seed, validation_data=(X_val, X_val), scheduler=optimizer.scheduler,
                  patience=t["patience"], min_delta=float(t["min_delta"]), callback=after_epoch,
                  stop_when_converged=bool(t["stop_when_converged"]), eval_batch_size=EVAL_BATCH)
    train_seconds = time.perf_counter() - start
    history.extra.update(per_epoch)
    aux_before = model.bottleneck.aux_loss()
    model.bottleneck.update_quantiles()
    model.eval()
    n_pixels = X_test.shape[1]
    likelihood = rate_distortion(model, X_test)
    test_mse = likelihood["mse"]
    val = rate_distortion(model, X_val)
    ctx.save_arrays("per_image.npz", test_bits=likelihood["bits"], test_mse=test_mse,
                    test_labels=np.asarray(y_test), val_bits=val["bits"], val_mse=val["mse"],
                    medians=model.bottleneck.medians.astype(np.float64))
    ctx.save_model(model, optimizer, {"task": "compression", "input_size": int(n_pixels)})
    ctx.save_history(history)
    psnr = 10 * np.log10(1 / np.maximum(test_mse, 1e-10))
    return {
        "test_bpp_likelihood": float(likelihood["bits"].mean() / n_pixels),
        "test_mse_mean": float(test_mse.mean()),
        "test_psnr_mean": float(psnr.mean()),
        "val_bpp_likelihood": float(val["bits"].mean() / n_pixels),
        "val_psnr_mean": float(np.mean(10 * np.log10(1 / np.maximum(val["mse"], 1e-10)))),
        "aux_loss_before_update": float(aux_before),
        "final_train_loss": float(history.train_loss[-1]) if history.train_loss else float("nan"),
        "final_val_loss": float(history.val_loss[-1]) if history.val_loss else float("nan"),
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epoch),
        "converged": history.converged,
        "n_parameters": model.n_parameters(),
        "n_train": int(len(X_train)),
        "n_validation": int(n_val),
        "n_test": int(len(X_test)),
        "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / max(len(history.epoch), 1),
    }


def predict(model: Any, X: np.ndarray, config: RunConfig | dict[str, Any] | None = None) -> np.ndarray:
    """Reconstructions (n, d) at test-time rounding (what the learned codec decodes)."""
    X = np.asarray(X, np.float32)
    return forward(model, X.reshape(len(X), -1), batch_size=EVAL_BATCH)
