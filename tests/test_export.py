"""ONNX and PyTorch exports of trained networks: onnxruntime (required) and PyTorch (when
installed) give autoenc's outputs within 1e-5; layers the export cannot write are refused."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime  # required: a dev dependency (pyproject.toml), never skipped
import pytest

from autoenc.export import ExportFormatError, part, to_onnx, torch_state_dict
from autoenc.features import AutoencoderTransformer
from autoenc.models import autoencoder
from autoenc.nn import Conv1D, Flatten, Linear, ReLU, Sequential

DOCS = Path(__file__).resolve().parents[1] / "docs" / "features.md"


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A trained 784-256-16 transformer saved as a file, and test images."""
    rng = np.random.default_rng(0)
    X = rng.random((300, 784), dtype=np.float32) ** 3
    est = AutoencoderTransformer(latent_size=16, depth=2, widths=(256,), epochs=2, random_state=0).fit(X[:200])
    return est.save(tmp_path_factory.mktemp("export") / "encoder.npz"), X[200:]


@pytest.mark.parametrize("which", ["encoder", "decoder", "autoencoder"])
def test_onnx_matches_autoenc(encoder_file, which, tmp_path):
    path, X = encoder_file
    est = AutoencoderTransformer.load(path)
    inputs, expected = {
        "encoder": (X, est.transform(X)),
        "decoder": (est.transform(X), est.inverse_transform(est.transform(X))),
        "autoencoder": (X, est.reconstruct(X)),
    }[which]
    onnx_file = to_onnx(part(est.model_, which), tmp_path / f"{which}.onnx")
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": inputs})[0]
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    one = session.run(None, {"input": inputs[:1]})[0]  # the batch size is free
    np.testing.assert_allclose(one, expected[:1], rtol=1e-5, atol=1e-5)


def test_layers_the_export_cannot_write_are_refused(tmp_path):
    conv = Sequential(Conv1D(3, 1, 4), Flatten(), Linear(4 * 6, 2))
    with pytest.raises(ExportFormatError, match="cannot export a Conv1D"):
        to_onnx(conv, tmp_path / "conv.onnx")
    with pytest.raises(ExportFormatError, match="part must be one of"):
        part(autoencoder(8, 2, depth=1), "middle")
    with pytest.raises(ExportFormatError, match="only autoencoders have parts"):
        part(Sequential(Linear(2, 2), ReLU()), "encoder")
    assert not (tmp_path / "conv.onnx").exists()


def test_torch_state_dict_layout():
    net = autoencoder(784, 16, depth=2, widths=(64,), seed=0).encoder
    state = torch_state_dict(net)
    assert {k: v.shape for k, v in state.items()} == {"0.weight": (64, 784), "0.bias": (64,),
                                                      "2.weight": (16, 64), "2.bias": (16,)}


def test_the_documented_pytorch_loader_gives_autoencs_codes(encoder_file, monkeypatch):
    torch = pytest.importorskip("torch")  # the reference only: pip install torch==2.13.0
    path, X = encoder_file
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    (snippet,) = [b for b in blocks if "torch_state_dict" in b]
    monkeypatch.chdir(path.parent)
    scope = {"X_test": X}
    with torch.no_grad():
        exec(compile(snippet, str(DOCS), "exec"), scope)  # noqa: S102 - our own documentation
    np.testing.assert_allclose(scope["codes"], AutoencoderTransformer.load(path).transform(X), rtol=1e-5, atol=1e-5)
