"""The later VLM outputs: pickled torch tensors read without running the pickle, top-5 files, their entries.

- :mod:`vlmcal_utils.data.torch_pickle`: real ``pickle.dumps`` of torch tensors round-trip; hostile
  pickles (``os.system``, ``builtins.eval``, a hostile storage record) are refused and nothing runs.
- :mod:`vlmcal_utils.data.topk`: the typed loader, what it scores exactly, and the refusals of every
  scoring and temperature function.
- The registry entries ``clip_vitb16_imagenet_a_top5`` and ``biomedclip_cifar10_zeroshot``: the
  shared copies (``$VLMCAL_SHARED/data/vlm-outputs``) written back in their sources' formats and
  served over HTTP convert to the pinned content hash.
"""

from __future__ import annotations

import os
import pickle
import pickletools

import numpy as np
import pytest

from tests.data.test_converters import _credal_text
from tests.data.test_published import _Server
from vlmcal_utils.data import PUBLISHED_LOGITS, content_sha256, load_logits, load_top5, resolve_published
from vlmcal_utils.data.converters import convert_tensor_pickle_top5
from vlmcal_utils.data.torch_pickle import load_tensor_pickle
from vlmcal_utils.metrics import brier, nll
from vlmcal_utils.scores import score_confidence, score_logits, score_probs
from vlmcal_utils.temperature import TemperatureScaler, apply_temperature, fit_temperature

torch = pytest.importorskip("torch")
TOP5 = "clip_vitb16_imagenet_a_top5"
BIOMED = "biomedclip_cifar10_zeroshot"


# ------------------------------------------------------------------- the restricted tensor reader
def test_pickled_tensors_round_trip_as_numpy():
    """What pickle.dumps(tensor) writes (rebuild_tensor_v2 over a legacy storage), views and dtypes included."""
    gen = torch.Generator().manual_seed(0)
    tensors = (torch.arange(12).reshape(3, 4).t(), torch.rand(4, 6, generator=gen).half()[1:, 2:5],
               torch.tensor([True, False, True]), torch.rand(2, 3, generator=gen, dtype=torch.float64),
               torch.arange(5, dtype=torch.int32))
    back = load_tensor_pickle(pickle.dumps(tensors))
    for got, want in zip(back, tensors, strict=True):
        assert got.dtype == want.numpy().dtype and got.shape == tuple(want.shape)
        assert np.array_equal(got, want.numpy())
    assert load_tensor_pickle(pickle.dumps({"a": [tensors[4]]}))["a"][0].tolist() == [0, 1, 2, 3, 4]


def _storage_blob(tensor) -> bytes:
    """The legacy storage bytes inside ``pickle.dumps(tensor)`` (torch.save(..., zipfile off) of its storage)."""
    return next(arg for op, arg, _ in pickletools.genops(pickle.dumps(tensor)) if op.name == "BINBYTES")


class _Reduce:
    """Pickles as a call of ``func(*args)``: what a hostile file would hold."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _hostile_storage_bytes(marker) -> bytes:
    """A legacy storage whose record, instead of naming a storage class, calls os.system."""
    head = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    assert _storage_blob(torch.arange(3)).startswith(head[:15])  # the real format's magic number and protocol
    return head + pickle.dumps(_Reduce(os.system, f"touch {marker}"), protocol=2)


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "in a storage", "beside tensors"])
def test_hostile_pickles_are_refused_and_nothing_runs(kind, tmp_path):
    marker = tmp_path / "ran"
    payloads = {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "builtins.eval": _Reduce(eval, f"open({str(marker)!r}, 'w').close()"),
        "beside tensors": (torch.arange(3), _Reduce(os.system, f"touch {marker}")),
    }
    if kind == "in a storage":  # an allowed outer call whose storage bytes name os.system
        data = pickle.dumps(_Reduce(torch.storage._load_from_bytes, _hostile_storage_bytes(marker)))
        assert b"torch.storage" in data and b"_load_from_bytes" in data
    else:
        data = pickle.dumps(payloads[kind])
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle (os|posix|builtins)") as err:
        load_tensor_pickle(data)
    assert "\n" not in str(err.value)
    assert not marker.exists(), "the hostile pickle ran"
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        convert_tensor_pickle_top5([data])
    assert not marker.exists()


def test_malformed_storages_are_refused():
    from vlmcal_utils.data.torch_pickle import _rebuild_tensor

    blob = _storage_blob(torch.arange(4))
    with pytest.raises(pickle.UnpicklingError, match="cut short"):
        load_tensor_pickle(pickle.dumps(_Reduce(torch.storage._load_from_bytes, blob[:-4])))
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle torch.LongStorage"):
        load_tensor_pickle(blob[blob.index(b"\x80\x02(X"):])  # a storage record outside its storage

    with pytest.raises(pickle.UnpicklingError, match="overruns"):
        _rebuild_tensor(np.arange(4), 1, (4,), (1,))
    assert _rebuild_tensor(np.arange(6), 1, (2, 2), (2, 1)).tolist() == [[1, 2], [3, 4]]


# ---------------------------------------------------------------------------- the top-5 loader
@pytest.fixture()
def top5(shared):
    return load_top5(shared / "data" / "vlm-outputs" / f"{TOP5}.npz")


def test_top5_file_scores_what_is_exact(top5):
    """Accuracy and ECE from the top-label arrays, equal to the figures recorded when the file was made."""
    verified = top5.meta["verified"]
    s = top5.scores(bins=(20, 15), n_boot=50, estimators=False)
    assert s.n == verified["n"] == top5.n
    assert s.accuracy == pytest.approx(verified["acc"], abs=5e-5)
    assert s.ece[20] == pytest.approx(verified["ece20"], abs=5e-5)
    assert s.ece[15] == pytest.approx(verified["ece15"], abs=5e-5)
    assert s.nll is None and s.brier is None
    assert s.ece_interval[0] < s.ece[20] < s.ece_interval[1]
    assert top5.topk_correct.mean() > s.accuracy  # top-5 accuracy is above top-1
    assert np.array_equal(top5.correct, top5.top_idx[:, 0] == top5.labels)


def test_top5_file_is_refused_by_every_score_and_temperature(top5):
    calls = [lambda: score_logits(top5, top5.labels), lambda: score_probs(top5, top5.labels),
             lambda: fit_temperature(top5, top5.labels), lambda: apply_temperature(top5, 1.5),
             lambda: TemperatureScaler().fit(top5, top5.labels), lambda: nll(top5, top5.labels),
             lambda: brier(top5, top5.labels), lambda: score_confidence(top5, top5.correct)]
    for call in calls:
        with pytest.raises(ValueError, match="top-5 classes only: NLL, Brier score, temperature scaling") as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(TypeError, match="top-5 classes only"):
        np.asarray(top5)
    with pytest.raises(ValueError, match="not a logits file"):
        load_logits(top5.path)


def test_top5_loader_checks_its_file(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, labels=np.arange(3), top5_idx=np.zeros((3, 5), int), top5_prob=np.tile([0.1, 0.2, 0, 0, 0], (3, 1)))
    with pytest.raises(ValueError, match="bad.npz: top5_prob rows must be sorted"):
        load_top5(bad)
    np.savez(bad, labels=np.arange(3), top5_idx=np.zeros((3, 5), int))
    with pytest.raises(ValueError, match="not a top-5 file: missing"):
        load_top5(bad)


# --------------------------------------------------------------- the registry entries, end to end
def _sources(shared, name):
    entry = PUBLISHED_LOGITS[name]
    with np.load(shared.joinpath(*entry.shared_dir, entry.filename)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if name == TOP5:  # the source's own format: a pickle of three CPU tensors
        return pickle.dumps(tuple(torch.from_numpy(arrays[k]) for k in ("labels", "top5_idx", "top5_prob")))
    order = np.random.default_rng(0).permutation(len(arrays["labels"]))  # rows sorted back by instance_id
    return _credal_text(list(arrays["classnames"]), arrays["logits"][order], arrays["labels"][order], order)


@pytest.mark.parametrize("name", [TOP5, BIOMED])
def test_sources_convert_to_the_pinned_hash_over_http(name, shared, tmp_path, monkeypatch):
    entry = PUBLISHED_LOGITS[name]
    assert entry.shared_dir == ("data", "vlm-outputs") and len(entry.commit) == 40
    server = _Server(tmp_path / "srv")
    try:
        server.root.mkdir()
        server.put(entry, 0, _sources(shared, name))
        monkeypatch.delenv("VLMCAL_SHARED", raising=False)
        found = resolve_published(name, root=tmp_path / "cache", base_url=server.url)
    finally:
        server.close()
    assert found.origin == "download", found.reason
    assert content_sha256(found.path) == entry.sha256
    assert server.requests == [f"/{entry.repo}/{entry.commit}/{entry.paths[0]}"]


def test_biomedclip_cifar10_is_a_logits_file_with_its_recorded_numbers(shared):
    f = load_logits(shared / "data" / "vlm-outputs" / f"{BIOMED}.npz")
    z, y = np.concatenate([f.logits_val, f.logits_test]), np.concatenate([f.labels_val, f.labels_test])
    s = score_logits(z, y, bins=15, estimators=False)
    assert s.accuracy == pytest.approx(f.meta["verified"]["acc"], abs=5e-5)
    assert s.ece[15] == pytest.approx(f.meta["verified"]["ece15"], abs=5e-4)
    assert f.classnames[:2] == ["airplane", "automobile"]


def test_a_hostile_source_is_refused_on_the_download_route(tmp_path, monkeypatch):
    """The registry's ImageNet-A source replaced by a pickle that calls os.system: refused, nothing ran or cached."""
    marker = tmp_path / "ran"
    entry = PUBLISHED_LOGITS[TOP5]
    server = _Server(tmp_path / "srv")
    try:
        server.root.mkdir()
        server.put(entry, 0, pickle.dumps((torch.arange(3), _Reduce(os.system, f"touch {marker}"))))
        monkeypatch.delenv("VLMCAL_SHARED", raising=False)
        found = resolve_published(TOP5, root=tmp_path / "cache", base_url=server.url)
    finally:
        server.close()
    assert found.origin == "unusable" and found.path is None
    assert "refusing to unpickle posix.system" in found.reason or "refusing to unpickle os.system" in found.reason
    assert not marker.exists() and not (tmp_path / "cache" / entry.filename).exists()
