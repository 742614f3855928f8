"""Fixtures shared by the data-set tests."""

from __future__ import annotations

import pytest

from autoenc.datasets import locate


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh cache folder, no data folder from the environment or beside the checkout, online allowed."""
    monkeypatch.setenv("AUTOENC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOENC_OFFLINE", raising=False)
    monkeypatch.delenv("AUTOENC_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "project_data_dir", lambda: None)
    return tmp_path
