"""vlmcal_utils.paths: every environment variable and its fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmcal_utils import paths


@pytest.fixture()
def clean_env(monkeypatch):
    for var in ("VLMCAL_SHARED", "VLMCAL_DATA", "VLMCAL_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_cache_root_precedence(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert paths.cache_root() == tmp_path / "home" / ".cache" / "vlmcal"
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "vlmcal"
    clean_env.setenv("VLMCAL_CACHE", str(tmp_path / "explicit"))
    assert paths.cache_root() == tmp_path / "explicit", "VLMCAL_CACHE wins over XDG"
    clean_env.setenv("VLMCAL_CACHE", "")
    assert paths.cache_root() == tmp_path / "xdg" / "vlmcal", "an empty variable counts as unset"
    clean_env.setenv("VLMCAL_CACHE", "~/c")
    assert paths.cache_root() == tmp_path / "home" / "c"


def test_cache_dir_kinds(clean_env, tmp_path):
    clean_env.setenv("VLMCAL_CACHE", str(tmp_path))
    assert paths.cache_dir("published") == tmp_path / "published"
    assert not (tmp_path / "published").exists(), "naming a folder does not create it"
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="plain folder name"):
            paths.cache_dir(bad)


def test_data_root(clean_env, tmp_path):
    assert paths.data_root() == Path("data")
    clean_env.setenv("VLMCAL_DATA", str(tmp_path / "images"))
    assert paths.data_root() == tmp_path / "images"


def test_shared_dir_and_path(clean_env, tmp_path):
    assert paths.shared_dir() is None and paths.shared_path("data") is None
    clean_env.setenv("VLMCAL_SHARED", str(tmp_path / "missing"))
    assert paths.shared_dir() is None, "a variable naming no folder means: no shared folder"
    assert paths.shared_path("data") is None
    (tmp_path / "shared" / "data" / "logits").mkdir(parents=True)
    clean_env.setenv("VLMCAL_SHARED", str(tmp_path / "shared"))
    assert paths.shared_dir() == tmp_path / "shared"
    assert paths.shared_path("data", "logits") == tmp_path / "shared" / "data" / "logits"
    assert paths.shared_path("data", "no-such-file.npz") is None
