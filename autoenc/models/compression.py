"""Learned-compression models: an encoder, an entropy bottleneck and a decoder trained together for
rate + lambda x distortion (Balle et al. 2018, CompressAI's ``FactorizedPrior`` without GDN).

Two architectures, both on flat images (N, 784) in [0, 1], so that a study swaps one for the other:

- ``fc``: 784 - hidden - latent (ReLU) | bottleneck over the latent's dimensions | latent - hidden - 784,
  sigmoid out. Each latent dimension is one channel with its own learned density.
- ``conv``: two 5x5 stride-2 convolutions (28 -> 14 -> 7; ReLU between) into ``latent`` channels
  of 7 x 7 | bottleneck (one density per channel, shared over positions) | two 5x5 stride-2
  transposed convolutions back to 28 x 28, sigmoid out.

The anchor (``benchmarks/compressai_anchor.py``) builds the same layers in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..nn import Linear, Module, ReLU, Sequential, Sigmoid
from ..nn.entropy import EntropyBottleneck, RateDistortionLoss

ARCHITECTURES = ("fc", "conv")


class CompressionAutoencoder(Module):
    """Encoder, entropy bottleneck, decoder; ``forward`` reconstructs, the bottleneck keeps the rate.

    Args:
        encoder: images (N, D) -> latents (N, ..., C).
        bottleneck: ``EntropyBottleneck(C)``.
        decoder: latents -> images (N, D).

    Example:
        >>> model = compression_autoencoder("fc", 784, latent=64, seed=0)
        >>> loss = model.rd_loss(lmbda=0.01)           # fit(model, loss, Adam(model, 1e-3), X)
        >>> X_hat = model.eval().forward(X); bits = model.bottleneck.bits
    """

    def __init__(self, encoder: Sequential, bottleneck: EntropyBottleneck, decoder: Sequential) -> None:
        super().__init__()
        if not isinstance(bottleneck, EntropyBottleneck):
            raise TypeError(f"CompressionAutoencoder: the bottleneck must be an EntropyBottleneck, got "
                            f"{type(bottleneck).__name__}")
        self._modules["encoder"], self._modules["bottleneck"], self._modules["decoder"] = encoder, bottleneck, decoder
        self._latent: np.ndarray | None = None

    @property
    def encoder(self) -> Sequential:
        return self._modules["encoder"]  # type: ignore[return-value]

    @property
    def bottleneck(self) -> EntropyBottleneck:
        return self._modules["bottleneck"]  # type: ignore[return-value]

    @property
    def decoder(self) -> Sequential:
        return self._modules["decoder"]  # type: ignore[return-value]

    def final_module(self) -> Module:
        return self.decoder.final_module()

    def rd_loss(self, lmbda: float, reduction: str = "mean") -> RateDistortionLoss:
        """The rate-distortion loss of this model's bottleneck (``lmbda * 255^2 * MSE + bpp``)."""
        return RateDistortionLoss(self.bottleneck, lmbda, reduction)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._latent = self.encoder.forward(X)
        return self.decoder.forward(self.bottleneck.forward(self._latent))

    def backward(self, delta: np.ndarray, *, input_grad: bool = True, skip_last: int = 0) -> np.ndarray | None:
        """Full backward pass after ``forward``: decoder, bottleneck (plus the rate's gradient when the
        loss set one), encoder."""
        if self._latent is None:
            raise RuntimeError("CompressionAutoencoder.backward called before forward")
        delta = self.decoder.backward(delta, skip_last=skip_last)
        self.bottleneck.backward_update_gradient(self._latent, delta)
        delta = self.bottleneck.backward_delta(self._latent, delta)
        return self.encoder.backward(delta, input_grad=input_grad)

    def encode(self, X: np.ndarray) -> np.ndarray:
        """The encoder's latents (before quantization)."""
        return self.encoder.forward(X)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images from (quantized) latents."""
        return self.decoder.forward(latents)

    def latent_shape(self, input_size: int) -> tuple[int, ...]:
        """The per-image shape of the latent for images of ``input_size`` pixels."""
        was_training = self.training
        self.eval()
        shape = self.encoder.forward(np.zeros((1, input_size), self.param_dtype or np.float32)).shape[1:]
        self.train(was_training)
        return tuple(int(s) for s in shape)

    def coding_tables(self, input_size: int, codes: np.ndarray | None = None, precision: int = 16
                      ) -> dict[str, np.ndarray]:
        """What a range coder needs, per flattened latent dimension: the medians the symbols are
        rounded around, the smallest symbol (offset from the median) and the probabilities of the
        symbols from it on (integer tables of ``precision`` bits, every symbol >= 1 count, as
        CompressAI's ``pmf_to_quantized_cdf``).

        The range of each channel covers its learned quantiles (tail mass ``tail_mass``) and, when
        ``codes`` (latents of training images, (n, ...)) are given, every rounded training value;
        the density's mass beyond the range is folded into the end symbols, to which the codec clips.
        """
        from ..nn.entropy import quantized_cdf

        eb = self.bottleneck
        shape = self.latent_shape(input_size)
        low, high = eb.symbol_range()
        med = eb.medians.astype(np.float64)
        if codes is not None:
            values = np.rint(np.asarray(codes, np.float64).reshape(-1, eb.channels) - med)
            if len(values) and not np.isfinite(values).all():
                raise ValueError("coding_tables: the training latents hold NaN or inf")
            if len(values):
                low = np.minimum(low, values.min(axis=0).astype(np.int64))
                high = np.maximum(high, values.max(axis=0).astype(np.int64))
        pmf = eb.pmf(low, high)
        tables = np.zeros_like(pmf)
        for c, length in enumerate(high - low + 1):
            tables[c, :length] = np.diff(quantized_cdf(pmf[c, :length], precision)) / float(1 << precision)
        channel = np.arange(int(np.prod(shape))) % eb.channels  # channels last: the fastest axis
        return {"latent_shape": np.asarray(shape, np.int64), "medians": med[channel], "offset": low[channel],
                "probabilities": tables[channel]}

    def to_config(self) -> dict[str, Any]:
        return {"type": "CompressionAutoencoder", "args": {},
                "children": [self.encoder.to_config(), self.bottleneck.to_config(), self.decoder.to_config()]}

    def __repr__(self) -> str:
        return (f"CompressionAutoencoder(\n encoder={self.encoder!r},\n bottleneck={self.bottleneck!r},\n"
                f" decoder={self.decoder!r}\n)")


def compression_autoencoder(architecture: str, input_size: int, latent: int, hidden: int = 256,
                            filters: tuple[int, ...] = (3, 3, 3), dtype: Any = np.float32,
                            seed: int = 0) -> CompressionAutoencoder:
    """A learned-compression model.

    Parameters
    ----------
    architecture
        ``fc`` or ``conv`` (module docstring).
    input_size
        Pixels per image (a square image for ``conv``, side divisible by 4).
    latent
        Latent dimensions (``fc``) or latent channels (``conv``).
    hidden
        Hidden width (``fc``) or channels of the intermediate feature map (``conv``).
    filters
        Hidden widths of the bottleneck's density network.
    dtype, seed
        Parameter dtype; the seed of the initial weights and of the training noise.
    """
    rng = np.random.default_rng(seed)
    if architecture == "fc":
        encoder = Sequential(Linear(input_size, hidden, init="he", dtype=dtype, seed=rng), ReLU(),
                             Linear(hidden, latent, dtype=dtype, seed=rng))
        decoder = Sequential(Linear(latent, hidden, init="he", dtype=dtype, seed=rng), ReLU(),
                             Linear(hidden, input_size, dtype=dtype, seed=rng), Sigmoid())
    elif architecture == "conv":
        from ..nn.conv import Conv2D, ConvTranspose2D, Reshape

        side = math.isqrt(input_size)
        if side * side != input_size or side % 4:
            raise ValueError(f"the conv architecture needs square images with a side divisible by 4; got "
                             f"{input_size} pixels")
        encoder = Sequential(Reshape((side, side, 1)),
                             Conv2D(1, hidden, 5, stride=2, padding=2, init="he", dtype=dtype, seed=rng), ReLU(),
                             Conv2D(hidden, latent, 5, stride=2, padding=2, dtype=dtype, seed=rng))
        decoder = Sequential(ConvTranspose2D(latent, hidden, 5, stride=2, padding=2, output_padding=1, init="he",
                                             dtype=dtype, seed=rng), ReLU(),
                             ConvTranspose2D(hidden, 1, 5, stride=2, padding=2, output_padding=1, dtype=dtype,
                                             seed=rng),
                             Sigmoid(), Reshape((input_size,)))
    else:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {list(ARCHITECTURES)}")
    return CompressionAutoencoder(encoder, EntropyBottleneck(latent, filters, dtype=dtype, seed=seed), decoder)
