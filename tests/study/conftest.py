from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = """
[study]
name = "tiny_ae"
description = "tiny autoencoder study for engine tests"
task = "autoencoder"

[data]
dataset = "fashion_mnist"
train_subset = 600
test_subset = 300

[model]
widths = [32]

[train]
epochs = {epochs}
batch_size = 64
validation_split = 0.1

[grid]
depth = [1, 2]
latent_size = [8]
loss = ["mse", "bce"]
seed = [0]

[presets.quick.train]
epochs = 1
"""

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def fashion_available() -> bool:
    env = os.environ.get("AUTOENC_DATA_DIR")
    return FASHION.exists() or bool(env and list(Path(env).rglob("train-images-idx3-ubyte*")))


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    if not fashion_available():
        for item in items:
            if "needs_fashion" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def tiny_study(tmp_path: Path):
    def make(epochs: int = 2, name: str = "tiny_ae.toml") -> Path:
        p = tmp_path / name
        p.write_text(TINY.format(epochs=epochs))
        return p

    return make


def _run_cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (1 BLAS thread so parallel tests do not oversubscribe)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "autoenc.study", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def run_cli():
    return _run_cli
