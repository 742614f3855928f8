"""Damaged and hostile input: clear errors (exit code 2), no write outside what the user named,
damaged stores and caches that heal, an interrupted --force sweep that loses nothing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from autoenc.cli import main
from autoenc.fileio import atomic_write_bytes
from autoenc.study.grid import expand
from autoenc.study.runner import run_all
from autoenc.study.spec import SpecError, load_spec
from autoenc.study.store import RunStore

STUDY = """
[study]
name = "{name}"
description = "{description}"
task = "regressor"
[data]
dataset = "linear"
n_train = 60
n_test = 20
[train]
optimizer = "sgd"
lr = {lr}
epochs = 3
full_batch = true
[grid]
seed = [0, 1]
[presets.quick.train]
epochs = 2
"""


def study(tmp_path: Path, name: str = "tiny", description: str = "tiny", lr: str = "0.01") -> Path:
    p = tmp_path / f"{name if name.isidentifier() else 'study'}.toml"
    p.write_text(STUDY.format(name=name, description=description, lr=lr))
    return p


# --------------------------------------------------------------------------- writes
def test_writes_go_through_symlinks_and_never_replace_special_files(tmp_path):
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(tmp_path, b"x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileExistsError, match="not a regular file"):
        atomic_write_bytes(fifo, b"x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize("name", ["../../x", "/abs/path", "a/b", "javascript:alert(1)", ".."])
def test_study_names_cannot_leave_the_store(tmp_path, name):
    with pytest.raises(SpecError, match="plain identifier"):
        load_spec(study(tmp_path, name=name))


def test_descriptions_cannot_inject_markdown(tmp_path):
    with pytest.raises(SpecError, match="one line"):
        load_spec(study(tmp_path, description="x\\n# injected heading"))
    from autoenc.report.render import md_escape

    assert "](" not in md_escape("[click](javascript:alert(1))")


# --------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("args", [
    ["--jobs", "-5"], ["--threads-per-run", "0"], ["--set", "train.lr=inf"], ["--set", "train.lr=nan"],
    ["--data-dir", "/nonexistent/autoenc-data"],
])
def test_bad_sweep_arguments_exit_2_with_one_line(tmp_path, capsys, args):
    rc = main(["sweep", str(study(tmp_path)), "--out", str(tmp_path / "runs"), "--no-report", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and "Traceback" not in err


def test_out_that_is_a_file_or_read_only(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["sweep", str(study(tmp_path)), "--out", str(f), "--no-report"]) == 2
    assert "is a file" in capsys.readouterr().err
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        assert main(["sweep", str(study(tmp_path)), "--out", str(ro), "--no-report"]) == 2


def test_a_validation_split_that_leaves_no_training_data_fails_the_run(tmp_path, monkeypatch):
    import autoenc.study.tasks.autoencoder as task
    from autoenc.study.grid import RunConfig
    from autoenc.study.tasks import RunContext

    X = np.random.default_rng(0).random((500, 16)).astype(np.float32)
    monkeypatch.setattr(task, "load_split", lambda data, split: (X, np.zeros(len(X), int)))
    config = RunConfig("autoencoder", {"dataset": "x"}, {"latent_size": 2, "depth": 1},
                       {"validation_split": 0.99999, "epochs": 1}, 0, {})
    with pytest.raises(ValueError, match="validation_split"):
        task.run(config, RunContext(tmp_path))


# --------------------------------------------------------------------------- damaged store
def _sweep(path: Path, out: Path, **kwargs) -> RunStore:
    spec = load_spec(path)
    store = RunStore(out / spec.name)
    store.write_spec(spec.to_dict(), path)
    run_all(store, expand(spec), jobs=1, progress=False, **kwargs)
    return store


@pytest.mark.parametrize("marker", [b"\xff\xfe not utf-8", b"[]", b'{"files": 5}', b'{"files": {"../x": "0"}}',
                                    b'{"files": {"metrics.json": 7}}'])
def test_malformed_done_markers_mean_retrain_not_crash(tmp_path, capsys, marker):
    path = study(tmp_path)
    store = _sweep(path, tmp_path / "runs")
    run_id = store.run_ids()[0]
    (store.run_dir(run_id) / "DONE").write_bytes(marker)
    assert store.status(run_id) == "partial"
    assert main(["status", str(path), "--out", str(tmp_path / "runs")]) == 0
    assert "will rerun" in capsys.readouterr().out
    _sweep(path, tmp_path / "runs")
    assert store.status(run_id) == "done"


def test_a_damaged_data_cache_entry_is_rebuilt(tmp_path):
    from autoenc.datasets.cache import RawSplit, read_entry, write_entry

    raw = RawSplit(X=np.zeros((4, 3), np.uint8), y=np.arange(4), raw_range=(0, 255), fmt="idx", location=None,
                   files={}, notes=[])
    path = tmp_path / "fashion_mnist-train-idx-0123456789abcdef.npz"
    write_entry(path, "k", raw)
    assert read_entry(path, "k") is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit pattern in the middle of the array
    path.write_bytes(bytes(data))
    assert read_entry(path, "k") is None
    path.write_bytes(bytes(data[:100]))  # truncated
    assert read_entry(path, "k") is None


def test_reading_commands_default_to_the_preset_the_store_was_swept_with(tmp_path, capsys):
    path = study(tmp_path)
    out = tmp_path / "runs"
    assert main(["sweep", str(path), "--preset", "quick", "--out", str(out), "--no-report"]) == 0
    csv_before = (out / "tiny" / "results.csv").read_text()
    assert main(["status", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr()
    assert "preset 'quick'" in text.err and "done: 2" in text.out
    # results.csv is never shrunk to another preset's runs
    assert main(["status", str(path), "--out", str(out), "--preset", "full"]) == 0
    assert (out / "tiny" / "results.csv").read_text() == csv_before


def test_an_interrupted_force_sweep_loses_nothing_and_continues(tmp_path, monkeypatch):
    path = study(tmp_path)
    store = _sweep(path, tmp_path / "runs")
    ids = [c.run_id for c in expand(load_spec(path))]
    before = {i: store.done_time(i) for i in ids}
    from autoenc.study import tasks

    calls = {"n": 0}
    original = tasks.get_task

    def flaky(name):
        fn = original(name)

        def wrapped(config, ctx):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # the user stops the sweep during the second run
            return fn(config, ctx)
        return wrapped

    monkeypatch.setattr(tasks, "get_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        _sweep(path, tmp_path / "runs", force=True)
    monkeypatch.setattr(tasks, "get_task", original)
    # every run is done: the first retrained, the second still the old one
    assert all(store.status(i) == "done" for i in ids)
    assert store.done_time(ids[0]) > before[ids[0]] and store.done_time(ids[1]) == before[ids[1]]
    first = store.done_time(ids[0])
    _sweep(path, tmp_path / "runs", force=True)  # the rerun continues: only the second is retrained
    assert store.done_time(ids[0]) == first and store.done_time(ids[1]) > before[ids[1]]
    assert not (store.root / "force.json").exists()
    assert json.loads((store.run_dir(ids[1]) / "metrics.json").read_text())["epochs_run"] == 3


def test_studies_are_found_from_the_package_anywhere(tmp_path, monkeypatch):
    from autoenc.study.spec import find_study, studies_dir

    # set, then removed: monkeypatch restores "unset" after the test even though main() sets it again
    monkeypatch.setenv("AUTOENC_STUDIES_DIR", "placeholder")
    monkeypatch.delenv("AUTOENC_STUDIES_DIR")
    monkeypatch.chdir(tmp_path)
    assert (studies_dir() / "fashion_ae.toml").is_file()
    assert find_study("fashion_ae").name == "fashion_ae.toml"
    own = tmp_path / "mine"
    own.mkdir()
    (own / "only.toml").write_text(STUDY.format(name="only", description="d", lr="0.1"))
    assert main(["--studies-dir", str(own), "show", "only"]) == 0
    assert main(["--studies-dir", str(tmp_path / "missing"), "list"]) == 2


@pytest.mark.parametrize("command", ["export", "codec"])
def test_single_run_commands_refuse_all(command, tmp_path, capsys):
    from autoenc.cli import main

    assert main([command, "xor", "--all", "--cell", "seed=0", "--to", str(tmp_path / "x.npz"),
                 "--out", str(tmp_path)]) == 2
    assert "--all" in capsys.readouterr().err


def test_the_analysis_cache_checks_key_content_and_damage(tmp_path):
    """One cache helper for every analysis: a value comes back only under the key it was written
    with, damage and wrong types read as absent, and an unwritable store is not an error."""
    import types

    from autoenc.analysis.context import ReportContext, ReportOptions

    logged = []
    ctx = types.SimpleNamespace(options=ReportOptions(), cache_path=lambda name: tmp_path / "c" / name,
                                log=logged.append)
    ctx.cache_get = get = lambda *a, **k: ReportContext.cache_get(ctx, *a, **k)  # noqa: E731
    ctx.cache_put = put = lambda *a: ReportContext.cache_put(ctx, *a)  # noqa: E731
    put("a.json", "k1", [1.0, 2.0])
    put("b.npz", "k1", {"x": np.arange(3.0)})
    assert get("a.json", "k1") == [1.0, 2.0] and get("a.json", "k2") is None
    np.testing.assert_array_equal(get("b.npz", "k1")["x"], np.arange(3.0))
    assert get("b.npz", "other") is None and "__key__" not in get("b.npz", "k1")
    assert get("a.json", "k1", valid=lambda v: isinstance(v, dict)) is None
    for name in ("a.json", "b.npz"):
        path = tmp_path / "c" / name
        path.write_bytes(path.read_bytes()[:5])
        assert get(name, "k1") is None
    (tmp_path / "c" / "a.json").write_text('["no key"]')
    assert get("a.json", "k1") is None
    computed = ReportContext.cached(ctx, "new.json", "k", lambda: {"v": 1})
    assert computed == {"v": 1} and get("new.json", "k") == {"v": 1}
    (tmp_path / "c" / "d.json").mkdir()  # cannot be written: logged, not raised
    put("d.json", "k", 1)
    assert any("not written" in m for m in logged)
    ctx.options = ReportOptions(use_cache=False)
    assert get("new.json", "k") is None
