"""Resolved run configs: every default filled in once, variants merged, what is hashed and read."""

from __future__ import annotations

import numpy as np
import pytest

from autoenc.study.grid import RunConfig, expand, resolve
from autoenc.study.spec import DEFAULTS, SpecError, list_studies, load_spec


@pytest.mark.parametrize("name", [n for n, _ in list_studies()])
def test_every_run_of_every_study_is_resolved(name):
    spec = load_spec(name)
    for preset in spec.presets:
        for config in expand(load_spec(name, preset)):
            defaults = DEFAULTS[config.task]
            assert set(defaults["model"]) <= set(config.model) and set(defaults["train"]) <= set(config.train)
            assert "variants" not in config.model
            assert resolve(config) == config  # idempotent: downstream code never re-derives a default


def test_a_changed_default_cannot_silently_change_an_existing_id(monkeypatch):
    cfg = RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 16}, {}, 0, {})
    resolved = resolve(cfg)
    before = resolved.run_id
    monkeypatch.setitem(DEFAULTS["autoencoder"]["train"], "epochs", 99)
    # the stored (resolved) config keeps its id; only configs resolved anew pick up the new default
    assert resolved.run_id == before and resolve(cfg).run_id != before


def test_autoencoder_variants_are_applied(tmp_path):
    p = tmp_path / "ae.toml"
    p.write_text(
        '[study]\ndescription = "d"\ntask = "autoencoder"\n[data]\ndataset = "fashion_mnist"\n'
        '[model]\nlatent_size = 16\n[model.variants.big]\nlatent_size = 64\n[model.variants.small]\nlatent_size = 8\n'
        '[grid]\nvariant = ["big", "small"]\n')
    runs = expand(load_spec(p))
    assert [r.model["latent_size"] for r in runs] == [64, 8]
    assert len({r.run_id for r in runs}) == 2
    p.write_text(p.read_text().replace('variant = ["big", "small"]', 'variant = ["huge"]'))
    with pytest.raises(SpecError, match="not defined"):
        load_spec(p)


def test_features_round_trip_the_architecture_of_every_encoder_study():
    from sklearn.base import clone

    from autoenc.features import AutoencoderTransformer, _params_from_config
    from autoenc.study.tasks.autoencoder import build

    X = np.random.default_rng(0).random((40, 784)).astype(np.float32)
    checked = 0
    for name, _ in list_studies():
        spec = load_spec(name)
        if spec.task != "autoencoder":
            continue
        for config in expand(spec):
            est = AutoencoderTransformer(**_params_from_config(config))
            expected = build(config, 784).to_config()
            params = {**est.get_params(), "epochs": 1, "validation_split": 0.0}
            fitted = clone(est).set_params(**params).fit(X)
            assert fitted.model_.to_config() == expected, config.params
            checked += 1
    assert checked >= 90


def test_the_resolved_config_records_the_widths_the_network_really_has():
    # widths = [4] with a 32-wide code used to build a 32-unit layer while config.json said [4]
    cfg = resolve(RunConfig("autoencoder", {"dataset": "fashion_mnist"},
                            {"latent_size": 32, "depth": 2, "widths": [4]}, {}, 0, {}))
    assert cfg.model["widths"] == [4] and cfg.model["hidden_widths"] == [32]
    from autoenc.study.tasks.autoencoder import build

    assert [m.out_features for m in build(cfg, 50).encoder.modules if hasattr(m, "out_features")] == [32, 32]
    wide = resolve(RunConfig("autoencoder", {"dataset": "fashion_mnist"},
                             {"latent_size": 400, "depth": 3, "widths": [256, 128], "min_width_factor": 2}, {}, 0, {}))
    assert wide.model["hidden_widths"] == [800, 800]
    # the derived record adds nothing to the run id: the same settings, the same id as before it existed
    bare = RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 32, "depth": 2, "widths": [4]},
                     {}, 0, {})
    stripped = {k: v for k, v in cfg.model.items() if k != "hidden_widths"}
    assert RunConfig(cfg.task, cfg.data, stripped, cfg.train, 0, {}).run_id == bare.run_id == cfg.run_id
    with pytest.raises(ValueError, match="needs 2 hidden widths"):
        resolve(RunConfig("autoencoder", {"dataset": "fashion_mnist"}, {"latent_size": 8, "depth": 3, "widths": [4]},
                          {}, 0, {}))
