"""A real codec around a trained encoder: quantized codes, entropy coded into bytes.

``LatentCodec`` = an encoder and a decoder (a trained autoencoder, or PCA through
:meth:`LatentCodec.from_pca`) + post-training uniform scalar quantization of each code
dimension around its train mean (steps from a quantizer design of ``autoenc.quantizer``:
``"scaled"``, ``step_scale`` x that dimension's standard deviation on the train split, by
default; ``"uniform"``, one step for all; ``"lagrangian"``, a rate-distortion-optimal
allocation) + range coding (``constriction``) with one categorical probability table per dimension,
estimated on the train split and stored with the codec. The bitstream of one image holds its
quantized code and nothing else: the decoder needs only those bytes and the codec file.

Example
-------
>>> codec = LatentCodec.from_run("runs/fashion_ae/runs/<id>", X_train, step_scale=0.25, design="lagrangian")
>>> blobs = codec.encode(X_test[:10])           # list of bytes, one per image
>>> X_hat = codec.decode(blobs)                  # (10, 784) float32
>>> bits_per_pixel = 8 * sum(map(len, blobs)) / X_test[:10].size

Rates count whole 32-bit words, as the range coder emits them; ``ideal_bits`` gives the
information content of the same symbols under the same tables (what an ideal coder would
need), so the cost of word granularity on short messages is visible.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .quantizer import DESIGNS, CodeStatistics, design_steps, row_blocks

__all__ = ["CodecError", "LatentCodec"]

FORMAT = "autoenc-latent-codec"
FORMAT_VERSION = 1
#: Laplace smoothing of the per-dimension symbol counts (symbols seen on the train split only).
SMOOTHING = 0.5
#: Largest alphabet per code dimension: a wider one means the step is far too small to be useful.
MAX_SYMBOLS = 4096
#: Alphabets at least this wide are coded symbol by symbol with one prebuilt model per dimension;
#: narrower ones in one call per image with the table passed along (constriction rebuilds each
#: row's model per symbol, which costs ~1 ns per table entry). Both give the same bits (tested).
PREBUILT_FROM = 192


class CodecError(ValueError):
    """A codec file or a bitstream is invalid; the message says which and what to do."""


class LatentCodec:
    """Quantize-and-entropy-code wrapper of an encoder/decoder pair.

    Args:
        encode_fn: images (n, d) -> codes (n, k).
        decode_fn: codes (n, k) -> images (n, d).
        step: quantization step per code dimension, shape (k,).
        offset: smallest symbol per dimension (quantized code minus offset = symbol >= 0), shape (k,).
        probabilities: per-dimension symbol probabilities, shape (k, n_symbols).
        model: what to save to rebuild ``encode_fn``/``decode_fn`` (see ``save``).
        center: the value each dimension is quantized around (its train mean), shape (k,);
            zeros when None (codec files written before centers existed).
        quantizer: how the steps were chosen (``{"design": ..., "scale": ...}``), kept in the file.
    """

    def __init__(self, encode_fn: Callable[[np.ndarray], np.ndarray], decode_fn: Callable[[np.ndarray], np.ndarray],
                 step: np.ndarray, offset: np.ndarray, probabilities: np.ndarray,
                 model: dict[str, Any] | None = None, *, center: np.ndarray | None = None,
                 quantizer: dict[str, Any] | None = None) -> None:
        step = np.asarray(step, np.float64)
        offset = np.asarray(offset, np.int64)
        probabilities = np.asarray(probabilities, np.float64)
        center = np.zeros(step.shape) if center is None else np.asarray(center, np.float64)
        if step.ndim != 1 or offset.shape != step.shape or center.shape != step.shape or probabilities.ndim != 2 \
                or probabilities.shape[0] != step.size:
            raise CodecError(f"inconsistent codec tables: step {step.shape}, offset {offset.shape}, "
                             f"center {center.shape}, probabilities {probabilities.shape}")
        if not (np.isfinite(step).all() and (step > 0).all()):
            raise CodecError("quantization steps must be finite and > 0")
        if not np.isfinite(center).all():
            raise CodecError("quantization centers must be finite")
        if not np.isfinite(probabilities).all() or (probabilities < 0).any() \
                or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6):
            raise CodecError("probability tables must be finite, non-negative rows summing to 1")
        self.encode_fn, self.decode_fn = encode_fn, decode_fn
        self.step, self.offset, self.probabilities, self.center = step, offset, probabilities, center
        self.quantizer = dict(quantizer or {})
        self.model = model or {}
        self.support = (probabilities > 0).sum(axis=1)  # symbols 0 .. support-1 per dimension
        self._models: list[Any] | None = None  # prebuilt per-dimension models (wide alphabets)

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(cls, encode_fn: Callable[[np.ndarray], np.ndarray], decode_fn: Callable[[np.ndarray], np.ndarray],
            X_train: np.ndarray | None, *, step_scale: float = 0.5, design: str = "scaled",
            model: dict[str, Any] | None = None, codes: np.ndarray | None = None,
            statistics: CodeStatistics | None = None) -> LatentCodec:
        """Fit steps and probability tables on the codes of ``X_train``.

        Parameters
        ----------
        step_scale
            The scale of the quantizer ``design`` (smaller: finer, more bits, less distortion); for
            ``"scaled"``, each dimension's step as a multiple of its standard deviation on the train
            split.
        design
            How the steps are set per dimension: ``"scaled"``, ``"uniform"`` or ``"lagrangian"``
            (``autoenc.quantizer``); every design quantizes around the train mean of each dimension.
        codes
            The codes of ``X_train`` if already computed (several step sizes, one encoder pass).
        statistics
            ``CodeStatistics`` of those codes if already measured (several designs and scales).
        """
        if not (isinstance(step_scale, int | float) and math.isfinite(step_scale) and step_scale > 0):
            raise CodecError(f"step_scale must be a finite number > 0, got {step_scale}")
        if design not in DESIGNS:
            raise CodecError(f"unknown quantizer design {design!r}; expected one of {', '.join(DESIGNS)}")
        if codes is None:
            if X_train is None:
                raise CodecError("fit needs X_train or its codes")
            codes = encode_fn(np.asarray(X_train, np.float32))
        Z = np.asarray(codes)
        if Z.ndim != 2 or Z.dtype.kind not in "fiu" or not len(Z):
            raise CodecError(f"the encoder gave codes of shape {Z.shape} and dtype {Z.dtype} on the training "
                             "images; expected a non-empty numeric (n, k) array")
        n, k = Z.shape
        if statistics is None or statistics.center.shape != (k,) \
                or (design == "lagrangian" and statistics.gain is None):
            try:
                statistics = CodeStatistics.measure(Z, decode_fn if design == "lagrangian" else None)
            except ValueError as e:
                raise CodecError(str(e)) from e
        center = statistics.center
        step = design_steps(design, float(step_scale), statistics)
        low, high = np.full(k, np.inf), np.full(k, -np.inf)
        for zb in row_blocks(Z):
            qb = np.rint((zb - center) / step)
            np.minimum(low, qb.min(axis=0), out=low)
            np.maximum(high, qb.max(axis=0), out=high)
        n_symbols = int((high - low).max()) + 1
        if n_symbols > MAX_SYMBOLS:
            raise CodecError(f"step_scale = {step_scale} gives {n_symbols} symbols in one dimension "
                             f"(limit {MAX_SYMBOLS}); use a larger step")
        # all dimensions in one bincount: symbol s of dimension d counts at d * n_symbols + s
        base = np.arange(k) * n_symbols - low
        counts = np.zeros(k * n_symbols)
        for zb in row_blocks(Z):
            counts += np.bincount((np.rint((zb - center) / step) + base).astype(np.int64).ravel(),
                                  minlength=k * n_symbols)
        counts = counts.reshape(k, n_symbols)
        low = low.astype(np.int64)
        counts[np.arange(n_symbols) <= (high - low)[:, None]] += SMOOTHING  # each dimension's own range
        probabilities = counts / counts.sum(axis=1, keepdims=True)
        return cls(encode_fn, decode_fn, step, low, probabilities, model, center=center,
                   quantizer={"design": design, "scale": float(step_scale)})

    def refit(self, step_scale: float, codes: np.ndarray, *, design: str = "scaled",
              statistics: CodeStatistics | None = None) -> LatentCodec:
        """The same encoder/decoder with another design or step, fitted on ``codes`` (the train
        split's codes): several operating points from one encoder pass (``statistics``: the
        codes' ``CodeStatistics`` when already measured)."""
        return type(self).fit(self.encode_fn, self.decode_fn, None, step_scale=step_scale, design=design,
                              model=self.model, codes=codes, statistics=statistics)

    @classmethod
    def from_autoencoder(cls, model: Any, X_train: np.ndarray | None, *, step_scale: float = 0.5,
                         design: str = "scaled", codes: np.ndarray | None = None) -> LatentCodec:
        """A codec around an ``autoenc.models.AutoEncoder`` (its encoder and decoder); ``codes``:
        the encoder's codes of ``X_train`` when already computed."""
        return cls.fit(_Float64Forward(model.encoder), _Float64Forward(model.decoder), X_train,
                       step_scale=step_scale, design=design, model={"kind": "autoencoder", "module": model},
                       codes=codes)

    def train_codes(self, X_train: np.ndarray) -> np.ndarray:
        """The encoder's codes of ``X_train`` (to fit several step sizes with one pass)."""
        return np.asarray(self.encode_fn(_images(X_train, self.input_size)))

    @classmethod
    def from_pca(cls, X_train: np.ndarray, n_components: int, *, step_scale: float = 0.5, design: str = "scaled",
                 clip: bool = True) -> LatentCodec:
        """The same pipeline on PCA codes (PCA fitted on ``X_train``); ``clip`` clips the
        reconstructions to [0, 1] as a sigmoid output would be."""
        from .stats import fit_pca

        pca = fit_pca(X_train, n_components)
        mean = pca.mean_.astype(np.float64)
        components = pca.components_.astype(np.float64)
        return cls.fit(*_linear_fns(mean, components, clip), X_train, step_scale=step_scale, design=design,
                       model={"kind": "pca", "mean": mean, "components": components, "clip": clip})

    @classmethod
    def from_learned(cls, model: Any, input_size: int, codes: np.ndarray | None = None) -> LatentCodec:
        """A codec whose tables are a learned density: ``model`` is an
        ``autoenc.models.compression.CompressionAutoencoder``. Each latent value is rounded around its
        channel's learned median (the center; step 1) and coded with the bottleneck's integer table
        (``CompressionAutoencoder.coding_tables``; ``codes``: the latents of the training images, so
        that every training value has a symbol)."""
        tables = model.coding_tables(input_size, codes)
        shape = tuple(int(s) for s in tables["latent_shape"])
        return cls(*_learned_fns(model, shape), np.ones(tables["offset"].size), tables["offset"],
                   tables["probabilities"], {"kind": "learned", "module": model, "input_size": int(input_size),
                                             "latent_shape": shape},
                   center=tables["medians"], quantizer={"design": "learned", "scale": 1.0})

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike[str], X_train: np.ndarray, *, step_scale: float = 0.5,
                 design: str = "scaled") -> LatentCodec:
        """A codec around the trained autoencoder of one run directory (``runs/<id>``)."""
        from .features import AutoencoderTransformer

        return cls.from_autoencoder(AutoencoderTransformer.from_run(run_dir).model_, X_train, step_scale=step_scale,
                                    design=design)

    @classmethod
    def from_study(cls, study: str, X_train: np.ndarray, *, out: str | os.PathLike[str] = "runs",
                   step_scale: float = 0.5, **cell: Any) -> LatentCodec:
        """A codec around the run of ``study`` whose grid values are ``cell`` (as the feature extractor)."""
        from .features import AutoencoderTransformer

        model = AutoencoderTransformer.from_study(study, out=out, **cell).model_
        return cls.from_autoencoder(model, X_train, step_scale=step_scale)

    # ------------------------------------------------------------------ coding
    @property
    def latent_size(self) -> int:
        return int(self.step.size)

    @property
    def input_size(self) -> int | None:
        """Values per image the encoder takes (784 for Fashion-MNIST); None for plain functions."""
        if self.model.get("kind") == "pca":
            return int(self.model["components"].shape[1])
        module = self.model.get("module")
        first = next((m for _, m in module.named_modules() if hasattr(m, "in_features")), None) if module else None
        return int(first.in_features) if first is not None else None

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Symbols (n, k) of ``images``: rounded codes, clipped to each dimension's table."""
        return self.quantize_codes(self.encode_fn(_images(images, self.input_size)))

    def quantize_codes(self, codes: np.ndarray) -> np.ndarray:
        """Symbols (n, k) of codes the encoder already gave (``quantize`` without the encoder)."""
        Z = np.asarray(codes, np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.latent_size:
            raise CodecError(f"codes must have shape (n, {self.latent_size}), got {Z.shape}")
        Q = np.rint((Z - self.center) / self.step).astype(np.int64) - self.offset
        return np.clip(Q, 0, self.support - 1).astype(np.int32)

    def dequantize(self, symbols: np.ndarray) -> np.ndarray:
        """Images rebuilt from symbols: the decoder applied to the quantized codes."""
        Z = self.center + (np.asarray(symbols, np.int64) + self.offset) * self.step
        return np.asarray(self.decode_fn(Z.astype(np.float32)), np.float32)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """``decode(encode(images))`` without the entropy coder (same values, exactly)."""
        return self.dequantize(self.quantize(images))

    def _prebuilt(self) -> list[Any] | None:
        """One constriction model per dimension when the alphabet is wide, else None."""
        if self.probabilities.shape[1] < PREBUILT_FROM:
            return None
        if self._models is None:
            import constriction

            self._models = [constriction.stream.model.Categorical(row, perfect=False) for row in self.probabilities]
        return self._models

    def encode_symbols(self, symbols: np.ndarray) -> list[bytes]:
        """One range-coded message per row of ``symbols``."""
        import constriction

        symbols = np.asarray(symbols, np.int32)
        if symbols.ndim != 2 or symbols.shape[1] != self.latent_size:
            raise CodecError(f"symbols must have shape (n, {self.latent_size}), got {symbols.shape}")
        family, models = constriction.stream.model.Categorical(perfect=False), self._prebuilt()
        out = []
        for row in symbols:
            coder = constriction.stream.queue.RangeEncoder()
            if models is None:
                coder.encode(row, family, self.probabilities)
            else:
                for symbol, model in zip(row.tolist(), models, strict=True):
                    coder.encode(symbol, model)
            out.append(coder.get_compressed().astype("<u4").tobytes())
        return out

    def encode(self, images: np.ndarray) -> list[bytes]:
        """The bitstream of each image (bytes; its length is the image's rate)."""
        return self.encode_symbols(self.quantize(images))

    def decode_symbols(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Symbols (n, k) from their bitstreams (``encode_symbols`` inverted)."""
        import constriction

        family, models = constriction.stream.model.Categorical(perfect=False), self._prebuilt()
        symbols = np.empty((len(blobs), self.latent_size), np.int32)
        for i, blob in enumerate(blobs):
            if not isinstance(blob, bytes | bytearray) or len(blob) % 4:
                raise CodecError(f"bitstream {i} is not a whole number of 32-bit words; it was truncated or is "
                                 "not from this codec")
            words = np.frombuffer(bytes(blob), dtype="<u4").astype(np.uint32)
            try:
                decoder = constriction.stream.queue.RangeDecoder(words)
                symbols[i] = decoder.decode(family, self.probabilities) if models is None \
                    else [decoder.decode(model) for model in models]
            except (ValueError, RuntimeError) as e:
                raise CodecError(f"bitstream {i} cannot be decoded with this codec ({e})") from e
        if ((symbols < 0) | (symbols >= self.support)).any():
            raise CodecError("a bitstream decoded to symbols outside the codec's tables: it is corrupt or from "
                             "another codec")
        return symbols

    def decode(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Images (n, d) from their bitstreams."""
        return self.dequantize(self.decode_symbols(blobs))

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Information content per image (bits) of ``symbols`` under the codec's tables."""
        symbols = np.asarray(symbols, np.int64)
        p = self.probabilities[np.arange(self.latent_size)[None, :], symbols]
        return -np.log2(p).sum(axis=1)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the codec (tables and the model it wraps) to one ``.npz`` (no pickle)."""
        from .fileio import atomic_savez

        header: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.model.get("kind"),
                                  "quantizer": self.quantizer}
        arrays: dict[str, np.ndarray] = {"step": self.step, "offset": self.offset, "probabilities": self.probabilities,
                                         "center": self.center}
        kind = self.model.get("kind")
        if kind in ("autoencoder", "learned"):
            module = self.model["module"]
            header["architecture"] = module.to_config()
            arrays.update({f"param/{k}": v for k, v in module.state_dict().items()})
            if kind == "learned":
                header.update(input_size=self.model["input_size"], latent_shape=list(self.model["latent_shape"]))
        elif kind == "pca":
            header["clip"] = bool(self.model["clip"])
            arrays.update(mean=self.model["mean"], components=self.model["components"])
        else:
            raise CodecError("only codecs built by from_autoencoder/from_run/from_study/from_pca can be saved")
        arrays["__header__"] = np.array(json.dumps(header))
        path = Path(path)
        atomic_savez(path, arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatentCodec:
        """Read a codec written by ``save``.

        Raises
        ------
        CodecError
            The file is missing, not a codec file, or damaged.
        """
        from .nn.module import module_from_config

        path = Path(path)
        if not path.is_file():
            raise CodecError(f"codec file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            header = json.loads(str(arrays.pop("__header__")))
        except Exception as e:  # any damage: zip, npy, JSON
            raise CodecError(f"{path}: not a readable codec file ({type(e).__name__}: {e}); re-create it with "
                             "`autoenc codec`") from e
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise CodecError(f"{path}: not an autoenc codec file")
        if header.get("format_version") != FORMAT_VERSION:
            raise CodecError(f"{path}: codec format version {header.get('format_version')} is not supported")
        for key in ("step", "offset", "probabilities"):
            if key not in arrays or arrays[key].dtype.kind not in "fiu":
                raise CodecError(f"{path}: missing or non-numeric {key!r} table")
        if "center" in arrays and arrays["center"].dtype.kind != "f":
            raise CodecError(f"{path}: non-float 'center' table")
        quantizer = header.get("quantizer") if isinstance(header.get("quantizer"), dict) else {}
        tables = {"center": arrays.get("center"), "quantizer": quantizer}  # no center: a file from before centers
        try:
            if header.get("kind") in ("autoencoder", "learned"):
                module = module_from_config(header["architecture"])
                params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
                if any(v.dtype.kind != "f" for v in params.values()):
                    raise CodecError(f"{path}: non-float weights")
                module.astype(next(iter(params.values())).dtype)
                module.load_state_dict(params)
                module.eval()
                if header["kind"] == "learned":
                    shape = tuple(int(v) for v in header["latent_shape"])
                    codec = cls(*_learned_fns(module, shape), arrays["step"], arrays["offset"],
                                arrays["probabilities"], {"kind": "learned", "module": module,
                                                          "input_size": int(header["input_size"]),
                                                          "latent_shape": shape}, **tables)
                else:
                    codec = cls(_Float64Forward(module.encoder), _Float64Forward(module.decoder),
                                arrays["step"], arrays["offset"], arrays["probabilities"],
                                {"kind": "autoencoder", "module": module}, **tables)
            elif header.get("kind") == "pca":
                mean, components = arrays["mean"].astype(np.float64), arrays["components"].astype(np.float64)
                if mean.ndim != 1 or components.ndim != 2 or components.shape[1] != mean.size:
                    raise CodecError(f"{path}: PCA arrays of inconsistent shapes")
                clip = bool(header.get("clip", True))
                codec = cls(*_linear_fns(mean, components, clip), arrays["step"], arrays["offset"],
                            arrays["probabilities"], {"kind": "pca", "mean": mean, "components": components,
                                                      "clip": clip}, **tables)
            else:
                raise CodecError(f"{path}: unknown codec kind {header.get('kind')!r}")
        except CodecError:
            raise
        except (KeyError, TypeError, ValueError, StopIteration, AttributeError) as e:
            raise CodecError(f"{path}: damaged codec file ({type(e).__name__}: {e}); re-create it") from e
        return codec


def _images(images: np.ndarray, size: int | None = None) -> np.ndarray:
    """``images`` as float32 rows (n, size). A single image of ``size`` values, flat (784,) or
    square (28, 28), is a batch of one."""
    X = np.asarray(images)
    if X.dtype.kind not in "fiu":
        raise CodecError(f"images must be a numeric array (n, ...), got dtype {X.dtype}")
    if size is not None and X.size == size and (X.ndim == 1 or (X.ndim == 2 and X.shape[0] == X.shape[1] > 1)):
        X = X.reshape(1, size)
    if X.ndim < 2:
        raise CodecError(f"images must be an array (n, ...) of n images, or one image of {size or 'd'} values; "
                         f"got shape {X.shape}")
    X = X.reshape(len(X), -1).astype(np.float32)
    if size is not None and X.shape[1] != size:
        raise CodecError(f"images have {X.shape[1]} values each, the codec's encoder takes {size}")
    if not np.isfinite(X).all():
        raise CodecError("images contain NaN or inf")
    return X


class _Float64Forward:
    """A network run in float64 with float32 outputs (rounded once): an image's code, symbols and
    bits do not depend on the images it is coded with (``autoenc.nn.predict``, ``compute_dtype``).
    The float64 copy of the weights is made once, on first use."""

    def __init__(self, net: Any, batch_size: int = 2048) -> None:
        self.net, self.batch_size = net, batch_size
        self._twin: Any = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from .nn import predict

        X = np.asarray(X, np.float64)
        if not len(X):
            return np.zeros((0, 0), np.float32)
        if self._twin is None:
            self._twin = self.net.astype(np.float64, copy=True).eval()
        return predict(self._twin, X, self.batch_size).astype(np.float32)


def _learned_fns(model: Any, latent_shape: tuple[int, ...]
                 ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Encoder and decoder of a learned-density codec, latents flattened (channels last)."""
    encoder, decoder = _Float64Forward(model.encoder), _Float64Forward(model.decoder)

    def encode(X: np.ndarray) -> np.ndarray:
        Y = encoder(X)
        return Y.reshape(len(Y), -1)

    def decode(Z: np.ndarray) -> np.ndarray:
        Z = np.asarray(Z)
        return decoder(Z.reshape(len(Z), *latent_shape))

    return encode, decode


def _linear_fns(mean: np.ndarray, components: np.ndarray, clip: bool
                ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def encode(X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float64) - mean) @ components.T

    def decode(Z: np.ndarray) -> np.ndarray:
        X = np.asarray(Z, np.float64) @ components + mean
        return np.clip(X, 0.0, 1.0) if clip else X

    return encode, decode
