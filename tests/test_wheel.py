"""The package as a user installs it: a wheel built from this tree (not the editable checkout)
lists the shipped studies, sweeps the quick preset of the main study and writes its report."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (path,) = out.glob("autoenc-*.whl")
    return path


def test_wheel_ships_studies_templates_and_type_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "autoenc/studies/fashion_ae.toml" in names
    assert "autoenc/py.typed" in names
    assert any(n.startswith("autoenc/report/templates/") for n in names)
    assert not any(n.startswith(("tests/", "runs/", "reports/")) for n in names)


def _fashion_available() -> bool:
    env = os.environ.get("AUTOENC_DATA_DIR")
    return Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists() or bool(
        env and list(Path(env).rglob("train-images-idx3-ubyte*")))


@pytest.mark.slow
@pytest.mark.skipif(not _fashion_available(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
def test_installed_wheel_runs_the_quick_study(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    work = tmp_path / "work"  # outside the checkout: only the installed package can be imported
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("AUTOENC_STUDIES_DIR", None)

    def autoenc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "autoenc.cli", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=900)

    check = subprocess.run([sys.executable, "-c", "import autoenc; print(autoenc.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True)
    assert str(target) in check.stdout  # the wheel's copy, not the checkout
    listed = autoenc("list")
    assert listed.returncode == 0 and "fashion_ae" in listed.stdout
    assert autoenc("--version").stdout.startswith("autoenc ")
    # no checkout beside a wheel: where to put missing data must not name <project>/data or data/README.md
    missing = subprocess.run([sys.executable, "-m", "autoenc.datasets", "info", "usps"], cwd=work,
                             env={**env, "AUTOENC_DATA_DIR": str(tmp_path / "empty"), "AUTOENC_OFFLINE": "1"},
                             capture_output=True, text=True, timeout=120)
    text = missing.stdout + missing.stderr
    assert "AUTOENC_DATA_DIR=DIR" in text and "<project>" not in text and "data/README.md" not in text, text
    swept = autoenc("sweep", "fashion_ae", "--preset", "quick", "--jobs", "2", "--out", "runs",
                    "--report-dir", "report")
    assert swept.returncode == 0, swept.stderr[-2000:]
    html = (work / "report" / "report.html").read_text()
    assert "Compression in bits" in html and "BCE-trained vs MSE-trained" in html
