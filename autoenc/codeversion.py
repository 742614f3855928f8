"""The version of the code that produced a result: the git commit of the checkout, marked
``+dirty`` when files that could change a result are modified. Two commits that differ only
in files that cannot change a result (``NOT_CODE``) count as the same code."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["NOT_CODE", "git_commit", "group_versions", "same_code"]

#: Changes that cannot alter a result: generated reports, Markdown prose and study files (a
#: study's settings are stored with every run and enter its id). Without this, writing several
#: reports in one command marked every report after the first as dirty.
NOT_CODE = (":(exclude,glob)**/reports/**", ":(exclude,glob)**/*.md", ":(exclude,glob)studies/**")


def _git(*args: str, cwd: Path | str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10, check=check)


def same_code(a: str, b: str, path: Path | None = None) -> bool:
    """Whether commits ``a`` and ``b`` hold the same code, i.e. differ at most in ``NOT_CODE``
    files (checked in the checkout holding ``path``, default this package). A ``+dirty`` or
    unknown version equals only itself: its code cannot be looked up."""
    if a == b:
        return True
    if any(v.endswith("+dirty") or v == "n/a" for v in (a, b)):
        return False
    where = Path(path or Path(__file__).resolve().parent)
    try:
        top = _git("rev-parse", "--show-toplevel", cwd=where)
        if top.returncode:
            return False
        diff = _git("diff", "--quiet", a, b, "--", ".", *NOT_CODE, cwd=top.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return False
    return diff.returncode == 0  # 1: the code differs; 128: a commit this checkout lacks


def group_versions(versions: list[str], path: Path | None = None) -> list[list[str]]:
    """``versions`` (distinct, in the order given) grouped by ``same_code``: a docs-only commit
    between two sweeps does not make a second version."""
    groups: list[list[str]] = []
    for v in versions:
        for g in groups:
            if same_code(g[0], v, path):
                g.append(v)
                break
        else:
            groups.append([v])
    return groups


def git_commit(path: Path | None = None) -> str:
    """``<sha>`` of the checkout holding ``path`` (default: this package), ``+dirty`` when
    tracked files other than those of ``NOT_CODE`` are modified; ``"n/a"`` outside a git
    checkout or without git."""
    where = Path(path or Path(__file__).resolve().parent)

    def git(*args: str, cwd: Path | str = where) -> str:
        return _git(*args, cwd=cwd, check=True).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        top = git("rev-parse", "--show-toplevel")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE, cwd=top)
    except (OSError, subprocess.SubprocessError):
        return "n/a"
    return f"{sha}+dirty" if dirty else sha or "n/a"
