"""``python -m autoenc.datasets list|info`` run as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoenc.datasets import online

ROOT = Path(__file__).resolve().parents[2]
# $AUTOENC_DATA_DIR when set (a clone placed anywhere), else ../shared/data beside the checkout
SHARED = Path(os.environ.get("AUTOENC_DATA_DIR") or (ROOT / ".." / "shared" / "data")).resolve()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # shared: parse each real file once per module


def run_cli(*args: str, tmp_path: Path, data_dir: Path | None, cache: Path) -> str:
    env = dict(os.environ, AUTOENC_CACHE_DIR=str(cache), AUTOENC_OFFLINE="1",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("AUTOENC_DATA_DIR", None)
    if data_dir is not None:
        env["AUTOENC_DATA_DIR"] = str(data_dir)
    proc = subprocess.run([sys.executable, "-m", "autoenc.datasets", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data folder {SHARED} is absent")
def test_list_shows_found_data_with_counts(tmp_path, cache_dir):
    out = run_cli("list", tmp_path=tmp_path, data_dir=SHARED, cache=cache_dir)
    table = out.split("\nonline sources")[0]
    lines = {line.split()[0]: line for line in table.splitlines() if line and not line[0].isspace()}
    assert set(lines) == {"fashion_mnist", "mnist", "usps", "digits", "gaussians", "xor",
                          "checkerboard", "linear"}
    assert lines["usps"].split()[1:7] == ["found", "train", "7,291", "test", "2,007", "16x16"]
    assert "test  10,000" in lines["mnist"] and "train=csv, test=idx" in lines["mnist"]
    assert "5,000-image subset" in out and str(SHARED / "usps") in out
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        assert lines["fashion_mnist"].split()[1:5] == ["found", "train", "60,000", "test"]
    assert lines["xor"].split()[1] == "found"


def test_list_with_nothing_says_not_found(tmp_path, cache_dir):
    out = run_cli("list", "--data-dir", str(tmp_path / "empty"), tmp_path=tmp_path,
                  data_dir=None, cache=cache_dir)
    usps = next(line for line in out.splitlines() if line.startswith("usps"))
    assert "NOT FOUND" in usps
    assert "zip.train[.gz]" in out and "hastie.su.domains" in out


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data folder {SHARED} is absent")
def test_info_json(tmp_path, cache_dir):
    d = json.loads(run_cli("info", "usps", tmp_path=tmp_path, data_dir=SHARED, cache=cache_dir))
    assert d["found"] and d["n_train"] == 7291 and d["n_test"] == 2007
    assert d["shape"] == [16, 16] and d["class_names"][0] == "0" and len(d["checksum"]) == 64


def test_list_says_which_online_sources_are_usable(tmp_path, cache_dir):
    out = run_cli("list", "--data-dir", str(tmp_path / "empty"), tmp_path=tmp_path,
                  data_dir=None, cache=cache_dir)
    sources = " ".join(out.split("\nonline sources")[1].split())  # unwrap the lines
    if online.tfds_installed():
        assert "tfds installed (tensorflow-datasets 4." in sources
        assert "$AUTOENC_OFFLINE is set: prepared copies only" in sources
    else:
        assert "tfds not installed (pip install 'autoenc[tfds]')" in sources
    assert "openml $AUTOENC_OFFLINE is set: only copies already in the cache" in sources
