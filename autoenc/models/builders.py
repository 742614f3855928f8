"""Builders for the study's networks. Every builder takes a seed, so a run's config
fully determines its initial weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..nn import (
    Conv1D,
    Dropout,
    Flatten,
    Linear,
    LogSoftmax,
    MaxPool1D,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    TanH,
)

ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU,
    "tanh": TanH,
    "sigmoid": Sigmoid,
    "softmax": Softmax,
    "log_softmax": LogSoftmax,
}


def _activation(name: str) -> Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def _init_for(activation: str) -> str:
    return "he" if activation == "relu" else "xavier"


class AutoEncoder(Module):
    """An encoder and a decoder, each a ``Sequential``; ``forward`` reconstructs.

    Args:
        encoder: maps inputs (N, D) to codes (N, latent_size).
        decoder: maps codes back to (N, D).

    Example:
        >>> ae = autoencoder(784, latent_size=64, depth=2, seed=0)
        >>> codes = ae.encode(X)
        >>> X_hat = ae.decode(codes)
    """

    def __init__(self, encoder: Sequential, decoder: Sequential) -> None:
        super().__init__()
        self._modules["encoder"] = encoder
        self._modules["decoder"] = decoder

    @property
    def encoder(self) -> Sequential:
        return self._modules["encoder"]  # type: ignore[return-value]

    @property
    def decoder(self) -> Sequential:
        return self._modules["decoder"]  # type: ignore[return-value]

    @property
    def latent_size(self) -> int:
        return next(m.out_features for m in reversed(self.encoder.modules) if isinstance(m, Linear))

    def final_module(self) -> Module:
        return self.decoder.final_module()

    def forward(self, X: np.ndarray) -> np.ndarray:
        return self.decoder.forward(self.encoder.forward(X))

    def encode(self, X: np.ndarray) -> np.ndarray:
        return self.encoder.forward(X)

    def decode(self, Z: np.ndarray) -> np.ndarray:
        return self.decoder.forward(Z)

    def backward(self, delta: np.ndarray, *, input_grad: bool = True, skip_last: int = 0) -> np.ndarray | None:
        """Full backward pass after ``forward`` (decoder, then encoder); returns dL/dinput."""
        delta = self.decoder.backward(delta, skip_last=skip_last)
        return self.encoder.backward(delta, input_grad=input_grad)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        codes = self.encoder.forward(input)
        self.decoder.backward_update_gradient(codes, delta)
        self.encoder.backward_update_gradient(input, self.decoder.backward_delta(codes, delta))

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        codes = self.encoder.forward(input)
        return self.encoder.backward_delta(input, self.decoder.backward_delta(codes, delta))

    def to_config(self) -> dict[str, Any]:
        return {"type": "AutoEncoder", "args": {}, "children": [self.encoder.to_config(), self.decoder.to_config()]}

    def __repr__(self) -> str:
        return f"AutoEncoder(\n encoder={self.encoder!r},\n decoder={self.decoder!r}\n)"


def hidden_widths(depth: int, latent_size: int, widths: Sequence[int] = (256, 128)) -> list[int]:
    """Hidden layer sizes of a depth-``depth`` encoder (the decoder mirrors them).

    Depth 1 is a single Linear layer into the code. Deeper encoders take the first
    ``depth - 1`` entries of ``widths`` (outermost first), never narrower than the code
    itself (a hidden layer narrower than the code would cap its rank below the latent size).
    With the defaults: depth 2 is 784-256-k, depth 3 is 784-256-128-k.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if depth - 1 > len(widths):
        raise ValueError(f"depth {depth} needs {depth - 1} hidden widths, got {list(widths)}")
    return [max(int(w), latent_size) for w in list(widths)[: depth - 1]]


def autoencoder(
    input_size: int,
    latent_size: int,
    depth: int = 2,
    widths: Sequence[int] = (256, 128),
    activation: str = "relu",
    latent_activation: str | None = None,
    output_activation: str | None = "sigmoid",
    dtype: Any = np.float32,
    seed: int = 0,
) -> AutoEncoder:
    """Fully connected autoencoder with a mirrored decoder.

    Parameters
    ----------
    input_size, latent_size
        Input dimension (784 for 28x28 images) and code size.
    depth
        Linear layers in the encoder (and in the decoder).
    widths
        Candidate hidden widths, outermost first (see ``hidden_widths``).
    activation
        Hidden activation (``relu`` uses He init, others Xavier).
    latent_activation
        Activation on the code (None = linear code).
    output_activation
        Final activation (``sigmoid`` for pixels in [0, 1]; None = linear).
    dtype, seed
        Parameter dtype and the seed of the initial weights.
    """
    rng = np.random.default_rng(seed)
    sizes = [input_size, *hidden_widths(depth, latent_size, widths), latent_size]
    encoder = _dense_stack(sizes, activation, latent_activation, dtype, rng)
    decoder = _dense_stack(sizes[::-1], activation, output_activation, dtype, rng)
    return AutoEncoder(encoder, decoder)


def _dense_stack(
    sizes: Sequence[int], activation: str, last_activation: str | None, dtype: Any, rng: np.random.Generator,
    dropout: float = 0.0, dropout_seed: int = 0,
) -> Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them
    (init by activation) and ``last_activation`` (or none) after the last (Xavier init);
    ``dropout > 0`` adds a ``Dropout`` after each hidden activation."""
    layers: list[Module] = []
    n = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == n - 1
        layers.append(Linear(a, b, init="xavier" if last else _init_for(activation), dtype=dtype, seed=rng))
        if not last:
            layers.append(_activation(activation))
            if dropout:
                layers.append(_dropout(dropout, dropout_seed, i))
        elif last_activation:
            layers.append(_activation(last_activation))
    return Sequential(*layers)


def mlp(
    sizes: Sequence[int],
    activation: str = "tanh",
    output_activation: str | None = None,
    dtype: Any = np.float32,
    seed: int = 0,
    dropout: float = 0.0,
) -> Sequential:
    """Multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    ``output_activation=None`` leaves logits (use ``CrossEntropyLoss``); ``log_softmax``
    reproduces the original study's network (use ``NLLLoss``). ``dropout > 0`` adds a
    ``Dropout`` after each hidden activation (training only).
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least input and output sizes, got {list(sizes)}")
    return _dense_stack(sizes, activation, output_activation, dtype, np.random.default_rng(seed),
                        dropout=dropout, dropout_seed=seed)


def _dropout(p: float, seed: int, index: int) -> Dropout:
    # a stream apart from the weights', so that adding dropout leaves the initial weights alone
    return Dropout(p, seed=int(np.random.default_rng([seed, 1, index]).integers(2**31)))


def conv1d_net(
    length: int = 256,
    channels: int = 32,
    k_size: int = 3,
    pool: int = 2,
    hidden: int = 100,
    n_classes: int = 10,
    dtype: Any = np.float32,
    seed: int = 0,
    conv_activation: str | None = None,
    dropout: float = 0.0,
) -> Sequential:
    """The original study's network: Conv1D(k,1,C)-MaxPool1D(p,p)-Flatten-Linear-ReLU-Linear.

    With the defaults: Conv1D(3,1,32)-MaxPool1D(2,2)-Flatten-Linear(4064,100)-ReLU-Linear(100,10).
    Input (N, length, 1); output logits (N, n_classes). ``conv_activation`` (e.g. ``"relu"``)
    inserts an activation after the convolution; the original has none (the max-pooling is
    its only nonlinearity before the dense layer). ``dropout > 0`` adds a ``Dropout`` on the
    flattened features (training only: the network that predicts is unchanged).
    """
    rng = np.random.default_rng(seed)
    conv_len = length - k_size + 1
    flat = ((conv_len - pool) // pool + 1) * channels
    after_conv = [] if conv_activation in (None, "none") else [_activation(conv_activation)]
    return Sequential(
        Conv1D(k_size, 1, channels, init="he", dtype=dtype, seed=rng),
        *after_conv,
        MaxPool1D(pool, pool),
        Flatten(),
        *([_dropout(dropout, seed, 0)] if dropout else []),
        Linear(flat, hidden, init="he", dtype=dtype, seed=rng),
        ReLU(),
        Linear(hidden, n_classes, dtype=dtype, seed=rng),
    )
