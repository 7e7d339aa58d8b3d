"""Tests of vlmcal_utils.study (a package, so that tests/study/test_plots.py and tests/test_plots.py can coexist)."""
