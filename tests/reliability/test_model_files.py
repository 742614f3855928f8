"""Crafted model files: one error type (ModelFileError), no allocation beyond what the file holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoenc.features import AutoencoderTransformer
from autoenc.models import autoencoder
from autoenc.nn import Linear, ModelFileError, Sequential, load, save


def _write(path, header: dict, **arrays):
    np.savez(path, __header__=np.array(json.dumps(header)), **arrays)
    return path


def _header(architecture, parameters=()):
    return {"format": "autoenc-model", "format_version": 1, "architecture": architecture,
            "parameters": list(parameters), "metadata": {}}


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npz"
    save(path, Sequential(Linear(3, 2, seed=np.random.default_rng(0))))
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["__header__"]))
    return header


@pytest.mark.parametrize("architecture", [
    [], "Sequential", {"type": 5}, {"type": "Sequential", "children": {"a": 1}},
    {"type": "Sequential", "args": [1, 2]}, {"type": "Linear", "args": {"in_features": {"x": 1}}},
    {"type": "Linear", "args": {"bogus": 1}},
])
def test_wrong_json_shapes(tmp_path, good, architecture):
    header = dict(good, architecture=architecture)
    with pytest.raises(ModelFileError):
        load(_write(tmp_path / "bad.npz", header))


def test_deep_nesting_is_refused(tmp_path, good):
    arch: dict = {"type": "Sequential", "children": []}
    for _ in range(100):
        arch = {"type": "Sequential", "children": [arch]}
    with pytest.raises(ModelFileError):
        load(_write(tmp_path / "deep.npz", dict(good, architecture=arch, parameters=[])))


def test_a_small_header_cannot_allocate_gigabytes(tmp_path, good):
    arch = {"type": "Sequential", "children": [{"type": "Linear", "args": {"in_features": 200_000,
                                                                          "out_features": 200_000}}]}
    with pytest.raises(ModelFileError, match="larger than the file's weights"):
        load(_write(tmp_path / "huge.npz", dict(good, architecture=arch, parameters=[])))


def test_non_float_weights_are_refused(tmp_path, good):
    arrays = {f"param/{n}": np.zeros((3, 2) if "weight" in n else (2,), np.int64) for n in good["parameters"]}
    with pytest.raises(ModelFileError, match="floating point"):
        load(_write(tmp_path / "int.npz", good, **arrays))


def test_transformer_load_keeps_the_contract(tmp_path):
    est_path = tmp_path / "ae.npz"
    model = autoencoder(8, 2, depth=1, seed=0)
    save(est_path, model, metadata={"kind": 5})  # wrong metadata shape
    with pytest.raises(ModelFileError):
        AutoencoderTransformer.load(est_path)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError):
        AutoencoderTransformer.load(tmp_path / "junk.npz")
