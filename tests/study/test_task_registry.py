"""One task object per task, in one registry: run, predict, store files, analysis."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from autoenc.study import registry, spec
from autoenc.study.registry import Task, task


def test_the_registry_is_the_one_list_of_tasks():
    assert set(spec.TASKS) == set(registry.TASKS)
    for name, t in registry.TASKS.items():
        assert t.name == name and callable(t.load_run()) and callable(t.load_predict())
        assert {"model.npz", "history.csv"} <= set(t.files)
        analysis = importlib.import_module(f"autoenc.analysis.{t.analysis}")
        assert callable(analysis.analyze)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        task("nope")


@pytest.mark.parametrize("name", ["autoencoder", "regressor"])
def test_predict_applies_a_model(name):
    from autoenc.nn import Linear, Sequential, Sigmoid

    model = Sequential(Linear(6, 6, seed=0), Sigmoid())
    X = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    out = task(name).load_predict()(model, X, None)
    assert out.shape == (5, 6) and np.allclose(out, model.forward(X))


def test_a_run_that_does_not_write_its_declared_files_fails(tmp_path, monkeypatch):
    """The store is the hand-off to the analysis: a task that forgets a declared file gives a
    FAILED run with the file named, not a DONE run the report cannot read."""
    from autoenc.study import runner
    from autoenc.study.grid import RunConfig

    lazy = Task("lazy", run=f"{__name__}:_lazy_run", predict=f"{__name__}:_lazy_run",
                files={"model.npz": "the model"}, analysis="generic")
    monkeypatch.setitem(registry.TASKS, "lazy", lazy)
    monkeypatch.setitem(spec.DEFAULTS, "lazy", spec.DEFAULTS["regressor"])  # its settings schema
    config = RunConfig(task="lazy", data={}, model={}, train={}, seed=0, params={})
    out = runner.execute_run(str(tmp_path), config.to_dict(), {})
    assert out["status"] == "failed" and "model.npz" in out["error"]


def _lazy_run(config, ctx):
    return {"ok": 1}
