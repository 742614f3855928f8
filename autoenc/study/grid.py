"""Grid expansion: one run config per combination of grid values, identified by the hash
of its canonical JSON (never a counter), so the same config always maps to the same run."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from .spec import DEFAULTS, DERIVED, HASH_NEUTRAL, SCHEMA, SECTIONS, StudySpec, _grid_section

ID_LENGTH = 16


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, floats as repr: the bytes that the run id hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one run's result.

    ``params`` are the grid values of this run (the report's ``param_*`` columns);
    ``data``, ``model`` and ``train`` are the complete settings with the grid values filled in.
    """

    task: str
    data: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    seed: int
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "data": self.data,
            "model": self.model,
            "train": self.train,
            "seed": self.seed,
            "params": self.params,
        }

    @property
    def run_id(self) -> str:
        """Hash of the resolved settings (``resolve``): every default filled in and the run's
        variant merged, so a changed default never changes what an existing id means. ``params``
        only re-state values already in the sections and are left out."""
        content = {k: v for k, v in resolve(self).to_dict().items() if k != "params"}
        for section, neutral in HASH_NEUTRAL.items():  # later settings at their neutral value
            content[section] = {k: v for k, v in content[section].items() if not (k in neutral and v == neutral[k]
                                                                                  and type(v) is type(neutral[k]))}
        for section, derived in DERIVED.items():  # follow from the settings already hashed
            content[section] = {k: v for k, v in content[section].items() if k not in derived}
        return hashlib.sha256(canonical_json(content).encode()).hexdigest()[:ID_LENGTH]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(d["task"], d["data"], d["model"], d["train"], int(d["seed"]), d.get("params", {}))


def resolve(config: RunConfig) -> RunConfig:
    """The fully resolved form of ``config`` (idempotent).

    Order of precedence, lowest first: the task's ``spec.DEFAULTS``, the config's own settings,
    then its variant (``model.variant`` names one of ``model.variants``; a variant is a network
    and its recipe, so it overrides everything else). ``model.variants`` is dropped and
    ``model.variant`` kept as the run's label.

    Raises
    ------
    ValueError
        The variant is not defined, or the task is unknown.
    """
    if config.task not in DEFAULTS:
        raise ValueError(f"unknown task {config.task!r}; known: {sorted(DEFAULTS)}")
    defaults = DEFAULTS[config.task]
    sections = {s: {**defaults[s], **getattr(config, s)} for s in SECTIONS}
    variants = sections["model"].pop("variants", None)
    name = sections["model"].get("variant")
    if name is not None and variants is not None:
        if name not in variants:
            raise ValueError(f"model.variant {name!r} is not defined; add [model.variants.{name}] to the study "
                             f"file (defined: {sorted(variants)})")
        for key, value in variants[name].items():
            sections["model" if key in SCHEMA["model"] else "train"][key] = value
    model, train = sections["model"], sections["train"]
    if config.task == "classifier" and "output_activation" not in model:
        model["output_activation"] = {"nll": "log_softmax", "bce": "sigmoid"}.get(train["loss"], "none")
    if model.get("architecture") == "autoencoder":
        model["hidden_widths"] = _autoencoder_widths(model)
    if train.get("lr_schedule") == "cosine" and train.get("lr_decay", 1.0) != 1.0:
        raise ValueError("train.lr_schedule = 'cosine' and train.lr_decay both set; keep one of them")
    return RunConfig(config.task, sections["data"], model, train, config.seed, dict(config.params))


def _autoencoder_widths(model: dict[str, Any]) -> list[int]:
    """The hidden widths the autoencoder of these settings really has (``models.hidden_widths``)."""
    from ..models.builders import hidden_widths

    try:
        return hidden_widths(int(model["depth"]), int(model["latent_size"]), model["widths"],
                             float(model["min_width_factor"]))
    except KeyError as e:
        raise ValueError(f"model.{e.args[0]} is not set; an autoencoder needs depth, latent_size and widths") from None


def expand(spec: StudySpec) -> list[RunConfig]:
    """All run configs of ``spec``'s grid, in grid order (last key varies fastest)."""
    keys = list(spec.grid)
    runs = []
    for values in itertools.product(*(spec.grid[k] for k in keys)):
        sections = {"data": dict(spec.data), "model": dict(spec.model), "train": dict(spec.train)}
        seed = 0
        params = {}
        for key, value in zip(keys, values, strict=True):
            params[key] = value
            section = _grid_section(key)
            if section is None:
                seed = int(value)
            else:
                sections[section][key] = value
        assert set(sections) == set(SECTIONS)
        runs.append(resolve(RunConfig(spec.task, sections["data"], sections["model"], sections["train"], seed,
                                      params)))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):  # same settings reached twice through different grid keys
        raise ValueError("the grid produces identical run configs; remove the duplicate values")
    return runs


def setting_key(config: RunConfig) -> str:
    """Every resolved setting of a run except its seed: runs pooled as seeds must share it."""
    d = resolve(config).to_dict()
    d.pop("seed")
    d.pop("params")
    return canonical_json(d)


def flat_settings(config: RunConfig) -> dict[str, Any]:
    """The resolved settings of a run as ``section.key`` -> value (and ``task``), the seed left out."""
    d = resolve(config).to_dict()
    out: dict[str, Any] = {"task": d["task"]}
    for section in SECTIONS:
        for k, v in d[section].items():
            out[f"{section}.{k}"] = v
    return out


def varying_settings(configs: list[RunConfig]) -> dict[str, list[Any]]:
    """The resolved settings (``section.key``; the seed left out) that differ between ``configs``,
    with their distinct values in first-seen order."""
    flats = [flat_settings(c) for c in configs]
    out: dict[str, list[Any]] = {}
    for k in dict.fromkeys(k for f in flats for k in f):
        seen: dict[str, Any] = {}
        for f in flats:
            seen.setdefault(canonical_json(f.get(k)), f.get(k))
        if len(seen) > 1:
            out[k] = list(seen.values())
    return out


def settings_table(configs: list[RunConfig]) -> list[dict[str, Any]]:
    """Per config, its values of the settings that differ between ``configs`` (``varying_settings``)."""
    keys = list(varying_settings(configs))
    flats = [flat_settings(c) for c in configs]
    return [{k: f.get(k) for k in keys} for f in flats]
