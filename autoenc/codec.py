"""A real codec around a trained encoder: quantized codes, entropy coded into bytes.

``LatentCodec`` = an encoder and a decoder (a trained autoencoder, or PCA through
:meth:`LatentCodec.from_pca`) + post-training uniform scalar quantization of each code
dimension around its train mean (steps from a quantizer design of ``autoenc.quantizer``:
``"scaled"``, ``step_scale`` x that dimension's standard deviation on the train split, by
default; ``"uniform"``, one step for all; ``"lagrangian"``, a rate-distortion-optimal
allocation) + range coding (``constriction``) with one categorical probability table per dimension,
estimated on the train split and stored with the codec. The decoder needs only the stream of
one image and the codec file.

Each image's stream is the range coder's words in a small container (``autoenc.bitstream``:
codec tag, latent size, payload length, checksum) that ``decode`` checks before decoding, so
an empty, truncated, extended, damaged or foreign stream (another codec, another latent size)
is refused with a :class:`CodecError` instead of decoding to a plausible image. Dimensions with
a one-symbol table cost no bits (their symbol is known).

Example
-------
>>> codec = LatentCodec.from_run("runs/fashion_ae/runs/<id>", X_train, step_scale=0.25, design="lagrangian")
>>> blobs = codec.encode(X_test[:10])           # list of bytes, one per image
>>> X_hat = codec.decode(blobs)                  # (10, 784) float32
>>> bits_per_pixel = codec.payload_bits(blobs).sum() / X_test[:10].size

Rates (``payload_bits``) count the payload's whole 32-bit words, as the range coder emits them;
the header is container overhead, reported apart like the headers of JPEG or WebP files.
``ideal_bits`` gives the information content of the same symbols under the same tables (what
an ideal coder would need), so the cost of word granularity on short messages is visible.

Inputs are images with pixels in the codec's range (``input_max``: 1.0 for data scaled to
[0, 1]): ``uint8`` images are divided by 255 for such a codec, and floats outside the range
are refused (never coded as if they were in it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bitstream import HEADER_BYTES, MAX_LATENT, CodecError, check_pixels, frame, payload_bits, unframe
from .nn.kernels import quantize_symbols, symbol_counts
from .nn.train import Float64Forward
from .quantizer import DESIGNS, CodeStatistics, design_steps

__all__ = ["HEADER_BYTES", "CodecError", "LatentCodec"]

FORMAT = "autoenc-latent-codec"
FORMAT_VERSION = 2
#: Largest |quantized code| a table may reach (symbols are int32; also bounds crafted offsets).
MAX_CODE = 2**30
#: Largest image (pixels) a learned codec file may state (its model is run once on a blank image of it).
MAX_INPUT = 1 << 24
#: Laplace smoothing of the per-dimension symbol counts (symbols seen on the train split only).
SMOOTHING = 0.5
#: Largest alphabet per code dimension: a wider one means the step is far too small to be useful.
MAX_SYMBOLS = 4096
#: Alphabets at least this wide are coded with one prebuilt model per dimension (~60 ns a symbol), narrower
#: ones in one call per image with the tables passed (constriction rebuilds each row's model per symbol,
#: ~20 ns + ~0.7 ns per table entry). Both give the same bits (tested).
PREBUILT_FROM = 80


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
        input_max: the largest pixel value the encoder was trained on (1.0: images in [0, 1],
            the default of the image codecs ``from_autoencoder``/``from_pca``/``from_run``; None,
            the default of the generic ``fit``: any finite values, not checked).
    """

    def __init__(self, encode_fn: Callable[[np.ndarray], np.ndarray], decode_fn: Callable[[np.ndarray], np.ndarray],
                 step: np.ndarray, offset: np.ndarray, probabilities: np.ndarray,
                 model: dict[str, Any] | None = None, *, center: np.ndarray | None = None,
                 quantizer: dict[str, Any] | None = None, input_max: float | None = None) -> None:
        step, offset, probabilities = np.asarray(step), np.asarray(offset), np.asarray(probabilities)
        center = np.zeros(step.shape) if center is None else np.asarray(center)
        if step.dtype.kind not in "fiu" or offset.dtype.kind not in "iu" or probabilities.dtype.kind not in "fiu" \
                or center.dtype.kind not in "fiu":
            raise CodecError(f"codec tables must be numeric (integer offsets): step {step.dtype}, offset "
                             f"{offset.dtype}, center {center.dtype}, probabilities {probabilities.dtype}")
        step, center = step.astype(np.float64), center.astype(np.float64)
        probabilities = probabilities.astype(np.float64)
        if step.ndim != 1 or offset.shape != step.shape or center.shape != step.shape or probabilities.ndim != 2 \
                or probabilities.shape[0] != step.size or not step.size or not probabilities.shape[1]:
            raise CodecError(f"inconsistent codec tables: step {step.shape}, offset {offset.shape}, "
                             f"center {center.shape}, probabilities {probabilities.shape}")
        if step.size > MAX_LATENT:
            raise CodecError(f"latent size {step.size} is over the codec's limit of {MAX_LATENT} dimensions")
        if not (np.isfinite(step).all() and (step > 0).all()):
            raise CodecError("quantization steps must be finite and > 0")
        if not np.isfinite(center).all():
            raise CodecError("quantization centers must be finite")
        if not np.isfinite(probabilities).all() or (probabilities < 0).any() \
                or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6):
            raise CodecError("probability tables must be finite, non-negative rows summing to 1")
        width = probabilities.shape[1]
        # the symbols a table can give: 0 .. support-1 (its last non-zero entry)
        support = width - np.argmax(probabilities[:, ::-1] > 0, axis=1)
        extreme = np.maximum(np.abs(offset.astype(np.float64)), np.abs(offset + support - 1.0))
        if width > MAX_SYMBOLS or (extreme > MAX_CODE).any() \
                or not (np.abs(center) + extreme * step < np.finfo(np.float32).max).all():
            raise CodecError(f"codec tables out of range (width {width}, largest |offset| "
                             f"{int(np.abs(offset).max())}): the codec file is damaged or crafted")
        if input_max is not None and not (math.isfinite(input_max) and input_max > 0):
            raise CodecError(f"input_max must be a finite number > 0 or None, got {input_max!r}")
        self.encode_fn, self.decode_fn = encode_fn, decode_fn
        self.step, self.offset, self.probabilities, self.center = step, offset.astype(np.int64), probabilities, center
        self.quantizer = dict(quantizer or {})
        self.model = model or {}
        self.input_max = None if input_max is None else float(input_max)
        self.support = support
        #: dimensions whose table has more than one symbol: the only ones the stream carries
        self.coded = np.flatnonzero(support > 1)
        self._coded_tables = np.ascontiguousarray(probabilities[self.coded])
        digest = hashlib.sha256(struct.pack("<II", step.size, width))
        for table in (self.step, self.offset, self.center, self.probabilities):
            digest.update(np.ascontiguousarray(table).astype(table.dtype.newbyteorder("<")).tobytes())
        #: identifies the tables; the streams carry 16 bits of it and a checksum over all of it
        self.codec_id = digest.digest()[:8]
        self._models: list[Any] | None = None  # prebuilt per-dimension models (wide alphabets)
        self._information: np.ndarray | None = None  # -log2 of the tables (ideal_bits)

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(cls, encode_fn: Callable[[np.ndarray], np.ndarray], decode_fn: Callable[[np.ndarray], np.ndarray],
            X_train: np.ndarray | None, *, step_scale: float = 0.5, design: str = "scaled",
            model: dict[str, Any] | None = None, codes: np.ndarray | None = None,
            statistics: CodeStatistics | None = None, input_max: float | None = None) -> LatentCodec:
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
        input_max
            The pixel range of ``X_train`` and of every image coded later (see the class).
        """
        if not (isinstance(step_scale, int | float) and not isinstance(step_scale, bool)
                and math.isfinite(step_scale) and step_scale > 0):
            raise CodecError(f"step_scale must be a finite number > 0, got {step_scale!r}")
        if design not in DESIGNS:
            raise CodecError(f"unknown quantizer design {design!r}; expected one of {', '.join(DESIGNS)}")
        if codes is None:
            if X_train is None:
                raise CodecError("fit needs X_train or its codes")
            codes = encode_fn(check_pixels(X_train, input_max))
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
        with np.errstate(over="ignore"):
            step = design_steps(design, float(step_scale), statistics)
        if not np.isfinite(step).all():
            raise CodecError(f"step_scale = {step_scale} gives infinite quantization steps; use a smaller step")
        # rint((z - center) / step) is monotone in z: the extreme symbols are those of the extreme codes
        # (of ``codes`` and of the codes the statistics were measured on, when those are known)
        zmin, zmax = Z.min(axis=0).astype(np.float64), Z.max(axis=0).astype(np.float64)
        if statistics.low is not None and statistics.high is not None:
            zmin, zmax = np.minimum(zmin, statistics.low), np.maximum(zmax, statistics.high)
        low, high = np.rint((zmin - center) / step), np.rint((zmax - center) / step)
        if max(-low.min(), high.max()) > MAX_CODE:
            raise CodecError(f"step_scale = {step_scale} gives quantized codes beyond +-{MAX_CODE}; use a larger step")
        n_symbols = int((high - low).max()) + 1
        if n_symbols > MAX_SYMBOLS:
            raise CodecError(f"step_scale = {step_scale} gives {n_symbols} symbols in one dimension "
                             f"(limit {MAX_SYMBOLS}); use a larger step")
        counts = symbol_counts(Z, center, step, low, n_symbols)
        low = low.astype(np.int64)
        counts[np.arange(n_symbols) <= (high - low)[:, None]] += SMOOTHING  # each dimension's own range
        probabilities = counts / counts.sum(axis=1, keepdims=True)
        return cls(encode_fn, decode_fn, step, low, probabilities, model, center=center,
                   quantizer={"design": design, "scale": float(step_scale)}, input_max=input_max)

    def refit(self, step_scale: float, codes: np.ndarray, *, design: str = "scaled",
              statistics: CodeStatistics | None = None) -> LatentCodec:
        """The same encoder/decoder with another design or step, fitted on ``codes`` (the train
        split's codes): several operating points from one encoder pass (``statistics``: the
        codes' ``CodeStatistics`` when already measured)."""
        return type(self).fit(self.encode_fn, self.decode_fn, None, step_scale=step_scale, design=design,
                              model=self.model, codes=codes, statistics=statistics, input_max=self.input_max)

    @classmethod
    def from_autoencoder(cls, model: Any, X_train: np.ndarray | None, *, step_scale: float = 0.5,
                         design: str = "scaled", codes: np.ndarray | None = None,
                         input_max: float | None = 1.0) -> LatentCodec:
        """A codec around an ``autoenc.models.AutoEncoder`` (its encoder and decoder); ``codes``:
        the encoder's codes of ``X_train`` when already computed."""
        _check_autoencoder(model, "the model")
        return cls.fit(Float64Forward(model.encoder), Float64Forward(model.decoder), X_train,
                       step_scale=step_scale, design=design, model={"kind": "autoencoder", "module": model},
                       codes=codes, input_max=input_max)

    def train_codes(self, X_train: np.ndarray) -> np.ndarray:
        """The encoder's codes of ``X_train`` (to fit several step sizes with one pass)."""
        return np.asarray(self.encode_fn(self._pixels(X_train)))

    @classmethod
    def from_pca(cls, X_train: np.ndarray, n_components: int, *, step_scale: float = 0.5, design: str = "scaled",
                 clip: bool = True, input_max: float | None = 1.0) -> LatentCodec:
        """The same pipeline on PCA codes (PCA fitted on ``X_train``); ``clip`` clips the
        reconstructions to [0, 1] as a sigmoid output would be."""
        from .stats import fit_pca

        X_train = check_pixels(X_train, input_max)
        pca = fit_pca(X_train, n_components)
        mean = pca.mean_.astype(np.float64)
        components = pca.components_.astype(np.float64)
        return cls.fit(*_linear_fns(mean, components, clip), X_train, step_scale=step_scale, design=design,
                       model={"kind": "pca", "mean": mean, "components": components, "clip": clip},
                       input_max=input_max)

    @classmethod
    def from_learned(cls, model: Any, input_size: int, codes: np.ndarray | None = None) -> LatentCodec:
        """A codec whose tables are a learned density: ``model`` is an
        ``autoenc.models.compression.CompressionAutoencoder``. Each latent value is rounded around its
        channel's learned median (the center; step 1) and coded with the bottleneck's integer table
        (``CompressionAutoencoder.coding_tables``; ``codes``: the latents of the training images, so
        that every training value has a symbol). Images in [0, 1], as the model was trained on."""
        tables = model.coding_tables(input_size, codes)
        shape = tuple(int(s) for s in tables["latent_shape"])
        return cls(*_learned_fns(model, shape), np.ones(tables["offset"].size), tables["offset"],
                   tables["probabilities"], {"kind": "learned", "module": model, "input_size": int(input_size),
                                             "latent_shape": shape},
                   center=tables["medians"], quantizer={"design": "learned", "scale": 1.0}, input_max=1.0)

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike[str], X_train: np.ndarray, *, step_scale: float = 0.5,
                 design: str = "scaled") -> LatentCodec:
        """A codec around the trained autoencoder of one run directory (``runs/<id>``); the
        pixel range comes from the run's data settings."""
        from .features import AutoencoderTransformer

        est = AutoencoderTransformer.from_run(run_dir)
        return cls.from_autoencoder(est.model_, X_train, step_scale=step_scale, design=design,
                                    input_max=_run_input_max(est))

    @classmethod
    def from_study(cls, study: str, X_train: np.ndarray, *, out: str | os.PathLike[str] = "runs",
                   step_scale: float = 0.5, **cell: Any) -> LatentCodec:
        """A codec around the run of ``study`` whose grid values are ``cell`` (as the feature extractor)."""
        from .features import AutoencoderTransformer

        est = AutoencoderTransformer.from_study(study, out=out, **cell)
        return cls.from_autoencoder(est.model_, X_train, step_scale=step_scale, input_max=_run_input_max(est))

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

    def _pixels(self, images: np.ndarray) -> np.ndarray:
        return check_pixels(images, self.input_max, self.input_size)

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Symbols (n, k) of ``images``: rounded codes, clipped to each dimension's table."""
        return self.quantize_codes(self.encode_fn(self._pixels(images)))

    def quantize_codes(self, codes: np.ndarray) -> np.ndarray:
        """Symbols (n, k) of codes the encoder already gave (``quantize`` without the encoder)."""
        Z = np.asarray(codes) if np.asarray(codes).dtype.kind in "fiub" else np.asarray(codes, np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.latent_size:
            raise CodecError(f"codes must have shape (n, {self.latent_size}), got {Z.shape}")
        try:
            return quantize_symbols(Z, self.center, self.step, self.offset, self.support, MAX_CODE)
        except ValueError:
            raise CodecError("the encoder gave NaN or inf codes; the model or the images are broken") from None

    def code_values(self, symbols: np.ndarray) -> np.ndarray:
        """The quantized codes (float32, what the decoder gets) of ``symbols``."""
        return (self.center + (np.asarray(symbols, np.int64) + self.offset) * self.step).astype(np.float32)

    def decode_values(self, values: np.ndarray, *, exact: bool = True) -> np.ndarray:
        """Images (float32) the decoder makes of quantized codes (``code_values``); ``exact=False``:
        a network decoder in its own dtype (float32, twice as fast), for measuring distortion over
        many images: pixels within float32 rounding of the codec's own (tested), batch-dependent."""
        fn = self.decode_fn if exact else getattr(self.decode_fn, "approximate", self.decode_fn)
        return np.asarray(fn(values), np.float32)

    def dequantize(self, symbols: np.ndarray) -> np.ndarray:
        """Images rebuilt from symbols: the decoder applied to the quantized codes."""
        return self.decode_values(self.code_values(symbols))

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """``decode(encode(images))`` without the entropy coder (same values, exactly)."""
        return self.dequantize(self.quantize(images))

    def _prebuilt(self) -> list[Any] | None:
        """One constriction model per coded dimension when the alphabet is wide, else None."""
        if self.probabilities.shape[1] < PREBUILT_FROM:
            return None
        if self._models is None:
            import constriction

            self._models = [constriction.stream.model.Categorical(row, perfect=False) for row in self._coded_tables]
        return self._models

    def encode_symbols(self, symbols: np.ndarray) -> list[bytes]:
        """One stream (header + range-coded payload) per row of ``symbols``."""
        return [frame(self.codec_id, self.latent_size, words) for words in self._payloads(symbols)]

    def coded_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Bits of each row's range-coded payload: ``payload_bits(encode_symbols(symbols))``
        without building the streams (for measuring rates over many images)."""
        return np.array([32.0 * len(words) for words in self._payloads(symbols)], np.float64)

    def _payloads(self, symbols: np.ndarray) -> list[np.ndarray]:
        """The range coder's words for each row of ``symbols`` (checked first)."""
        symbols = np.asarray(symbols)
        if symbols.ndim != 2 or symbols.shape[1] != self.latent_size or symbols.dtype.kind not in "iu":
            raise CodecError(f"symbols must be integers of shape (n, {self.latent_size}), got {symbols.shape} "
                             f"{symbols.dtype}")
        if ((symbols < 0) | (symbols >= self.support)).any():
            raise CodecError("symbols outside the codec's tables (use quantize to make them)")
        symbols = symbols.astype(np.int32)[:, self.coded]
        if not self.coded.size:  # every table has one symbol: nothing to code
            return [np.zeros(0, np.uint32) for _ in range(len(symbols))]
        import constriction

        family, models = constriction.stream.model.Categorical(perfect=False), self._prebuilt()
        out = []
        try:
            for row in symbols:
                coder = constriction.stream.queue.RangeEncoder()
                if models is None:
                    coder.encode(row, family, self._coded_tables)
                else:  # map: no interpreted loop body per symbol (half the time of a for loop)
                    deque(map(coder.encode, row.tolist(), models), maxlen=0)
                out.append(coder.get_compressed())
        except (ValueError, RuntimeError, AssertionError, TypeError, OverflowError) as e:
            raise CodecError(f"the range coder refused these symbols ({type(e).__name__}: {e})") from e
        return out

    def encode(self, images: np.ndarray) -> list[bytes]:
        """The stream of each image (bytes; ``payload_bits`` gives its rate)."""
        return self.encode_symbols(self.quantize(images))

    def decode_symbols(self, streams: Sequence[bytes]) -> np.ndarray:
        """Symbols (n, k) from their streams (``encode_symbols`` inverted); every stream is
        checked (header, length, checksum) before it is decoded."""
        if isinstance(streams, bytes | bytearray | memoryview | str):
            raise CodecError("decode takes a list of streams (one bytes object per image), not one bytes object")
        payloads = [unframe(i, stream, self.codec_id, self.latent_size) for i, stream in enumerate(streams)]
        symbols = np.zeros((len(payloads), self.latent_size), np.int32)
        if not self.coded.size:
            return symbols
        import constriction

        family, models = constriction.stream.model.Categorical(perfect=False), self._prebuilt()
        for i, words in enumerate(payloads):
            try:
                decoder = constriction.stream.queue.RangeDecoder(words)
                symbols[i, self.coded] = decoder.decode(family, self._coded_tables) if models is None \
                    else [decoder.decode(model) for model in models]
            except (ValueError, RuntimeError, AssertionError, TypeError, OverflowError) as e:
                # constriction raises AssertionError on words no encoder could have written
                raise CodecError(f"stream {i} cannot be decoded with this codec ({type(e).__name__}: {e})") from e
        if ((symbols < 0) | (symbols >= self.support)).any():
            raise CodecError("a stream decoded to symbols outside the codec's tables: it is corrupt or from "
                             "another codec")
        return symbols

    def decode(self, streams: Sequence[bytes]) -> np.ndarray:
        """Images (n, d) from their streams."""
        return self.dequantize(self.decode_symbols(streams))

    #: bits of each stream's range-coded payload (``autoenc.bitstream.payload_bits``)
    payload_bits = staticmethod(payload_bits)

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Information content per image (bits) of ``symbols`` under the codec's tables."""
        symbols = np.asarray(symbols, np.int64)
        if self._information is None:  # -log2 of every table entry, once: a gather per symbol
            with np.errstate(divide="ignore"):
                self._information = -np.log2(self.probabilities)
        return self._information[np.arange(self.latent_size)[None, :], symbols].sum(axis=1)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the codec (tables and the model it wraps) to one ``.npz`` (no pickle)."""
        from .fileio import atomic_savez

        header: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.model.get("kind"),
                                  "quantizer": self.quantizer, "input_max": self.input_max}
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
        """Read a codec written by ``save``, trusting nothing in it: the file's arrays must fit
        the reading budget before they are read, the model must be an autoencoder (or PCA) with
        finite weights whose latent size and input size agree with the tables, and the tables
        must be finite and in range.

        Raises
        ------
        CodecError
            The file is missing, not a codec file, damaged or crafted.
        """
        from .fileio import read_npz
        from .nn.io import ModelFileError, module_from_arrays

        path = Path(path)
        if not path.is_file():
            raise CodecError(f"codec file not found: {path}")
        arrays = read_npz(path, error=CodecError, kind=".npz codec file", hint="; re-create it with `autoenc codec`")
        try:
            header = json.loads(str(arrays.pop("__header__")))
        except (KeyError, ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
            raise CodecError(f"{path}: not a readable codec file (no valid header: {e}); re-create it with "
                             "`autoenc codec`") from e
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise CodecError(f"{path}: not an autoenc codec file; re-create it with `autoenc codec`")
        if header.get("format_version") != FORMAT_VERSION:
            raise CodecError(f"{path}: codec format version {header.get('format_version')} is not supported "
                             f"(this autoenc reads {FORMAT_VERSION}); re-create it with `autoenc codec`")
        for key in ("step", "offset", "probabilities", "center"):
            if key not in arrays or arrays[key].dtype.kind not in "fiu":
                raise CodecError(f"{path}: missing or non-numeric {key!r} table")
        quantizer = header.get("quantizer", {})
        if not isinstance(quantizer, dict):
            raise CodecError(f"{path}: malformed quantizer {quantizer!r}")
        input_max = header.get("input_max", 1.0)
        if input_max is not None and (not isinstance(input_max, int | float) or isinstance(input_max, bool)):
            raise CodecError(f"{path}: malformed input_max {input_max!r}")
        tables = (arrays["step"], arrays["offset"], arrays["probabilities"])
        extra = {"center": arrays["center"], "quantizer": quantizer, "input_max": input_max}
        k = arrays["step"].size
        try:
            if header.get("kind") in ("autoencoder", "learned"):
                params = {name[len("param/"):]: v for name, v in arrays.items() if name.startswith("param/")}
                try:
                    module = module_from_arrays(path, header.get("architecture"), params)
                except ModelFileError as e:
                    raise CodecError(str(e)) from e
                module.eval()
                if header["kind"] == "learned":
                    shape, input_size = _check_learned(module, path, k, header)
                    codec = cls(*_learned_fns(module, shape), *tables, {"kind": "learned", "module": module,
                                                                        "input_size": input_size,
                                                                        "latent_shape": shape}, **extra)
                else:
                    _check_autoencoder(module, path, k)
                    codec = cls(Float64Forward(module.encoder), Float64Forward(module.decoder), *tables,
                                {"kind": "autoencoder", "module": module}, **extra)
            elif header.get("kind") == "pca":
                if "mean" not in arrays or "components" not in arrays:
                    raise CodecError(f"{path}: a PCA codec without its mean or components")
                mean, components = arrays["mean"], arrays["components"]
                if mean.dtype.kind != "f" or components.dtype.kind != "f" or mean.ndim != 1 \
                        or components.shape != (k, mean.size):
                    raise CodecError(f"{path}: PCA arrays (mean {mean.shape}, components {components.shape}) do "
                                     f"not fit {k} code dimensions")
                mean, components = mean.astype(np.float64), components.astype(np.float64)
                if not (np.isfinite(mean).all() and np.isfinite(components).all()):
                    raise CodecError(f"{path}: the PCA mean or components hold NaN or inf; re-create the codec")
                clip = header.get("clip", True)
                if not isinstance(clip, bool):
                    raise CodecError(f"{path}: malformed clip {clip!r}")
                codec = cls(*_linear_fns(mean, components, clip), *tables,
                            {"kind": "pca", "mean": mean, "components": components, "clip": clip}, **extra)
            else:
                raise CodecError(f"{path}: unknown codec kind {header.get('kind')!r}")
        except CodecError as e:
            if str(path) in str(e):
                raise
            raise CodecError(f"{path}: {e}") from e
        return codec


def _check_autoencoder(module: Any, where: Any, latent_size: int | None = None) -> None:
    """``module`` is an autoencoder (encoder and decoder fit together) whose codes have
    ``latent_size`` dimensions (the width of the tables)."""
    from .models import autoencoder_problem

    problem = autoencoder_problem(module)
    if problem:
        raise CodecError(f"{where}: {problem}; a latent codec needs an autoencoder")
    if latent_size is not None and module.latent_size != latent_size:
        raise CodecError(f"{where}: the tables are for {latent_size} code dimensions but the encoder gives "
                         f"{module.latent_size}; the file is damaged or crafted")


def _check_learned(module: Any, where: Any, latent_size: int, header: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    """The latent shape and input size a learned codec file states, checked against its model
    (a ``CompressionAutoencoder`` whose latents for images of that size have that shape)."""
    from .models import CompressionAutoencoder

    if not isinstance(module, CompressionAutoencoder):
        raise CodecError(f"{where}: a {type(module).__name__}, not the CompressionAutoencoder of a learned codec")
    input_size, shape = header.get("input_size"), header.get("latent_shape")
    if not (isinstance(input_size, int) and 0 < input_size <= MAX_INPUT) or not isinstance(shape, list) \
            or not all(isinstance(v, int) and v > 0 for v in shape):
        raise CodecError(f"{where}: malformed input_size {input_size!r} or latent_shape {shape!r}")
    try:
        actual = module.latent_shape(input_size)
    except (ValueError, TypeError, IndexError) as e:
        raise CodecError(f"{where}: the model does not take images of {input_size} pixels ({e})") from e
    if tuple(shape) != actual or math.prod(actual) != latent_size:
        raise CodecError(f"{where}: latent shape {shape} and {latent_size} table rows do not fit the model's latent "
                         f"{list(actual)}; the file is damaged or crafted")
    return actual, input_size


def _run_input_max(est: Any) -> float | None:
    """The pixel range a run's encoder was trained on: 1.0 for data scaled to [0, 1], else unchecked."""
    from .study.grid import resolve
    from .study.store import Run

    config = resolve(Run(Path(est.source_["run_dir"])).config)
    return 1.0 if config.data.get("scale", "unit") == "unit" else None


def _learned_fns(model: Any, latent_shape: tuple[int, ...]
                 ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Encoder and decoder of a learned-density codec, latents flattened (channels last)."""
    encoder, decoder = Float64Forward(model.encoder), Float64Forward(model.decoder)

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
