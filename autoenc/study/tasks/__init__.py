"""Per-task pieces of the pipeline: how a run builds its model, trains, and what it stores.

A task is a function ``run(config, ctx) -> metrics`` registered in ``TASKS``. It reads
data through ``load_split``, writes files through ``ctx`` (all atomic) and returns the
scalar metrics that go into ``metrics.json`` and ``results.csv``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..grid import RunConfig, canonical_json
from ..store import atomic_save_npz, atomic_write_text


@dataclass
class RunContext:
    """What a task gets besides its config: where to write, and how to report progress."""

    run_dir: Path
    verbose: int = 0
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"[{self.label}] {message}", file=sys.stderr, flush=True)

    def epoch_callback(self, epochs: int) -> Callable[[int, dict[str, float]], None]:
        def callback(epoch: int, values: dict[str, float]) -> None:
            self.log(f"epoch {epoch}/{epochs} train {values['train_loss']:.5g} val {values['val_loss']:.5g}")

        return callback

    def save_arrays(self, name: str, **arrays: np.ndarray) -> None:
        atomic_save_npz(self.run_dir / name, **arrays)

    def save_model(self, model: Any, optimizer: Any = None, metadata: dict[str, Any] | None = None) -> None:
        from ...nn import save

        save(self.run_dir / "model.npz", model, optimizer, metadata)

    def save_history(self, history: Any) -> None:
        lines = ["epoch,train_loss,val_loss,wall_seconds"]
        for r in history.to_rows():
            lines.append(f"{r['epoch']},{r['train_loss']!r},{r['val_loss']!r},{r['wall_seconds']:.4f}")
        atomic_write_text(self.run_dir / "history.csv", "\n".join(lines) + "\n")


@lru_cache(maxsize=8)
def _load_cached(data_json: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    from ... import datasets

    data = json.loads(data_json)
    kwargs: dict[str, Any] = {}
    subset = data.get(f"{split}_subset")
    n = data.get(f"n_{split}")
    if n is not None:
        kwargs["n"] = n
    for key in ("noise", "sigma", "a", "b"):
        if key in data:
            kwargs[key] = data[key]
    X, y = datasets.load(
        data["dataset"], split, subset=subset, shape=data.get("shape", "flat"), scale=data.get("scale", "unit"),
        seed=0, **kwargs,
    )
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_split(data: dict[str, Any], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of ``split`` for a run's data settings; cached per worker process (read-only arrays)."""
    return _load_cached(canonical_json(data), split)


def batch_size(train: dict[str, Any], n: int) -> int:
    """``full_batch = true`` trains on the whole set at once (the original's batch mode)."""
    return n if train.get("full_batch") else int(train.get("batch_size", 128))


def next_learning_rate(train: dict[str, Any], lr: float, epochs_done: int) -> float:
    """The learning rate for the epoch after ``epochs_done`` (1-based count of finished epochs).

    ``train.lr_schedule = "cosine"`` anneals from ``train.lr`` towards 0 over ``train.epochs``
    (half a cosine, no restarts); otherwise ``lr`` is multiplied by ``train.lr_decay`` (default 1).
    """
    if train.get("lr_schedule", "constant") == "cosine":
        if "lr_decay" in train:
            raise ValueError("train.lr_schedule = 'cosine' and train.lr_decay both set; keep one of them")
        epochs = int(train.get("epochs", 10))
        return float(train.get("lr", 1e-3)) * 0.5 * (1 + np.cos(np.pi * min(epochs_done, epochs) / epochs))
    return lr * float(train.get("lr_decay", 1.0))


def build_optimizer(train: dict[str, Any], model: Any) -> Any:
    from ...nn import get_optimizer

    name = train.get("optimizer", "adam")
    kwargs: dict[str, Any] = {"lr": float(train.get("lr", 1e-3))}
    if "weight_decay" in train:
        kwargs["weight_decay"] = float(train["weight_decay"])
    if name == "sgd" and "momentum" in train:
        kwargs["momentum"] = float(train["momentum"])
    return get_optimizer(name, model, **kwargs)


def _autoencoder(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    from .autoencoder import run

    return run(config, ctx)


TASKS: dict[str, Callable[[RunConfig, RunContext], dict[str, Any]]] = {"autoencoder": _autoencoder}


def register_task(name: str, fn: Callable[[RunConfig, RunContext], dict[str, Any]]) -> None:
    TASKS[name] = fn


def get_task(name: str) -> Callable[[RunConfig, RunContext], dict[str, Any]]:
    if name not in TASKS:
        # classifier/regressor tasks live in their own modules; import on demand
        import importlib

        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            pass
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}") from None
