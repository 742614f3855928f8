"""Issue 22, the input side: study files of the wrong types, store paths of the wrong kind,
Markdown injection, and --data-dir meaning the folder given."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autoenc.cli import main
from autoenc.datasets import load
from autoenc.errors import InputError
from autoenc.study.spec import SpecError, load_spec

from .test_hardening import STUDY, study

AE = """
[study]
description = "ae"
task = "autoencoder"
[data]
dataset = "fashion_mnist"
n_train = 100
{data}
[model]
latent_size = 4
[train]
epochs = 1
{train}
[grid]
seed = [0]
{grid}
"""


# --------------------------------------------------------------------------- study files
@pytest.mark.parametrize("text, message", [
    ("[" * 5000 + "]" * 5000, "TOML|nested"),
    ("x = " + "[" * 5000 + "]" * 5000, "nested"),
    ("a = " + "{b = " * 50 + "1" + "}" * 50, "nested"),
    (STUDY.format(name="t", description="d", lr="0.1") + "[presets]\nquick2 = 5\n", "presets"),
    ("study = 5\n" + STUDY.format(name="t", description="d", lr="0.1").replace("[study]\n", "[other]\n"), "table"),
    (STUDY.format(name="t", description="d", lr="0.1").replace("[train]\n", "train = 5\n[x]\n"), "table|unknown"),
    (STUDY.format(name="t", description="d", lr="0.1") + "[presets.q]\nstudy = 5\n", "must be a table"),
    (STUDY.format(name="t", description="d", lr="0.1") + "[presets.q]\nbogus = 1\n", "unknown table"),
])
def test_study_files_of_the_wrong_shape(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


@pytest.mark.parametrize("data, train, grid", [
    ('scale = "raw"', 'loss = "bce"', ""),
    ("", 'loss = "bce"', 'scale = ["unit", "raw"]'),
    ('scale = "raw"', "", 'loss = ["mse", "bce"]'),
])
def test_bce_on_raw_pixels_is_refused_at_validation(tmp_path, data, train, grid):
    path = tmp_path / "ae.toml"
    path.write_text(AE.format(data=data, train=train, grid=grid))
    with pytest.raises(SpecError, match="bce.*raw|raw.*bce"):
        load_spec(path)


def test_the_list_command_survives_a_broken_study(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOENC_STUDIES_DIR", "placeholder")  # --studies-dir sets it: restored after the test
    monkeypatch.delenv("AUTOENC_STUDIES_DIR")
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000)
    assert main(["--studies-dir", str(tmp_path), "list"]) == 0
    assert "invalid" in capsys.readouterr().out


# --------------------------------------------------------------------------- store paths
@pytest.mark.parametrize("name, folder", [("results.csv", True), ("spec.json", True), ("sweeps.jsonl", True),
                                          ("runs", False), ("locks", False)])
def test_store_paths_of_the_wrong_kind(tmp_path, capsys, name, folder):
    path = study(tmp_path, name="kinds")
    target = tmp_path / "runs" / "kinds" / name
    target.parent.mkdir(parents=True)
    target.mkdir() if folder else target.write_text("x")
    for command in (["sweep", "--jobs", "1", "--no-report"], ["status"], ["report"]):
        assert main([command[0], str(path), "--out", str(tmp_path / "runs"), *command[1:], "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert name in err and len(err.splitlines()) == 1, err


# --------------------------------------------------------------------------- Markdown
@pytest.mark.parametrize("text", ["line\n# injected heading", "x\r\n[x]: javascript:alert(1)",
                                  "# heading at the start", "- a list", "a\u2028b", "tab\tand\x00nul"])
def test_markdown_gets_one_line_and_no_block_or_link(text):
    from autoenc.report.render import md_block_safe, md_escape

    out = md_block_safe(md_escape(text))
    assert "\n" not in out and "\r" not in out and "\u2028" not in out and "\x00" not in out
    assert "]:" not in out and "](" not in out and not out.startswith(("#", "-"))


def test_report_markdown_escapes_every_interpolated_string(tmp_path):
    from autoenc.report.render import _environment

    env = _environment("md")
    md = env.from_string("# {{ title }}\n\n{{ text | inline }}\n\n| {{ cell | cell }} |\n").render(
        title="t\n[x]: javascript:alert(1)", text="\n# injected\n> quote", cell="a\n|b")
    lines = md.splitlines()
    assert lines[0].startswith("# t ") and not any(line.startswith(("[x]:", "# injected", ">")) for line in lines[1:])


# --------------------------------------------------------------------------- --data-dir
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def only_env(monkeypatch):
    """--data-dir sets the process environment (as the CLI does); restored after the test."""
    monkeypatch.setenv("AUTOENC_DATA_DIR_ONLY", "placeholder")
    monkeypatch.delenv("AUTOENC_DATA_DIR_ONLY")
    monkeypatch.setenv("AUTOENC_DATA_DIR", os.environ.get("AUTOENC_DATA_DIR", ""))
    return monkeypatch


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian Fashion-MNIST package not installed")
def test_data_dir_files_lying_in_the_folder_are_used(tmp_path, only_env):
    folder = tmp_path / "flat"
    folder.mkdir()
    for f in FASHION.glob("t10k-*"):
        shutil.copy(f, folder / f.name)
    only_env.setenv("AUTOENC_DATA_DIR_ONLY", str(folder))
    X, y = load("fashion_mnist", "test", subset=50)
    assert X.shape == (50, 784) and len(y) == 50
    with pytest.raises(InputError, match=str(folder)):  # the train files are not there: no fallback
        load("fashion_mnist", "train", subset=50)


def test_garbage_in_the_data_dir_is_an_error_not_other_data(tmp_path, only_env):
    folder = tmp_path / "garbage"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(b"not an idx file at all")
    only_env.setenv("AUTOENC_DATA_DIR_ONLY", str(folder))
    with pytest.raises(InputError, match="t10k"):
        load("fashion_mnist", "test", subset=50)
    empty = tmp_path / "empty"
    empty.mkdir()
    only_env.setenv("AUTOENC_DATA_DIR_ONLY", str(empty))
    with pytest.raises(InputError, match="empty") as info:
        load("fashion_mnist", "test", subset=50)
    assert "t10k-images-idx3-ubyte" in str(info.value)  # what it expected, and where


# --------------------------------------------------------------------------- run files
def _resign(run_dir: Path) -> None:
    """Update the DONE marker's checksums, as a crafted (not a corrupted) file would have them."""
    import json

    from autoenc.study.store import sha256_file

    marker = json.loads((run_dir / "DONE").read_text())
    marker["files"] = {name: sha256_file(run_dir / name) for name in marker["files"]}
    (run_dir / "DONE").write_text(json.dumps(marker))


@pytest.mark.parametrize("damage", [
    lambda d: (d / "metrics.json").write_text((d / "metrics.json").read_text().replace('"n_train": 60',
                                                                                       '"n_train": "60"')),
    lambda d: (d / "metrics.json").write_text('["not", "an", "object"]'),
    lambda d: (d / "history.csv").write_text("epoch,train_loss\n1,abc\n2"),
    lambda d: (d / "history.csv").write_bytes(b"\xff\xfe garbage"),
])
def test_run_files_that_pass_the_checksum_but_are_malformed(tmp_path, capsys, damage):
    from autoenc.study.store import RunStore

    path = study(tmp_path, name="files")
    out = tmp_path / "runs"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--no-report", "-q"]) == 0
    store = RunStore(out / "files")
    run_id = store.run_ids()[0]
    damage(store.run_dir(run_id))
    _resign(store.run_dir(run_id))
    assert store.status(run_id) == "partial" and "retrained" in store.verify(run_id)[1]
    assert main(["report", str(path), "--out", str(out), "-q"]) == 0  # the report says so; no traceback
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--no-report", "-q"]) == 0
    assert store.status(run_id) == "done"  # retrained


def test_per_image_arrays_with_nan_or_the_wrong_length(tmp_path):
    import json

    import numpy as np

    from autoenc.study.store import check_run_files

    d = tmp_path / "run"
    d.mkdir()
    (d / "metrics.json").write_text(json.dumps({"n_test": 3, "n_validation": 2, "test_mse_mean": 0.1}))
    np.savez(d / "per_image.npz", test_mse=np.ones(3), val_mse=np.ones(2), medians=np.ones(7))
    assert check_run_files(d) is None
    np.savez(d / "per_image.npz", test_mse=np.array([1.0, np.nan, 2.0]))
    assert "NaN" in check_run_files(d)
    np.savez(d / "per_image.npz", test_mse=np.ones(4))
    assert "one value per test image" in check_run_files(d)
    np.savez(d / "per_image.npz", test_mse=np.array(["a", "b", "c"]))
    assert "not numeric" in check_run_files(d)


def test_metrics_lists_per_class_are_numbers_per_class(tmp_path):
    """Classifier runs store one accuracy per class: a list of numbers is theirs, a string is damage."""
    import json

    from autoenc.study.store import check_run_files

    d = tmp_path / "run"
    d.mkdir()
    for value, ok in (([1.0, 0.996], True), ("[1.0, 0.996]", False), ([], False), (["a"], False)):
        (d / "metrics.json").write_text(json.dumps({"test_accuracy": 0.99, "per_class_accuracy": value}))
        assert (check_run_files(d) is None) is ok, value
    (d / "metrics.json").write_text(json.dumps({"test_accuracy": [0.99]}))
    assert "is not a number" in check_run_files(d)


def test_model_files_with_nan_weights_or_a_zip_bomb(tmp_path, monkeypatch):
    import numpy as np

    from autoenc.models import autoencoder
    from autoenc.nn import ModelFileError, load, save

    model = autoencoder(8, 2, depth=1, seed=0)
    model.encoder.modules[0].weight.data[0, 0] = np.nan
    save(tmp_path / "nan.npz", model)
    with pytest.raises(ModelFileError, match="NaN"):
        load(tmp_path / "nan.npz")
    save(tmp_path / "ok.npz", autoencoder(64, 8, depth=1, seed=0))
    monkeypatch.setenv("AUTOENC_MAX_FILE_BYTES", "1000")
    with pytest.raises(ModelFileError, match="budget"):
        load(tmp_path / "ok.npz")


# --------------------------------------------------------------------------- resources
@pytest.mark.parametrize("override", ["grid.latent_size=[200000]", "model.widths=[100000, 100000]"])
def test_a_run_too_big_for_the_machine_is_refused_before_training(tmp_path, capsys, monkeypatch, override):
    monkeypatch.setenv("AUTOENC_MAX_MEMORY_GB", "1")
    path = tmp_path / "big.toml"
    path.write_text(AE.format(data="", train="", grid="").replace("latent_size = 4", "latent_size = 4\ndepth = 3"))
    argv = ["--set", override, "--out", str(tmp_path / "runs"), "-q"]
    assert main(["show", str(path), *argv]) == 2
    assert "AUTOENC_MAX_MEMORY_GB" in capsys.readouterr().err
    assert main(["sweep", str(path), *argv, "--jobs", "1", "--no-report"]) == 2
    assert not (tmp_path / "runs" / "big" / "runs").exists()
    from autoenc.study.grid import expand
    from autoenc.study.resources import check_resources, estimate

    monkeypatch.setenv("AUTOENC_MAX_MEMORY_GB", "100000")  # a bigger machine: the same study passes
    spec = load_spec(path, overrides=[override])
    assert check_resources(expand(spec)) and estimate(expand(spec)[0]).memory_bytes > 2**30


def test_the_estimate_grows_with_the_network_and_the_data(tmp_path):
    from autoenc.study.grid import expand
    from autoenc.study.resources import estimate

    path = tmp_path / "ae.toml"
    path.write_text(AE.format(data="", train="", grid="latent_size = [4, 400]"))
    small, big = (estimate(c) for c in expand(load_spec(path)))
    assert 0 < small.memory_bytes < big.memory_bytes and small.parameters < big.parameters
    more = load_spec(path, overrides=["data.n_train=50000"])
    assert estimate(expand(more)[0]).memory_bytes > small.memory_bytes


def test_learned_compression_runs_get_an_estimate_and_a_refusal(tmp_path, capsys, monkeypatch):
    """The fc and conv models of the compression task are estimated like the autoencoders: a
    hostile width is refused before training, and wider or longer runs cost more."""
    from autoenc.study.grid import expand
    from autoenc.study.resources import estimate

    path = tmp_path / "rd.toml"
    path.write_text('[study]\ndescription = "d"\ntask = "compression"\n[data]\ndataset = "fashion_mnist"\n'
                    '[model]\narchitecture = "conv"\nlatent_size = 8\nwidths = [16]\n[train]\nepochs = 2\n'
                    '[grid]\narchitecture = ["fc", "conv"]\nseed = [0]\n')
    fc, conv = (estimate(c) for c in expand(load_spec(path)))
    assert fc.memory_bytes and conv.memory_bytes and fc.seconds and conv.seconds > fc.seconds
    wide = estimate(expand(load_spec(path, overrides=["model.widths=[64]"]))[1])
    assert wide.parameters > conv.parameters and wide.memory_bytes > conv.memory_bytes
    monkeypatch.setenv("AUTOENC_MAX_MEMORY_GB", "1")
    argv = ["--set", "model.widths=[100000]", "--out", str(tmp_path / "runs"), "-q"]
    assert main(["show", str(path), *argv]) == 2
    assert "AUTOENC_MAX_MEMORY_GB" in capsys.readouterr().err
