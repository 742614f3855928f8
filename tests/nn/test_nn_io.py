"""Saving and loading networks (.npz, no pickle): bit-identical round trips, optimizer
state, and clear ModelFileError messages for files that do not match."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoenc.models import AutoEncoder, autoencoder, conv1d_net, mlp
from autoenc.nn import SGD, Adam, BCELoss, CrossEntropyLoss, ModelFileError, fit, load, load_checkpoint, save

# Warnings are errors here: a corrupt file must not leak an open file handle (ResourceWarning).
pytestmark = pytest.mark.filterwarnings("error")


def _ae_data(n=64, d=12, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, d)).astype(np.float32)


def _rewrite(path, out, edit):
    """Copy an .npz with ``edit(arrays)`` applied (arrays: dict name -> array)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    np.savez(out, **arrays)
    return out


def _edit_header(arrays, **changes):
    header = json.loads(str(arrays["__header__"]))
    header.update(changes)
    arrays["__header__"] = np.array(json.dumps(header))


@pytest.fixture
def saved(tmp_path):
    ae = autoencoder(12, 3, depth=2, widths=(6,), seed=0)
    opt = Adam(ae.parameters(), lr=0.01)
    fit(ae, BCELoss(), opt, _ae_data(), epochs=2, batch_size=16)
    path = tmp_path / "model.npz"
    save(path, ae, opt, metadata={"run": "abc", "epochs": 2})
    return ae, opt, path


# --- round trips ----------------------------------------------------------------------


def test_autoencoder_round_trip_bit_identical(saved):
    ae, _, path = saved
    loaded = load(path)
    assert isinstance(loaded, AutoEncoder) and repr(loaded) == repr(ae)
    X = _ae_data(20, seed=5)
    np.testing.assert_array_equal(loaded.forward(X), ae.forward(X))
    np.testing.assert_array_equal(loaded.encode(X), ae.encode(X))
    for (n1, p1), (n2, p2) in zip(ae.named_parameters(), loaded.named_parameters(), strict=True):
        assert n1 == n2 and p1.data.dtype == p2.data.dtype
        np.testing.assert_array_equal(p1.data, p2.data)


def test_optimizer_state_round_trip_continues_identically(saved):
    ae, opt, path = saved
    ckpt = load_checkpoint(path)
    assert ckpt.metadata == {"run": "abc", "epochs": 2}
    assert ckpt.optimizer_state["type"] == "Adam" and ckpt.optimizer_state["step_count"] == opt.step_count
    opt2 = Adam(ckpt.module.parameters())
    opt2.load_state_dict(ckpt.optimizer_state)
    assert opt2.hyperparameters() == opt.hyperparameters()
    X = _ae_data(seed=1)
    fit(ae, BCELoss(), opt, X, epochs=2, batch_size=16, seed=3)
    fit(ckpt.module, BCELoss(), opt2, X, epochs=2, batch_size=16, seed=3)
    for a, b in zip(ae.parameters(), ckpt.module.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_float64_conv_net_and_sgd_round_trip(tmp_path):
    net = conv1d_net(length=20, channels=4, hidden=8, n_classes=3, dtype=np.float64, seed=1)
    X = np.random.default_rng(0).normal(size=(30, 20, 1))
    labels = np.random.default_rng(1).integers(0, 3, size=30)
    opt = SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    fit(net, CrossEntropyLoss(), opt, X, labels, epochs=2, batch_size=8)
    save(tmp_path / "conv.npz", net, opt)
    ckpt = load_checkpoint(tmp_path / "conv.npz")
    assert ckpt.module.param_dtype == np.float64
    np.testing.assert_array_equal(ckpt.module.forward(X), net.forward(X))
    opt2 = SGD(ckpt.module.parameters())
    opt2.load_state_dict(ckpt.optimizer_state)
    assert opt2.nesterov is True and opt2.momentum == 0.9
    fit(net, CrossEntropyLoss(), opt, X, labels, epochs=1, batch_size=8, seed=4)
    fit(ckpt.module, CrossEntropyLoss(), opt2, X, labels, epochs=1, batch_size=8, seed=4)
    np.testing.assert_array_equal(ckpt.module.forward(X), net.forward(X))


def test_model_without_optimizer(tmp_path):
    net = mlp([5, 4, 2], activation="relu", output_activation="log_softmax", seed=2)
    save(tmp_path / "sub" / "mlp.npz", net)  # parent folders are created
    ckpt = load_checkpoint(tmp_path / "sub" / "mlp.npz")
    assert ckpt.optimizer_state is None and ckpt.metadata == {}
    X = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    np.testing.assert_array_equal(ckpt.module.forward(X), net.forward(X))


def test_file_has_no_pickle_and_no_leftovers(saved, tmp_path):
    _, _, path = saved
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    assert all(a.dtype != object for a in arrays.values())
    header = json.loads(str(arrays["__header__"]))
    assert header["format"] == "autoenc.nn" and header["format_version"] == 1
    assert header["architecture"]["type"] == "AutoEncoder"
    assert any(k.startswith("optim/exp_avg.") for k in arrays)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # the temporary file was renamed


def test_overwrite(saved):
    ae, _, path = saved
    other = autoencoder(12, 3, depth=2, widths=(6,), seed=9)
    save(path, other)
    X = _ae_data(5)
    np.testing.assert_array_equal(load(path).forward(X), other.forward(X))


# --- rejected files -------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found: .*nothing.npz"):
        load(tmp_path / "nothing.npz")
    with pytest.raises(ModelFileError, match="not found"):
        load(tmp_path)  # a folder is not a model file


def test_not_an_npz(tmp_path):
    bad = tmp_path / "notes.npz"
    bad.write_text("just some text, not a zip archive\n")
    with pytest.raises(ModelFileError, match="not a readable .npz model file"):
        load(bad)
    pickled = tmp_path / "pickled.npz"
    np.save(pickled.with_suffix(".npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pickled.with_suffix(".npy").rename(pickled)
    with pytest.raises(ModelFileError, match="not a readable"):
        load(pickled)


def test_single_npy_array(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ModelFileError, match="single .npy array"):
        load(path)


def test_npz_without_header(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.zeros(3))
    with pytest.raises(ModelFileError, match="no autoenc header; this .npz was not written by autoenc.nn.save"):
        load(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, -10])
def test_truncated_file(saved, tmp_path, keep):
    _, _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:keep])
    with pytest.raises(ModelFileError, match="not a readable .npz model file"):
        load(cut)


def test_wrong_version_and_format(saved, tmp_path):
    _, _, path = saved
    v2 = _rewrite(path, tmp_path / "v2.npz", lambda a: _edit_header(a, format_version=2))
    with pytest.raises(ModelFileError, match="format version 2 is not supported .*reads version 1"):
        load(v2)
    other = _rewrite(path, tmp_path / "other.npz", lambda a: _edit_header(a, format="keras"))
    with pytest.raises(ModelFileError, match="format 'keras' is not 'autoenc.nn'"):
        load(other)


def test_corrupt_header(saved, tmp_path):
    _, _, path = saved

    def garbage(arrays):
        arrays["__header__"] = np.array("{not json")

    with pytest.raises(ModelFileError, match="corrupt header"):
        load(_rewrite(path, tmp_path / "g.npz", garbage))

    def as_list(arrays):
        arrays["__header__"] = np.array("[1, 2]")

    with pytest.raises(ModelFileError, match="corrupt header"):
        load(_rewrite(path, tmp_path / "l.npz", as_list))

    def bad_arch(arrays):
        _edit_header(arrays, architecture={"type": "NoSuchLayer", "args": {}})

    with pytest.raises(ModelFileError, match="cannot rebuild the architecture .*NoSuchLayer"):
        load(_rewrite(path, tmp_path / "a.npz", bad_arch))


def test_mismatched_parameter_arrays(saved, tmp_path):
    _, _, path = saved
    with np.load(path, allow_pickle=False) as z:
        first = next(k for k in z.files if k.startswith("param/"))

    dropped = _rewrite(path, tmp_path / "dropped.npz", lambda a: a.pop(first))
    with pytest.raises(ModelFileError, match="parameter arrays do not match the header"):
        load(dropped)

    def renamed(arrays):
        arrays["param/encoder.9.weight"] = arrays.pop(first)

    with pytest.raises(ModelFileError, match="do not match the header"):
        load(_rewrite(path, tmp_path / "renamed.npz", renamed))

    def reshaped(arrays):
        arrays[first] = np.zeros((2, 2), np.float32)

    with pytest.raises(ModelFileError, match=r"weights do not fit the architecture .*has shape \(2, 2\)"):
        load(_rewrite(path, tmp_path / "reshaped.npz", reshaped))

    def other_arch(arrays):
        _edit_header(arrays, architecture=autoencoder(12, 4, depth=2, widths=(6,)).to_config())

    with pytest.raises(ModelFileError, match="weights do not fit the architecture"):
        load(_rewrite(path, tmp_path / "arch.npz", other_arch))


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
