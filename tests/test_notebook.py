"""The example notebook (examples/from_store_to_bits.ipynb) runs from top to bottom on a tiny
store this test sweeps (scikit-learn's 8x8 digits, 4 runs of 2 epochs: seconds)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autoenc.cli import main

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "from_store_to_bits.ipynb"
STUDY = """
[study]
name = "digits_ae"
description = "tiny autoencoder study on scikit-learn's 8x8 digits (notebook test)"
task = "autoencoder"

[data]
dataset = "digits"

[model]
widths = [16]

[train]
epochs = 2
batch_size = 64

[grid]
depth = [1, 2]
latent_size = [4]
loss = ["mse", "bce"]
seed = [0]
"""


def test_notebook_runs_on_a_tiny_store(tmp_path, monkeypatch):
    study = tmp_path / "digits_ae.toml"
    study.write_text(STUDY)
    out = tmp_path / "runs"
    assert main(["sweep", str(study), "--out", str(out), "--jobs", "1", "--no-report", "-q"]) == 0
    monkeypatch.setenv("AUTOENC_NOTEBOOK_STUDY", str(study))
    monkeypatch.setenv("AUTOENC_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's autoenc
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "bits per pixel" in text and "image 0:" in text and "digits_ae" in text
