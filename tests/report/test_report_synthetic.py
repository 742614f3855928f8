"""The report frame and the autoencoder analysis on a small synthetic run store.

The store is written directly (``RunStore.prepare`` / ``mark_done``) with real, untrained
tiny autoencoders on 8x8 synthetic images, so these tests need no dataset and take seconds.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from autoenc.analysis.context import generic_analysis
from autoenc.fileio import atomic_write_json, atomic_write_text
from autoenc.report import (
    ANALYSES,
    ReportOptions,
    Section,
    Table,
    build_index,
    build_report,
    format_value,
    get_analysis,
    register_analysis,
)
from autoenc.stats import reconstruction_metrics
from autoenc.study.grid import expand
from autoenc.study.spec import load_spec
from autoenc.study.store import RunStore
from autoenc.study.tasks import RunContext
from autoenc.study.tasks.autoencoder import build

N_TRAIN, N_TEST, SIDE = 600, 300, 8
EVIL = "<script>alert('x')</script> & <b>bold</b>"

STUDY = f"""
[study]
name = "synth_ae"
description = "Synthetic autoencoders {EVIL}"
task = "autoencoder"

[data]
dataset = "synthetic_squares"

[model]
widths = [32]
activation = "relu"
output_activation = "sigmoid"

[train]
epochs = 3
validation_split = 0.1

[grid]
depth = [1, 2]
latent_size = [8, 4]
loss = ["mse", "bce"]
seed = [0, 1]
"""


def synthetic_data(split: str) -> tuple[np.ndarray, np.ndarray]:
    """10 classes of 8x8 images: class c is a bright bar at row c % 8 (+ noise)."""
    n = N_TRAIN if split == "train" else N_TEST
    rng = np.random.default_rng(0 if split == "train" else 1)
    y = np.arange(n) % 10
    X = rng.uniform(0, 0.2, size=(n, SIDE, SIDE))
    for i, c in enumerate(y):
        X[i, c % SIDE, :] = 0.9
        if c >= SIDE:
            X[i, :, c % SIDE] = 0.8
    return X.reshape(n, -1).astype(np.float32), y


def loader(data: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    return synthetic_data(split)


def failing_loader(data: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    raise FileNotFoundError("no data on this machine (test)")


def write_run(store: RunStore, config, converged: bool = True) -> None:
    """A done run as the autoencoder task would leave it, with an untrained model."""
    run_dir = store.prepare(config)
    X_test, y_test = synthetic_data("test")
    model = build(config, SIDE * SIDE)
    m = reconstruction_metrics(X_test, model.forward(X_test))
    if config.train["loss"] == "bce":  # untrained twins of the MSE runs: make the losses differ a little
        rng = np.random.default_rng(config.seed + 10 * config.model["latent_size"])
        m["mse"] = m["mse"] * rng.uniform(0.93, 1.03, size=len(m["mse"]))
    ctx = RunContext(run_dir)
    ctx.save_arrays("per_image.npz", test_mse=m["mse"], test_bce=m["bce"], test_labels=y_test)
    ctx.save_model(model, None, {"task": "autoencoder", "input_size": SIDE * SIDE})
    base = 0.05 if config.train["loss"] == "mse" else 0.4
    lines = ["epoch,train_loss,val_loss,wall_seconds"]
    # a plateau over the last 5 epochs (the convergence rule, recomputed by the report), or a
    # curve still falling for the run that must be flagged
    shape = [2, 1.5, 1.2, 1.0, 1.0, 1.0, 0.999, 0.999, 0.999] if converged else [2, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7,
                                                                                 0.6, 0.5]
    lines += [f"{e},{base * f!r},{base * f * 1.1!r},0.1" for e, f in enumerate(shape, start=1)]
    atomic_write_text(run_dir / "history.csv", "\n".join(lines) + "\n")
    atomic_write_json(run_dir / "metrics.json", {
        "test_mse_mean": float(m["mse"].mean()), "test_sse_mean": float(m["sse"].mean()),
        "test_bce_mean": float(m["bce"].mean()), "converged": converged, "epochs_run": 9,
        "final_val_loss": base / 3, "train_seconds": 0.5,
    })
    store.mark_done(config.run_id)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    path = root / "synth_ae.toml"
    path.write_text(STUDY)
    spec = load_spec(path)
    store = RunStore(root / "runs" / spec.name)
    for i, config in enumerate(expand(spec)):
        write_run(store, config, converged=i != 3)
    return spec, store


def small_options(**kw) -> ReportOptions:
    defaults = dict(tsne_train=200, tsne_test=100, tsne_models=1, probe_train=300, probe_max_iter=50, n_boot=200,
                    data_loader=loader)
    return ReportOptions(**{**defaults, **kw})


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    spec, store = study
    out = tmp_path_factory.mktemp("report") / "synth_ae"
    html = build_report(store.root, out, spec=spec, command="pytest <synthetic>", options=small_options())
    return html, spec, store


SECTIONS = ["Runs and settings", "Convergence", "BCE-trained vs MSE-trained: seeds as the replicates",
            "Error table in the original study's three scales", "Autoencoder vs PCA", "Error vs latent size",
            "Learning curves", "Reconstructions", "t-SNE maps", "Codes as features"]


# --------------------------------------------------------------------------- formatting
def test_format_value():
    assert format_value(float("nan")) == "–"
    assert format_value(None) == "–"
    assert format_value(12345) == "12,345"
    assert format_value(True) == "yes"
    assert format_value(0.0123456) == "0.01235"
    assert format_value(1.5e-5) == "1.50e-05"
    assert format_value(123456.7) == "123,457"
    assert format_value(0.5, "pct") == "50.0%"
    assert format_value(3e-20, "p") == "3.0e-20"
    assert format_value(0.0312, "p") == "0.031"
    assert format_value(0.0, "p") == "<1e-300"
    assert format_value(0.25, "+.2f") == "+0.25"


def test_table_from_frame_and_records():
    import pandas as pd

    frame = pd.DataFrame({"latent": [64, 16], "p two-sided": [1e-8, 0.2], "name": ["a", "b"]})
    header, rows, numeric = Table(frame).cells()
    assert header == ["latent", "p two-sided", "name"]
    assert rows == [["64", "1.0e-08", "a"], ["16", "0.200", "b"]]
    assert numeric == [True, True, False]
    header, rows, _ = Table([{"a": 1}, {"a": 2, "b": 0.5}]).cells()
    assert header == ["a", "b"] and rows[0] == ["1", "–"]


def test_registry_dispatch():
    from autoenc.analysis import autoencoder as analysis_autoencoder

    assert get_analysis("autoencoder") is analysis_autoencoder.analyze
    assert ANALYSES["autoencoder"] is analysis_autoencoder.analyze
    assert get_analysis("no_such_task_xyz") is generic_analysis
    sentinel = object()
    register_analysis("dummy_task", sentinel)  # type: ignore[arg-type]
    try:
        assert get_analysis("dummy_task") is sentinel
    finally:
        ANALYSES.pop("dummy_task")


def test_section_block_order():
    s = Section("T", paragraphs=["p1"], tables=[Table([{"a": 1}])])
    s.add_text("p2")
    assert [k for k, _ in s.blocks] == ["text", "table", "text"]
    assert s.anchor == "sec-t"


# --------------------------------------------------------------------------- the report
def test_report_has_every_section(report):
    html_path, spec, _ = report
    html = html_path.read_text()
    for title in SECTIONS:
        assert f"<h2>{title.replace(chr(39), '&#39;')}</h2>" in html, title
    md = (html_path.parent / "README.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in md, title
    assert "Verdicts per cell" in html and "Provenance" in html
    # headline first: verdict table before the first section
    assert html.index("Verdicts per cell") < html.index("<h2>Runs and settings</h2>")
    meta = json.loads((html_path.parent / "headline.json").read_text())
    assert meta["study"] == "synth_ae" and meta["headline"] and meta["verdict"]


def test_report_alerts_non_converged(report):
    html = report[0].read_text()
    assert "1 runs do not meet the convergence rule" in html
    assert "runs missing" not in html


def test_description_is_escaped(report):
    html_path = report[0]
    html = html_path.read_text()
    assert "<script" not in html.lower()  # neither the study's text nor any script of ours
    assert "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html
    md = (html_path.parent / "README.md").read_text()
    assert "<script" not in md and "&lt;script&gt;" in md


def test_html_loads_nothing_from_network(report):
    html = report[0].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html, re.IGNORECASE)
    assert "@import" not in html
    srcs = re.findall(r"""<img[^>]*\ssrc="([^"]*)\"""", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    hrefs = re.findall(r"""href="([^"]*)\"""", html)
    assert all(h.startswith("#") for h in hrefs)


def test_markdown_images_resolve(report):
    folder = report[0].parent
    md = (folder / "README.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) >= 8
    for link in links:
        assert not link.startswith(("http:", "https:", "/"))
        assert (folder / link).is_file(), link
    pngs = {p.name for p in (folder / "figures").glob("*.png")}
    assert pngs == {Path(link).name for link in links}  # no stale figures
    html = report[0].read_text()
    assert html.count("<img ") == len(links)


def test_pca_cache_written_and_reused(report):
    _, spec, store = report
    cache = store.root / "report_cache" / "pca_baseline.npz"
    assert cache.is_file()
    with np.load(cache, allow_pickle=False) as z:
        assert {"k8_mse", "k4_mse", "__key__"} <= set(z.files)
        assert z["k8_mse"].shape == (N_TEST,)


def test_report_without_data_still_renders(study, tmp_path):
    spec, store = study
    html = build_report(store.root, tmp_path / "r", spec=spec, command="pytest",
                        options=small_options(data_loader=failing_loader, use_cache=False))
    text = html.read_text()
    assert "PCA baseline not computed" in text
    assert "not produced" in text
    assert "seeds as the replicates" in text.lower()


def test_partial_store(study, tmp_path):
    spec, store = study
    # a copy of the store with: two runs deleted (missing), one failed, one cell with only MSE runs
    root = tmp_path / "partial"
    shutil.copytree(store.root, root)
    partial = RunStore(root)
    configs = expand(spec)
    by = {(c.params["depth"], c.params["latent_size"], c.params["loss"], c.params["seed"]): c for c in configs}
    for key in [(1, 4, "bce", 0), (1, 4, "bce", 1)]:  # cell depth 1, k=4: only MSE left
        partial.clear(by[key].run_id)
    failed = by[(2, 8, "mse", 1)]
    partial.clear(failed.run_id)
    partial.prepare(failed)
    partial.mark_failed(failed.run_id, "Traceback (most recent call last):\nFloatingPointError: loss is nan\n")
    interrupted = by[(2, 4, "bce", 1)]
    (partial.run_dir(interrupted.run_id) / "DONE").unlink()
    html = build_report(root, tmp_path / "report", spec=spec, command="pytest", options=small_options())
    text = html.read_text()
    assert "3 of 16 runs missing" in text
    assert "not run yet" in text and "interrupted or corrupted" in text
    assert "1 of 16 runs failed" in text and "FloatingPointError: loss is nan" in text
    assert "cells without both losses" in text and "only MSE-trained runs" in text
    md = (html.parent / "README.md").read_text()
    assert "runs missing" in md


def test_store_without_done_runs(study, tmp_path):
    spec, _ = study
    html = build_report(tmp_path / "empty", tmp_path / "r", spec=spec, command="pytest", options=small_options())
    text = html.read_text()
    assert "no completed runs" in text and "16 of 16 runs missing" in text


def test_index_links_every_report(report, tmp_path):
    html_path = report[0]
    root = tmp_path / "reports"
    shutil.copytree(html_path.parent, root / "synth_ae")
    (root / "other" / "report").mkdir(parents=True)
    (root / "other" / "report" / "report.html").write_text("<html></html>")
    index = build_index(root)
    text = index.read_text()
    assert 'href="synth_ae/report.html"' in text and 'href="other/report/report.html"' in text
    assert "(no headline.json)" in text
    meta = json.loads((root / "synth_ae" / "headline.json").read_text())
    assert meta["headline"].split(".")[0] in text
    md = (root / "README.md").read_text()
    for link in re.findall(r"\]\(([^)]+)\)", md):
        assert (root / link).is_file(), link


def chromium_broken_images(html_path: Path, tmp_path: Path) -> tuple[int, int]:
    """(images, broken images) of ``html_path`` as loaded by headless Chromium.

    The report has no JavaScript; a test copy gets a tiny script that writes the counts into
    the DOM, which ``--dump-dom`` prints after the page has loaded.
    """
    probe = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
             "const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;"
             "const p = document.createElement('pre'); p.id = 'img-check';"
             "p.textContent = 'IMAGES ' + imgs.length + ' BROKEN ' + bad; document.body.appendChild(p); });</script>")
    copy = tmp_path / "check.html"
    copy.write_text(html_path.read_text().replace("</body>", probe + "</body>"))
    out = subprocess.run(["/usr/bin/chromium", "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom",
                          "--virtual-time-budget=10000", copy.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r"IMAGES (\d+) BROKEN (\d+)", out.stdout)
    assert m, f"no image check in the DOM; chromium said: {out.stderr[-2000:]}"
    return int(m.group(1)), int(m.group(2))


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="headless Chromium not installed")
def test_html_images_load_in_chromium(report, tmp_path):
    html_path = report[0]
    n, broken = chromium_broken_images(html_path, tmp_path)
    assert n == html_path.read_text().count("<img ") and n >= 8
    assert broken == 0


def test_options_from_env(monkeypatch):
    o = ReportOptions.from_env("tsne_train=300, tsne_models=0,use_cache=false")
    assert (o.tsne_train, o.tsne_models, o.use_cache) == (300, 0, False)
    with pytest.raises(ValueError, match="bogus"):
        ReportOptions.from_env("bogus=1")
    monkeypatch.setenv("AUTOENC_REPORT_OPTIONS", "n_boot=50")
    assert ReportOptions.from_env().n_boot == 50


def test_single_seed_grid(study, tmp_path):
    spec, store = study
    one_seed = load_spec(spec.path, overrides=["grid.seed=[0]"])
    html = build_report(store.root, tmp_path / "r", spec=one_seed, command="pytest",
                        options=small_options(tsne_models=0))
    text = html.read_text()
    assert "1 seed" in text and "t-SNE maps skipped" in text
    assert "seeds disagree in" not in text


def test_report_option_flags_reach_the_report(tmp_path, monkeypatch, capsys):
    import autoenc.report as report_pkg
    from autoenc.cli import main

    seen = {}

    def fake_build_report(store_root, report_dir, *, spec, command, options=None, verbose=None, **_):
        seen["options"] = options
        return report_dir / "report.html"

    monkeypatch.setattr(report_pkg, "build_report", fake_build_report)
    (tmp_path / "linear_regression").mkdir()
    monkeypatch.setenv("AUTOENC_REPORT_OPTIONS", "n_boot=50,tsne_models=1")
    args = ["report", "linear_regression", "--preset", "quick", "--out", str(tmp_path)]
    assert main([*args, "--report-option", "n_boot=70", "--report-option", "tsne_train=300"]) == 0
    # the flags override the environment key by key
    assert (seen["options"].n_boot, seen["options"].tsne_models, seen["options"].tsne_train) == (70, 1, 300)
    assert main([*args, "--report-option", "n_boot=many"]) == 2
    assert "n_boot takes a whole number" in capsys.readouterr().err
    assert main([*args, "--report-option", "bogus=1"]) == 2
    assert "'bogus=1' is not KEY=VALUE" in capsys.readouterr().err
    # --jobs bounds every stage of the report (codec workers, BLAS and t-SNE threads)
    assert main([*args, "--jobs", "1"]) == 0
    assert seen["options"].max_jobs == 1 and seen["options"].cores() == 1
    assert main(args) == 0 and seen["options"].max_jobs == 0 and seen["options"].cores() >= 1
    assert main([*args, "--jobs", "0"]) == 2 and "--jobs must be >= 1" in capsys.readouterr().err


def test_seed_agreement_counts_and_ensemble():
    from autoenc.analysis.classifier import seed_agreement

    labels = np.array([0, 1, 1, 0, 1])
    # seed A misses images 1 and 2, seed B misses 2 and 3; the average of the two is right on 1 and 3
    proba_a = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8]])
    proba_b = np.array([[0.8, 0.2], [0.1, 0.9], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7]])
    preds = [{"test_labels": labels, "predicted_labels": p.argmax(1), "probabilities": p} for p in (proba_a, proba_b)]
    a = seed_agreement(preds)
    assert a["errors per seed"] == [2, 2] and a["shared by every seed"] == 1 and a["made by any seed"] == 3
    assert a["ensemble accuracy"] == pytest.approx(4 / 5) and a["n test"] == 5
    with pytest.raises(ValueError, match="different test sets"):
        seed_agreement([preds[0], {**preds[1], "test_labels": labels[::-1]}])


def test_git_commit_ignores_generated_reports(tmp_path):
    import shutil
    import subprocess

    from autoenc.report.provenance import git_commit

    if shutil.which("git") is None:
        pytest.skip("git not installed")

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                       check=True, capture_output=True)

    (tmp_path / "reports" / "s").mkdir(parents=True)
    (tmp_path / "reports" / "s" / "report.html").write_text("old")
    (tmp_path / "README.md").write_text("old")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "reports" / "s" / "report.html").write_text("new")  # a report written by an earlier study
    (tmp_path / "README.md").write_text("new")
    assert git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == clean + "+dirty"
    assert git_commit(tmp_path.parent / "elsewhere-not-a-repo") == "n/a"


def test_runs_record_their_code_and_mixed_versions_are_flagged(study, tmp_path):
    import json
    import shutil

    from autoenc.analysis.context import run_alerts
    from autoenc.codeversion import git_commit

    spec, store = study
    copy = RunStore(tmp_path / "store")
    shutil.copytree(store.root, copy.root)
    results = copy.results(expand(spec))
    codes = {r.code for r in results.done}
    assert codes == {git_commit()}  # mark_done wrote the version of the code that trained them
    assert not [a for a in run_alerts(copy, results, len(expand(spec))) if "versions of the code" in a.title]
    # one run trained by other code: a warning that names both versions; the run still verifies
    marker = results.done[0].path / "DONE"
    record = json.loads(marker.read_text())
    marker.write_text(json.dumps({**record, "code": "0123abcd+dirty"}))
    results = copy.results(expand(spec))
    assert len(results.done) == len(expand(spec))
    alerts = [a for a in run_alerts(copy, results, len(expand(spec))) if "versions of the code" in a.title]
    assert len(alerts) == 1 and any("0123abcd+dirty: 1 runs" in item for item in alerts[0].items)
    # a marker from before versions were recorded reads as unknown, not as a third version
    marker.write_text(json.dumps({"files": record["files"]}))
    results = copy.results(expand(spec))
    assert results.done[0].code is None
    assert not [a for a in run_alerts(copy, results, len(expand(spec))) if "versions of the code" in a.title]


def test_commits_that_change_only_docs_are_the_same_code(tmp_path):
    import shutil
    import subprocess

    from autoenc.codeversion import git_commit, group_versions, same_code

    if shutil.which("git") is None:
        pytest.skip("git not installed")

    def commit(files, message):
        for name, text in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        for args in (["add", "."], ["commit", "-qm", message]):
            subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                           check=True, capture_output=True)
        return git_commit(tmp_path)

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    c1 = commit({"code.py": "x = 1\n", "README.md": "a", "studies/s.toml": "a = 1\n"}, "code")
    c2 = commit({"README.md": "b", "reports/s/README.md": "r", "studies/s.toml": "a = 2\n"}, "docs, report, study")
    c3 = commit({"code.py": "x = 2\n"}, "code change")
    assert len({c1, c2, c3}) == 3
    assert same_code(c1, c2, tmp_path) and not same_code(c2, c3, tmp_path)
    assert not same_code(c1, c1 + "+dirty", tmp_path) and same_code(c1 + "+dirty", c1 + "+dirty", tmp_path)
    assert not same_code(c1, "f" * 40, tmp_path)  # a commit this checkout lacks: cannot be shown equal
    assert not same_code(c1, c2, tmp_path / "not-a-repo")
    assert group_versions([c3, c1, c2, "n/a"], tmp_path) == [[c3], [c1, c2], ["n/a"]]


# --------------------------------------------------------------------------- damaged and stale caches
def _copy_study(study, tmp_path):
    spec, store = study
    root = tmp_path / "runs" / spec.name
    shutil.copytree(store.root, root)
    return spec, RunStore(root)


def test_damaged_caches_are_rebuilt_not_dropped(study, tmp_path):
    spec, store = _copy_study(study, tmp_path)
    build_report(store.root, tmp_path / "r1", spec=spec, command="pytest", options=small_options())
    cache = store.root / "report_cache"
    damaged = [cache / "pca_baseline.npz", cache / "probes.json", *sorted(cache.glob("tsne-*.npz")),
               *sorted(cache.glob("rd-*.json"))]
    assert len(damaged) >= 5
    for path in damaged:  # truncated zip archives, invalid JSON
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])
    html = build_report(store.root, tmp_path / "r2", spec=spec, command="pytest", options=small_options()).read_text()
    for title in ("Autoencoder vs PCA", "t-SNE maps", "Codes as features", "Compression in bits"):
        assert title in html
    assert "not produced" not in html.lower()
    with np.load(cache / "pca_baseline.npz", allow_pickle=False) as z:  # rewritten whole
        assert z["k8_mse"].shape == (N_TEST,)
    assert isinstance(json.loads((cache / "probes.json").read_text())["value"], dict)
    for path in cache.glob("rd-*.json"):
        assert isinstance(json.loads(path.read_text())["value"]["test"], list)
    # the best codec per code size, chosen on validation, for the learned-compression report
    posthoc = json.loads((store.root / "posthoc_codecs.json").read_text())
    assert posthoc["study"] == spec.name and posthoc["sizes"]
    for size in posthoc["sizes"]:
        assert size["test"] and all(p["bpp"] >= 0 and math.isfinite(p["psnr"]) for p in size["test"])
        assert len(size["test_per_seed"]) == len(size["seeds"])
    for path in cache.glob("tsne-*.npz"):
        with np.load(path, allow_pickle=False) as z:
            assert np.isfinite(z["train"]).all()


def test_probe_cache_follows_the_model_content_not_the_run_id(study, tmp_path):
    from autoenc.analysis.autoencoder.data import _model_key

    spec, store = _copy_study(study, tmp_path)
    build_report(store.root, tmp_path / "r1", spec=spec, command="pytest", options=small_options())
    config = expand(spec)[0]
    run_dir = store.run_dir(config.run_id)

    class _Record:  # what _model_key reads: the run's folder
        def __init__(self, path):
            self.run = type("R", (), {"path": path})()

    before = _model_key(_Record(run_dir))
    # "retrain" the run in place: other weights under the same run id
    model = build(config, SIDE * SIDE)
    for p in model.parameters():
        p.data[...] = np.random.default_rng(99).normal(size=p.data.shape)
    RunContext(run_dir).save_model(model, None, {"task": "autoencoder", "input_size": SIDE * SIDE})
    store.mark_done(config.run_id)
    after = _model_key(_Record(run_dir))
    assert after != before
    build_report(store.root, tmp_path / "r2", spec=spec, command="pytest", options=small_options())
    keys = json.loads((store.root / "report_cache" / "probes.json").read_text())["value"]
    assert any(k.startswith(f"model-{after}|") for k in keys)  # probed anew, not read under the old id


def test_an_analysis_bug_is_one_line_and_keeps_the_store(tmp_path, monkeypatch, capsys):
    """A study file that validates must not end in a traceback at report time: one line, exit 1,
    the store untouched; ``-v`` gives the traceback."""
    import autoenc.report as report_pkg
    from autoenc.cli import main

    def broken_build_report(*_, **__):
        raise TypeError("truth value of a Series is ambiguous\nsecond line")

    monkeypatch.setattr(report_pkg, "build_report", broken_build_report)
    store = tmp_path / "linear_regression"
    store.mkdir()
    (store / "results.csv").write_text("kept\n")
    args = ["report", "linear_regression", "--preset", "quick", "--out", str(tmp_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "failed in its analysis (TypeError: truth value of a Series is ambiguous second line)" in err
    assert "-v" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(TypeError):
        main([*args, "-v"])
