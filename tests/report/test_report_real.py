"""The report on a small real run store: a tiny ``fashion_ae`` quick sweep on Fashion-MNIST.

The sweep is shrunk with ``--set`` overrides (1,000 train images, 1 epoch, 2,000 test
images) and trained once per module; building the store and the first report takes about
half a minute on 2 cores, hence ``slow``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from autoenc.cli import main
from autoenc.report import ReportOptions, build_report
from autoenc.study.spec import load_spec

pytestmark = pytest.mark.slow

OVERRIDES = ["data.train_subset=1000", "train.epochs=1", "data.test_subset=2000"]
SECTIONS = ["Runs and settings", "Convergence", "BCE-trained vs MSE-trained: seeds as the replicates",
            "Error table in the original study&#39;s three scales", "Autoencoder vs PCA", "Error vs latent size",
            "Learning curves", "Reconstructions", "t-SNE maps", "Codes as features"]


def _data_available() -> bool:
    try:
        from autoenc import datasets

        return bool(datasets.info("fashion_mnist").found)
    except Exception:
        return False


def _set_args(extra: list[str] = ()) -> list[str]:
    return [a for o in [*OVERRIDES, *extra] for a in ("--set", o)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    if not _data_available():
        pytest.skip("Fashion-MNIST not available on this machine")
    out = tmp_path_factory.mktemp("real")
    rc = main(["sweep", "fashion_ae", "--preset", "quick", "--out", str(out), "--no-report", "--jobs", "1",
               *_set_args()])
    assert rc == 0
    return out


def small() -> ReportOptions:
    return ReportOptions(tsne_train=300, tsne_test=150, probe_train=500, n_boot=200)


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    spec = load_spec("fashion_ae", "quick", [f"{o}" for o in OVERRIDES])
    out = tmp_path_factory.mktemp("report") / "fashion_ae"
    return build_report(store / "fashion_ae", out, spec=spec, command="pytest real store", options=small())


def test_every_section_and_no_failed_section(report):
    html = report.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
    assert "not produced" not in html
    assert "(as reported)" in html and "PCA, k components" in html
    assert re.search(r"data checksum \(fashion_mnist\)</td><td>[0-9a-f]{64}", html)
    assert "study file sha256" in html
    assert "runs missing" not in html and "runs failed" not in html


def test_markdown_and_figures(report):
    folder = report.parent
    md = (folder / "README.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {Path(link).name for link in links} >= {"learning-curves.png", "reconstructions-k64.png",
                                                  "reconstructions-k16.png", "forest-seed-level-mse.png"}
    assert any(Path(link).name.startswith("tsne-") for link in links)
    for link in links:
        assert (folder / link).is_file()


def test_partial_grid_says_what_is_missing(store, tmp_path):
    # a third seed in the grid: its 8 runs were never trained
    spec = load_spec("fashion_ae", "quick", [*OVERRIDES, "grid.seed=[0, 1, 2]"])
    html = build_report(store / "fashion_ae", tmp_path / "r", spec=spec, command="pytest", options=small())
    text = html.read_text()
    assert "8 of 24 runs missing" in text and "seed=2" in text
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in text


def test_cli_report_and_index(store):
    rc = main(["report", "fashion_ae", "--preset", "quick", "--out", str(store), *_set_args()])
    assert rc == 0
    html = store / "fashion_ae" / "report" / "report.html"
    assert html.is_file() and (html.parent / "headline.json").is_file()
    text = html.read_text()
    assert "autoenc report fashion_ae --preset quick" in text  # the command as called (main() = the console script)
    from autoenc.report import build_index

    index = build_index(store)
    assert 'href="fashion_ae/report/report.html"' in index.read_text()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="headless Chromium not installed")
def test_images_load_in_chromium(report, tmp_path):
    probe = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
             "const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;"
             "const p = document.createElement('pre'); p.id = 'img-check';"
             "p.textContent = 'IMAGES ' + imgs.length + ' BROKEN ' + bad; document.body.appendChild(p); });</script>")
    copy = tmp_path / "check.html"
    copy.write_text(report.read_text().replace("</body>", probe + "</body>"))
    out = subprocess.run(["/usr/bin/chromium", "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom",
                          "--virtual-time-budget=10000", copy.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r"IMAGES (\d+) BROKEN (\d+)", out.stdout)
    assert m, out.stderr[-2000:]
    assert int(m.group(1)) == report.read_text().count("<img ") > 5
    assert int(m.group(2)) == 0
