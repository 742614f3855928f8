"""Trained autoencoders as scikit-learn feature extractors.

``AutoencoderTransformer`` trains a fully connected autoencoder with the NumPy core
(``fit``) or takes one that a study already trained (``from_run``, ``from_study``,
``load``), and turns inputs into codes (``transform``) for Pipelines, clustering and
classifiers. ``export_encoder`` backs ``python -m autoenc.study export``.

Example:
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> pipe = make_pipeline(AutoencoderTransformer(latent_size=64, epochs=10, random_state=0),
    ...                      LogisticRegression(max_iter=1000))
    >>> pipe.fit(X_train, y_train).score(X_test, y_test)            # doctest: +SKIP
    >>> ae = AutoencoderTransformer.from_study("fashion_ae", latent_size=64, loss="bce", depth=2, seed=0)
    >>> codes = ae.transform(X_test)                                 # (n, 64) float32
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .models import AutoEncoder, autoencoder, autoencoder_problem
from .nn import History, Linear, ModelFileError, Module, fit, get_loss, get_optimizer, load_checkpoint, predict, save
from .study.lookup import CELL_ALIASES, RunLookupError, _status_reason, find_run  # noqa: F401  (re-exported)
from .study.spec import SpecError

if TYPE_CHECKING:
    from sklearn.utils import Tags

    from .study.grid import RunConfig
    from .study.spec import StudySpec
    from .study.store import RunStore

__all__ = ["AutoencoderTransformer", "ExportError", "RunLookupError", "export_encoder", "find_run"]

#: ``kind`` written into the metadata of files saved by ``AutoencoderTransformer.save``.
FILE_KIND = "autoenc.features.AutoencoderTransformer"
FILE_KIND_VERSION = 1

LOSSES = ("mse", "bce")
# Inputs may exceed [0, 1] by float noise (e.g. x / 255 computed in float32).
_RANGE_TOLERANCE = 1e-6
# metadata keys that save() owns; everything else in a file's metadata is provenance (source_)
_RESERVED = ("kind", "kind_version", "params", "n_features_in", "history", "feature_names_in")



class ExportError(SpecError):
    """``export`` failed; a ``SpecError`` so that the CLI prints it as ``error: ...`` (exit code 2)."""


def _none(value: Any) -> Any:
    """Study files spell a missing activation ``"none"``; the builders take None."""
    return None if value in (None, "none", "None") else value


class AutoencoderTransformer(TransformerMixin, BaseEstimator):
    """Fully connected autoencoder whose codes are the transformed features.

    Parameters
    ----------
    latent_size : int, default=64
        Code size = number of output features of ``transform``.
    depth : int, default=2
        Linear layers in the encoder (the decoder mirrors it); 1 = a single linear map.
    widths : tuple of int, default=(512, 256)
        Candidate hidden widths, outermost first; depth ``d`` uses the first ``d - 1``
        (see ``autoenc.models.hidden_widths``): the defaults build 784-512-64 (and the mirrored
        decoder) on 784-pixel images; depth 3 gives 784-512-256-64.
    activation : {"relu", "tanh", "sigmoid"}, default="relu"
        Hidden activation.
    output_activation : {"sigmoid", None}, default="sigmoid"
        Activation of the reconstruction; ``sigmoid`` for data in [0, 1], None for unbounded data.
    loss : {"bce", "mse"}, default="bce"
        Training loss. ``bce`` needs ``output_activation="sigmoid"`` and ``X`` in [0, 1]
        (``fit`` raises ValueError otherwise: scale with ``MinMaxScaler(clip=True)`` first,
        or use ``loss="mse", output_activation=None`` for standardised data).
    epochs, batch_size, lr : int, int, float
        Passes over the data, minibatch size and Adam's learning rate.
    validation_split : float, default=0.0
        Fraction of the rows (the last ones) held out to record a validation loss per epoch.
    latent_activation : str or None, default=None
        Activation on the code (None = linear codes).
    random_state : int, RandomState or None, default=None
        An int seeds both the initial weights and the shuffling exactly as the study engine
        does with a run's ``seed``; None draws fresh seeds.
    verbose : int, default=0
        1 prints one line per epoch, 2 also shows a progress bar.

    Attributes
    ----------
    model_ : autoenc.models.AutoEncoder
        The trained network (float32); ``model_.encoder`` maps inputs to codes.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    history_ : autoenc.nn.History
        Per-epoch train (and validation) loss.
    n_iter_ : int
        Epochs actually run.
    source_ : dict
        Only on estimators from ``from_run``/``from_study``/``load``: where the model came
        from (run folder, run id, grid cell, study).

    Notes
    -----
    ``score_samples`` returns the per-sample reconstruction MSE: **higher means worse**
    (more anomalous), the opposite sign of scikit-learn's density estimators, whose
    ``score_samples`` is a log-likelihood (higher = more typical).
    ``transform`` returns float32 whatever the input dtype; it computes in float64 and rounds
    once, so a row's code does not depend on the rows it is transformed with.
    Methods that read ``X`` check it as ``fit`` does: 2-D (one sample as ``x.reshape(1, -1)``),
    finite, and in [0, 1] when the output is a sigmoid.
    Inside a ``Pipeline``, ``fit`` retrains this step (scikit-learn's convention); wrap a loaded
    or prefitted encoder in ``sklearn.frozen.FrozenEstimator`` to keep it as it is.
    """

    def __init__(
        self,
        latent_size: int = 64,
        depth: int = 2,
        widths: tuple[int, ...] = (512, 256),
        activation: str = "relu",
        output_activation: str | None = "sigmoid",
        loss: str = "bce",
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 1e-3,
        validation_split: float = 0.0,
        latent_activation: str | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.latent_size = latent_size
        self.depth = depth
        self.widths = widths
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.validation_split = validation_split
        self.latent_activation = latent_activation
        self.random_state = random_state
        self.verbose = verbose

    # --- scikit-learn plumbing -----------------------------------------------------------
    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the core computes in float32
        tags.input_tags.positive_only = self.loss == "bce"  # BCE targets are probabilities
        return tags

    def _check_params(self) -> None:
        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be an integer >= 1, got {v!r}")

        for name in ("latent_size", "depth", "epochs", "batch_size"):
            positive_int(name)
        if self.loss not in LOSSES:
            raise ValueError(f"{type(self).__name__}: loss must be one of {list(LOSSES)}, got {self.loss!r}")
        if self.loss == "bce" and _none(self.output_activation) != "sigmoid":
            raise ValueError(
                f"{type(self).__name__}: loss='bce' needs output_activation='sigmoid' (BCE compares "
                f"probabilities), got {self.output_activation!r}; use loss='mse' for another output"
            )
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"{type(self).__name__}: lr must be > 0, got {self.lr!r}")
        if not (isinstance(self.validation_split, int | float) and 0 <= self.validation_split < 1):
            raise ValueError(
                f"{type(self).__name__}: validation_split must be in [0, 1), got {self.validation_split!r}"
            )

    def _validate_range(self, X: np.ndarray, raw: Any = None) -> None:
        """Data for a sigmoid output (BCE targets are probabilities; a sigmoid cannot reconstruct
        values outside [0, 1]) must lie in [0, 1], in ``fit`` and in every method that reads X."""
        if (self.loss != "bce" and _none(self.output_activation) != "sigmoid") or not X.size:
            return
        lo, hi = float(X.min()), float(X.max())
        if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
            negative = "Negative values in data; " if lo < -_RANGE_TOLERANCE else ""
            bytes_ = " (8-bit pixels: divide by 255)" if getattr(raw, "dtype", None) == np.uint8 else ""
            raise ValueError(
                f"{type(self).__name__}(loss={self.loss!r}, output_activation='sigmoid'): X must lie in [0, 1] "
                f"(pixel intensities). {negative}found values in [{lo:.4g}, {hi:.4g}]{bytes_}. Scale it first, e.g. "
                "make_pipeline(MinMaxScaler(clip=True), AutoencoderTransformer()), or use "
                "loss='mse', output_activation=None for unbounded data."
            )

    def _seeds(self) -> tuple[int, int]:
        """(weights seed, shuffling seed). An int ``random_state`` is used for both, as the
        study engine does with a run's seed, so ``from_run`` params retrain the same run."""
        if isinstance(self.random_state, int | np.integer) and not isinstance(self.random_state, bool):
            return int(self.random_state), int(self.random_state)
        rng = check_random_state(self.random_state)
        top = np.iinfo(np.int32).max
        return int(rng.randint(top)), int(rng.randint(top))

    # --- fit / transform -----------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> AutoencoderTransformer:
        """Train the autoencoder on ``X`` (``y`` is ignored).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            In [0, 1] when ``loss="bce"``.
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        raw = X
        X = validate_data(self, X, dtype=np.float32, reset=True)
        self._validate_range(X, raw)
        n = X.shape[0]
        if self.validation_split and n - max(1, int(round(n * self.validation_split))) < 1:
            raise ValueError(
                f"{type(self).__name__}: validation_split={self.validation_split} leaves no training "
                f"sample out of {n}; use more data or validation_split=0"
            )
        init_seed, shuffle_seed = self._seeds()
        model = autoencoder(
            X.shape[1],
            int(self.latent_size),
            depth=int(self.depth),
            widths=tuple(int(w) for w in self.widths),
            activation=self.activation,
            latent_activation=_none(self.latent_activation),
            output_activation=_none(self.output_activation),
            dtype=np.float32,
            seed=init_seed,
        )
        callback = None
        if self.verbose:
            def callback(epoch: int, values: dict[str, float]) -> None:
                print(f"[AutoencoderTransformer] epoch {epoch}/{self.epochs} train_loss {values['train_loss']:.5g} "
                      f"val_loss {values['val_loss']:.5g}", file=sys.stderr, flush=True)
        history = fit(
            model, get_loss(self.loss), get_optimizer("adam", model, lr=float(self.lr)), X,
            epochs=int(self.epochs), batch_size=int(self.batch_size), seed=shuffle_seed,
            validation_split=float(self.validation_split), progress=self.verbose >= 2, callback=callback,
        )
        model.eval()
        _release_buffers(model)
        self.model_ = model
        self.history_ = history
        self.n_iter_ = len(history.epoch)
        return self

    def _input(self, X: Any) -> np.ndarray:
        """``X`` checked as ``fit`` checks it (2-D, finite, the fitted width, the range the
        model's output can take); a single sample must be passed as ``x.reshape(1, -1)``."""
        check_is_fitted(self)
        raw = X
        X = validate_data(self, X, dtype=np.float32, reset=False)
        self._validate_range(X, raw)
        return X

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X``: array of shape (n_samples, latent_size), float32."""
        return _predict(self.model_.encoder, self._input(X))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes ``X`` (n_samples, latent_size) back to input space, float32."""
        check_is_fitted(self)
        Z = check_array(X, dtype=np.float32)
        if Z.shape[1] != self.model_.latent_size:
            raise ValueError(
                f"{type(self).__name__}.inverse_transform: codes have {Z.shape[1]} features, "
                f"the model's latent size is {self.model_.latent_size}"
            )
        return _predict(self.model_.decoder, Z)

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))`` in one pass, float32."""
        return _predict(self.model_, self._input(X))

    def score_samples(self, X: Any) -> np.ndarray:
        """Per-sample reconstruction error: mean over features of ``(x - x_hat)**2`` (float64).

        Higher means worse reconstructed (more anomalous): the opposite sign convention of
        scikit-learn's density estimators, whose ``score_samples`` is a log-likelihood.
        """
        X = self._input(X)
        X_hat = _predict(self.model_, X)
        return np.mean(np.square(X.astype(np.float64) - X_hat.astype(np.float64)), axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``["autoencoder0", ..., "autoencoder{latent_size - 1}"]`` (object array)."""
        check_is_fitted(self)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    f"input_features has {len(input_features)} names, but the transformer was fitted on "
                    f"{self.n_features_in_} features"
                )
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(input_features, names_in):
                raise ValueError("input_features is not equal to feature_names_in_")
        return np.asarray([f"autoencoder{i}" for i in range(self.model_.latent_size)], dtype=object)

    # --- files and the run store ------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> Path:
        """Write the fitted model (encoder and decoder) and this estimator's parameters to
        ``path`` (.npz, the core's format; no pickle). ``metadata`` adds JSON-able entries.

        Returns
        -------
        Path
            The written file; read it back with ``AutoencoderTransformer.load``.
        """
        check_is_fitted(self)
        params = self.get_params()
        params["widths"] = [int(w) for w in params["widths"]]
        if not (params["random_state"] is None or isinstance(params["random_state"], int | np.integer)):
            params["random_state"] = None  # a RandomState object is not JSON; the weights are saved anyway
        elif params["random_state"] is not None:
            params["random_state"] = int(params["random_state"])
        # provenance (source_, then the caller's entries) first: the reserved keys win
        meta: dict[str, Any] = {**getattr(self, "source_", {}), **(metadata or {})}
        meta.update({
            "kind": FILE_KIND,
            "kind_version": FILE_KIND_VERSION,
            "params": params,
            "n_features_in": int(self.n_features_in_),
            "history": self.history_.to_rows() if isinstance(getattr(self, "history_", None), History) else [],
        })
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in"] = [str(n) for n in self.feature_names_in_]
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'encoder.npz'}")
        save(path, self.model_, metadata=_jsonable(meta))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AutoencoderTransformer:
        """Read a file written by ``save`` (or ``python -m autoenc.study export``).

        Raises
        ------
        FileNotFoundError
            ``path`` does not exist.
        autoenc.nn.ModelFileError
            The file is corrupt, not an autoenc model, or a model that is not a saved
            transformer (a run's ``model.npz``: use ``from_run`` on its folder).
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}; write one with AutoencoderTransformer.save or "
                                    "`python -m autoenc.study export`")
        if path.is_dir():
            hint = " (a run folder: use AutoencoderTransformer.from_run)" if (path / "config.json").is_file() else ""
            raise IsADirectoryError(f"{path} is a folder, not a saved transformer .npz{hint}")
        ckpt = load_checkpoint(path)
        meta = ckpt.metadata if isinstance(ckpt.metadata, dict) else {}
        if meta.get("kind") != FILE_KIND:
            what = "a run's model file" if meta.get("task") == "autoencoder" else "an autoenc model"
            raise ModelFileError(
                f"{path}: {what} ({type(ckpt.module).__name__}) but not a saved AutoencoderTransformer; "
                "for a study run use AutoencoderTransformer.from_run(<run folder>)"
            )
        if meta.get("kind_version") != FILE_KIND_VERSION:
            raise ModelFileError(f"{path}: transformer file version {meta.get('kind_version')} is not supported "
                                 f"(this autoenc reads version {FILE_KIND_VERSION})")
        _check_autoencoder(ckpt.module, path)
        params = dict(meta.get("params", {}))
        if "widths" in params:
            params["widths"] = tuple(params["widths"])
        try:
            est = cls(**params)
        except TypeError as e:
            raise ModelFileError(f"{path}: saved parameters do not fit this version of AutoencoderTransformer ({e})") \
                from e
        try:
            history = _history_from_rows(meta.get("history", []))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelFileError(f"{path}: malformed training history in the metadata ({e})") from e
        est._set_fitted(ckpt.module, history)
        if meta.get("feature_names_in"):
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        est.source_ = {k: v for k, v in meta.items() if k not in _RESERVED}
        est.source_["file"] = str(path)
        return est

    def _set_fitted(self, model: AutoEncoder, history: History) -> None:
        model.eval()
        self.model_ = model
        self.n_features_in_ = _input_size(model)
        self.history_ = history
        self.n_iter_ = len(history.epoch)

    @classmethod
    def from_run(cls, path: str | os.PathLike[str]) -> AutoencoderTransformer:
        """The trained model of one study run (folder ``<out>/<study>/runs/<run-id>/``), no retraining.

        Parameters are taken from the run's config, so ``clone(est).fit(X)`` retrains the same
        architecture. Raises FileNotFoundError for a missing folder, RunLookupError if the run
        is not done (pending, failed, or files that fail their checksum), ModelFileError if the
        model file cannot be read.
        """
        from .study.store import Run, RunStore

        run_dir = Path(path)
        if run_dir.is_file() and run_dir.name == "model.npz" and (run_dir.parent / "config.json").is_file():
            run_dir = run_dir.parent
        if not run_dir.exists():
            raise FileNotFoundError(f"no such run folder: {run_dir}; expected <out>/<study>/runs/<run-id>/ "
                                    "(`python -m autoenc.study status STUDY` lists run ids)")
        if not run_dir.is_dir() or not (run_dir / "config.json").is_file():
            raise RunLookupError(f"{run_dir} is not a run folder (no config.json); expected "
                                 "<out>/<study>/runs/<run-id>/. For a saved transformer .npz use "
                                 "AutoencoderTransformer.load")
        store = RunStore(run_dir.parent.parent)
        store.runs_dir = run_dir.parent  # the folder may have been moved out of a store
        run = Run(run_dir)
        status = store.status(run.run_id)
        if status != "done":
            why = _status_reason(store, run.run_id, status)
            raise RunLookupError(f"run {run.run_id} in {run_dir} is not done ({why}); run the sweep again to "
                                 "(re)train it")
        try:
            config = run.config
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise RunLookupError(f"{run_dir}/config.json is unreadable ({e})") from e
        if config.task != "autoencoder" or config.model.get("architecture") != "autoencoder":
            raise RunLookupError(f"run {run.run_id} is a {config.task} run ({config.model.get('architecture')}); "
                                 "only autoencoder runs have an encoder")
        ckpt = load_checkpoint(run_dir / "model.npz")
        _check_autoencoder(ckpt.module, run_dir / "model.npz")
        est = cls(**_params_from_config(config))
        if ckpt.module.latent_size != est.latent_size:  # the config must describe the model it sits beside
            raise ModelFileError(f"{run_dir}: model.npz has a {ckpt.module.latent_size}-value code, config.json says "
                                 f"latent_size = {est.latent_size}; the run folder is damaged: retrain it")
        est._set_fitted(ckpt.module, _read_history(run_dir / "history.csv"))
        est.source_ = {"run_dir": str(run_dir), "run_id": run.run_id, "cell": dict(config.params)}
        return est

    @classmethod
    def from_study(
        cls,
        study: str,
        out: str | os.PathLike[str] = "runs",
        preset: str | None = None,
        overrides: list[str] | None = None,
        **cell: Any,
    ) -> AutoencoderTransformer:
        """The trained model of the run of ``study`` whose grid values match ``cell``.

        Parameters
        ----------
        study
            Study name (``fashion_ae``) or a .toml path.
        out
            Run store root given to ``sweep --out`` (runs live in ``out/<study>/runs``).
        preset, overrides
            The ``--preset`` and ``--set`` values the sweep used: they decide the run ids. With no
            ``preset``, the one the store under ``out`` was swept with (as the command line does).
        **cell
            Grid values, e.g. ``latent_size=64, loss="bce", depth=2, seed=0`` (strings such
            as ``"64"`` are coerced; ``latent`` is short for ``latent_size``).

        Raises RunLookupError (listing the available cells) when no done run, or several, match.
        """
        from .study.lookup import load_swept_spec
        from .study.store import RunStore

        spec = load_swept_spec(study, out, preset, overrides)
        run = find_run(spec, RunStore(Path(out) / spec.name), cell)
        est = cls.from_run(run.path)
        est.source_["study"] = spec.name
        est.source_["preset"] = spec.preset
        return est


# --- helpers ------------------------------------------------------------------------------
def _release_buffers(model: Module) -> None:
    """Drop the activations that modules keep for a backward pass: a fitted estimator should
    not hold (or pickle, or clone into GridSearchCV results) the last batch it saw."""
    for _, m in model.named_modules():
        if getattr(m, "_inputs", None):
            m._inputs = []
        if getattr(m, "_cache", None) is not None:
            m._cache = None


def _predict(net: Module, X: np.ndarray) -> np.ndarray:
    """Outputs of ``net`` computed in float64 and rounded to float32 once, so that a row's result
    does not depend on the batch it came in (``autoenc.nn.predict``, ``compute_dtype``)."""
    return predict(net, X, compute_dtype=np.float64)


def _jsonable(obj: Any) -> Any:
    """NumPy scalars and tuples to plain JSON types (metadata goes into a JSON header)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _check_autoencoder(module: Any, path: Path) -> None:
    problem = autoencoder_problem(module)
    if problem:
        raise ModelFileError(f"{path}: holds {problem}; it has no encoder to extract features with")


def _input_size(model: AutoEncoder) -> int:
    first = next((m for m in model.encoder.modules if isinstance(m, Linear)), None)
    if first is None:
        raise ModelFileError("the encoder has no Linear layer; cannot tell its input size")
    return first.in_features


def _params_from_config(config: RunConfig) -> dict[str, Any]:
    """The estimator parameters of a run's resolved config (``grid.resolve``: the settings the
    task trained with, defaults included), so ``clone(est).fit`` builds the same network."""
    from .study.grid import resolve

    resolved = resolve(config)
    m, t = resolved.model, resolved.train
    return {
        "latent_size": int(m["latent_size"]),
        "depth": int(m["depth"]),
        "widths": tuple(int(w) for w in [*m["hidden_widths"], *m["widths"][len(m["hidden_widths"]):]]),  # real
        "activation": m["activation"],
        "output_activation": _none(m["output_activation"]),
        "loss": t["loss"],
        "epochs": int(t["epochs"]),
        "batch_size": int(t["batch_size"]),
        "lr": float(t["lr"]),
        "validation_split": float(t["validation_split"]),
        "latent_activation": _none(m["latent_activation"]),
        "random_state": int(config.seed),
    }


def _history_from_rows(rows: list[dict[str, Any]]) -> History:
    h = History()
    for r in rows:
        h.epoch.append(int(r["epoch"]))
        h.train_loss.append(float(r["train_loss"]))
        h.val_loss.append(float(r["val_loss"]) if r.get("val_loss") is not None else math.nan)
        h.wall_seconds.append(float(r.get("wall_seconds", math.nan)))
    return h


def _read_history(path: Path) -> History:
    if not path.is_file():
        return History()
    try:
        return History.from_csv(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        raise RunLookupError(f"{path}: not a readable history table ({e}); retrain the run") from e


def export_encoder(spec: StudySpec, store: RunStore, cell: dict[str, Any], to: Path) -> Path:
    """Write the trained model of the single done run matching ``cell`` to ``to`` (.npz).

    The file is an ``AutoencoderTransformer.save`` file (read it with
    ``AutoencoderTransformer.load``): encoder and decoder weights, the estimator's parameters
    and ``study``, ``preset``, ``cell`` and ``run_id`` in its metadata. Backs
    ``python -m autoenc.study export STUDY --cell latent_size=64,loss=bce,depth=2,seed=0 --to encoder.npz``.

    Raises
    ------
    ExportError
        No or several matching done runs, an unreadable model, or an unwritable destination
        (a SpecError, so the CLI prints the message and exits with code 2).
    """
    try:
        run = find_run(spec, store, cell)
        est = AutoencoderTransformer.from_run(run.path)
        return est.save(Path(to), metadata={
            "study": spec.name, "preset": spec.preset, "cell": dict(run.params), "run_id": run.run_id,
            "run_dir": str(run.path),
        })
    except (RunLookupError, ModelFileError, OSError) as e:
        raise ExportError(str(e)) from e
