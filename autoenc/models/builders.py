"""Builders for the study's networks. Every builder takes a seed, so a run's config
fully determines its initial weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..nn import (
    GDN,
    Conv1D,
    Conv2D,
    ConvTranspose2D,
    Dropout,
    Flatten,
    Linear,
    LogSoftmax,
    MaxPool1D,
    Module,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Softmax,
    TanH,
    Upsample2D,
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
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one sample's code: ``(k,)`` for a fully connected encoder, ``(h, w, c)`` for a
        convolutional one (``(h*w*c,)`` when it ends with ``Flatten``)."""
        return code_shape(self.encoder)

    @property
    def latent_size(self) -> int:
        """Values in one sample's code."""
        return int(np.prod(self.latent_shape))

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


def code_shape(encoder: Sequential) -> tuple[int, ...]:
    """Per-sample output shape of ``encoder``, followed through its shape-changing layers
    (Linear, Reshape, Flatten, Conv2D, ConvTranspose2D, Upsample2D; the others keep the shape)."""
    shape: tuple[int, ...] | None = None
    for m in encoder.modules:
        if isinstance(m, Linear):
            shape = (m.out_features,)
        elif isinstance(m, Reshape):
            if -1 in m.shape:
                if shape is None:
                    raise ValueError(f"{m!r} at the start of the encoder: its shape cannot be resolved")
                known = int(np.prod([s for s in m.shape if s != -1]))
                shape = tuple(int(np.prod(shape)) // known if s == -1 else s for s in m.shape)
            else:
                shape = m.shape
        elif isinstance(m, Flatten) and shape is not None:
            shape = (int(np.prod(shape)),)
        elif isinstance(m, Conv2D | ConvTranspose2D | Upsample2D):
            if shape is None or len(shape) != 3:
                raise ValueError(f"the image size before {m!r} is unknown: start the encoder with Reshape((h, w, c))")
            if isinstance(m, Upsample2D):
                shape = (shape[0] * m.scale[0], shape[1] * m.scale[1], shape[2])
            else:
                shape = (*m.output_shape(shape[0], shape[1]), m.chan_out)
    if shape is None:
        raise ValueError("the encoder has no layer that fixes its code's shape (Linear, or Reshape before "
                         "convolutions)")
    return shape


def autoencoder_problem(module: Any) -> str | None:
    """Why ``module`` cannot serve as an autoencoder (a file may hold any architecture), or None:
    it must be an ``AutoEncoder`` whose code has a known shape and whose decoder gives back one
    image of the encoder's input size (checked on one blank image; the weights are in memory
    already, so this allocates nothing the file did not)."""
    if not isinstance(module, AutoEncoder):
        return f"a {type(module).__name__}, not an autoencoder (no encoder and decoder)"
    first = module.encoder.modules[0] if len(module.encoder) else None
    size = first.in_features if isinstance(first, Linear) else \
        int(np.prod(first.shape)) if isinstance(first, Reshape) and -1 not in first.shape else None
    if size is None:
        return "an autoencoder whose encoder does not start with a Linear layer or a Reshape of known size"
    try:
        code_shape(module.encoder)
        was_training = module.training
        out = module.eval().forward(np.zeros((1, size), module.param_dtype or np.float32))
        module.train(was_training)
    except (ValueError, TypeError, IndexError) as e:
        return f"an encoder and a decoder that do not fit together ({e})"
    if out.shape != (1, size):
        return f"a decoder that gives {out.shape[1:]} for images of {size} values"
    return None


def hidden_widths(depth: int, latent_size: int, widths: Sequence[int] = (256, 128),
                  min_width_factor: float = 1.0) -> list[int]:
    """Hidden layer sizes of a depth-``depth`` encoder (the decoder mirrors them).

    Depth 1 is a single Linear layer into the code. Deeper encoders take the first
    ``depth - 1`` entries of ``widths`` (outermost first), each raised to at least
    ``min_width_factor * latent_size``: a ReLU layer no wider than the code caps the code's usable
    rank (only part of its units is active on any image), so a study that compares depths or codes
    sets the factor to 2 or more. The result is the network's real shape: the autoencoder task
    records it in the run's config (``model.hidden_widths``) and the report prints it. With the
    defaults: depth 2 is 784-256-k, depth 3 is 784-256-128-k, never narrower than k.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if depth - 1 > len(widths):
        raise ValueError(f"depth {depth} needs {depth - 1} hidden widths, got {list(widths)}; add entries to "
                         "model.widths")
    if not min_width_factor > 0:
        raise ValueError(f"model.min_width_factor must be > 0, got {min_width_factor}")
    least = int(math.ceil(min_width_factor * latent_size))
    return [max(int(w), least) for w in list(widths)[: depth - 1]]


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
    min_width_factor: float = 1.0,
) -> AutoEncoder:
    """Fully connected autoencoder with a mirrored decoder.

    Parameters
    ----------
    input_size, latent_size
        Input dimension (784 for 28x28 images) and code size.
    depth
        Linear layers in the encoder (and in the decoder).
    widths, min_width_factor
        Candidate hidden widths, outermost first, and the least hidden width as a multiple of the
        code size (see ``hidden_widths``).
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
    sizes = [input_size, *hidden_widths(depth, latent_size, widths, min_width_factor), latent_size]
    encoder = _dense_stack(sizes, activation, latent_activation, dtype, rng)
    decoder = _dense_stack(sizes[::-1], activation, output_activation, dtype, rng)
    return AutoEncoder(encoder, decoder)


def layer_sizes(model: Module) -> list[int]:
    """The widths of a network's Linear layers in order: input, every layer's output
    (an autoencoder: 784-...-k-...-784)."""
    linears = [m for m in _walk(model) if isinstance(m, Linear)]
    if not linears:
        return []
    return [linears[0].in_features, *(m.out_features for m in linears)]


def relu_activity(model: Module, X: np.ndarray, batch_size: int = 2048) -> list[dict[str, float]]:
    """Per hidden ReLU layer of ``model`` (in forward order) on the inputs ``X``: ``width``,
    ``active`` (mean share of the layer's units with a positive output per input) and ``dead``
    (share of units positive on no input). A layer whose active units are fewer than the code
    it feeds caps the code's usable rank."""
    stages = _walk(model)
    counts: dict[int, np.ndarray] = {}
    ever: dict[int, np.ndarray] = {}
    was_training = model.training
    model.eval()
    for i in range(0, len(X), batch_size):
        h = np.asarray(X[i: i + batch_size])
        for j, m in enumerate(stages):
            h = m.forward(h)
            if isinstance(m, ReLU):
                positive = h > 0
                counts[j] = counts.get(j, 0) + positive.sum(axis=0)
                ever[j] = ever.get(j, False) | positive.any(axis=0)
    model.train(was_training)
    n = max(len(X), 1)
    return [{"width": int(counts[j].size), "active": float(counts[j].mean() / n), "dead": float(1 - ever[j].mean())}
            for j in sorted(counts)]


def _walk(module: Module) -> list[Module]:
    """The leaf modules of a network in forward order (through Sequential and AutoEncoder)."""
    if isinstance(module, AutoEncoder):
        return [*_walk(module.encoder), *_walk(module.decoder)]
    if isinstance(module, Sequential):
        return [leaf for m in module.modules for leaf in _walk(m)]
    return [module]


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


def conv_autoencoder(
    image_shape: Sequence[int] = (28, 28, 1),
    channels: Sequence[int] = (32,),
    latent_channels: int = 64,
    kernel_size: int = 5,
    activation: str = "relu",
    output_activation: str | None = "sigmoid",
    flatten_latent: bool = False,
    init: str | None = None,
    dtype: Any = np.float32,
    seed: int = 0,
) -> AutoEncoder:
    """Convolutional autoencoder on flat images: stride-2 convolutions down, transposed ones back.

    The encoder is ``Reshape(image_shape)``, then one ``Conv2D(k, stride 2, padding k // 2)``
    per entry of ``channels`` and a last one to ``latent_channels``, with ``activation`` between
    them and none on the code (Balle et al.'s analysis transform; CompressAI's ``FactorizedPrior``
    is ``channels=(N, N, N), latent_channels=M, activation="gdn"``). The decoder mirrors it with
    ``ConvTranspose2D`` layers whose output padding restores each size exactly (28 -> 14 -> 7 ->
    14 -> 28; odd sizes too), inverse GDN for ``gdn``, then ``Flatten`` and ``output_activation``.

    Parameters
    ----------
    image_shape
        (height, width, channels) of one image; inputs are flat (N, h*w*c) like the studies' data.
    channels
        Channels of the hidden maps, outermost first (one more stride-2 layer each).
    latent_channels
        Channels of the code map; with 28x28 images and ``channels=(32,)`` the code is 7x7xM.
    kernel_size
        Odd kernel size of every layer (5 as in Balle et al.).
    activation
        ``relu``, ``tanh``, ``sigmoid`` or ``gdn`` (GDN in the encoder, inverse GDN in the decoder).
    output_activation
        Final activation (``sigmoid`` for pixels in [0, 1]; None = linear).
    flatten_latent
        End the encoder with ``Flatten`` (codes (N, h*w*M), channel fastest, as the post-hoc codec
        and the features transformer expect) and start the decoder with ``Reshape``; by default
        the code is the (N, h, w, M) map, whose last axis is the channel.
    init
        Weight initialisation of every layer; None: ``he`` before a ReLU, ``xavier`` elsewhere.
    dtype, seed
        Parameter dtype and the seed of the initial weights.
    """
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {tuple(image_shape)}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (padding k // 2 keeps the sizes symmetric), got {kernel_size}")
    if activation != "gdn":
        _activation(activation)  # an unknown name fails here, before any layer is built
    height, width, chan = (int(v) for v in image_shape)
    widths = [chan, *(int(c) for c in channels), int(latent_channels)]
    sizes = [(height, width)]
    for _ in widths[1:]:
        h, w = sizes[-1]
        sizes.append(((h - 1) // 2 + 1, (w - 1) // 2 + 1))  # stride 2, padding k // 2, odd k
    rng = np.random.default_rng(seed)
    k, pad, n = kernel_size, kernel_size // 2, len(widths) - 1

    def layer_init(last: bool) -> str:
        return init or ("xavier" if last else _init_for(activation))

    def between(c: int, inverse: bool) -> Module:
        return GDN(c, inverse=inverse, dtype=dtype) if activation == "gdn" else _activation(activation)

    encoder: list[Module] = [Reshape((height, width, chan))]
    for i in range(n):
        encoder.append(Conv2D(widths[i], widths[i + 1], k, stride=2, padding=pad, init=layer_init(i == n - 1),
                              dtype=dtype, seed=rng))
        if i < n - 1:
            encoder.append(between(widths[i + 1], inverse=False))
    decoder: list[Module] = []
    if flatten_latent:
        encoder.append(Flatten())
        decoder.append(Reshape((*sizes[-1], widths[-1])))
    for i in range(n, 0, -1):
        (h, w), (ho, wo) = sizes[i - 1], sizes[i]
        output_padding = (h - (2 * (ho - 1) - 2 * pad + k), w - (2 * (wo - 1) - 2 * pad + k))
        decoder.append(ConvTranspose2D(widths[i], widths[i - 1], k, stride=2, padding=pad,
                                       output_padding=output_padding, init=layer_init(i == 1), dtype=dtype, seed=rng))
        if i > 1:
            decoder.append(between(widths[i - 1], inverse=True))
    decoder.append(Flatten())
    if output_activation:
        decoder.append(_activation(output_activation))
    return AutoEncoder(Sequential(*encoder), Sequential(*decoder))
