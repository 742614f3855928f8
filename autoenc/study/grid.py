"""Grid expansion: one run config per combination of grid values, identified by the hash
of its canonical JSON (never a counter), so the same config always maps to the same run."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from .spec import SECTIONS, StudySpec, _grid_section

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
        # params only re-state values already in the sections, so they are left out of the hash;
        # of [model.variants] only the run's own variant counts, so adding a variant to a study
        # adds runs without renaming the existing ones
        content = {k: v for k, v in self.to_dict().items() if k != "params"}
        variants, chosen = self.model.get("variants"), self.model.get("variant")
        if isinstance(variants, dict):
            kept = {chosen: variants[chosen]} if chosen in variants else {}
            content["model"] = {**self.model, "variants": kept}
        return hashlib.sha256(canonical_json(content).encode()).hexdigest()[:ID_LENGTH]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(d["task"], d["data"], d["model"], d["train"], int(d["seed"]), d.get("params", {}))


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
        runs.append(RunConfig(spec.task, sections["data"], sections["model"], sections["train"], seed, params))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):  # same settings reached twice through different grid keys
        raise ValueError("the grid produces identical run configs; remove the duplicate values")
    return runs
