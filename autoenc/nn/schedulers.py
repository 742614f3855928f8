"""Learning-rate schedulers in the style of ``torch.optim.lr_scheduler``: small objects that
own their state, set ``optimizer.lr`` once per epoch (``step()``), and round-trip through
``state_dict()`` so that a resumed run continues mid-schedule.

A scheduler attaches itself to its optimizer (``optimizer.scheduler``), so the optimizer's
``state_dict()`` (and therefore ``nn.save``) carries the scheduler's state with it.

Example
-------
>>> from autoenc.nn import Adam, Linear
>>> opt = Adam(Linear(2, 1).parameters(), lr=1e-3)
>>> sched = CosineAnnealingLR(opt, total_epochs=10)
>>> for epoch in range(10):
...     pass  # one epoch of training
...     sched.step()
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .optim import Optimizer

__all__ = [
    "ConstantLR", "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "ReduceLROnPlateau", "StepLR",
    "get_scheduler",
]


class LRScheduler:
    """Base class: ``step(metric)`` after each epoch sets ``optimizer.lr`` for the next one.

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled; its ``lr`` at construction is the
            base learning rate.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.epochs_done = 0
        optimizer.scheduler = self
        pending = getattr(optimizer, "_pending_scheduler_state", None)
        if pending is not None:  # the optimizer was loaded before its scheduler existed
            self.load_state_dict(pending)
            optimizer._pending_scheduler_state = None

    def step(self, metric: float | None = None) -> None:
        """Record one finished epoch (``metric``: the monitored loss, for plateau schedules)."""
        self.epochs_done += 1
        self.optimizer.lr = self.next_lr(metric)

    def next_lr(self, metric: float | None) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Type, hyperparameters and counters (plain JSON values)."""
        return {"type": type(self).__name__, "base_lr": self.base_lr, "epochs_done": self.epochs_done,
                "hyperparameters": self.hyperparameters(), "extra": self._extra_state()}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            found = state.get("type") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"scheduler state is for {found}, not {type(self).__name__}")
        self.base_lr = float(state["base_lr"])
        self.epochs_done = int(state["epochs_done"])
        for key, value in state.get("extra", {}).items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class ConstantLR(LRScheduler):
    """Keeps the learning rate fixed (the default schedule)."""

    def next_lr(self, metric: float | None) -> float:
        return self.optimizer.lr


class ExponentialLR(LRScheduler):
    """Multiplies the learning rate by ``gamma`` after every epoch (``train.lr_decay``).

    Args:
        gamma: the factor per epoch (``1.0`` keeps it constant).
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        if not gamma > 0:
            raise ValueError(f"ExponentialLR: gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def hyperparameters(self) -> dict[str, Any]:
        return {"gamma": self.gamma}

    def next_lr(self, metric: float | None) -> float:
        return self.optimizer.lr * self.gamma


class StepLR(LRScheduler):
    """Multiplies the learning rate by ``gamma`` every ``step_size`` epochs.

    Args:
        step_size: epochs between decays.
        gamma: the decay factor.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1 or not gamma > 0:
            raise ValueError(f"StepLR: step_size must be >= 1 and gamma > 0, got {step_size}, {gamma}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def hyperparameters(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}

    def next_lr(self, metric: float | None) -> float:
        return self.base_lr * self.gamma ** (self.epochs_done // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Linear warm-up over ``warmup_epochs``, then half a cosine from the base rate to
    ``min_lr`` at ``total_epochs`` (no restarts).

    Args:
        total_epochs: the epoch at which the rate reaches ``min_lr``.
        warmup_epochs: epochs of linear warm-up from ``base_lr / (warmup_epochs + 1)``.
        min_lr: the final rate.
    """

    def __init__(self, optimizer: Optimizer, total_epochs: int, warmup_epochs: int = 0, min_lr: float = 0.0) -> None:
        if total_epochs < 1 or not 0 <= warmup_epochs < total_epochs or min_lr < 0:
            raise ValueError(f"CosineAnnealingLR: need total_epochs >= 1, 0 <= warmup_epochs < total_epochs, "
                             f"min_lr >= 0; got {total_epochs}, {warmup_epochs}, {min_lr}")
        self.total_epochs, self.warmup_epochs, self.min_lr = int(total_epochs), int(warmup_epochs), float(min_lr)
        super().__init__(optimizer)
        if self.warmup_epochs and self.epochs_done == 0:
            optimizer.lr = self.base_lr / (self.warmup_epochs + 1)

    def hyperparameters(self) -> dict[str, Any]:
        return {"total_epochs": self.total_epochs, "warmup_epochs": self.warmup_epochs, "min_lr": self.min_lr}

    def next_lr(self, metric: float | None) -> float:
        done, warm = self.epochs_done, self.warmup_epochs
        if done < warm:
            return self.base_lr * (done + 1) / (warm + 1)
        span = self.total_epochs - warm
        # the same float operations as the study tasks always used, so earlier runs stay bit-identical
        cosine = 0.5 * (1 + np.cos(np.pi * min(done - warm, span) / span))
        if self.min_lr == 0.0:
            return float(self.base_lr * cosine)
        return float(self.min_lr + (self.base_lr - self.min_lr) * cosine)


class ReduceLROnPlateau(LRScheduler):
    """Multiplies the rate by ``factor`` when the monitored loss has not improved by a relative
    ``threshold`` for ``patience`` epochs (never below ``min_lr``).

    ``nn.fit`` steps it with the loss above its floor (``Loss.floor``), so the relative threshold
    reads the reducible part of the loss: for BCE on grey levels a 0.2% raw change is several
    percent of what training can still remove.

    Args:
        factor: the reduction factor (< 1).
        patience: epochs without improvement before a reduction.
        threshold: relative improvement that counts.
        min_lr: the floor.
    """

    def __init__(self, optimizer: Optimizer, factor: float = 0.1, patience: int = 5, threshold: float = 1e-4,
                 min_lr: float = 0.0) -> None:
        if not 0 < factor < 1 or patience < 0:
            raise ValueError(f"ReduceLROnPlateau: need 0 < factor < 1 and patience >= 0, got {factor}, {patience}")
        self.factor, self.patience, self.threshold, self.min_lr = float(factor), int(patience), float(threshold), \
            float(min_lr)
        self.best = math.inf
        self.bad_epochs = 0
        super().__init__(optimizer)

    def hyperparameters(self) -> dict[str, Any]:
        return {"factor": self.factor, "patience": self.patience, "threshold": self.threshold, "min_lr": self.min_lr}

    def _extra_state(self) -> dict[str, Any]:
        return {"best": self.best if math.isfinite(self.best) else None, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = math.inf if self.best is None else float(self.best)

    def next_lr(self, metric: float | None) -> float:
        if metric is None or not math.isfinite(metric):
            return self.optimizer.lr
        if metric < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = metric, 0
            return self.optimizer.lr
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.bad_epochs = 0
            return max(self.optimizer.lr * self.factor, self.min_lr)
        return self.optimizer.lr


def get_scheduler(name: str, optimizer: Optimizer, *, epochs: int, lr_decay: float = 1.0, warmup_epochs: int = 0,
                  plateau_factor: float = 0.5, plateau_patience: int = 3,
                  plateau_threshold: float = 1e-4) -> LRScheduler:
    """The scheduler a study file names (``train.lr_schedule``): ``constant`` (with
    ``lr_decay != 1`` an exponential decay), ``exponential``, ``cosine`` or ``plateau``."""
    if name == "constant":
        return ExponentialLR(optimizer, lr_decay) if lr_decay != 1.0 else ConstantLR(optimizer)
    if name == "exponential":
        return ExponentialLR(optimizer, lr_decay)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, epochs, warmup_epochs=warmup_epochs)
    if name == "plateau":
        return ReduceLROnPlateau(optimizer, factor=plateau_factor, patience=plateau_patience,
                                 threshold=plateau_threshold)
    raise ValueError(f"unknown lr_schedule {name!r}; use constant, exponential, cosine or plateau")
