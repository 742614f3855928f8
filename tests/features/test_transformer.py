"""AutoencoderTransformer on its own: fit/transform, files, errors, Pipelines (tiny data)."""

from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline

from autoenc.features import AutoencoderTransformer
from autoenc.models import autoencoder, mlp
from autoenc.nn import ModelFileError, save

FAST = {"depth": 2, "widths": (16,), "epochs": 3, "batch_size": 32, "lr": 1e-2, "random_state": 0}


def blobs(n: int = 120, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of [0, 1] 'images' with different mean patterns."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    centers = rng.uniform(0.2, 0.8, size=(2, d))
    X = np.clip(centers[y] + 0.1 * rng.normal(size=(n, d)), 0, 1)
    return X, y


@pytest.fixture(scope="module")
def fitted() -> tuple[AutoencoderTransformer, np.ndarray]:
    X, _ = blobs()
    return AutoencoderTransformer(latent_size=4, **FAST).fit(X), X


def test_fit_transform_shapes_and_attributes(fitted):
    est, X = fitted
    Z = est.transform(X)
    assert Z.shape == (len(X), 4) and Z.dtype == np.float32
    assert est.n_features_in_ == X.shape[1]
    assert est.n_iter_ == 3 and len(est.history_.train_loss) == 3
    assert est.inverse_transform(Z).shape == X.shape
    np.testing.assert_allclose(est.inverse_transform(Z), est.reconstruct(X), rtol=1e-6, atol=1e-6)
    assert list(est.get_feature_names_out()) == ["autoencoder0", "autoencoder1", "autoencoder2", "autoencoder3"]


def test_score_samples_is_per_sample_mse_higher_is_worse(fitted):
    est, X = fitted
    scores = est.score_samples(X)
    assert scores.shape == (len(X),) and scores.dtype == np.float64
    expected = ((X - est.reconstruct(X).astype(np.float64)) ** 2).mean(axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    # noise far from the training patterns reconstructs worse: a higher score
    noise = np.random.default_rng(1).uniform(size=X.shape)
    assert est.score_samples(noise).mean() > scores.mean()


def test_same_random_state_same_codes():
    X, _ = blobs()
    a = AutoencoderTransformer(latent_size=4, **FAST).fit(X).transform(X)
    b = AutoencoderTransformer(latent_size=4, **FAST).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


def test_training_lowers_the_loss_and_validation_split_records_val_loss():
    X, _ = blobs(200)
    est = AutoencoderTransformer(latent_size=4, **{**FAST, "epochs": 8}, validation_split=0.2).fit(X)
    assert est.history_.train_loss[-1] < est.history_.train_loss[0]
    assert np.isfinite(est.history_.val_loss).all()


def test_bce_rejects_inputs_outside_unit_interval_with_advice():
    X, _ = blobs()
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\].*MinMaxScaler"):
        AutoencoderTransformer(latent_size=4, **FAST).fit(X * 255)
    with pytest.raises(ValueError, match="Negative values in data"):
        AutoencoderTransformer(latent_size=4, **FAST).fit(X - 0.5)
    # MSE with a linear output takes any scale
    AutoencoderTransformer(latent_size=4, loss="mse", output_activation=None, **FAST).fit(X * 255 - 100)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"loss": "hinge"}, "loss must be one of"),
        ({"loss": "bce", "output_activation": None}, "needs output_activation='sigmoid'"),
        ({"latent_size": 0}, "latent_size must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
        ({"activation": "swish"}, "unknown activation"),
    ],
)
def test_bad_hyperparameters_raise_at_fit(params, message):
    X, _ = blobs(20)
    est = AutoencoderTransformer(**{**FAST, **params})  # __init__ only stores them (sklearn rule)
    with pytest.raises(ValueError, match=message):
        est.fit(X)


def test_transform_checks_feature_count(fitted):
    est, X = fitted
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :5])
    with pytest.raises(ValueError, match="latent size is 4"):
        est.inverse_transform(np.zeros((2, 3)))


def test_set_output_pandas_uses_feature_names(fitted):
    pd = pytest.importorskip("pandas")
    est, X = fitted
    df = clone(est).set_output(transform="pandas").fit(pd.DataFrame(X, columns=[f"px{i}" for i in range(20)]))
    out = df.transform(pd.DataFrame(X, columns=[f"px{i}" for i in range(20)]))
    assert list(out.columns) == [f"autoencoder{i}" for i in range(4)]
    assert list(df.feature_names_in_) == [f"px{i}" for i in range(20)]


# --- save / load ------------------------------------------------------------------------
def test_save_load_round_trip_gives_identical_codes(fitted, tmp_path):
    est, X = fitted
    path = est.save(tmp_path / "sub" / "enc.npz", metadata={"note": "hello"})
    back = AutoencoderTransformer.load(path)
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    np.testing.assert_array_equal(back.inverse_transform(est.transform(X)), est.inverse_transform(est.transform(X)))
    assert back.get_params() == est.get_params()
    assert back.history_.train_loss == est.history_.train_loss
    assert back.source_["note"] == "hello" and back.source_["file"] == str(path)
    # the file is a plain .npz: readable without pickle
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["__header__"]))
    assert header["metadata"]["kind"] == "autoenc.features.AutoencoderTransformer"
    # a loaded estimator can be saved again and refitted
    back.save(tmp_path / "again.npz")
    assert AutoencoderTransformer.load(tmp_path / "again.npz").source_["note"] == "hello"
    clone(back).fit(X)


def test_save_keeps_dataframe_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, _ = blobs()
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(20)])
    est = AutoencoderTransformer(latent_size=2, **FAST).fit(df)
    back = AutoencoderTransformer.load(est.save(tmp_path / "enc.npz"))
    assert list(back.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(back.transform(df), est.transform(df))


def test_unfitted_save_raises(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AutoencoderTransformer().save(tmp_path / "x.npz")


def test_load_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        AutoencoderTransformer.load(tmp_path / "nope.npz")


def test_load_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        AutoencoderTransformer.load(tmp_path)


def test_load_corrupt_file(fitted, tmp_path):
    est, _ = fitted
    path = est.save(tmp_path / "enc.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(ModelFileError, match="not a readable .npz"):
        AutoencoderTransformer.load(path)
    (tmp_path / "text.npz").write_text("not a model")
    with pytest.raises(ModelFileError):
        AutoencoderTransformer.load(tmp_path / "text.npz")


def test_load_npz_without_header(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not written by autoenc.nn.save"):
        AutoencoderTransformer.load(tmp_path / "plain.npz")


def test_load_edited_weights(fitted, tmp_path):
    est, _ = fitted
    path = est.save(tmp_path / "enc.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    key = next(k for k in arrays if k.startswith("param/"))
    arrays[key] = arrays[key][:1]  # wrong shape
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(ModelFileError, match="weights do not fit"):
        AutoencoderTransformer.load(tmp_path / "edited.npz")


def test_load_classifier_file_is_not_an_encoder(tmp_path):
    save(tmp_path / "mlp.npz", mlp([4, 8, 2]))
    with pytest.raises(ModelFileError, match="not a saved AutoencoderTransformer"):
        AutoencoderTransformer.load(tmp_path / "mlp.npz")


def test_load_plain_autoencoder_points_to_from_run(tmp_path):
    save(tmp_path / "model.npz", autoencoder(10, 2, depth=1), metadata={"task": "autoencoder"})
    with pytest.raises(ModelFileError, match="a run's model file.*from_run"):
        AutoencoderTransformer.load(tmp_path / "model.npz")


def test_load_transformer_file_holding_a_non_autoencoder(tmp_path):
    meta = {"kind": "autoenc.features.AutoencoderTransformer", "kind_version": 1, "params": {}}
    save(tmp_path / "odd.npz", mlp([4, 8, 2]), metadata=meta)
    with pytest.raises(ModelFileError, match="holds a Sequential, not an autoencoder"):
        AutoencoderTransformer.load(tmp_path / "odd.npz")


def test_saved_file_is_a_valid_zip_without_pickles(fitted, tmp_path):
    est, _ = fitted
    path = est.save(tmp_path / "enc.npz")
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            with zf.open(name) as f:
                header = f.read(128)
            assert b"'descr': '|O'" not in header  # no object arrays (they would need pickle)


# --- Pipelines ----------------------------------------------------------------------------
def test_pipeline_with_grid_search_over_latent_size():
    X, y = blobs(160)
    pipe = Pipeline([
        ("ae", AutoencoderTransformer(latent_size=2, **FAST)),
        ("clf", LogisticRegression(max_iter=200)),
    ])
    search = GridSearchCV(pipe, {"ae__latent_size": [2, 4]}, cv=2, n_jobs=1)
    search.fit(X, y)
    assert search.best_params_["ae__latent_size"] in (2, 4)
    assert search.best_estimator_.named_steps["ae"].transform(X).shape[1] == search.best_params_["ae__latent_size"]
    assert search.score(X, y) > 0.9  # two well separated classes
    assert list(search.best_estimator_[:-1].get_feature_names_out())[0] == "autoencoder0"


@pytest.mark.needs_fashion
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists()
                    and not os.environ.get("AUTOENC_DATA_DIR"), reason="Fashion-MNIST not installed")
def test_example_script_runs_on_a_tiny_subset(capsys):
    path = Path(__file__).resolve().parents[2] / "examples" / "feature_pipeline.py"
    spec = importlib.util.spec_from_file_location("feature_pipeline_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--train-subset", "300", "--test-subset", "200", "--epochs", "1", "--latent-size", "8"])
    out = capsys.readouterr().out
    assert "autoencoder (8)" in out and "PCA (8)" in out and "k-means ARI" in out


def test_fitted_estimator_does_not_keep_activations(fitted):
    import pickle

    est, X = fitted
    small = len(pickle.dumps(est))
    est.transform(np.tile(X, (50, 1)))  # 6,000 rows: would add ~0.5 MB if kept
    est.score_samples(np.tile(X, (50, 1)))
    assert len(pickle.dumps(est)) <= small + 1000


def test_methods_that_read_X_check_its_range_as_fit_does(fitted):
    est, X = fitted
    pixels = np.round(X * 255).astype(np.uint8)  # 8-bit images: the common slip
    for method in (est.transform, est.reconstruct, est.score_samples):
        with pytest.raises(ValueError, match=r"X must lie in \[0, 1\].*divide by 255"):
            method(pixels)
    np.testing.assert_array_equal(est.transform(pixels / 255.0), est.transform((pixels / 255.0).astype(np.float32)))
    # an MSE-trained model with a sigmoid output (the study's MSE runs) cannot reconstruct values above 1 either
    with pytest.raises(ValueError, match=r"output_activation='sigmoid'\): X must lie in \[0, 1\]"):
        AutoencoderTransformer(latent_size=4, loss="mse", **FAST).fit(X * 255)


def test_a_single_sample_is_refused_with_scikit_learns_message(fitted):
    est, X = fitted
    with pytest.raises(ValueError, match=r"(?s)Expected 2D array, got 1D array instead.*reshape\(1, -1\)"):
        est.transform(X[0])
    np.testing.assert_array_equal(est.transform(X[0].reshape(1, -1)), est.transform(X)[:1])


def test_a_loaded_encoder_in_a_pipeline_stays_fitted_with_frozen_estimator(fitted, tmp_path):
    """scikit-learn's convention: Pipeline.fit refits every step; FrozenEstimator keeps a
    prefitted one as it is (docs/features.md)."""
    from sklearn.frozen import FrozenEstimator

    est, X = fitted
    _, y = blobs()
    loaded = AutoencoderTransformer.load(est.save(tmp_path / "e.npz"))
    codes = loaded.transform(X)
    pipe = make_pipeline(FrozenEstimator(loaded), LogisticRegression(max_iter=200)).fit(X, y)
    np.testing.assert_array_equal(pipe[0].transform(X), codes)  # not retrained
    np.testing.assert_array_equal(clone(pipe).fit(X[::-1], y[::-1])[0].transform(X), codes)  # GridSearchCV clones
    assert pipe.score(X, y) > 0.9
    retrained = make_pipeline(loaded, LogisticRegression(max_iter=200)).fit(X[::-1], y[::-1])
    assert not np.array_equal(retrained[0].transform(X), codes)  # unfrozen: fit trains from scratch
