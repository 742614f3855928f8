"""Encoders from the run store: ``from_run``, ``from_study``, ``find_run``, ``export_encoder``
and the ``export`` CLI, on a store built by hand (no data set needed) and, when Fashion-MNIST
is installed, on one made by a real ``sweep``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from autoenc.cli import main
from autoenc.features import AutoencoderTransformer, ExportError, RunLookupError, export_encoder, find_run
from autoenc.fileio import atomic_write_json
from autoenc.nn import ModelFileError, fit, get_loss, get_optimizer, predict
from autoenc.study import RunStore, expand, load_spec
from autoenc.study.tasks import RunContext
from autoenc.study.tasks.autoencoder import build

STUDY = """
[study]
name = "mini_ae"
description = "hand-made store for feature tests"
task = "autoencoder"

[data]
dataset = "synthetic_not_loaded"

[model]
architecture = "autoencoder"
widths = [12]
output_activation = "sigmoid"

[train]
epochs = 2
batch_size = 16
lr = 0.01
validation_split = 0.1

[grid]
depth = [1, 2]
latent_size = [3, 5]
loss = ["mse", "bce"]
seed = [0]
"""

N_FEATURES = 10


def data(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, N_FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> tuple[Path, Path]:
    """(study file, out) with every run of the grid done except depth=2, latent=5 (pending),
    depth=2, latent=3, loss=mse (failed); runs trained exactly as the study task would."""
    root = tmp_path_factory.mktemp("mini")
    study = root / "mini_ae.toml"
    study.write_text(STUDY)
    out = root / "runs"
    spec = load_spec(study)
    store = RunStore(out / spec.name)
    store.write_spec(spec.to_dict(), spec.path)
    X = data()
    for config in expand(spec):
        p = config.params
        if p["depth"] == 2 and p["latent_size"] == 5:
            continue  # pending
        run_dir = store.prepare(config)
        if p["depth"] == 2 and p["loss"] == "mse":
            store.mark_failed(config.run_id, "Traceback ...\nFloatingPointError: loss is nan")
            continue
        train_run(store, config, run_dir, X)
    return study, out


def train_run(store: RunStore, config, run_dir: Path, X: np.ndarray) -> None:
    """Train one run exactly as the study task would and mark it done."""
    model = build(config, N_FEATURES)
    opt = get_optimizer("adam", model, lr=config.train["lr"])
    history = fit(model, get_loss(config.params["loss"]), opt, X, epochs=config.train["epochs"],
                  batch_size=config.train["batch_size"], seed=config.seed, validation_split=0.1)
    ctx = RunContext(run_dir)
    ctx.save_model(model, opt, {"task": "autoencoder", "input_size": N_FEATURES})
    ctx.save_history(history)
    atomic_write_json(run_dir / "metrics.json", {"final_train_loss": history.train_loss[-1]})
    store.mark_done(config.run_id)


def run_of(mini, **cell) -> Path:
    study, out = mini
    spec = load_spec(study)
    return find_run(spec, RunStore(out / spec.name), cell).path


def test_from_run_gives_the_stored_models_codes(mini):
    run_dir = run_of(mini, depth=1, latent_size=3, loss="bce", seed=0)
    est = AutoencoderTransformer.from_run(run_dir)
    stored = RunStore(run_dir.parent.parent).run(run_dir.name).load_model()
    X = data(40, seed=1)
    # transform computes in float64 (results independent of the batch split), rounded to float32 once
    np.testing.assert_array_equal(est.transform(X), predict(stored.encoder, X, compute_dtype=np.float64))
    np.testing.assert_allclose(est.transform(X), stored.encode(X), rtol=1e-5, atol=1e-6)
    assert est.get_params()["latent_size"] == 3 and est.get_params()["loss"] == "bce"
    assert est.get_params()["widths"] == (12,) and est.get_params()["random_state"] == 0
    assert est.n_features_in_ == N_FEATURES and est.n_iter_ == 2
    assert est.source_["run_id"] == run_dir.name and est.source_["cell"]["loss"] == "bce"
    # the model file itself is accepted too
    np.testing.assert_array_equal(AutoencoderTransformer.from_run(run_dir / "model.npz").transform(X), est.transform(X))


def test_from_run_params_retrain_the_same_run(mini):
    """An int random_state seeds weights and shuffling like the study engine does."""
    run_dir = run_of(mini, depth=1, latent_size=5, loss="mse", seed=0)
    est = AutoencoderTransformer.from_run(run_dir)
    X = data(40, seed=1)
    with threadpool_limits(1):  # the engine's runs use 1 BLAS thread
        again = clone(est).fit(data())
    np.testing.assert_array_equal(again.transform(X), est.transform(X))


def test_from_study_matches_with_coercion_and_alias(mini):
    study, out = mini
    est = AutoencoderTransformer.from_study(str(study), out=out, latent="3", depth="1", loss="mse", seed="0")
    assert est.source_["study"] == "mini_ae" and est.source_["cell"]["latent_size"] == 3
    assert est.get_params()["loss"] == "mse"


def test_from_study_no_match_lists_available_cells(mini):
    study, out = mini
    with pytest.raises(RunLookupError, match=r"no grid cell .* matches.*available: depth in \[1, 2\]; latent_size in"):
        AutoencoderTransformer.from_study(str(study), out=out, latent_size=64, depth=1, loss="mse", seed=0)


def test_from_study_unknown_key(mini):
    study, out = mini
    with pytest.raises(RunLookupError, match=r"unknown cell key\(s\) \['colour'\].*grid keys"):
        AutoencoderTransformer.from_study(str(study), out=out, colour="red")


def test_from_study_ambiguous_lists_matches(mini):
    study, out = mini
    with pytest.raises(RunLookupError, match=r"(?s)2 done runs .* match depth=1,latent_size=3;.*loss=mse.*loss=bce"):
        AutoencoderTransformer.from_study(str(study), out=out, depth=1, latent_size=3)


def test_from_study_pending_and_failed_runs_say_why(mini):
    study, out = mini
    hint = r"(?s)no done run.*pending.*run `autoenc sweep .*mini_ae.toml --out .*runs`"
    with pytest.raises(RunLookupError, match=hint):
        AutoencoderTransformer.from_study(str(study), out=out, depth=2, latent_size=5, loss="bce", seed=0)
    with pytest.raises(RunLookupError, match="failed: FloatingPointError: loss is nan"):
        AutoencoderTransformer.from_study(str(study), out=out, depth=2, latent_size=3, loss="mse", seed=0)


def test_from_study_fixed_settings_can_be_part_of_the_cell(mini):
    study, out = mini
    est = AutoencoderTransformer.from_study(str(study), out=out, depth=2, latent_size=3, loss="bce", epochs=2)
    assert est.get_params()["depth"] == 2
    with pytest.raises(RunLookupError, match="no grid cell"):
        AutoencoderTransformer.from_study(str(study), out=out, depth=2, latent_size=3, loss="bce", epochs=7)


def test_from_study_other_settings_hint(mini):
    """Runs trained under other settings (another preset/--set) are pointed at, not used."""
    study, out = mini
    with pytest.raises(RunLookupError, match=r"done run\(s\) with these values exist in the store under other"):
        AutoencoderTransformer.from_study(str(study), out=out, overrides=["train.epochs=3"],
                                          depth=1, latent_size=3, loss="bce", seed=0)


def test_from_study_and_export_read_the_preset_the_store_was_swept_with(tmp_path, capsys):
    """A store swept with the quick preset is read as quick by from_study and the CLI (no preset
    given); asking for another preset explicitly points at the quick runs, not at a full sweep."""
    study = tmp_path / "mini_ae.toml"
    study.write_text(STUDY + "\n[presets.quick.train]\nepochs = 1\n[presets.quick.grid]\ndepth = [1]\n"
                     "latent_size = [3]\nloss = [\"bce\"]\n")
    out = tmp_path / "runs"
    spec = load_spec(study, "quick")
    store = RunStore(out / spec.name)
    store.write_spec(spec.to_dict(), spec.path)
    (config,) = expand(spec)
    train_run(store, config, store.prepare(config), data())
    est = AutoencoderTransformer.from_study(str(study), out=out, latent_size=3, loss="bce", depth=1, seed=0)
    assert est.source_["run_id"] == config.run_id and est.source_["preset"] == "quick"
    assert main(["export", str(study), "--out", str(out), "--cell", "latent=3,loss=bce,depth=1,seed=0",
                 "--to", str(tmp_path / "e.npz")]) == 0
    with pytest.raises(RunLookupError) as info:
        AutoencoderTransformer.from_study(str(study), out=out, preset="full", latent_size=3, loss="bce", depth=1,
                                          seed=0)
    assert "the last sweep used preset 'quick'" in str(info.value) and "autoenc sweep" not in str(info.value)


def test_from_run_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        AutoencoderTransformer.from_run(tmp_path / "runs" / "0123456789abcdef")


def test_from_run_not_a_run_folder(tmp_path):
    with pytest.raises(RunLookupError, match="not a run folder"):
        AutoencoderTransformer.from_run(tmp_path)


def test_from_run_corrupt_model_is_detected(mini, tmp_path):
    import shutil

    src = run_of(mini, depth=1, latent_size=5, loss="bce", seed=0)
    run_dir = tmp_path / "copy" / "runs" / src.name
    shutil.copytree(src, run_dir)
    data_bytes = (run_dir / "model.npz").read_bytes()
    (run_dir / "model.npz").write_bytes(data_bytes[:-100] + b"\0" * 100)
    with pytest.raises(RunLookupError, match="model.npz does not match its checksum"):
        AutoencoderTransformer.from_run(run_dir)
    # a DONE marker that does not list the model (e.g. hand-edited) falls through to the core's check
    (run_dir / "DONE").write_text('{"files": {}}')
    with pytest.raises(ModelFileError, match="not a readable .npz"):
        AutoencoderTransformer.from_run(run_dir)


def test_from_run_of_a_classifier_run(tmp_path):
    from autoenc.study.grid import RunConfig

    config = RunConfig("classifier", {"dataset": "usps"}, {"architecture": "mlp"}, {}, 0, {"seed": 0})
    store = RunStore(tmp_path / "clf")
    store.prepare(config)
    store.mark_done(config.run_id)
    with pytest.raises(RunLookupError, match="is a classifier run .* only autoencoder runs have an encoder"):
        AutoencoderTransformer.from_run(store.run_dir(config.run_id))


# --- export ---------------------------------------------------------------------------------
def test_export_encoder_writes_a_loadable_file_with_provenance(mini, tmp_path):
    study, out = mini
    spec = load_spec(study)
    store = RunStore(out / spec.name)
    cell = {"latent_size": 5, "loss": "bce", "depth": 1, "seed": 0}
    path = export_encoder(spec, store, cell, tmp_path / "enc.npz")
    est = AutoencoderTransformer.load(path)
    run = find_run(spec, store, cell)
    assert est.source_["study"] == "mini_ae" and est.source_["run_id"] == run.run_id
    assert est.source_["cell"] == {"depth": 1, "latent_size": 5, "loss": "bce", "seed": 0}
    X = data(30, seed=2)
    np.testing.assert_array_equal(est.transform(X), predict(run.load_model().encoder, X, compute_dtype=np.float64))


def test_export_encoder_errors_are_spec_errors(mini, tmp_path):
    from autoenc.study.spec import SpecError

    study, out = mini
    spec = load_spec(study)
    with pytest.raises(ExportError) as info:
        export_encoder(spec, RunStore(out / spec.name), {"latent_size": 99}, tmp_path / "enc.npz")
    assert isinstance(info.value, SpecError)


def test_export_cli_end_to_end(mini, tmp_path, capsys):
    study, out = mini
    to = tmp_path / "exported" / "encoder.npz"
    rc = main(["export", str(study), "--out", str(out), "--cell", "latent=3,loss=bce,depth=2,seed=0", "--to", str(to)])
    assert rc == 0 and to.is_file()
    assert f"encoder written to {to}" in capsys.readouterr().out
    est = AutoencoderTransformer.load(to)
    assert est.get_params()["depth"] == 2 and est.source_["cell"]["latent_size"] == 3
    # a cell that is not done: a clear message and exit code 2, no traceback
    rc = main(["export", str(study), "--out", str(out), "--cell", "latent=5,loss=bce,depth=2,seed=0",
               "--to", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "error: no done run" in err and "pending" in err
    assert not (tmp_path / "x.npz").exists()


# --- a real sweep (quick preset, tiny overrides) ---------------------------------------------
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
needs_fashion = pytest.mark.skipif(
    not (FASHION.exists() or os.environ.get("AUTOENC_DATA_DIR")), reason="Fashion-MNIST not installed"
)
SWEEP_SET = ["data.train_subset=600", "train.epochs=1", "grid.latent_size=[16]", "grid.depth=[1]", "grid.seed=[0]"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    args = ["sweep", "fashion_ae", "--preset", "quick", "--out", str(out), "--no-report", "--jobs", "1"]
    for s in SWEEP_SET:
        args += ["--set", s]
    assert main(args) == 0
    return out


@needs_fashion
@pytest.mark.needs_fashion
def test_quick_sweep_run_codes_via_from_run_from_study_and_export(swept, tmp_path):
    from autoenc import datasets

    X, _ = datasets.load("fashion_mnist", "test", subset=500)
    est = AutoencoderTransformer.from_study("fashion_ae", out=swept, preset="quick", overrides=SWEEP_SET,
                                            latent_size=16, loss="bce", depth=1, seed=0)
    run = RunStore(swept / "fashion_ae").run(est.source_["run_id"])
    stored = run.load_model()
    codes = est.transform(X)
    assert codes.shape == (500, 16)
    np.testing.assert_array_equal(codes, predict(stored.encoder, X, compute_dtype=np.float64))
    np.testing.assert_array_equal(AutoencoderTransformer.from_run(run.path).transform(X), codes)

    to = tmp_path / "encoder.npz"
    args = ["export", "fashion_ae", "--preset", "quick", "--out", str(swept), "--cell",
            "latent=16,loss=bce,depth=1,seed=0", "--to", str(to)]
    for s in SWEEP_SET:
        args += ["--set", s]
    assert main(args) == 0
    np.testing.assert_array_equal(AutoencoderTransformer.load(to).transform(X), codes)

    # retraining with the run's parameters on the run's data reproduces the run bit for bit,
    # given the run's BLAS thread count (float32 sums differ between 1 and 2 threads)
    X_train, _ = datasets.load("fashion_mnist", "train", subset=600)
    with threadpool_limits(1):
        refit = clone(est).fit(X_train)
    np.testing.assert_array_equal(refit.transform(X), codes)


def test_export_cli_writes_onnx_parts(mini, tmp_path, capsys):
    import onnxruntime

    study, out = mini
    est = AutoencoderTransformer.from_run(run_of(mini, depth=1, latent_size=5, loss="bce", seed=0))
    X = data(20, seed=3)
    base = ["export", str(study), "--out", str(out), "--cell", "depth=1,latent=5,loss=bce,seed=0"]
    for which, inputs, expected in (("encoder", X, est.transform(X)), ("autoencoder", X, est.reconstruct(X))):
        to = tmp_path / f"{which}.onnx"
        assert main([*base, "--to", str(to), "--part", which]) == 0
        got = onnxruntime.InferenceSession(str(to)).run(None, {"input": inputs})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert main([*base, "--to", str(tmp_path / "e.npz"), "--part", "decoder"]) == 2
    assert "--part decoder applies to ONNX files" in capsys.readouterr().err
