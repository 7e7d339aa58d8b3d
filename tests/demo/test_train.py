"""vlmcal_utils.demo.train: a short retraining run is deterministic and lowers the contrastive loss;
the rendered pool is cached in cache_dir("demo")."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vlmcal_utils.demo import load_demo_model
from vlmcal_utils.demo.train import TrainConfig, build_pool, clip_loss, train_demo_model
from vlmcal_utils.paths import cache_dir


@pytest.fixture(scope="module")
def pool():
    return build_pool(64, seed=0, cache=False)


def test_short_run_is_deterministic_and_learns(pool, tmp_path):
    cfg = TrainConfig(model="vlmcal-demo-small", steps=25, batch_size=64, warmup=5, n_per_domain=64)
    a = train_demo_model(cfg, out=tmp_path / "a", pool=pool, log_every=5)
    b = train_demo_model(cfg, out=tmp_path / "b", pool=pool, log_every=5)
    sa, sb = a["model"].state_dict(), b["model"].state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    fa = load_file(str(tmp_path / "a" / "vlmcal-demo-small.safetensors"))
    fb = load_file(str(tmp_path / "b" / "vlmcal-demo-small.safetensors"))
    assert all(torch.equal(fa[k], fb[k]) and fa[k].dtype == torch.float16 for k in fa)
    assert a["loss_curve"] == b["loss_curve"]
    # Like-for-like: the same fixed batch, before vs after training.
    assert a["loss_fixed_after"] < a["loss_fixed_before"] - 0.2, a
    # The written file loads back through the public loader.
    model, _, _ = load_demo_model("vlmcal-demo-small", weights=tmp_path / "a" / "vlmcal-demo-small.safetensors")
    assert torch.allclose(model.logit_scale, sa["logit_scale"], rtol=1e-3)


def test_different_seed_differs(pool, tmp_path):
    base = dict(model="vlmcal-demo-small", steps=3, batch_size=32, warmup=1, n_per_domain=64)
    a = train_demo_model(TrainConfig(seed=0, **base), out=None, pool=pool)
    b = train_demo_model(TrainConfig(seed=1, **base), out=None, pool=pool)
    assert not torch.equal(a["model"].visual.conv1.weight, b["model"].visual.conv1.weight)


def test_clip_loss_is_symmetric_infonce():
    torch.manual_seed(0)
    f = torch.randn(8, 4)
    # Perfectly matched pairs with a large scale → loss near 0; shuffled → large.
    assert clip_loss(f, f, torch.tensor(np.log(100.0))) < 0.05
    assert clip_loss(f, f.roll(1, 0), torch.tensor(np.log(100.0))) > 1.0


def test_pool_cache_lives_in_the_demo_cache_folder(tmp_path, monkeypatch):
    """The pool used to sit loose in the cache root; now it is cache_dir("demo"), like every cache."""
    monkeypatch.setenv("VLMCAL_CACHE", str(tmp_path))
    images, params, domains = build_pool(2, seed=3, cache=True)
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert [p.parent for p in tmp_path.rglob("*.safetensors")] == [cache_dir("demo")] == [tmp_path / "demo"], files
    assert all(name.startswith("demo_pool_") for name in files), "no temporary file is left"
    again = build_pool(2, seed=3, cache=True)  # read back from the cache
    assert torch.equal(again[0], images) and again[1] == params and again[2] == domains


def test_written_records_are_world_readable(pool, tmp_path):
    """The weights and the training record ship in the package: atomic writes must not leave them 0600."""
    cfg = TrainConfig(model="vlmcal-demo-small", steps=1, batch_size=8, warmup=1, n_per_domain=64)
    train_demo_model(cfg, out=tmp_path, pool=pool)
    for name in ("vlmcal-demo-small.safetensors", "vlmcal-demo-small.train.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vlmcal-demo-small.safetensors",
                                                          "vlmcal-demo-small.train.json"]


class _Planted:
    """A pickle that, when loaded, leaves a file behind: proof that code in a cache ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_in_the_pool_cache_never_runs(tmp_path, monkeypatch):
    """Before (issue 25): build_pool loaded demo_pool_<key>.pt with torch.load(weights_only=False)."""
    import pickle

    monkeypatch.setenv("VLMCAL_CACHE", str(tmp_path))
    first = build_pool(2, seed=4, cache=True)
    (cached,) = list(cache_dir("demo").iterdir())
    marker = tmp_path / "code-ran"
    # the old cache name and the new one, each holding a hostile pickle instead of the pool
    hostile = {"images": _Planted(marker), "params": [], "domains": []}
    cached.write_bytes(pickle.dumps(hostile))
    torch.save(hostile, cached.with_suffix(".pt"))
    with pytest.warns(UserWarning, match="damaged.*rendering it again"):
        again = build_pool(2, seed=4, cache=True)
    assert not marker.exists(), "code from a cache file ran"
    assert torch.equal(again[0], first[0]) and again[1] == first[1]
