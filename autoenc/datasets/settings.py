"""A split as a study's ``[data]`` settings describe it: the one loader of the pipeline, used by
the tasks that train, the reports that evaluate and the CLI, so that all see the same arrays."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["load_settings"]


@lru_cache(maxsize=8)
def _load_cached(data_json: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    from .registry import load

    data = json.loads(data_json)
    kwargs: dict[str, Any] = {}
    subset = data.get(f"{split}_subset")  # optional keys of [data]: absent means "all" / the loader's own
    n = data.get(f"n_{split}")
    if n is not None:
        kwargs["n"] = n
    for key in ("noise", "sigma", "a", "b"):
        if key in data:
            kwargs[key] = data[key]
    X, y = load(data["dataset"], split, subset=subset, shape=data["shape"], scale=data["scale"], seed=0, **kwargs)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_settings(data: dict[str, Any], split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of ``split`` for resolved ``[data]`` settings (``dataset``, ``shape``, ``scale``
    and the optional ``<split>_subset``, ``n_<split>`` and generator keys); cached per process,
    returned read-only."""
    return _load_cached(json.dumps(data, sort_keys=True, separators=(",", ":")), split)
