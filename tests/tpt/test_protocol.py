"""vlmcal_utils.tpt.protocol: the papers' per-dataset settings, as data."""

from __future__ import annotations

import re

from vlmcal_utils import tpt
from vlmcal_utils.tpt import protocol

SHIFTS = ["imagenet-a", "imagenet-v2", "imagenet-r", "imagenet-sketch"]


def test_ctpt_lambda_by_family():
    # official scripts: test_tpt_ctpt_fg.sh (fine-grained + ImageNet) 50, test_tpt_ctpt_ds.sh (shifts) 20
    for name in ["imagenet", "imagenet-shared", "dtd", "eurosat", "demo-photo", "cifar10-shared"]:
        assert tpt.ctpt_lambda(name) == 50.0 and tpt.dataset_family(name) == "fine-grained"
    for name in SHIFTS:
        assert tpt.ctpt_lambda(name) == 20.0 and tpt.dataset_family(name) == "natural-shift"
    assert tpt.ctpt_lambda("dtd", fine_grained=7.0, shifts=3.0) == 7.0
    assert tpt.ctpt_lambda("imagenet-r", fine_grained=7.0, shifts=3.0) == 3.0


def test_augmix_rule_follows_the_official_scripts():
    # test_tpt_ctpt_ds.sh / test_tpt_ds.sh pass --I_augmix: AugMix on the four shifts (Table 2);
    # ImageNet (Table 1) runs with the fine-grained script, without it: off; fine-grained sets: on
    for name in SHIFTS:
        assert tpt.uses_augmix(name) is True
    for name in ["imagenet", "imagenet-shared"]:
        assert tpt.uses_augmix(name) is False
    for name in ["dtd", "eurosat", "ucf101", "stanford-cars", "demo-photo", "cifar10-shared"]:
        assert tpt.uses_augmix(name) is True
    assert tpt.uses_augmix("imagenet", True) is True and tpt.uses_augmix("imagenet-a", False) is False


def test_augmix_table_cites_script_and_line():
    rules = protocol.AUGMIX_RULES
    fine = {"caltech101", "dtd", "eurosat", "fgvc-aircraft", "flowers102", "food101", "oxford-pets",
            "stanford-cars", "sun397", "ucf101"}
    assert fine | {"imagenet", "imagenet-shared"} | set(SHIFTS) == set(rules)
    for name, rule in rules.items():
        assert rule.dataset == name and rule.augmix == (name not in ("imagenet", "imagenet-shared"))
        assert re.search(r"scripts/test_tpt_ctpt_(fg|ds)\.sh line \d+", rule.source)
        assert "tpt_classification.py line" in rule.source
        assert ("--I_augmix" in rule.source) and (("no --I_augmix" in rule.source) == (name not in SHIFTS))


def test_run_file_names():
    assert tpt.run_file_name("dtd", "test", "ctpt") == "dtd__test__ctpt.jsonl"  # hard prompt: no tag
    assert tpt.run_file_name("dtd", "val", "tpt", "ensemble", "tip7") == "dtd__val__ensemble-tip7__tpt.jsonl"
    assert tpt.run_file_name("dtd", "test", "tpt", "ensemble", ["a {}."]) == "dtd__test__ensemble-custom__tpt.jsonl"


def test_ece_bins():
    assert tpt.ECE_BINS == 20  # C-TPT's ECE_Loss(20, ...)
