"""Study files (TOML): parsing, validation, presets and ``--set`` overrides.

A study file has a ``[study]`` header, the shared settings of every run in ``[data]``,
``[model]`` and ``[train]``, the swept values in ``[grid]`` and optional
``[presets.<name>]`` tables that are deep-merged over the base before the grid expands.
Every problem is reported with the file, the key and what is wrong.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .registry import TASKS as _REGISTRY

TASKS = tuple(_REGISTRY)  # the task names a study file may use (autoenc.study.registry)

# Allowed keys per section: name -> (types, check, help). Checks return an error string or None.
_NUM = (int, float)


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be > 0"


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _fraction(v: Any) -> str | None:
    return None if 0 <= v < 1 else "must be in [0, 1)"


def _open_fraction(v: Any) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"


def _one_of(*choices: Any):
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {list(choices)}"

    return check


def _positive_ints(v: Any) -> str | None:
    if not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        return "must be a list of positive integers"
    return None


def _variants(v: Any) -> str | None:
    """``[model.variants.<name>]``: each a table of model/train settings (a network and its recipe)."""
    for name, table in v.items():
        if not isinstance(table, dict) or not table:
            return f"must be tables of model/train settings; {name!r} is {table!r}"
        for key, value in table.items():
            section = "model" if key in SCHEMA["model"] else "train" if key in SCHEMA["train"] else None
            if section is None or key in ("variant", "variants"):
                return f"{name!r}: unknown key {key!r} (a variant sets [model] or [train] keys)"
            types, check = SCHEMA[section][key]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                return f"{name!r}: {key} = {value!r} must be {'/'.join(t.__name__ for t in types)}"
            problem = check(value) if check is not None else None
            if problem:
                return f"{name!r}: {key} = {value!r} {problem}"
    return None


SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "study": {
        "name": ((str,), None),
        "description": ((str,), None),
        "task": ((str,), _one_of(*TASKS)),
        "report": ((str,), _one_of(*TASKS, "generic")),
        "original": ((dict,), None),
        # how the settings were chosen, when not fixed in advance (shown in the report)
        "selection": ((str,), None),
        # autoencoder reports: the latent sizes whose codes get t-SNE maps
        "tsne_latent_sizes": ((list,), _positive_ints),
        # the grid axis a report compares (autoenc.analysis.factors): "loss", or
        # { factor = "activation", levels = ["tanh", "relu"] } or { factor = ..., reference = ... }
        "compare": ((str, dict), None),
    },
    "data": {
        "dataset": ((str,), None),
        # your own data (a path in dataset): the sha256 of its files' manifest, filled in when the study
        # is read, so runs on a changed file get new ids; a value given in the file pins the content
        "dataset_sha256": ((str,), None),
        "train_subset": ((int,), _positive),
        "test_subset": ((int,), _positive),
        "shape": ((str,), _one_of("flat", "image", "sequence")),
        "scale": ((str,), _one_of("unit", "raw")),
        "n_train": ((int,), _positive),
        "n_test": ((int,), _positive),
        "noise": (_NUM, _non_negative),
        "sigma": (_NUM, _positive),
        "a": (_NUM, None),
        "b": (_NUM, None),
    },
    "model": {
        # compression task: "fc" (fully connected) or "conv" (2-D convolutions) around the entropy bottleneck
        "architecture": ((str,), _one_of("autoencoder", "mlp", "conv1d", "linear", "fc", "conv")),
        "depth": ((int,), _positive),
        "latent_size": ((int,), _positive),
        "widths": ((list,), _positive_ints),
        # autoencoder: hidden layers >= this x the code size (resolved: model.hidden_widths)
        "min_width_factor": (_NUM, _positive),
        "hidden": ((list,), _positive_ints),
        "activation": ((str,), _one_of("relu", "tanh", "sigmoid")),
        "latent_activation": ((str,), _one_of("none", "relu", "tanh", "sigmoid")),
        "output_activation": ((str,), _one_of("none", "sigmoid", "softmax", "log_softmax")),
        "channels": ((int,), _positive),
        "k_size": ((int,), _positive),
        "pool": ((int,), _positive),
        # conv1d: activation between the convolution and the pooling (the original has none)
        "conv_activation": ((str,), _one_of("none", "relu", "tanh")),
        # classifier mlp/conv1d: Dropout after each hidden activation / on the flattened conv features
        "dropout": (_NUM, _fraction),
        # classifier: the order in which each square image's pixels are read (conv1d sequences)
        "reading_order": ((str,), _one_of("row", "column", "snake", "morton", "hilbert")),
        # named bundles of model/train settings; [grid].variant picks one per run (they override the rest)
        "variants": ((dict,), _variants),
        "variant": ((str,), None),
    },
    "train": {
        "loss": ((str,), _one_of("mse", "bce", "bce_logits", "cross_entropy", "nll")),
        "optimizer": ((str,), _one_of("sgd", "adam")),
        "lr": (_NUM, _positive),
        "momentum": (_NUM, _fraction),
        "weight_decay": (_NUM, _non_negative),
        "epochs": ((int,), _positive),
        "batch_size": ((int,), _positive),
        "full_batch": ((bool,), None),
        "validation_split": (_NUM, _fraction),
        # early stopping: epochs without a validation improvement of min_delta (absolute)
        "patience": ((int,), _positive),
        "min_delta": (_NUM, _non_negative),
        "lr_decay": (_NUM, _positive),
        # constant (times lr_decay per epoch), exponential (same), cosine (half-cosine from lr to 0
        # over the epochs, after warmup_epochs of linear warm-up), plateau (halve after 3 flat epochs)
        "lr_schedule": ((str,), _one_of("constant", "exponential", "cosine", "plateau")),
        "warmup_epochs": ((int,), _non_negative),
        # plateau schedule: multiply the rate by plateau_factor after plateau_patience epochs that
        # improve the best validation loss by less than plateau_threshold (relative)
        "plateau_factor": (_NUM, _open_fraction),
        "plateau_patience": ((int,), _non_negative),
        "plateau_threshold": (_NUM, _fraction),
        # stop at the first epoch at which the convergence rule holds (docs/convergence.md);
        # epochs is then the cap
        "stop_when_converged": ((bool,), None),
        "checkpoint": ((str,), _one_of("last", "best")),  # "best": the lowest-validation-loss epoch
        # autoencoder: also store per-image test errors after these epochs (e.g. the original's budget)
        "snapshot_epochs": ((list,), _positive_ints),
        # cross_entropy only: targets (1 - s) * onehot + s / n_classes
        "label_smoothing": (_NUM, _fraction),
        # classifier: fresh random small rotations/scalings/shifts of the training images each epoch
        "augment": ((str,), _one_of("none", "affine")),
        # bounds of the affine augmentation (defaults: 10 degrees, 0.1, 1.5 pixels, 0)
        "augment_rotation_degrees": (_NUM, _non_negative),
        "augment_scale": (_NUM, _fraction),
        "augment_shift_pixels": (_NUM, _non_negative),
        "augment_distortion": (_NUM, _fraction),
        # compression task: the loss is rd_lambda * 255^2 * MSE + bits per pixel (CompressAI's convention)
        "rd_lambda": (_NUM, _positive),
    },
}
SECTIONS = ("data", "model", "train")

# Every setting a run uses, per task: a run config is these defaults, overridden by the study
# file, the preset, --set, the grid values and finally the run's variant (grid.resolve). The
# resolved config is what is hashed into the run id, stored and read downstream.
_COMMON_DATA: dict[str, Any] = {"shape": "flat", "scale": "unit"}
_COMMON_TRAIN: dict[str, Any] = {
    "optimizer": "adam", "lr": 0.001, "momentum": 0.0, "weight_decay": 0.0, "batch_size": 128,
    "full_batch": False, "patience": None, "min_delta": 0.0, "lr_schedule": "constant", "lr_decay": 1.0,
    "warmup_epochs": 0, "plateau_factor": 0.5, "plateau_patience": 3, "plateau_threshold": 1e-4,
    "stop_when_converged": False, "checkpoint": "last"}
# Settings added after stores were published: at these values they reproduce what runs did
# before they existed, so they enter a run id only when set otherwise (grid.RunConfig.run_id)
# and every earlier id keeps its meaning.
HASH_NEUTRAL: dict[str, dict[str, Any]] = {
    "train": {"plateau_factor": 0.5, "plateau_patience": 3, "plateau_threshold": 1e-4, "stop_when_converged": False,
              "checkpoint": "last"}, "model": {"min_width_factor": 1.0},
}
# Derived by grid.resolve and recorded in config.json (the real network); not in the run id.
DERIVED: dict[str, tuple[str, ...]] = {"model": ("hidden_widths",)}
DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "autoencoder": {
        "data": _COMMON_DATA,
        "model": {"architecture": "autoencoder", "depth": 2, "widths": [256, 128], "min_width_factor": 1.0,
                  "activation": "relu", "latent_activation": "none", "output_activation": "sigmoid"},
        "train": {**_COMMON_TRAIN, "loss": "mse", "epochs": 10, "validation_split": 0.1, "snapshot_epochs": []},
    },
    "classifier": {
        "data": _COMMON_DATA,
        # output_activation: when absent, the loss's head (nll: log_softmax, bce: sigmoid, else none)
        "model": {"architecture": "mlp", "hidden": [100], "activation": "tanh", "channels": 32, "k_size": 3,
                  "pool": 2, "conv_activation": "none", "dropout": 0.0, "reading_order": "row"},
        "train": {**_COMMON_TRAIN, "loss": "cross_entropy", "epochs": 10, "validation_split": 0.0,
                  "label_smoothing": 0.0, "augment": "none", "augment_rotation_degrees": 10.0, "augment_scale": 0.1,
                  "augment_shift_pixels": 1.5, "augment_distortion": 0.0},
    },
    "compression": {
        "data": _COMMON_DATA,
        # fc: 784-widths[0]-latent_size | bottleneck | back; conv: widths[0] channels at 14 x 14, latent_size at 7 x 7
        "model": {"architecture": "fc", "latent_size": 128, "widths": [256]},
        "train": {**_COMMON_TRAIN, "rd_lambda": 0.01, "epochs": 10, "validation_split": 0.1},
    },
    "regressor": {
        "data": _COMMON_DATA,
        "model": {"architecture": "linear", "hidden": [16], "activation": "tanh", "output_activation": "none"},
        "train": {**_COMMON_TRAIN, "loss": "mse", "epochs": 100, "validation_split": 0.0},
    },
}


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _check_finite(where: str, section: str, table: Any) -> None:
    """Numbers must be finite (TOML allows inf and nan; a run would die on them mid-sweep)."""
    for key, value in table.items() if isinstance(table, dict) else []:
        values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for v in values:
            if isinstance(v, dict):
                _check_finite(where, section, v)
            elif isinstance(v, float) and not math.isfinite(v):
                raise SpecError(f"{where}: [{section}].{key} = {v!r} must be a finite number")


class SpecError(InputError, ValueError):
    """A study file or override is invalid; the message names the file, the key and the problem."""


@dataclass
class StudySpec:
    """A resolved study: shared settings, grid and the preset that produced it."""

    name: str
    description: str
    task: str
    data: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    grid: dict[str, list[Any]]
    preset: str
    path: Path | None = None
    presets: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    file_sha256: str = ""

    @property
    def grid_size(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "preset": self.preset,
            "data": self.data,
            "model": self.model,
            "train": self.train,
            "grid": self.grid,
            "study": self.extra,
            "file": str(self.path) if self.path else None,
            "file_sha256": self.file_sha256,
        }


def studies_dir() -> Path:
    """Where study files live: ``$AUTOENC_STUDIES_DIR`` (``--studies-dir`` sets it), else the
    study files shipped inside the package (``autoenc/studies``: in a checkout, a link to the
    top-level ``studies/``)."""
    env = os.environ.get("AUTOENC_STUDIES_DIR")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("autoenc") / "studies"))


def find_study(name_or_path: str) -> Path:
    """Resolve a study name (``fashion_ae``) or a path to a ``.toml`` file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise SpecError(f"study file not found: {p}")
        return p
    candidate = studies_dir() / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(x.stem for x in studies_dir().glob("*.toml"))) or "none"
        raise SpecError(f"unknown study {name_or_path!r}: no {candidate}; known studies: {known}")
    return candidate


def list_studies() -> list[tuple[str, str]]:
    """(name, description) of every study file, sorted by name; broken files say so."""
    out = []
    for p in sorted(studies_dir().glob("*.toml")):
        try:
            spec = load_spec(p)
            out.append((p.stem, spec.description))
        except SpecError as e:
            out.append((p.stem, f"[invalid: {e}]"))
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """``section.key=VALUE`` with VALUE a TOML literal (bare words are strings)."""
    if "=" not in text:
        raise SpecError(f"--set {text!r}: expected KEY=VALUE, e.g. train.epochs=5")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def _apply_override(doc: dict[str, Any], key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in (*SECTIONS, "grid"):
        raise SpecError(f"{where}: --set key {key!r} must be <section>.<key> with section in {[*SECTIONS, 'grid']}")
    section, name = parts
    if section == "grid" and not isinstance(value, list):
        value = [value]
    doc.setdefault(section, {})[name] = value
    # A value fixed with --set wins over the same key in the grid (and vice versa).
    if section != "grid":
        doc.get("grid", {}).pop(name, None)
    else:
        for s in SECTIONS:
            doc.get(s, {}).pop(name, None)


def _check_value(where: str, section: str, key: str, value: Any) -> None:
    schema = SCHEMA[section]
    if key not in schema:
        raise SpecError(f"{where}: unknown key [{section}].{key}; allowed: {sorted(schema)}")
    types, check = schema[key]
    if isinstance(value, bool) and bool not in types:
        raise SpecError(f"{where}: [{section}].{key} = {value!r} must be {'/'.join(t.__name__ for t in types)}")
    if not isinstance(value, types):
        raise SpecError(
            f"{where}: [{section}].{key} = {value!r} has type {type(value).__name__}, "
            f"expected {'/'.join(t.__name__ for t in types)}"
        )
    if check is not None:
        problem = check(value)
        if problem:
            raise SpecError(f"{where}: [{section}].{key} = {value!r} {problem}")


def _grid_section(key: str) -> str | None:
    if key == "seed":
        return None
    for section in SECTIONS:
        if key in SCHEMA[section]:
            return section
    return "?"


def _check_schedules(where: str, train: dict[str, Any], variants: dict[str, Any], grid: dict[str, Any]) -> None:
    """``lr_schedule = "cosine"`` and ``lr_decay`` together, in any run the file defines, is an
    error now rather than at the end of that run's first epoch."""
    for name, variant in [(None, {}), *variants.items()]:
        merged = {**train, **{k: v for k, v in variant.items() if k in SCHEMA["train"]}}
        cosine = merged.get("lr_schedule") == "cosine" or "cosine" in grid.get("lr_schedule", [])
        if cosine and ("lr_decay" in merged or "lr_decay" in grid):
            which = f"variant {name!r}" if name else "[train]"
            raise SpecError(f"{where}: {which} combines lr_schedule = 'cosine' with lr_decay; keep one of them")


def _own_data(study_file: Path, where: str, doc: dict[str, Any]) -> None:
    """``[data] dataset`` (or ``[grid] dataset`` values) naming a file or folder of the user's:
    made absolute (relative paths are relative to the study file) and, for ``[data]``, its
    content checksum recorded as ``dataset_sha256`` (autoenc.datasets.files)."""
    from ..datasets.files import FileDataset, is_path, registered
    from ..datasets.specs import REGISTRY

    def resolve_path(value: str) -> str:
        key = value.strip().lower().replace("-", "_")
        base = study_file.resolve().parent
        if key in REGISTRY or key in registered() or not (is_path(value) or (base / value).exists()):
            return value
        p = Path(value).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.exists():
            raise SpecError(f"{where}: [data].dataset = {value!r}: no such file or folder ({p}; a relative path is "
                            "relative to the study file). Your own data: a .npz with x_train, x_test (optional "
                            "y_train, y_test) or a folder of PNG/JPEG images (docs/own_studies.md)")
        return str(p.resolve())

    data = doc.setdefault("data", {})
    grid = doc.get("grid", {})
    if "dataset" in grid:
        grid["dataset"] = [resolve_path(v) for v in grid["dataset"]]
    if "dataset" not in data:
        return
    data["dataset"] = resolve_path(data["dataset"])
    if not Path(data["dataset"]).is_absolute():
        return  # a built-in or registered name
    try:
        checksum = FileDataset(data["dataset"], path=Path(data["dataset"])).checksum()
    except OSError as e:
        raise SpecError(f"{where}: [data].dataset {data['dataset']}: cannot be read ({e})") from e
    pinned = data.get("dataset_sha256")
    if pinned and pinned != checksum:
        raise SpecError(f"{where}: [data].dataset {data['dataset']} has changed: its content checksum is {checksum}, "
                        f"the study file pins dataset_sha256 = {pinned!r}; restore the data or update the pin")
    data["dataset_sha256"] = checksum


#: Limits of a study file: its size, and how deep its tables and arrays nest.
MAX_STUDY_BYTES = 1 << 20
MAX_NESTING = 8


def _depth(obj: Any) -> int:
    """How deep ``obj`` nests (without recursion: a crafted file may nest thousands of levels)."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _check_tables(where: str, doc: dict[str, Any]) -> None:
    """[study], [data], [model], [train] and [grid] are tables (``study = 5`` is a mistake)."""
    for name in ("study", *SECTIONS, "grid"):
        if name in doc and not isinstance(doc[name], dict):
            raise SpecError(f"{where}: {name} = {doc[name]!r} must be a table ([{name}] with keys below it)")


def _check_bce_targets(where: str, task_name: str, doc: dict[str, Any], grid: dict[str, Any]) -> None:
    """An autoencoder trained with BCE reconstructs its inputs as probabilities: they must lie in
    [0, 1], so ``scale = "raw"`` (0-255 pixels) with ``loss = "bce"`` is refused, in any combination
    of the grid and the variants a run can get."""
    if task_name != "autoencoder":
        return
    scales = grid.get("scale") or [doc.get("data", {}).get("scale", _COMMON_DATA["scale"])]
    model, train = doc.get("model", {}), doc.get("train", {})
    losses = set(grid.get("loss") or [train.get("loss", DEFAULTS["autoencoder"]["train"]["loss"])])
    variants = model.get("variants", {})
    for name in [*grid.get("variant", []), *([model["variant"]] if "variant" in model else [])]:
        if isinstance(variants.get(name), dict) and "loss" in variants[name]:
            losses.add(variants[name]["loss"])
    if "raw" in scales and "bce" in losses:
        raise SpecError(f"{where}: loss = 'bce' needs targets in [0, 1], but scale = 'raw' keeps the pixels as they "
                        "are (0-255): use scale = 'unit', or loss = 'mse' for raw pixels")


def load_spec(
    name_or_path: str | Path, preset: str | None = None, overrides: list[str] | None = None
) -> StudySpec:
    """Read, merge (preset, overrides) and validate a study file.

    Parameters
    ----------
    name_or_path
        Study name in ``studies/`` or a path to a TOML file.
    preset
        Name of a ``[presets.<name>]`` table; ``None`` or ``"full"`` uses the base settings
        (merged with ``[presets.full]`` if the file has one).
    overrides
        ``section.key=VALUE`` strings (``--set``), applied last.
    """
    path = find_study(str(name_or_path))
    where = str(path)
    raw_bytes = path.read_bytes()
    if len(raw_bytes) > MAX_STUDY_BYTES:
        raise SpecError(f"{where}: {len(raw_bytes)} bytes; a study file is at most {MAX_STUDY_BYTES} bytes")
    try:
        doc = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{where}: not valid TOML ({e}); fix the syntax") from e
    except RecursionError:
        raise SpecError(f"{where}: tables or arrays nested too deeply to read; a study file nests a few "
                        "levels") from None
    if _depth(doc) > MAX_NESTING:
        raise SpecError(f"{where}: tables or arrays nested deeper than {MAX_NESTING} levels; a study file nests "
                        "[presets.<name>.model.variants.<name>] at most")
    unknown = sorted(set(doc) - {"study", *SECTIONS, "grid", "presets"})
    if unknown:
        raise SpecError(f"{where}: unknown table(s) {unknown}; allowed: study, data, model, train, grid, presets")
    _check_tables(where, doc)
    presets = doc.pop("presets", {})
    if not isinstance(presets, dict):
        raise SpecError(f"{where}: [presets] must be a table of tables")
    for name, table in presets.items():
        if not isinstance(table, dict):
            raise SpecError(f"{where}: [presets].{name} = {table!r} must be a table ([presets.{name}.train] ...)")
        if sorted(set(table) - {"study", *SECTIONS, "grid"}):
            raise SpecError(f"{where}: [presets.{name}] has unknown table(s) "
                            f"{sorted(set(table) - {'study', *SECTIONS, 'grid'})}; allowed: study, data, model, "
                            "train, grid")
        _check_tables(f"{where} [presets.{name}]", table)
    preset_name = preset or "full"
    if preset_name in presets:
        doc = _merge(doc, presets[preset_name])
        where_p = f"{where} (preset {preset_name!r})"
    elif preset_name != "full":
        raise SpecError(f"{where}: no preset {preset_name!r}; available: {sorted({'full', *presets})}")
    else:
        where_p = where
    for text in overrides or []:
        key, value = parse_override(text)
        _apply_override(doc, key, value, where_p)

    _check_tables(where_p, doc)
    head = doc.get("study", {})
    for key, value in head.items():
        _check_value(where_p, "study", key, value)
    for key in ("description", "task"):
        if key not in head:
            raise SpecError(f"{where}: [study].{key} is required")
    for section in SECTIONS:
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise SpecError(f"{where_p}: [{section}] must be a table")
        for key, value in table.items():
            _check_value(where_p, section, key, value)
    if "dataset" not in doc.get("data", {}) and "dataset" not in doc.get("grid", {}):
        raise SpecError(f"{where}: [data].dataset is required")
    grid = doc.get("grid", {})
    if not isinstance(grid, dict):
        raise SpecError(f"{where_p}: [grid] must be a table of lists")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"{where_p}: [grid].{key} must be a non-empty list, got {values!r}")
        section = _grid_section(key)
        if section == "?":
            raise SpecError(f"{where_p}: [grid].{key} is not a known data/model/train key nor 'seed'")
        for v in values:
            if section is None:
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise SpecError(f"{where_p}: [grid].seed values must be integers >= 0, got {v!r}")
            else:
                _check_value(where_p, section, key, v)
        if len(set(map(repr, values))) != len(values):
            raise SpecError(f"{where_p}: [grid].{key} has repeated values {values}")
    grid.setdefault("seed", [0])
    defined = doc.get("model", {}).get("variants", {})
    for name in [*grid.get("variant", []), *([doc["model"]["variant"]] if "variant" in doc.get("model", {}) else [])]:
        if name not in defined:
            raise SpecError(f"{where_p}: variant {name!r} is not defined; add [model.variants.{name}] "
                            f"(defined: {sorted(defined) or 'none'})")
    _check_schedules(where_p, doc.get("train", {}), doc.get("model", {}).get("variants", {}), grid)
    _check_bce_targets(where_p, head["task"], doc, grid)
    if any(ch in head["description"] for ch in "\n\r\t\x00") or len(head["description"]) > 300:
        raise SpecError(f"{where}: [study].description must be one line of at most 300 characters")
    name = str(head.get("name", path.stem))
    if not _NAME.fullmatch(name) or ".." in name:
        raise SpecError(f"{where}: [study].name = {name!r} must be a plain identifier (letters, digits, '_', '-', "
                        "'.'; no path separators): it names the run store folder under --out")
    for section in (*SECTIONS, "grid"):
        _check_finite(where_p, section, doc.get(section, {}))
    _own_data(path, where_p, doc)
    return StudySpec(
        name=name,
        description=head["description"],
        task=head["task"],
        data=doc.get("data", {}),
        model=doc.get("model", {}),
        train=doc.get("train", {}),
        grid=grid,
        preset=preset_name,
        path=path,
        presets=sorted({"full", *presets}),
        extra={k: v for k, v in head.items() if k not in ("name", "description", "task")},
        file_sha256=hashlib.sha256(raw_bytes).hexdigest(),
    )
