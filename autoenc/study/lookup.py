"""Run lookup in a study's store: the one done run whose grid values match a cell
(``find_run``), with messages that say what is missing and how to make it."""

from __future__ import annotations

import json
import logging
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from .grid import RunConfig
    from .spec import StudySpec
    from .store import Run, RunStore

__all__ = ["CELL_ALIASES", "RunLookupError", "find_run", "load_swept_spec", "swept_preset"]

log = logging.getLogger("autoenc")

# Short names accepted in cells (``--cell latent=64,...``).
CELL_ALIASES = {"latent": "latent_size"}


class RunLookupError(InputError, ValueError):
    """No run, or more than one, matches a requested cell; or the matching run is not done."""


def _none(value: Any) -> Any:
    return None if value in (None, "none") else value


def _status_reason(store: RunStore, run_id: str, status: str) -> str:
    if status == "failed":
        text = (store.run_dir(run_id) / "FAILED").read_text(errors="replace").strip().splitlines()
        return "failed: " + (text[-1] if text else "see its FAILED file")
    if status == "partial":
        return "incomplete: " + store.verify(run_id)[1]
    return status


# --- the preset a store was swept with ------------------------------------------------------
def swept_preset(store_root: str | os.PathLike[str], spec: StudySpec) -> str | None:
    """The preset the store at ``store_root`` (``<out>/<study>``) was last swept with, read from
    its ``spec.json``; None when there is no store yet, the file is damaged, or the study file no
    longer has that preset."""
    path = Path(store_root) / "spec.json"
    try:
        preset = json.loads(path.read_text()).get("preset")
    except (OSError, ValueError, AttributeError):  # no store yet, or a damaged spec.json: the default
        return None
    return preset if isinstance(preset, str) and (preset in spec.presets or preset == "full") else None


def load_swept_spec(study: str | os.PathLike[str], out: str | os.PathLike[str] = "runs", preset: str | None = None,
                    overrides: list[str] | None = None) -> StudySpec:
    """``load_spec`` for whatever reads a store (``status``, ``report``, ``export``, ``codec``,
    ``AutoencoderTransformer.from_study``): with no ``preset``, the one the store under ``out``
    was swept with (a quick store is read as quick), else the study file's default."""
    from .spec import load_spec

    spec = load_spec(study, preset, overrides)
    if preset is not None:
        return spec
    swept = swept_preset(Path(out) / spec.name, spec)
    if swept is None or swept == spec.preset:
        return spec
    log.info(f"{spec.name}: preset {swept!r} (what {Path(out) / spec.name} was swept with; --preset to choose "
             "another)")
    return load_spec(study, swept, overrides)


# --- finding a run by its grid cell --------------------------------------------------------
_MISSING = object()


def _value(config: RunConfig, key: str) -> Any:
    """A run's value for ``key``: its grid value, else its fixed setting, else _MISSING."""
    if key in config.params:
        return config.params[key]
    if key == "seed":
        return config.seed
    for section in (config.model, config.train, config.data):
        if key in section:
            return section[key]
    return _MISSING


def _coerce(value: Any, like: Any) -> Any:
    """``value`` (from a CLI string or a Python call) as the type of ``like`` (a run's value)."""
    if like is None or like == "none":
        return None if _none(value) is None else value
    if isinstance(like, bool):
        if isinstance(value, str):
            return {"true": True, "false": False, "1": True, "0": False}[value.strip().lower()]
        return bool(value)
    if isinstance(like, int):
        f = float(value)
        if not f.is_integer():
            raise ValueError(value)
        return int(f)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, list):
        if isinstance(value, str):
            value = tomllib.loads(f"v = {value}")["v"]
        return [_coerce(v, like[0] if like else v) for v in value]
    return str(value)


def _matches(value: Any, like: Any) -> bool:
    if like is _MISSING:
        return False
    try:
        return _coerce(value, like) == like
    except (ValueError, TypeError, KeyError, tomllib.TOMLDecodeError):
        return False


def _describe(cell: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in cell.items())


def find_run(spec: StudySpec, store: RunStore, cell: dict[str, Any]) -> Run:
    """The single done run of ``spec``'s grid whose values match ``cell``.

    Values are compared after coercion to the run's types (``"64"`` matches 64). Keys may be
    grid keys, fixed settings of the spec, or ``seed``. Raises RunLookupError listing the
    available cells when nothing or several runs match, or why the matching run is not done.
    """
    from .grid import expand

    if not cell:
        raise RunLookupError(f"give a cell, e.g. {_describe({k: v[0] for k, v in spec.grid.items()})}")
    cell = {CELL_ALIASES.get(k, k): v for k, v in cell.items()}
    configs = expand(spec)
    available = "; ".join(f"{k} in {v}" for k, v in spec.grid.items())
    where = f"study {spec.name!r} (preset {spec.preset!r}) in {store.root}"
    unknown = [k for k in cell if all(_value(c, k) is _MISSING for c in configs)]
    if unknown:
        raise RunLookupError(f"unknown cell key(s) {unknown} for {where}; grid keys: {list(spec.grid)}")
    matches = [c for c in configs if all(_matches(v, _value(c, k)) for k, v in cell.items())]
    if not matches:
        raise RunLookupError(f"no grid cell of {where} matches {_describe(cell)}; available: {available}")
    done = [c for c in matches if store.status(c.run_id) == "done"]
    if len(done) > 1:
        listed = "\n  ".join(f"{c.run_id}  {_describe(c.params)}" for c in done[:20])
        raise RunLookupError(f"{len(done)} done runs of {where} match {_describe(cell)}; pin the other grid keys "
                             f"({available}):\n  {listed}")
    if not done:
        reasons = "\n  ".join(
            f"{c.run_id}  {_describe(c.params)}: {_status_reason(store, c.run_id, store.status(c.run_id))}"
            for c in matches[:20]
        )
        other = _done_elsewhere(store, cell, {c.run_id for c in matches})
        if other:  # the store holds them under other settings: say so, not "train the whole grid"
            last = swept_preset(store.root, spec)
            hint = (f"{len(other)} done run(s) with these values exist in the store under other settings "
                    f"({', '.join(other[:5])}): pass the preset/--set the sweep used"
                    + (f" (the last sweep used preset {last!r})" if last else ""))
        else:
            preset = f" --preset {spec.preset}" if spec.preset != "full" else ""
            hint = f"run `autoenc sweep {_study_arg(spec)}{preset} --out {store.root.parent}` first"
        raise RunLookupError(f"no done run of {where} matches {_describe(cell)}:\n  {reasons}\n{hint}")
    return store.run(done[0].run_id)


def _study_arg(spec: StudySpec) -> str:
    """How to name the study on the command line: its name if it lives in studies/, else its path."""
    from .spec import studies_dir

    if spec.path is None or spec.path.resolve().parent == studies_dir().resolve():
        return spec.name
    return str(spec.path)


def _done_elsewhere(store: RunStore, cell: dict[str, Any], skip: set[str]) -> list[str]:
    """Done runs in the store, outside the spec's grid, whose values match ``cell``."""
    out = []
    for run_id in store.run_ids():
        if run_id in skip or store.status(run_id) != "done":
            continue
        try:
            config = store.run(run_id).config
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if all(_matches(v, _value(config, k)) for k, v in cell.items()):
            out.append(run_id)
    return out
