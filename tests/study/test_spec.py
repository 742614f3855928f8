from __future__ import annotations

from pathlib import Path

import pytest

from autoenc.study import SpecError, expand, load_spec
from autoenc.study.grid import RunConfig
from autoenc.study.spec import list_studies, parse_override


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


BASE = """
[study]
description = "d"
task = "autoencoder"
[data]
dataset = "fashion_mnist"
[model]
latent_size = 16
[train]
epochs = 2
[grid]
loss = ["mse", "bce"]
seed = [0, 1]
"""


def test_valid_spec_and_grid(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    assert spec.grid_size == 4 and spec.name == "s"
    runs = expand(spec)
    assert len({r.run_id for r in runs}) == 4
    assert runs[0].train["loss"] == "mse" and runs[0].seed == 0


@pytest.mark.parametrize(
    "patch, message",
    [
        (("epochs = 2", "epochs = 0"), "[train].epochs = 0 must be > 0"),
        (("epochs = 2", "epochs = 'two'"), "has type str, expected int"),
        (("epochs = 2", "epochz = 2"), "unknown key [train].epochz"),
        (('loss = ["mse", "bce"]', 'loss = ["mse", "l1"]'), "must be one of"),
        (('loss = ["mse", "bce"]', 'colour = ["red"]'), "[grid].colour is not a known"),
        (('loss = ["mse", "bce"]', 'loss = []'), "non-empty list"),
        (('loss = ["mse", "bce"]', 'loss = ["mse", "mse"]'), "repeated values"),
        (("[grid]", "[gird]"), "unknown table"),
        (('task = "autoencoder"', 'task = "gan"'), "[study].task"),
        (("seed = [0, 1]", "seed = [-1]"), "seed values must be integers >= 0"),
        (("epochs = 2", "epochs = true"), "must be int"),
        (('dataset = "fashion_mnist"', ""), "[data].dataset is required"),
        (("[train]", "[train"), "not valid TOML"),
    ],
)
def test_spec_errors_name_file_key_and_problem(tmp_path, patch, message):
    p = write(tmp_path, BASE.replace(*patch, 1))
    with pytest.raises(SpecError) as e:
        load_spec(p)
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_presets_and_overrides(tmp_path):
    text = BASE + '\n[presets.quick.train]\nepochs = 1\n[presets.quick.grid]\nseed = [0]\n'
    p = write(tmp_path, text)
    assert load_spec(p, "quick").train["epochs"] == 1
    assert load_spec(p, "quick").grid_size == 2
    assert load_spec(p).train["epochs"] == 2
    with pytest.raises(SpecError, match="no preset 'fast'"):
        load_spec(p, "fast")
    spec = load_spec(p, None, ["train.epochs=5", "grid.latent_size=[8, 4]", "train.loss=bce"])
    assert spec.train["epochs"] == 5 and spec.grid["latent_size"] == [8, 4]
    assert "loss" not in spec.grid and spec.grid_size == 4
    with pytest.raises(SpecError, match="<section>.<key>"):
        load_spec(p, None, ["epochs=5"])
    with pytest.raises(SpecError, match=r"\[train\].epochs = -1 must be > 0"):
        load_spec(p, None, ["train.epochs=-1"])
    assert parse_override("model.activation=tanh") == ("model.activation", "tanh")


def test_run_ids_are_content_hashes():
    cfg = RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 16}, {"loss": "mse"}, 0,
                    {"loss": "mse"})
    # A fixed config keeps its id across versions: stores stay valid after upgrades.
    assert cfg.run_id == RunConfig.from_dict(cfg.to_dict()).run_id
    assert cfg.run_id == "fab45c16dd276cff", cfg.run_id
    # the id hashes the resolved config: spelling out a default does not change it
    explicit = RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 16, "depth": 2},
                         {"loss": "mse", "epochs": 10}, 0, {})
    assert explicit.run_id == cfg.run_id
    same = RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 16}, {"loss": "mse"}, 0, {})
    assert same.run_id == cfg.run_id  # grid labels do not change what is trained
    other = RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 16}, {"loss": "mse"}, 1, {})
    assert other.run_id != cfg.run_id



def test_run_id_ignores_the_variants_a_run_does_not_use():
    def run(variant, variants):
        return RunConfig("classifier", {"dataset": "xor"}, {"variant": variant, "variants": variants},
                         {"loss": "bce"}, 0, {})

    a = {"hidden": [10]}
    base = run("a", {"a": a})
    assert run("a", {"a": a, "b": {"hidden": [20]}}).run_id == base.run_id  # a new variant: same run
    assert run("a", {"a": {"hidden": [11]}}).run_id != base.run_id  # its own variant changed: new run
    assert run("b", {"a": a, "b": a}).run_id != base.run_id


def test_shipped_studies_are_valid():
    names = [n for n, d in list_studies()]
    assert "fashion_ae" in names
    for name, desc in list_studies():
        assert not desc.startswith("[invalid"), (name, desc)
        spec = load_spec(name)
        assert spec.grid_size >= 1
        if "quick" in spec.presets:
            assert load_spec(name, "quick").grid_size <= spec.grid_size


def test_fashion_ae_grid_is_the_issue_grid():
    spec = load_spec("fashion_ae")
    assert spec.grid == {"depth": [1, 2, 3], "latent_size": [400, 256, 100, 64, 16], "loss": ["mse", "bce"],
                         "seed": [0, 1, 2, 3, 4, 5]}
    assert spec.grid_size == 180
    # the matched protocol (issue 24): one schedule and budget for both losses, the best checkpoint
    assert spec.train["lr_schedule"] == "cosine" and not spec.train.get("stop_when_converged")
    assert spec.train["checkpoint"] == "best" and "loss" not in spec.train
    assert spec.model["min_width_factor"] >= 2
    quick = load_spec("fashion_ae", "quick")
    assert set(quick.grid["loss"]) == {"mse", "bce"}
    assert len(quick.grid["latent_size"]) >= 2 and len(quick.grid["seed"]) >= 2


def test_every_study_key_is_documented():
    from autoenc.study.spec import SCHEMA

    doc = (Path(__file__).resolve().parents[2] / "docs" / "studies.md").read_text()
    missing = [f"[{section}] {key}" for section, keys in SCHEMA.items() for key in keys if f"`{key}`" not in doc]
    assert not missing, f"docs/studies.md does not describe {missing}"


def test_cosine_schedule_and_lr_decay_clash_at_load(tmp_path):
    head = '[study]\ndescription = "d"\ntask = "classifier"\n[data]\ndataset = "xor"\n'
    ok = write(tmp_path, head + '[train]\nlr_schedule = "cosine"\n[model.variants.old]\nlr_schedule = "constant"\n'
                               'lr_decay = 0.9\n[grid]\nvariant = ["old"]\n')
    assert load_spec(ok).train["lr_schedule"] == "cosine"  # the variant replaces the schedule: no clash
    for body, where in (('[train]\nlr_schedule = "cosine"\nlr_decay = 0.9\n', r"\[train\]"),
                        ('[train]\nlr_schedule = "cosine"\n[model.variants.v]\nlr_decay = 0.9\n', "variant 'v'"),
                        ('[train]\nlr_decay = 0.9\n[grid]\nlr_schedule = ["constant", "cosine"]\n', r"\[train\]")):
        with pytest.raises(SpecError, match=f"{where} combines lr_schedule = 'cosine' with lr_decay"):
            load_spec(write(tmp_path, head + body))


def test_open_study_reads_a_store(tmp_path):
    from autoenc.study import open_study

    results = open_study("xor", out=str(tmp_path), preset=None)  # no store yet: every run missing
    assert not results.done and len(results.missing) > 0
    assert results.to_frame().empty


def test_report_names_an_analysis(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[study]\nname = "x"\ndescription = "x"\ntask = "autoencoder"\nreport = "autoencodr"\n'
                    '[data]\ndataset = "xor"\n[grid]\nseed = [0]\n')
    with pytest.raises(SpecError, match="report"):  # a typo would silently give the generic table
        load_spec(path)


def test_settings_added_later_keep_earlier_run_ids():
    from autoenc.study.spec import HASH_NEUTRAL

    config = expand(load_spec("xor"))[0]
    plain = RunConfig(config.task, config.data, config.model, {k: v for k, v in config.train.items()
                                                                 if k not in HASH_NEUTRAL["train"]},
                      config.seed, config.params)
    neutral = RunConfig(config.task, config.data, config.model, {**config.train, **HASH_NEUTRAL["train"]},
                        config.seed, config.params)
    assert plain.run_id == neutral.run_id  # stores trained before these keys existed stay valid
    changed = RunConfig(config.task, config.data, config.model, {**config.train, "stop_when_converged": True},
                        config.seed, config.params)
    assert changed.run_id != plain.run_id
