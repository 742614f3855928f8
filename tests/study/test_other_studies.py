"""The original study's other experiments as studies: spec validation of every study file and
each quick preset end to end (sweep + report) through the CLI's ``main``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autoenc.cli import main
from autoenc.study import RunStore, expand, load_spec

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ["linear_regression", "linear_classification", "xor", "multiclass_mnist", "multiclass_usps", "conv1d_usps"]
REAL_DATA = {"multiclass_mnist": "mnist", "multiclass_usps": "usps", "conv1d_usps": "usps"}


@pytest.fixture
def data_dir(monkeypatch):
    """Point the loaders at the shared data folder (``../shared/data``) when nothing else is set."""
    shared = ROOT.parent / "shared" / "data"
    if not os.environ.get("AUTOENC_DATA_DIR") and shared.is_dir():
        monkeypatch.setenv("AUTOENC_DATA_DIR", str(shared))


def _need(dataset: str) -> None:
    from autoenc import datasets

    try:
        found = datasets.info(dataset).found
    except Exception:  # a broken or missing file: the loader tests cover that
        found = False
    if not found:
        pytest.skip(f"{dataset} data not installed (see data/README.md)")


# --------------------------------------------------------------------------- spec validation
@pytest.mark.parametrize("name", STUDIES)
@pytest.mark.parametrize("preset", ["full", "quick"])
def test_study_file_is_valid(name, preset):
    spec = load_spec(name, preset)
    assert spec.task in ("classifier", "regressor")
    configs = expand(spec)
    assert configs and len({c.run_id for c in configs}) == len(configs)
    if preset == "full":
        assert len(spec.grid["seed"]) >= 3, "full presets replicate over at least 3 seeds"
    # every variant the grid names is defined, with only model/train keys (the spec checks the keys)
    variants = spec.model.get("variants", {})
    for v in spec.grid.get("variant", []):
        assert v in variants, f"[grid].variant {v!r} has no [model.variants.{v}]"
    # every "original vs now" row selects at least one run of the full grid
    if preset == "full":
        from autoenc.analysis.cells import matches

        for row_name, row in spec.extra.get("original", {}).items():
            assert any(matches(c, row.get("cell", {})) for c in configs), f"original row {row_name} selects no run"


@pytest.mark.parametrize("name", STUDIES)
def test_every_preset_expands(name):
    # presets beyond full/quick (e.g. conv1d_usps's validation check) must stay valid too
    for preset in load_spec(name).presets:
        spec = load_spec(name, preset)
        variants = spec.model.get("variants", {})
        assert all(v in variants for v in spec.grid.get("variant", [])), (name, preset)
        assert expand(spec), (name, preset)


def test_conv1d_validation_preset_holds_out_1000_images():
    spec = load_spec("conv1d_usps", "validation")
    assert round(7291 * spec.train["validation_split"]) == 1000
    assert spec.grid["variant"][:2] == ["conv1d", "previous"] and spec.grid["train_subset"] == [7291]


def test_quick_presets_are_small():
    for name in STUDIES:
        spec = load_spec(name, "quick")
        assert spec.grid_size <= 12, name


def test_variants_are_validated(tmp_path):
    from autoenc.study.spec import SpecError

    text = (ROOT / "studies" / "xor.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('[model.variants.wide]', '[model.variants.wide]\nlayers = 3'))
    with pytest.raises(SpecError, match="unknown key 'layers'"):
        load_spec(bad)
    bad.write_text(text.replace('lr = 0.01', 'lr = -1'))
    with pytest.raises(SpecError, match="must be > 0"):
        load_spec(bad)


# --------------------------------------------------------------------------- end to end
def _sweep(name: str, out: Path) -> RunStore:
    rc = main(["sweep", name, "--preset", "quick", "--out", str(out), "--jobs", "1"])
    assert rc == 0
    store = RunStore(out / name)
    results = store.results(expand(load_spec(name, "quick")))
    assert not results.failed and not results.missing
    return store


def _report_ok(store: RunStore) -> dict:
    try:
        import autoenc.report  # noqa: F401
    except ImportError:
        return {}
    report = store.root / "report"
    assert (report / "report.html").is_file() and (report / "README.md").is_file()
    readme = (report / "README.md").read_text()
    for link in (line.split("](")[1].split(")")[0] for line in readme.splitlines() if line.startswith("![")):
        assert (report / link).is_file(), link
    return json.loads((report / "headline.json").read_text())


def _medians(store: RunStore, metric: str, **cell) -> float:
    import numpy as np

    runs = store.results().select(**cell)
    assert runs, cell
    return float(np.median([r.metrics[metric] for r in runs]))


def test_xor_quick_meets_the_bar(tmp_path, data_dir):
    store = _sweep("xor", tmp_path)
    for full_batch in (True, False):  # the original's two forms: >= 0.995 median over 3 seeds
        assert _medians(store, "test_accuracy", dataset="xor", full_batch=full_batch, variant="original") >= 0.995
    run = store.results().select(dataset="xor", full_batch=False)[0]
    for name in ("model.npz", "history.csv", "predictions.npz", "metrics.json"):
        assert (run.path / name).is_file()
    p = run.arrays("predictions.npz")
    assert p["probabilities"].shape == (1000, 2) and p["confidence"].min() >= 0.5
    m = run.metrics
    assert len(m["per_class_accuracy"]) == 2 and sum(map(sum, m["confusion_matrix"])) == 1000
    headline = _report_ok(store)
    if headline:
        assert "Every bar met" in headline["headline"]
        assert (store.root / "report" / "figures" / "boundary-0.png").is_file()


def test_linear_regression_quick_recovers_a_and_b(tmp_path, data_dir):
    store = _sweep("linear_regression", tmp_path)
    for run in store.results().select(lr=0.1, noise=1.0):
        m = run.metrics
        assert m["a_rel_error"] <= 0.01 and m["b_rel_error"] <= 0.01 and m["reached_least_squares"]
    for run in store.results().select(lr=1.1):  # above 2/λmax: diverges, recorded, not failed
        assert run.metrics["diverged"] and not run.metrics["reached_least_squares"]
    headline = _report_ok(store)
    if headline:
        assert "recovers a = -19.9" in headline["headline"] and headline["verdict"] == "bars met"


def test_linear_classification_quick(tmp_path, data_dir):
    store = _sweep("linear_classification", tmp_path)
    assert _medians(store, "test_accuracy", loss="mse", sigma=0.1) >= 0.99
    assert _medians(store, "test_accuracy", loss="bce", sigma=0.1) >= 0.99
    _report_ok(store)


@pytest.mark.parametrize("name", ["multiclass_mnist", "multiclass_usps", "conv1d_usps"])
def test_digit_studies_quick(name, tmp_path, data_dir):
    _need(REAL_DATA[name])
    store = _sweep(name, tmp_path)
    for run in store.results().done:
        m = run.metrics
        assert 0.5 < m["test_accuracy"] <= 1 and len(m["per_class_accuracy"]) == 10
        assert m["data_note"]
    headline = _report_ok(store)
    if headline:
        readme = (store.root / "report" / "README.md").read_text()
        assert "Most confidently misclassified" in readme and "Original vs now" in readme
        # a study with a non-row reading order shows the orders
        assert ("## Reading orders" in readme) == (name == "conv1d_usps")
        # a study whose settings came from a search says so instead of "no setting is chosen on it"
        selection = load_spec(name, "quick").extra.get("selection")
        if selection:
            assert f"How the settings were chosen: {selection}" in readme and "no setting or epoch" not in readme
        else:
            assert "no setting or epoch is chosen on it" in readme
