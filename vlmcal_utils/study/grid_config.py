"""The protocol of a study grid run: which cells, and the settings every cell's numbers depend on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmcal_utils.checks import check_choice, check_int, check_n_bins, close_matches
from vlmcal_utils.study.scoring import TS_METHODS

__all__ = ["GridConfig", "grid_config"]


def _calib_size(n: Any) -> int | str:
    if n is None or n == "all":
        return "all"
    return check_int(n, "n_calib_grid entries", minimum=1)


@dataclass(frozen=True)
class GridConfig:
    """The protocol of one :func:`run_grid` run.

    Parameters
    ----------
    n_calib_grid : iterable of int or "all"
        Calibration-set sizes drawn for finding 4 (``"all"`` is always run, listed or not).
    n_repeats : int
        Random draws per size (integer >= 1): seeds ``seed .. seed + n_repeats - 1``.
    n_bins : int
        Equal-width ECE bins.
    n_boot : int
        Bootstrap replicates of the ECE interval (integer >= 0; ``"all"`` cells only).
    alpha : float
        The intervals are percentile ``1 - alpha`` ones.
    seed : int
        Seed of the draws and of the bootstrap (integer >= 0).
    method : str
        Temperature fitting method, one of :data:`~vlmcal_utils.study.scoring.TS_METHODS`.
    stratified : bool
        Class-balanced draws (:func:`~vlmcal_utils.study.draw_calibration_subset`).
    """

    n_calib_grid: tuple[int | str, ...] = ()
    n_repeats: int = 5
    n_bins: int = 15
    n_boot: int = 200
    alpha: float = 0.05
    seed: int = 0
    method: str = "bisection"
    stratified: bool = False

    def __post_init__(self) -> None:
        grid = self.n_calib_grid if self.n_calib_grid is not None else ()
        if isinstance(grid, (str, int)):
            raise ValueError(f"n_calib_grid must be a list of sizes such as [10, 50, 'all'], got {grid!r}")
        object.__setattr__(self, "n_calib_grid", tuple(_calib_size(n) for n in grid))
        object.__setattr__(self, "n_repeats", check_int(self.n_repeats, "n_repeats", minimum=1))
        object.__setattr__(self, "n_bins", check_n_bins(self.n_bins))
        object.__setattr__(self, "n_boot", check_int(self.n_boot, "n_boot", minimum=0))
        object.__setattr__(self, "seed", check_int(self.seed, "seed", minimum=0))
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), e.g. 0.05 for 95 % intervals; got {self.alpha!r}")
        object.__setattr__(self, "alpha", float(self.alpha))
        check_choice(self.method, TS_METHODS, "temperature method")
        if not isinstance(self.stratified, (bool, np.bool_)):
            raise ValueError(f"stratified must be True or False, got {self.stratified!r}")
        object.__setattr__(self, "stratified", bool(self.stratified))

    def settings(self) -> dict:
        """What a cell's numbers depend on besides its task and draw.

        ``n_calib_grid`` and ``n_repeats`` are not in it: they choose *which* cells run, and a
        draw does not depend on them, so a grid can be extended on resume.

        Returns
        -------
        dict
            ``n_bins, n_boot, alpha, method, stratified, seed``.
        """
        return {"n_bins": self.n_bins, "n_boot": self.n_boot, "alpha": self.alpha, "method": self.method,
                "stratified": self.stratified, "seed": self.seed}

    def cells(self) -> list[tuple[int | str, int]]:
        """The ``(n_calib, seed)`` cells of one task: ``("all", seed)``, then each size's draws."""
        cells: list[tuple[int | str, int]] = [("all", self.seed)]
        for n in dict.fromkeys(self.n_calib_grid):  # a size listed twice is one set of draws
            if n != "all":
                cells.extend((n, self.seed + r) for r in range(self.n_repeats))
        return cells


def grid_config(config: GridConfig | None = None, **overrides: Any) -> GridConfig:
    """``config`` (default ``GridConfig()``) with the fields in ``overrides`` replaced.

    Parameters
    ----------
    config : GridConfig, optional
        The starting protocol.
    **overrides
        :class:`GridConfig` fields; an unknown name raises ``TypeError`` naming close matches.

    Returns
    -------
    GridConfig
        Validated.
    """
    fields = [f.name for f in dataclasses.fields(GridConfig)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        close = close_matches(unknown[0], fields)
        raise TypeError(f"unknown grid setting(s) {unknown}"
                        + (f"; did you mean {close}?" if close else f"; GridConfig has {fields}"))
    return dataclasses.replace(config if config is not None else GridConfig(), **overrides)
