"""Per-task pieces of the pipeline: how a run builds its model, trains, and what it stores.

Each task module has ``run(config, ctx) -> metrics`` and ``predict(model, X, config)``, named
by its :class:`autoenc.study.registry.Task`. A run reads data through ``load_split``, writes
files through ``ctx`` (all atomic) and returns the scalar metrics that go into
``metrics.json`` and ``results.csv``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...fileio import atomic_savez, atomic_write_text
from ..grid import RunConfig


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

    def log_epoch(self, epoch: int, epochs: int, values: dict[str, float], more: str = "") -> None:
        self.log(f"epoch {epoch}/{epochs} lr {values['lr']:.3g} train {values['train_loss']:.5g} "
                 f"val {values['val_loss']:.5g}{more}")

    def save_arrays(self, name: str, **arrays: np.ndarray) -> None:
        atomic_savez(self.run_dir / name, arrays)

    def save_model(self, model: Any, optimizer: Any = None, metadata: dict[str, Any] | None = None) -> None:
        from ...nn import save

        save(self.run_dir / "model.npz", model, optimizer, metadata)

    def save_history(self, history: Any) -> None:
        atomic_write_text(self.run_dir / "history.csv", history.to_csv())


def load_split(data: dict[str, Any], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of ``split`` for a run's resolved data settings (``autoenc.datasets.load_settings``:
    cached per worker process, read-only arrays)."""
    from ...datasets.settings import load_settings

    return load_settings(data, split)


def batch_size(train: dict[str, Any], n: int) -> int:
    """``full_batch = true`` trains on the whole set at once (the original's batch mode)."""
    return n if train["full_batch"] else int(train["batch_size"])


def build_optimizer(train: dict[str, Any], model: Any) -> Any:
    """The optimizer of a resolved ``[train]`` table, with its learning-rate scheduler attached
    (``optimizer.scheduler``; saved with the optimizer's state)."""
    from ...nn import get_optimizer
    from ...nn.schedulers import get_scheduler

    name = train["optimizer"]
    kwargs: dict[str, Any] = {"lr": float(train["lr"]), "weight_decay": float(train["weight_decay"])}
    if name == "sgd":
        kwargs["momentum"] = float(train["momentum"])
    optimizer = get_optimizer(name, model, **kwargs)
    get_scheduler(train["lr_schedule"], optimizer, epochs=int(train["epochs"]), lr_decay=float(train["lr_decay"]),
                  warmup_epochs=int(train["warmup_epochs"]), plateau_factor=float(train["plateau_factor"]),
                  plateau_patience=int(train["plateau_patience"]), plateau_threshold=float(train["plateau_threshold"]))
    return optimizer


def get_task(name: str) -> Callable[[RunConfig, RunContext], dict[str, Any]]:
    """The run function of the registered task ``name`` (:func:`autoenc.study.registry.task`)."""
    from ..registry import task

    return task(name).load_run()
