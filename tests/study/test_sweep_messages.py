"""What a sweep says when every run fails for the same reason: the cause once, not once per run."""

from __future__ import annotations

from autoenc.cli import main

STUDY = """
[study]
name = "missing_data"
description = "a classifier study whose data are not installed"
task = "classifier"

[data]
dataset = "usps"

[model]
architecture = "mlp"
hidden = [8]

[train]
epochs = 1

[grid]
seed = [0, 1, 2, 3]
lr = [0.01, 0.1]
"""


def test_missing_data_is_reported_once_per_sweep(tmp_path, monkeypatch, capsys):
    study = tmp_path / "missing_data.toml"
    study.write_text(STUDY)
    monkeypatch.setenv("AUTOENC_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("AUTOENC_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    rc = main(["sweep", str(study), "--out", str(tmp_path / "runs"), "--jobs", "1", "--no-report"])
    err = capsys.readouterr().err
    assert rc == 1 and "8 failed" in err
    assert err.count("How to get it") == 1, err  # the full message once
    assert err.count("(same error as above)") == 7
    assert "8 runs failed with the same error" in err
