"""The version of the code that produced a result: the git commit of the checkout, marked
``+dirty`` when files that could change a result are modified."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["NOT_CODE", "git_commit"]

#: Changes that cannot alter a result: generated reports, Markdown prose and study files (a
#: study's settings are stored with every run and enter its id). Without this, writing several
#: reports in one command marked every report after the first as dirty.
NOT_CODE = (":(exclude,glob)**/reports/**", ":(exclude,glob)**/*.md", ":(exclude,glob)studies/**")


def git_commit(path: Path | None = None) -> str:
    """``<sha>`` of the checkout holding ``path`` (default: this package), ``+dirty`` when
    tracked files other than those of ``NOT_CODE`` are modified; ``"n/a"`` outside a git
    checkout or without git."""
    where = Path(path or Path(__file__).resolve().parent)

    def git(*args: str, cwd: Path | str = where) -> str:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        top = git("rev-parse", "--show-toplevel")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE, cwd=top)
    except (OSError, subprocess.SubprocessError):
        return "n/a"
    return f"{sha}+dirty" if dirty else sha or "n/a"
