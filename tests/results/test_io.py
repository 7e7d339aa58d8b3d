"""Results files: save_results takes schema-built results only; load_results checks a chapter's keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vlmcal_utils.paths import machine_paths
from vlmcal_utils.results import RESULTS_FILENAME, ResultsSchema, SchemaError, load_results, save_results, to_jsonable
from vlmcal_utils.views.chapter_results import SCHEMAS

SCHEMA = ResultsSchema("mine", {"ece": "an ECE", "curve": "an array"})


def test_save_and_load_round_trip(tmp_path):
    returned = save_results(tmp_path / "out", SCHEMA.build(ece=np.float32(0.25), curve=torch.arange(3)),
                            params={"seed": 1}, device="cpu")
    assert returned is None, "a notebook's last cell ends with this call: a returned path would show on the page"
    assert (tmp_path / "out" / RESULTS_FILENAME).is_file()
    payload = load_results(tmp_path / "out")
    assert payload["notebook"] == "mine" and payload["results"] == {"ece": 0.25, "curve": [0, 1, 2]}
    assert payload["params"] == {"seed": 1} and payload["device"] == "cpu"
    assert {"vlmcal_utils_version", "torch_version", "created"} <= set(payload)
    assert not list((tmp_path / "out").glob("*.tmp"))  # written atomically, nothing left behind


def test_a_plain_dict_is_refused(tmp_path):
    """Free-form dicts (the old API) have no schema: the error says what to pass instead."""
    with pytest.raises(TypeError, match="chapter1_results"):
        save_results(tmp_path, {"ece": 0.1}, params={})
    assert not (tmp_path / RESULTS_FILENAME).exists()


def test_values_changed_after_build_are_checked_again_on_save(tmp_path):
    built = SCHEMA.build(ece=0.1, curve=[])
    built.values["ours ECE(20)"] = 3.0
    with pytest.raises(SchemaError, match="ours ECE"):
        save_results(tmp_path, built, params={})


def test_load_checks_a_chapter_file_against_its_schema(tmp_path):
    (tmp_path / RESULTS_FILENAME).write_text(json.dumps(
        {"notebook": "04_ctpt", "results": {"model": "m", "paper_comparison": [{"ours ECE(20)": 3.0}]}}))
    with pytest.raises(SchemaError, match="04_ctpt"):
        load_results(tmp_path, SCHEMAS)
    assert load_results(tmp_path)["results"]["model"] == "m"  # no schemas given: read unchecked
    with pytest.raises(FileNotFoundError, match="run the notebook first"):
        load_results(tmp_path / "nowhere")


def test_to_jsonable():
    frame = pd.DataFrame({"a": [1.0, float("nan")]})
    assert to_jsonable({"f": frame, "s": pd.Series({"x": np.int64(2)}), 3: (np.inf,)}) == {
        "f": [{"a": 1.0}, {"a": None}], "s": {"x": 2}, "3": [None]}


def test_published_results_follow_the_schemas(repo_root):
    """The committed real-data results hold schema keys (no "" key, no display labels)."""
    files = sorted((repo_root / "results" / "published").glob(f"*/{RESULTS_FILENAME}"))
    assert files
    for path in files:
        results = load_results(path, SCHEMAS)["results"]
        text = json.dumps(results)
        assert '"": ' not in text and '"ECE"' not in text and "ours ECE" not in text, path


def _machine_paths_in(path) -> list[str]:
    """The check every results file passes: no machine path anywhere in its text."""
    return machine_paths(Path(path).read_text())


def test_published_results_name_no_machine_path(repo_root):
    files = sorted((repo_root / "results" / "published").glob(f"*/{RESULTS_FILENAME}"))
    assert files
    for path in files:
        assert _machine_paths_in(path) == [], f"{path} names a machine path: rewrite it (make publish-results)"


@pytest.mark.parametrize("planted", ["/work/shared/data/logits/x.npz", "/home/alice/vlmcal/data", "/root/.cache/x",
                                     "/tmp/tmpab12/x.npz", "C:\\Users\\Bob\\vlmcal", "<cwd>/results/x", "<home>/y"])
def test_a_machine_path_planted_in_a_results_file_is_caught(repo_root, tmp_path, planted):
    source = sorted((repo_root / "results" / "published").glob(f"*/{RESULTS_FILENAME}"))[0]
    payload = json.loads(source.read_text())
    where = planted.replace("<cwd>", os.getcwd()).replace("<home>", os.path.expanduser("~/some-user-folder"))
    payload["params"]["planted"] = where
    planted_file = tmp_path / RESULTS_FILENAME
    planted_file.write_text(json.dumps(payload, indent=2))
    assert _machine_paths_in(planted_file), f"{where!r} was not caught"


def test_save_results_writes_this_machines_folders_portably(tmp_path, monkeypatch):
    shared, home = tmp_path / "shared", tmp_path / "home" / "alice"
    shared.mkdir()
    home.mkdir(parents=True)
    monkeypatch.setenv("VLMCAL_SHARED", str(shared))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("VLMCAL_CACHE", raising=False)
    params = {"logits_path": str(shared / "data" / "x.npz"), "cached": [home / ".cache" / "vlmcal" / "p.npz"],
              "name": "sharedfolder"}
    save_results(tmp_path / "out", SCHEMA.build(ece=0.1, curve=[]), params=params)
    saved = load_results(tmp_path / "out")["params"]
    assert saved == {"logits_path": "${VLMCAL_SHARED}/data/x.npz", "cached": ["~/.cache/vlmcal/p.npz"],
                     "name": "sharedfolder"}
