"""The report owns only its files (issue 22): a manifest of what it wrote, nothing else removed
or replaced, a folder of the user's refused unless --force, every output path checked before
the analysis runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoenc.cli import main
from autoenc.errors import InputError
from autoenc.report.output import MANIFEST, ReportPathError, claim

from .test_hardening import study


def _render(folder, files: dict[str, str]) -> None:
    for name, text in files.items():
        folder.write(name, text)
    folder.finish()


def test_a_render_replaces_and_removes_only_its_own_files(tmp_path):
    out = tmp_path / "r"
    folder = claim(out)
    _render(folder, {"report.html": "a", "README.md": "b", "figures/one.png": "1", "figures/two.png": "2"})
    assert json.loads((out / MANIFEST).read_text())["files"] == ["README.md", "figures/one.png", "figures/two.png",
                                                               "report.html"]
    _render(claim(out), {"report.html": "a2", "README.md": "b2", "figures/one.png": "1"})
    assert not (out / "figures/two.png").exists() and (out / "report.html").read_text() == "a2"
    # a file the user adds later is never removed; its name in figures/ is refused up front
    (out / "notes.txt").write_text("mine")
    _render(claim(out), {"report.html": "a3", "README.md": "b3"})
    assert (out / "notes.txt").read_text() == "mine" and not (out / "figures/one.png").exists()
    (out / "figures" / "mine.png").write_text("mine")
    with pytest.raises(ReportPathError, match="did not write"):
        claim(out)


@pytest.mark.parametrize("files", [{"README.md": "my notes"}, {"figures/plot.png": "x", "figures/plot.svg": "y"},
                                   {"data.csv": "1,2"}])
def test_a_folder_of_the_users_is_refused_unless_forced(tmp_path, files):
    out = tmp_path / "mine"
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    with pytest.raises(ReportPathError, match="--force") as info:
        claim(out)
    assert isinstance(info.value, InputError)
    assert all((out / n).read_text() == t for n, t in files.items()) and not (out / MANIFEST).exists()
    folder = claim(out, force=True)
    _render(folder, {"report.html": "r", "README.md": "ours", "headline.json": "{}"})
    _render(claim(out, force=True), {"report.html": "r", "README.md": "ours"})  # a later render removes nothing
    assert all((out / n).exists() for n in files if n != "README.md")


def test_a_users_readme_beside_our_report_is_refused(tmp_path):
    out = tmp_path / "r"
    _render(claim(out), {"report.html": "x"})
    (out / "README.md").write_text("the user's")
    with pytest.raises(ReportPathError, match="README.md was not written"):
        claim(out)
    (out / "index.html").write_text("the user's")
    with pytest.raises(ReportPathError, match="index.html was not written"):
        claim(out, kind="index")


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("a file"), "is a file"),
    (lambda p: p.symlink_to(p.parent / "nowhere"), "dangling"),
    (lambda p: (p.mkdir(), (p / "figures").write_text("x")), "figures is not a folder"),
    (lambda p: (p.mkdir(), (p / "README.md").mkdir()), "not a regular file"),
    (lambda p: (p.mkdir(), (p / MANIFEST).write_text("{not json")), "damaged report manifest"),
])
def test_output_paths_of_the_wrong_kind(tmp_path, make, message):
    out = tmp_path / "r"
    make(out)
    with pytest.raises(ReportPathError, match=message):
        claim(out)


@pytest.mark.parametrize("path", ["/proc/self/autoenc-report", "/sys/autoenc-report"])
def test_system_folders_are_refused(path):
    with pytest.raises(ReportPathError, match="system folder"):
        claim(path)


def test_an_earlier_render_without_manifest_is_adopted(tmp_path):
    out = tmp_path / "old"
    (out / "figures").mkdir(parents=True)
    (out / "report.html").write_text("<title>x — autoenc report</title>")
    (out / "README.md").write_text("# x\n\nStudy `x` (preset `quick`)")
    (out / "headline.json").write_text("{}")
    (out / "figures" / "a.png").write_text("png")
    folder = claim(out)
    assert folder.owned == {"report.html", "README.md", "headline.json", "figures/a.png"}
    (out / "extra.txt").write_text("the user's")
    (out / MANIFEST).unlink()
    with pytest.raises(ReportPathError, match="not empty"):
        claim(out)


# --------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    path = study(tmp, name="owned")
    assert main(["sweep", str(path), "--out", str(tmp / "runs"), "--jobs", "1", "--no-report", "-q"]) == 0
    return path, tmp / "runs"


def test_report_refuses_a_users_folder_before_the_analysis(swept, tmp_path, capsys):
    path, runs = swept
    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "holiday.png").write_bytes(b"my photo")
    (out / "README.md").write_text("my notes")
    assert main(["report", str(path), "--out", str(runs), "--report-dir", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert (out / "README.md").read_text() == "my notes" and not (out / "report.html").exists()
    assert main(["report", str(path), "--out", str(runs), "--report-dir", str(out), "--force", "-q"]) == 0
    assert (out / "figures" / "holiday.png").read_bytes() == b"my photo" and (out / "report.html").is_file()
    assert main(["report", str(path), "--out", str(runs), "--report-dir", str(out), "-q"]) == 2  # the photo


def test_report_all_protects_a_users_index(swept, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOENC_STUDIES_DIR", "placeholder")  # --studies-dir sets it: restored after the test
    monkeypatch.delenv("AUTOENC_STUDIES_DIR")
    path, runs = swept
    root = tmp_path / "reports"
    root.mkdir()
    (root / "index.html").write_text("<html>my site</html>")
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "owned.toml").write_text(Path(path).read_text())
    argv = ["--studies-dir", str(studies), "report", "--all", "--out", str(runs), "--report-dir", str(root), "-q"]
    assert main(argv) == 2
    assert "index.html was not written" in capsys.readouterr().err
    assert (root / "index.html").read_text() == "<html>my site</html>" and not (root / "owned").exists()
    (root / "index.html").unlink()
    assert main(argv) == 0 and (root / "owned" / "report.html").is_file()
    assert main(argv) == 0  # the second time, every file is the report's own


@pytest.mark.parametrize("make", [lambda p: p.write_text("x"), lambda p: p.symlink_to(p.parent / "gone")])
def test_sweep_checks_the_report_dir_before_training(swept, tmp_path, capsys, make):
    path, _ = swept
    target = tmp_path / "report"
    make(target)
    assert main(["sweep", str(path), "--out", str(tmp_path / "fresh"), "--report-dir", str(target), "-q"]) == 2
    assert not (tmp_path / "fresh" / "owned" / "runs").exists() or not any((tmp_path / "fresh" / "owned" / "runs")
                                                                          .iterdir())
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
