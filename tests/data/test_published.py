"""vlmcal_utils.data.published: the registry, offline (shared) and online (local HTTP server) routes,
the default cache folder."""

from __future__ import annotations

import functools
import http.server
import json
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from vlmcal_utils.data import (
    PUBLISHED_LOGITS,
    PublishedLogits,
    content_sha256,
    content_sha256_arrays,
    fetch_published_logits,
    load_logits,
    published_entries,
    published_path,
)
from vlmcal_utils.data.published import resolve_published, resolve_published_dir


class _Server:
    """Serves ``root`` on 127.0.0.1 like raw.githubusercontent.com serves ``owner/repo/commit/path``."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, entry: PublishedLogits, index: int, data: bytes) -> None:
        path = self.root / entry.repo / entry.commit / entry.paths[index]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(tmp_path):
    srv = _Server(tmp_path / "srv")
    srv.root.mkdir()
    yield srv
    srv.close()


# ------------------------------------------------------------------------------- the registry
def test_pinned_hashes_equal_shared_copies(shared):
    folders = {entry.shared_dir for entry in PUBLISHED_LOGITS.values()}
    assert folders == {("data", "logits"), ("data", "vlm-outputs")}
    on_disk = {p.stem for folder in folders for p in shared.joinpath(*folder).glob("*.npz")}
    assert on_disk == set(PUBLISHED_LOGITS), "registry and shared folders list different files"
    for name, entry in PUBLISHED_LOGITS.items():
        assert content_sha256(shared.joinpath(*entry.shared_dir, f"{name}.npz")) == entry.sha256, name
        assert len(entry.sha256) == 64 and len(entry.commit) == 40
        assert published_path(name) == shared.joinpath(*entry.shared_dir, entry.filename)


def test_registry_names_and_groups_every_file():
    """The chapters select files by dataset and family: the registry is their only list."""
    entries = published_entries()
    assert [e.name for e in entries] == list(PUBLISHED_LOGITS)
    assert all(e.model and e.dataset and e.family in ("vlm", "baseline", "toplabel") for e in entries)
    assert {e.name for e in entries if e.kind != "logits"} == {e.name for e in published_entries(family="toplabel")} | {
        "clip_vitb16_imagenet_a_top5"}
    vlm_cifar10 = published_entries(dataset="CIFAR-10", family="vlm")
    assert [e.name for e in vlm_cifar10] == [
        "clip_vitb32_cifar10_zeroshot", "siglip_b16_cifar10_zeroshot", "siglip2_b16_cifar10_zeroshot",
        "biomedclip_cifar10_zeroshot"]
    assert {e.dataset for e in published_entries(family="toplabel")} == {"ImageNet", "CIFAR-10/100", "Snacks"}
    assert published_entries(dataset="no such dataset") == []
    entry = PUBLISHED_LOGITS["markus93_densenet40_cifar10"]
    assert entry.filename == "markus93_densenet40_cifar10.npz"
    assert entry.label == "DenseNet-40, CIFAR-10"
    assert PUBLISHED_LOGITS["netcal_densenetbc100_cifar100"].label == "DenseNet-BC-100, CIFAR-100"


def test_unknown_name_lists_close_matches(tmp_path):
    with pytest.raises(KeyError, match="close matches: .*markus93_densenet40_cifar10.*known names"):
        fetch_published_logits("markus93_densenet40_cifar", root=tmp_path)
    with pytest.raises(KeyError, match="known names"):
        published_path("no_such_model")


# ------------------------------------------------------------------------------ offline route
def test_published_path_is_the_shared_copy_and_never_downloads(shared, tmp_path, monkeypatch):
    path = published_path("markus93_densenet40_cifar10")
    assert path == shared / "data" / "logits" / "markus93_densenet40_cifar10.npz"
    assert load_logits(path).n_classes == 10
    monkeypatch.setenv("VLMCAL_SHARED", str(tmp_path / "no-such-folder"))
    assert published_path("markus93_densenet40_cifar10") is None


def test_published_path_without_shared_folder_is_none(monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    assert published_path("clip_vitb32_cifar10_zeroshot") is None


def test_offline_uses_shared_copy(shared, tmp_path):
    path = fetch_published_logits("markus93_densenet40_cifar10", root=tmp_path, offline=True)
    assert path == shared / "data" / "logits" / "markus93_densenet40_cifar10.npz"
    assert not any(tmp_path.iterdir()), "the offline route must not write to the cache"


def test_offline_without_shared_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    with pytest.raises(FileNotFoundError, match="VLMCAL_SHARED"):
        fetch_published_logits("markus93_densenet40_cifar10", root=tmp_path, offline=True)
    no_converter = PublishedLogits("shared_only", "someone/repo", "0" * 40, ("a.csv",), "0" * 64)
    with pytest.raises(ValueError, match="cannot be downloaded.*github.com/someone/repo"):
        fetch_published_logits("shared_only", root=tmp_path, registry={"shared_only": no_converter})
    with pytest.raises(KeyError, match="known names"):
        fetch_published_logits("no_such_model", root=tmp_path)


# ------------------------------------------------------------------------------- online route
def _csv(logits: np.ndarray, labels: np.ndarray, names) -> bytes:
    header = ",".join([*names, "target-0", "instance_id"])
    rows = [",".join([*(f"{v:.9g}" for v in row), f"{float(y):.1f}", str(i)])
            for i, (row, y) in enumerate(zip(logits, labels, strict=True))]
    return ("\n".join([header, *rows]) + "\n").encode()


def test_online_csv_conversion_reproduces_the_pinned_hash(shared, tmp_path, server):
    """Re-create the source CSVs from the shared arrays: the converter must give back the same content."""
    name = "clip_dermamnist_zeroshot"
    entry = PUBLISHED_LOGITS[name]
    with np.load(shared / "data" / "logits" / f"{name}.npz") as npz:
        names = list(npz["classnames"])
        server.put(entry, 0, _csv(npz["logits_val"], npz["labels_val"], names))
        server.put(entry, 1, _csv(npz["logits_test"], npz["labels_test"], names))
    path = fetch_published_logits(name, root=tmp_path / "cache", offline=False, base_url=server.url)
    assert path == tmp_path / "cache" / f"{name}.npz"
    assert content_sha256(path) == entry.sha256
    assert sorted(server.requests) == sorted(f"/{entry.repo}/{entry.commit}/{p}" for p in entry.paths)
    # second call: served from the cache, no new download
    server.requests.clear()
    assert fetch_published_logits(name, root=tmp_path / "cache", offline=False, base_url=server.url) == path
    assert server.requests == []


def test_online_pickle_conversion_reproduces_the_pinned_hash(shared, tmp_path, server):
    name = "markus93_densenet40_cifar10"
    entry = PUBLISHED_LOGITS[name]
    with np.load(shared / "data" / "logits" / f"{name}.npz") as npz:
        # the source stores labels as (N, 1) arrays; the converter flattens them
        payload = ((npz["logits_val"], npz["labels_val"][:, None]), (npz["logits_test"], npz["labels_test"][:, None]))
    server.put(entry, 0, pickle.dumps(payload, protocol=2))
    path = fetch_published_logits(name, root=tmp_path, offline=False, base_url=server.url)
    assert content_sha256(path) == entry.sha256


def _synthetic_probs(n=40, k=5, seed=0):
    """float32 softmax outputs, stored as netcal and verified_calibration store theirs."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return probs.astype(np.float32), rng.integers(0, k, size=n)


def _log64(probs):
    """How the pinned files were made: log in float64, then float32."""
    return np.log(probs.astype(np.float64)).astype(np.float32)


def _entry_for(converter, paths, arrays, meta=None):
    meta = meta or {"source": "synthetic test source"}
    sha = content_sha256_arrays(dict(arrays, meta=np.array(json.dumps(meta))))
    return PublishedLogits("synthetic", "someone/repo", "0" * 40, paths, sha, converter, meta)


@pytest.mark.parametrize("fmt", ["netcal_npz", "npy_probs", "pickle_probs"])
def test_online_probability_sources_become_log_probabilities(fmt, tmp_path, server):
    probs, labels = _synthetic_probs()
    logp = _log64(probs)
    # float32 log (the old converter) differs in the last bit here: this test would catch it
    assert (np.log(probs) != logp).any()
    expected = {"logits_val": logp[:20], "labels_val": labels[:20].astype(np.int64),
                "logits_test": logp[20:], "labels_test": labels[20:].astype(np.int64)}
    paths = ("a/probs.npy", "a/labels.npy") if fmt == "npy_probs" else ("data/src.bin",)
    entry = _entry_for(fmt, paths, expected)
    if fmt == "netcal_npz":
        buf = tmp_path / "src.npz"
        np.savez(buf, predictions=probs, ground_truth=labels[:, None])
        server.put(entry, 0, buf.read_bytes())
    elif fmt == "npy_probs":
        np.save(tmp_path / "p.npy", probs)
        np.save(tmp_path / "l.npy", labels)
        server.put(entry, 0, (tmp_path / "p.npy").read_bytes())
        server.put(entry, 1, (tmp_path / "l.npy").read_bytes())
    else:
        server.put(entry, 0, pickle.dumps((probs, labels[:, None]), protocol=2))
    path = fetch_published_logits("synthetic", root=tmp_path / "cache", base_url=server.url,
                                  registry={"synthetic": entry}, offline=False)
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["logits_test"], expected["logits_test"])
        assert json.loads(str(npz["meta"])) == entry.meta


def test_hash_mismatch_is_an_error_and_leaves_nothing(tmp_path, server):
    probs, labels = _synthetic_probs()
    good = _entry_for("pickle_probs", ("x.p",), {"logits_val": np.zeros((1, 1))})  # not these numbers
    server.put(good, 0, pickle.dumps((probs, labels), protocol=2))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="pinned hash"):
        fetch_published_logits("synthetic", root=cache, base_url=server.url,
                               registry={"synthetic": good}, offline=False)
    assert not list(cache.glob("*.npz")), "a file that failed verification must not be left in the cache"
    assert not (cache / "sources" / "synthetic").exists()


@pytest.mark.parametrize("env", ["VLMCAL_CACHE", "XDG_CACHE_HOME"])
def test_default_cache_follows_the_cache_variables(env, tmp_path, server, monkeypatch):
    """The cache used to be a hard-coded ~/.cache/vlmcal/published, ignoring VLMCAL_CACHE and XDG."""
    for var in ("VLMCAL_SHARED", "VLMCAL_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(env, str(tmp_path / "cache-root"))
    probs, labels = _synthetic_probs()
    logp = _log64(probs)
    entry = _entry_for("pickle_probs", ("data/src.bin",),
                       {"logits_val": logp[:20], "labels_val": labels[:20].astype(np.int64),
                        "logits_test": logp[20:], "labels_test": labels[20:].astype(np.int64)})
    server.put(entry, 0, pickle.dumps((probs, labels), protocol=2))
    path = fetch_published_logits("synthetic", base_url=server.url, registry={"synthetic": entry})
    folder = tmp_path / "cache-root" / ("published" if env == "VLMCAL_CACHE" else "vlmcal/published")
    assert path == folder / "synthetic.npz"
    assert not (folder / "sources").exists(), "only the verified file is cached, not the raw sources"
    assert content_sha256(path) == entry.sha256
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [], "no temporary files left"


def test_download_failure_names_the_way_out(tmp_path, server):
    entry = _entry_for("pickle_probs", ("missing.p",), {"logits_val": np.zeros((1, 1))})
    with pytest.raises(ConnectionError, match="VLMCAL_SHARED"):
        fetch_published_logits("synthetic", root=tmp_path, base_url=server.url,
                               registry={"synthetic": entry}, offline=False)


# ------------------------------------------------------------------ the resolver the chapters use
def test_resolver_prefers_the_shared_copy(shared, tmp_path):
    found = resolve_published("markus93_densenet40_cifar10", root=tmp_path)
    assert found.origin == "shared" and found.path == shared / "data" / "logits" / found.path.name
    folder, each = resolve_published_dir(["markus93_densenet40_cifar10", "clip_vitb32_cifar10_zeroshot"],
                                         root=tmp_path)
    assert folder == shared / "data" / "logits" and {r.origin for r in each.values()} == {"shared"}


def test_resolver_offline_without_shared_folder_gives_none_and_a_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_OFFLINE", "1")
    found = resolve_published("markus93_densenet40_cifar10", root=tmp_path)
    assert found.path is None and found.origin == "missing" and "downloads are off" in found.reason
    monkeypatch.delenv("VLMCAL_OFFLINE")
    # every registry entry has a converter today; one without is reported, never downloaded
    shared_only = PublishedLogits("shared_only", "someone/repo", "0" * 40, ("a.csv",), "0" * 64)
    monkeypatch.setitem(PUBLISHED_LOGITS, "shared_only", shared_only)
    no_converter = resolve_published("shared_only", root=tmp_path)
    assert no_converter.path is None and no_converter.origin == "missing" and "no converter" in no_converter.reason
    with pytest.raises(KeyError, match="close matches"):
        resolve_published("markus93_densenet40", root=tmp_path)


def test_resolver_dir_stops_after_the_first_failed_download(tmp_path, server, monkeypatch):
    """Offline (the server has nothing): one failed download, the rest are not tried."""
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    names = ["netcal_lenet5_cifar10", "netcal_wrn16-4_cifar10", "verifiedcal_vgg16_cifar10"]
    folder, found = resolve_published_dir(names, root=tmp_path, base_url=server.url)
    assert folder is None and found["netcal_lenet5_cifar10"].origin == "unreachable"
    assert [found[n].origin for n in names[1:]] == ["missing", "missing"]
    assert len(server.requests) == 1


def _serve_from_shared(server, shared, names):
    """Put each entry's source files on the server, rebuilt from the shared copies' content."""
    from tests.data.test_converters import _credal_cifar10_sources, _credal_text, toplabel_sources

    for name in names:
        entry = PUBLISHED_LOGITS[name]
        with np.load(shared / "data" / "logits" / entry.filename) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if entry.converter == "credal_cifar10":
            sources = _credal_cifar10_sources(arrays, np.arange(len(arrays["labels"])))
        elif entry.converter == "credal_csv":
            names_ = list(arrays["classnames"])
            sources = [_credal_text(names_, arrays[f"logits_{s}"], arrays[f"labels_{s}"],
                                    range(len(arrays[f"labels_{s}"]))) for s in ("val", "test")]
        elif entry.family == "toplabel":
            sources = toplabel_sources(entry, arrays)
        else:
            raise AssertionError(f"no source builder for {entry.converter}")
        for index, data in enumerate(sources):
            server.put(entry, index, data)


def test_online_route_end_to_end_gives_the_real_clip_numbers(shared, tmp_path, server, monkeypatch):
    """No shared folder, downloads from a local server: chapter 3's defaults study real CLIP ViT-B/32."""
    from vlmcal_utils import metrics, study
    from vlmcal_utils.temperature import fit_temperature

    names = ["clip_vitb32_cifar10_zeroshot", "clip_dermamnist_zeroshot"]
    _serve_from_shared(server, shared, names)
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VLMCAL_PUBLISHED_BASE_URL", server.url)
    folder, found = resolve_published_dir(names)
    assert folder == tmp_path / "cache" / "published"
    assert {r.origin for r in found.values()} == {"download"}
    (task,) = study.published_tasks(folder)
    splits = task.load()
    assert {"cal", "test", "test_french", "dermamnist"} <= set(splits)
    (zc, yc), (zt, yt) = splits["cal"], splits["test"]
    T = fit_temperature(zc, yc)
    before = metrics.ece(metrics.softmax(zt), yt, n_bins=15)
    after = metrics.ece(metrics.softmax(zt / T), yt, n_bins=15)
    # the real CLIP ViT-B/32 CIFAR-10 numbers (shared README: 6.7 % -> 1.1 %, T ~ 0.69)
    assert round(100 * before, 2) == pytest.approx(6.70, abs=0.01)
    assert round(100 * after, 2) == pytest.approx(1.14, abs=0.01)
    assert 0.6 < T < 0.8


def test_online_toplabel_download_gives_the_pinned_imagenet_file(shared, tmp_path, server, monkeypatch):
    """Chapter 3's ImageNet top-label file without a shared folder: 14 CSVs downloaded, merged, verified."""
    name = "hollance_imagenet_val_toplabel"
    entry = PUBLISHED_LOGITS[name]
    _serve_from_shared(server, shared, [name])
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.delenv("VLMCAL_OFFLINE", raising=False)
    found = resolve_published(name, root=tmp_path, base_url=server.url)
    assert found.origin == "download" and found.path == tmp_path / entry.filename
    assert content_sha256(found.path) == entry.sha256
    assert sorted(server.requests) == sorted(f"/{entry.repo}/{entry.commit}/{p}" for p in entry.paths)
    assert all("/results/ImageNet_" in r for r in server.requests) and len(server.requests) == 14


def test_online_toplabel_conversion_without_shared_folder(tmp_path, server):
    """A synthetic snacks CSV served over HTTP converts, verifies and loads (no shared folder needed)."""
    from tests.data.test_converters import toplabel_csv

    y_true, y_pred = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])
    conf = np.array([0.9, 0.4, 0.75, 0.5], dtype=np.float32)
    expected = {"snacks__y_true": y_true.astype(np.int16), "snacks__y_pred": y_pred.astype(np.int16),
                "snacks__confidence": conf}
    entry = _entry_for("hollance_snacks_toplabel", ("results/other/snacks.csv",), expected)
    server.put(entry, 0, toplabel_csv(y_true, y_pred, conf, float32_text=True))
    path = fetch_published_logits("synthetic", root=tmp_path, base_url=server.url, registry={"synthetic": entry})
    assert content_sha256(path) == entry.sha256
    with np.load(path) as npz:
        assert npz["snacks__confidence"].tobytes() == conf.tobytes() and npz["snacks__y_pred"].dtype == np.int16
