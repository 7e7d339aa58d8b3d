"""Guo et al. (ICML 2017), "On Calibration of Modern Neural Networks": the cells chapter 1 compares with."""

from __future__ import annotations

from vlmcal_utils.papers.record import PaperNumbers

__all__ = ["GUO2017_DENSENET40_CIFAR10"]

GUO2017_DENSENET40_CIFAR10 = PaperNumbers(
    citation="Guo et al. 2017",
    setting="ECE with 15 bins: uncalibrated 3.28 %, temperature scaling 0.33 %",
    values={"ece_before": 3.28, "ece_after": 0.33},
    where="Table 1 (ECE), row CIFAR-10 DenseNet 40, columns Uncalibrated and Temp. Scaling",
    checked_in="the arXiv 1706.04599 HTML rendering",
    url="https://arxiv.org/abs/1706.04599",
)
