"""vlmcal_utils.data.classnames: one spelling of every class list."""

from __future__ import annotations

from vlmcal_utils.data import (
    CIFAR10_CLASSNAMES,
    EUROSAT_CLASSNAMES,
    IMAGENET_CLASSNAMES,
    clean_classname,
    imagenet_wnids,
)


def test_class_lists():
    assert len(CIFAR10_CLASSNAMES) == 10 and CIFAR10_CLASSNAMES[0] == "airplane"
    assert len(EUROSAT_CLASSNAMES) == 10 and EUROSAT_CLASSNAMES["SeaLake"] == "sea or lake"
    assert isinstance(IMAGENET_CLASSNAMES, tuple) and len(IMAGENET_CLASSNAMES) == 1000
    assert IMAGENET_CLASSNAMES[0] == "tench" and IMAGENET_CLASSNAMES[1] == "goldfish"


def test_wnids_in_class_index_order():
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and wnids == sorted(wnids) and wnids[0] == "n01440764"


def test_clean_classname():
    assert clean_classname(" 2012_Audi_S4 ") == "2012 Audi S4"
