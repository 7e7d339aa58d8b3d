"""DomainNet in the study: study.dataset_specs("domainnet") on a fake tree with official label lines."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest

from tests.data.test_imagenet import OFFICIAL, write_domainnet
from vlmcal_utils import study
from vlmcal_utils.data import DOMAINNET_DOMAINS, load_dataset
from vlmcal_utils.data.imagenet import DOMAINNET_N_CLASSES
from vlmcal_utils.demo import demo_preprocess
from vlmcal_utils.study.tasks import DOMAINNET_CAL_DOMAIN, DOMAINNET_PROTOCOL, domainnet_shifts


def test_domainnet_specs_halve_the_calibration_domain_and_list_the_others():
    cal, evals = study.dataset_specs("domainnet", n_cal=40, n_test=30)
    assert DOMAINNET_CAL_DOMAIN == "real" and cal.kwargs == {"domain": "real"} == evals["test"].kwargs
    assert cal.fraction == (0.0, 0.5) and evals["test"].fraction == (0.5, 1.0) and cal.shuffle
    assert cal.split == evals["test"].split == "test" and cal.n == 40 and evals["test"].n == 30
    assert list(evals) == ["test", "clipart", "infograph", "painting", "quickdraw", "sketch"]
    assert all(evals[d].optional and evals[d].kwargs == {"domain": d} for d in domainnet_shifts())
    assert not cal.optional and not evals["test"].optional
    cal2, evals2 = study.dataset_specs("domainnet-clipart")
    assert cal2.kwargs == {"domain": "clipart"} and "clipart" not in evals2 and "real" in evals2
    assert set(domainnet_shifts("sketch")) | {"sketch"} == set(DOMAINNET_DOMAINS)
    with pytest.raises(ValueError, match="unknown DomainNet domain 'photo'"):
        study.dataset_specs("domainnet-photo")
    assert "not available to check" in DOMAINNET_PROTOCOL  # the protocol says what is ours
    # the two halves have different cache keys, and the fraction is part of the key
    assert cal.ident(0) != evals["test"].ident(0) and "fraction" in cal.ident(0)
    assert "fraction" not in study.dataset_specs("cifar10")[0].ident(0)  # old keys unchanged


def test_fraction_halves_are_disjoint_and_cover_every_item():
    class Items(list):
        classnames = ["a"]

    items = Items(range(7))
    lo = study.DatasetSpec("x", fraction=(0.0, 0.5), shuffle=True).select(items, seed=1)
    hi = study.DatasetSpec("x", fraction=(0.5, 1.0), shuffle=True).select(items, seed=1)
    got = [items[i] for i in lo.indices] + [items[i] for i in hi.indices]
    assert len(lo) == 3 and len(hi) == 4 and sorted(got) == list(range(7)) and lo.classnames == ["a"]
    with pytest.raises(ValueError, match="not 0 <= a < b <= 1"):
        study.DatasetSpec("x", fraction=(0.5, 0.5)).select(items, seed=0)
    with pytest.raises(ValueError, match="not both"):
        study.DatasetSpec("x", fraction=(0, 1), index_range=(0, 3)).select(items, seed=0)


def test_domainnet_task_end_to_end_on_a_fake_tree(tmp_path, tiny_clip):
    # two domains with the official label lines (file order != sorted()); the other four are missing
    for domain in ("real", "clipart"):
        write_domainnet(tmp_path / "domainnet", domain)
    for i in range(4):  # more real test images: halves of 8
        (tmp_path / "domainnet" / "real_test.txt").open("a").write(
            f"real/{OFFICIAL[i][0]}/1.png {OFFICIAL[i][1]}\n")
    n_real = len(load_dataset("domainnet", "test", root=tmp_path, domain="real"))
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    loader = lambda arch, pretrained, device: (tiny_clip, demo_preprocess(32), tokenizer)  # noqa: E731
    cal, evals = study.dataset_specs("domainnet")
    task = study.zeroshot_task("vlmcal-demo-small", None, "DomainNet", cal, evals, data_root=tmp_path, device="cpu",
                               cache_dir=tmp_path / "cache", model_loader=loader)
    assert task.splits == ("test", *domainnet_shifts())
    with pytest.warns(UserWarning) as caught:
        data = task.load()
    skipped = sorted(str(w.message).split("'")[1] for w in caught)
    assert skipped == ["infograph", "painting", "quickdraw", "sketch"]  # one warning per missing domain
    assert set(data) == {"cal", "test", "clipart"}  # missing domains skipped, with a warning each
    assert len(data["cal"][1]) + len(data["test"][1]) == n_real == 8
    assert data["cal"][0].shape == (4, DOMAINNET_N_CLASSES) and data["clipart"][0].shape == (4, DOMAINNET_N_CLASSES)
    # labels are the official file's indices: The_Eiffel_Tower is 2, though sorted() puts it first
    assert set(data["clipart"][1].tolist()) == set(range(len(OFFICIAL)))
    with pytest.warns(UserWarning) as caught:  # run_grid loads again: the same skips
        df = study.run_grid([task], tmp_path / "g.jsonl", n_calib_grid=[2], n_repeats=2, n_boot=0, progress=False)
    assert all("skipping split" in str(w.message) for w in caught)
    assert set(df["split"]) == {"test", "clipart"} and np.isfinite(df["ece_15"]).all()
