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


@pytest.mark.parametrize("text, found", [
    ("PosixPath('/work/wt/x/results/05/results.json')", "/work/wt"),
    ("read /home/alice/data/x.npz", "/home/alice"),
    ("/Users/bob/vlmcal", "/Users/bob"),
    ("cache in /root/.cache/vlmcal", "/root"),
    ("tmp: /tmp/tmpk3j2/x.npz", "/tmp/tmpk3j2"),
    ("C:\\Users\\Carol\\vlmcal", "C:\\Users\\Carol"),
])
def test_machine_paths_finds_each_kind(text, found):
    assert found in paths.machine_paths(text)


def test_machine_paths_finds_this_machines_folders_and_given_ones(monkeypatch):
    home = "/srv/people/me"  # not one of the usual places: found because it is $HOME
    monkeypatch.setenv("HOME", str(home))
    assert paths.machine_paths(f"x {home}/notes y") == [str(home)]  # even outside the usual places
    assert paths.machine_paths(f"x {home}ward") == []  # a longer name is not the folder
    assert paths.machine_paths("built in /srv/ci/vlmcal", extra=["/srv/ci/vlmcal"]) == ["/srv/ci/vlmcal"]


@pytest.mark.parametrize("text", ["https://example.org/home/alice/x", "~/.cache/vlmcal/published",
                                  "${VLMCAL_SHARED}/data/logits", "/usr/bin/chromedriver", "a/tmp/b",
                                  "sqrt/root", "/rooted", "<repo>/results/published"])
def test_machine_paths_leaves_portable_text_alone(text):
    assert paths.machine_paths(text) == []


def test_portable_paths_rewrites_shared_cache_and_home(clean_env, tmp_path):
    home, shared, cache = tmp_path / "home", tmp_path / "data" / "shared", tmp_path / "c"
    shared.mkdir(parents=True)
    clean_env.setenv("HOME", str(home))
    clean_env.setenv("VLMCAL_SHARED", str(shared))
    clean_env.setenv("VLMCAL_CACHE", str(cache))
    value = {"a": [f"{shared}/logits/x.npz", f"{cache}/published/y.npz", f"{home}/z"], "b": 3,
             "c": f"{shared}x/not-it"}
    assert paths.portable_paths(value) == {
        "a": ["${VLMCAL_SHARED}/logits/x.npz", "${VLMCAL_CACHE}/published/y.npz", "~/z"], "b": 3,
        "c": f"{shared}x/not-it"}
