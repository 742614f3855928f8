"""The README's Python snippets run as written (those that need a trained run store excepted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_snippets():
    assert BLOCKS


@pytest.mark.parametrize("code", [b for b in BLOCKS if "from_study(" not in b and "runs/" not in b])
def test_snippet_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})  # noqa: S102 - our own documentation
