"""The tasks of the pipeline, one object each, in one registry.

A :class:`Task` names everything the pipeline does for one kind of study: the function that
trains a run (``run``), the one that applies a trained run's model to new inputs
(``predict``), the files a run leaves in the store besides ``config.json``, ``metrics.json``
and ``DONE`` (checked after every run: a task that did not write them fails the run), and the
analysis that reads them (``autoenc.analysis.<analysis>``). The store is the only hand-off
between training and analysis.

Functions are named as ``"module:function"`` and imported on first use, so that the study
file schema (which lists the task names) loads without the training code, and nothing here
imports from a higher layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TASKS", "Task", "register_task", "task"]


@dataclass(frozen=True)
class Task:
    """One task: how a run trains, predicts, what it stores, and which analysis reads it.

    Attributes
    ----------
    name : the ``[study].task`` value.
    run : ``"module:function"``, ``(RunConfig, RunContext) -> metrics`` (a dict of JSON values).
    predict : ``"module:function"``, ``(model, X, config) -> outputs`` for a trained run's model.
    files : store file -> what it holds (written by ``run`` through ``RunContext``).
    analysis : the default ``[study].report``: ``autoenc.analysis.<analysis>.analyze``.
    """

    name: str
    run: str
    predict: str
    files: Mapping[str, str] = field(default_factory=dict)
    analysis: str = "generic"

    def load_run(self) -> Callable[..., dict[str, Any]]:
        """The run function (imported now)."""
        return _resolve(self.run)

    def load_predict(self) -> Callable[..., Any]:
        """The predict function (imported now)."""
        return _resolve(self.predict)


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


_MODEL = "the trained network (autoenc.nn.save: weights, optimizer state, architecture as JSON)"
_HISTORY = "loss and learning rate per epoch (autoenc.nn.train.History.to_csv)"

TASKS: dict[str, Task] = {
    "autoencoder": Task(
        "autoencoder", run="autoenc.study.tasks.autoencoder:run", predict="autoenc.study.tasks.autoencoder:predict",
        files={"model.npz": _MODEL, "history.csv": _HISTORY,
               "per_image.npz": "per-image test errors (test_mse, test_bce), test_labels, validation errors "
                                "(val_*) and errors at the snapshot epochs (test_*_at_<epoch>)"},
        analysis="autoencoder"),
    "classifier": Task(
        "classifier", run="autoenc.study.tasks.classifier:run", predict="autoenc.study.tasks.classifier:predict_proba",
        files={"model.npz": _MODEL, "history.csv": _HISTORY,
               "predictions.npz": "test_labels, predicted_labels, confidence and class probabilities per test image"},
        analysis="classifier"),
    "compression": Task(
        "compression", run="autoenc.study.tasks.compression:run", predict="autoenc.study.tasks.compression:predict",
        files={"model.npz": _MODEL, "history.csv": _HISTORY + ", with the validation bpp and PSNR",
               "per_image.npz": "per test image: bits from the likelihoods at test-time rounding (test_bits), "
                                "MSE of the reconstruction (test_mse), test_labels; val_bits, val_mse; the medians"},
        analysis="compression"),
    "regressor": Task(
        "regressor", run="autoenc.study.tasks.regressor:run", predict="autoenc.study.tasks.regressor:predict",
        files={"model.npz": _MODEL, "history.csv": _HISTORY,
               "predictions.npz": "test_x, test_y and the model's test_pred"},
        analysis="regressor"),
}


def register_task(new: Task) -> None:
    """Add (or replace) a task; a study file may then name it (``[study].task``)."""
    TASKS[new.name] = new


def task(name: str) -> Task:
    """The registered task ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}") from None
