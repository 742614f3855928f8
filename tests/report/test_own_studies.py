"""Studies of one's own: every grid axis but the seed is a factor (autoenc.analysis.factors), the
comparison is named or chosen by a stated rule, runs that differ in a setting are never pooled as
seeds, and a grid the report cannot analyse is refused before anything trains."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from autoenc.analysis.factors import Contrast, DesignError, design, varying_settings
from autoenc.analysis.seed_level import Comparison, cell_verdicts, relative_differences
from autoenc.cli import main
from autoenc.study import expand, load_spec

ROOT = Path(__file__).resolve().parents[2]

USPS_STUDY = """
[study]
name = "usps_activation"
description = "USPS autoencoders: hidden activation x latent size x seed"
task = "autoencoder"
{compare}

[data]
dataset = "usps"
train_subset = 300
test_subset = 120

[model]
widths = [24]

[train]
epochs = 2
batch_size = 64
validation_split = 0.2

[grid]
depth = [2]
activation = ["relu", "tanh"]
latent_size = [12, 6]
seed = [0, 1]
{extra}
"""


def _write(tmp_path: Path, compare: str = "", extra: str = "", name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(USPS_STUDY.format(compare=compare, extra=extra))
    return p


@pytest.fixture
def usps(monkeypatch):
    shared = ROOT.parent / "shared" / "data"
    if not os.environ.get("AUTOENC_DATA_DIR") and shared.is_dir():
        monkeypatch.setenv("AUTOENC_DATA_DIR", str(shared))
    from autoenc import datasets

    try:
        found = datasets.info("usps").found
    except Exception:
        found = False
    if not found:
        pytest.skip("USPS data not installed (see data/README.md)")


# --------------------------------------------------------------------------- the design rules
def test_rule_picks_the_loss_then_the_one_other_axis(tmp_path):
    d = design(load_spec(_write(tmp_path, extra='loss = ["mse", "bce"]')))
    assert d.compared == "loss" and d.contrasts == (Contrast("bce", "mse"),)  # second grid value − first
    assert d.strata == ["activation", "latent_size"] and "rule" in d.how
    d = design(load_spec(_write(tmp_path)))
    assert d.compared == "activation" and d.contrasts == (Contrast("tanh", "relu"),)
    assert "activation" in d.describe() and "chosen by the rule" in d.describe()


def test_named_comparison_levels_and_reference(tmp_path):
    three = 'activation = ["relu", "tanh", "sigmoid"]'
    p = _write(tmp_path, compare='compare = "activation"')
    p.write_text(p.read_text().replace('activation = ["relu", "tanh"]', three))
    d = design(load_spec(p))
    assert d.pairwise and len(d.contrasts) == 3  # every pair, Holm over the family
    p.write_text(p.read_text().replace('compare = "activation"', 'compare = { factor = "activation", '
                                                                 'reference = "relu" }'))
    d = design(load_spec(p))
    assert d.contrasts == (Contrast("tanh", "relu"), Contrast("sigmoid", "relu")) and "each level against relu" \
        in d.describe()
    p.write_text(p.read_text().replace('reference = "relu"', 'levels = ["relu", "sigmoid"]'))
    assert design(load_spec(p)).contrasts == (Contrast("relu", "sigmoid"),)


@pytest.mark.parametrize("compare, message", [
    ('compare = "lr"', "not a [grid] axis"),
    ('compare = "seed"', "replicates"),
    ('compare = { factor = "activation", levels = ["relu", "elu"] }', "'elu' is not a value"),
    ('compare = { factor = "activation", reference = "relu", levels = ["relu", "tanh"] }', "not both"),
])
def test_a_comparison_the_grid_cannot_make_is_refused_before_training(tmp_path, capsys, compare, message):
    p = _write(tmp_path, compare=compare)
    with pytest.raises(DesignError, match=re.escape(message)):
        design(load_spec(p))
    out = tmp_path / "runs"
    assert main(["sweep", str(p), "--out", str(out), "--jobs", "1"]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "usps_activation" / "runs").exists()  # nothing trained
    assert main(["show", str(p)]) == 2


def test_ambiguous_grid_needs_a_named_comparison(tmp_path, capsys):
    p = _write(tmp_path, extra="lr = [0.001, 0.002]")
    assert main(["show", str(p)]) == 2
    assert 'compare = "activation"' in capsys.readouterr().err
    p = _write(tmp_path, compare='compare = "lr"', extra="lr = [0.001, 0.002]")
    assert main(["show", str(p)]) == 0
    assert "strata: activation, latent size" in capsys.readouterr().out
    p = _write(tmp_path, compare='compare = "latent_size"')
    assert main(["show", str(p)]) == 2  # the autoencoder report keeps depth and latent size as strata
    assert "equal depth and latent size" in capsys.readouterr().err


def test_seeds_are_never_pooled_across_a_stratum():
    runs = pd.DataFrame([{"depth": 1, "latent_size": 8, "loss": loss, "activation": act, "seed": s,
                          "mse_mean": 1.0 + (loss == "bce") * 0.1 + (act == "tanh") * 0.5 + s * 0.01}
                         for loss in ("mse", "bce") for act in ("relu", "tanh") for s in (0, 1, 2)])
    with pytest.raises(ValueError, match="missing from the strata"):  # activation ignored: two runs per seed
        relative_differences(runs)
    cmp = Comparison("loss", Contrast("bce", "mse"), ("depth", "latent_size", "activation"))
    cells = cell_verdicts(runs, comparison=cmp)
    assert [c.stratum["activation"] for c in cells] == ["relu", "tanh"]
    assert all(c.n == 3 for c in cells)


def test_varying_settings_name_every_resolved_difference(tmp_path):
    configs = expand(load_spec(_write(tmp_path))) + expand(load_spec(_write(tmp_path), overrides=["train.epochs=3"]))
    varying = varying_settings(configs)
    assert set(varying) == {"model.activation", "model.latent_size", "train.epochs"}


# --------------------------------------------------------------------------- end to end on USPS
@pytest.mark.slow
def test_usps_activation_study_keeps_activation_apart(usps, tmp_path):
    """The held-out user study's shape: activation x latent x seed on USPS, swept and reported."""
    p = _write(tmp_path, extra='loss = ["mse", "bce"]')
    out = tmp_path / "runs"
    assert main(["sweep", str(p), "--out", str(out), "--jobs", "1", "--report-option", "tsne_models=0",
                 "--report-option", "rd_images=60"]) == 0
    readme = (out / "usps_activation" / "report" / "README.md").read_text()
    seeds = len(load_spec(p).grid["seed"])
    for table in re.findall(r"(\| depth \|[^\n]*\n\|[^\n]*\n(?:\|[^\n]*\n)+)", readme):
        lines = table.strip().splitlines()
        header = [h.strip() for h in lines[0].strip("| ").split("|")]
        if "seeds" not in header:
            continue
        column = header.index("seeds")
        for line in lines[2:]:
            cell = line.strip("| ").split("|")[column].strip()
            assert int(cell) <= seeds, f"a table counts {cell} seeds per cell with {seeds} in the grid:\n{table}"
    verdicts = readme.split("**Verdicts per cell**")[1].split("## ")[0]
    assert "| relu |" in verdicts and "| tanh |" in verdicts  # both activation values in the comparison
    assert "Compared factor: loss" in readme and "strata: activation, latent size" in readme


@pytest.mark.slow
def test_npz_study_sweeps_and_reports_without_fashion_constants(usps, tmp_path, monkeypatch):
    """A study whose dataset is a .npz the test makes (from USPS digits, 16 x 16) sweeps and reports;
    nothing of Fashion-MNIST (image size, split sizes, loss floors, class names) leaks into its text."""
    import numpy as np

    from autoenc import datasets

    monkeypatch.setenv("AUTOENC_CACHE_DIR", str(tmp_path / "cache"))
    X, y = datasets.load("usps", "train", subset=300)
    Xt, yt = datasets.load("usps", "test", subset=100)
    to8 = lambda a: np.round(a.reshape(-1, 16, 16) * 255).astype(np.uint8)  # noqa: E731
    np.savez(tmp_path / "digits.npz", x_train=to8(X), y_train=y, x_test=to8(Xt), y_test=yt)
    study = tmp_path / "own.toml"
    study.write_text(USPS_STUDY.format(compare="", extra='loss = ["mse", "bce"]').replace('"usps"', '"digits.npz"')
                     .replace("train_subset = 300\ntest_subset = 120\n", "").replace('activation = ["relu", "tanh"]\n',
                                                                                     ""))
    out = tmp_path / "runs"
    assert main(["sweep", str(study), "--out", str(out), "--jobs", "1", "--report-option", "tsne_models=0",
                 "--report-option", "rd_images=60"]) == 0
    readme = (out / "usps_activation" / "report" / "README.md").read_text()
    assert "## Alerts" in readme and "not produced" not in readme
    for constant in ("6,000", "10,000 test", "0.242", "784", "28 × 28", "60,000", "Fashion", "T-shirt"):
        assert constant not in readme, constant
    assert "100 test images" in readme and "16 × 16" in readme  # from the data
    assert "last 60 training images" in readme  # validation size from the runs
    assert "data checksum" in readme and datasets.info(str(tmp_path / "digits.npz")).checksum in readme


@pytest.mark.slow
def test_generic_report_shows_what_varies_and_status_names_other_settings(usps, tmp_path, capsys):
    p = _write(tmp_path, compare='report = "generic"')
    out = tmp_path / "runs"
    assert main(["sweep", str(p), "--out", str(out), "--jobs", "1"]) == 0
    readme = (out / "usps_activation" / "report" / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| run_id"))
    columns = [c.strip() for c in header.strip("| ").split("|")]
    assert columns[:4] == ["run_id", "activation", "latent_size", "seed"] and len(columns) <= 12
    assert "The same in every run: `depth = 2`" in readme
    # a second sweep with another budget: the store holds both, results.csv tells them apart
    assert main(["sweep", str(p), "--out", str(out), "--jobs", "1", "--set", "train.epochs=3", "--no-report"]) == 0
    frame = pd.read_csv(out / "usps_activation" / "results.csv")
    assert sorted(frame["train.epochs"].unique()) == [2, 3] and len(frame) == 16
    capsys.readouterr()
    assert main(["status", str(p), "--out", str(out)]) == 0
    assert "8 done runs of other settings (train.epochs ∈ {3})" in capsys.readouterr().out
    assert main(["show", str(p), "--out", str(out)]) == 0
    assert re.search(r"full \(selected\): 8 runs, 8 done; all done", capsys.readouterr().out)
