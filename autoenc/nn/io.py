"""Save and load networks as ``.npz``: weights, optimizer state, architecture as JSON
and a format version. Loading never unpickles and rejects files that do not match."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fileio import atomic_savez, atomic_write_bytes, read_npz  # noqa: F401  (re-exported)
from .module import Module, module_from_config
from .optim import Optimizer

FORMAT = "autoenc.nn"
FORMAT_VERSION = 1


class ModelFileError(InputError, ValueError):
    """A model file is missing, corrupt, crafted, or not an autoenc model."""


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns: the rebuilt module, the optimizer state (or None)
    and the free-form metadata saved with it."""

    module: Module
    optimizer_state: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def save(
    path: str | os.PathLike[str],
    module: Module,
    optimizer: Optimizer | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``module`` (and optionally ``optimizer``'s state) to ``path`` (.npz)."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": module.to_config(),
        "parameters": [name for name, _ in module.named_parameters()],
        "metadata": metadata or {},
    }
    arrays = {f"param/{k}": v for k, v in module.state_dict().items()}
    if optimizer is not None:
        state = optimizer.state_dict()
        arrays.update({f"optim/{k}": v for k, v in state.pop("arrays").items()})
        header["optimizer"] = state
    arrays["__header__"] = np.array(json.dumps(header))
    atomic_savez(path, arrays)


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    # sizes checked before anything is allocated
    arrays = read_npz(path, error=ModelFileError, kind=".npz model file", hint="; re-create it")
    if "__header__" not in arrays:
        raise ModelFileError(f"{path}: no autoenc header; this .npz was not written by autoenc.nn.save")
    try:
        header = json.loads(str(arrays.pop("__header__")))
    except (json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: corrupt header ({e})") from e
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: corrupt header (a JSON {type(header).__name__}, not an object)")
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: format {header.get('format')!r} is not {FORMAT!r}")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {header.get('format_version')} is not supported "
            f"(this autoenc reads version {FORMAT_VERSION})"
        )
    return header, arrays


#: Deepest nesting of modules a model file may describe (real models nest 2-3 levels).
MAX_DEPTH = 32


def _check_architecture(path: Path, config: Any, budget: int, depth: int = 0) -> None:
    """Schema check of a saved architecture before anything is allocated: nested dicts of
    ``type``/``args``/``children`` only, and no integer argument larger than the number of
    values the file's arrays actually hold (a 1 KB header cannot ask for gigabytes)."""
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{path}: the architecture nests deeper than {MAX_DEPTH} levels (crafted file?)")
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ModelFileError(f"{path}: malformed architecture (expected an object with a 'type')")
    args, children = config.get("args", {}), config.get("children", [])
    if not isinstance(args, dict) or not isinstance(children, list):
        raise ModelFileError(f"{path}: malformed architecture of {config['type']!r} (args must be an object, "
                             "children a list)")
    for key, value in args.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > budget:
                raise ModelFileError(f"{path}: {config['type']}.{key} = {v} is larger than the file's weights "
                                     "allow; the file is damaged or crafted")
            if isinstance(v, dict | list):
                raise ModelFileError(f"{path}: malformed argument {config['type']}.{key}")
    for child in children:
        _check_architecture(path, child, budget, depth + 1)


def module_from_arrays(path: str | os.PathLike[str], architecture: Any, params: dict[str, np.ndarray]) -> Module:
    """Rebuild a saved architecture and load its weights, trusting nothing the file says:
    float weights only, all finite, an architecture no bigger than the weights it comes with,
    every weight in its place. Shared by model files and codec files.

    Raises
    ------
    ModelFileError
        For every kind of damaged, foreign or crafted content.
    """
    if any(v.dtype.kind != "f" for v in params.values()):
        raise ModelFileError(f"{path}: weights must be floating point; the file is damaged or crafted")
    bad = sorted(name for name, v in params.items() if not np.isfinite(v).all())
    if bad:
        raise ModelFileError(f"{path}: weights {', '.join(bad[:3])} hold NaN or inf (a diverged or damaged "
                             "model); retrain it")
    budget = max(4096, sum(int(v.size) for v in params.values()))
    _check_architecture(Path(path), architecture, budget)
    try:
        module = module_from_config(architecture)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError, MemoryError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the architecture ({type(e).__name__}: {e})") from e
    try:
        if params:
            module.astype(next(iter(params.values())).dtype)
        module.load_state_dict(params)
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{path}: weights do not fit the architecture ({e})") from e
    return module


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Rebuild the saved module with its weights; also return optimizer state and metadata.

    Raises
    ------
    ModelFileError
        For every kind of damaged, foreign or crafted file (the one error type of loading).
    """
    header, arrays = _read(path)
    params = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
    names = header.get("parameters", [])
    if not isinstance(names, list) or sorted(params) != sorted(map(str, names)):
        raise ModelFileError(f"{path}: the parameter arrays do not match the header (truncated or edited file)")
    module = module_from_arrays(path, header.get("architecture"), params)
    opt_state = header.get("optimizer")
    if opt_state is not None:
        if not isinstance(opt_state, dict):
            raise ModelFileError(f"{path}: malformed optimizer state")
        opt_state = dict(opt_state)
        opt_state["arrays"] = {k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")}
    metadata = header.get("metadata", {})
    return Checkpoint(module, opt_state, metadata if isinstance(metadata, dict) else {})


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild the saved module with its weights (see ``load_checkpoint`` for the rest)."""
    return load_checkpoint(path).module
