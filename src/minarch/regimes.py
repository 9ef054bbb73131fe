"""Regime labels per configuration and the minimum stable parameter count (docs/design.md §2).

A *curve* is one (dataset, arch, topology) across its widths. Thresholds are the config's
``regimes`` section:
- ``max_std``: a configuration whose test-accuracy std over seeds exceeds it is unstable;
- ``max_drop``: so is one whose mean is more than this below the curve's best mean;
- ``max_gap``: a stable one whose mean train-test gap exceeds it, while its test accuracy no
  longer improves on the next smaller width, is overfitting. Everything else is learning.
All in percentage points. The std is the sample std (ddof=1); a single seed has none, and
then only ``max_drop`` can make a configuration unstable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CONFIG_KEYS = ["dataset", "arch", "topology", "width"]
CURVE_KEYS = ["dataset", "arch", "topology"]
UNSTABLE, LEARNING, OVERFITTING = "unstable", "learning", "overfitting"


@dataclass(frozen=True)
class Thresholds:
    max_std: float = 1.0
    max_drop: float = 2.0
    max_gap: float = 3.0


def finals(train_rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the restored best-epoch model's metrics."""
    return train_rows[train_rows["kind"] == "final"].reset_index(drop=True)


def summarize(final_rows: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """Per configuration: parameter count, test accuracy statistics over seeds, mean
    train-test gap, regime, and the curve's minimum stable parameter count."""
    rows = final_rows.assign(gap=final_rows["train_acc"] - final_rows["test_acc"])
    table = rows.groupby(CONFIG_KEYS, as_index=False).agg(
        n_params=("n_params", "first"),
        n_seeds=("seed", "nunique"),
        test_acc_mean=("test_acc", "mean"),
        test_acc_std=("test_acc", "std"),
        test_acc_min=("test_acc", "min"),
        test_acc_max=("test_acc", "max"),
        train_acc_mean=("train_acc", "mean"),
        train_test_gap_mean=("gap", "mean"),
    )
    curves = [label_curve(curve, thresholds) for _, curve in table.groupby(CURVE_KEYS, sort=True)]
    return pd.concat(curves, ignore_index=True) if curves else table.assign(regime=[], min_stable_params=[])


def label_curve(curve: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """Regime and minimum stable parameter count of one curve's configurations (sorted by
    parameter count on return): ``unstable_mask``, ``overfitting_mask`` and
    ``minimum_stable`` on a single resample."""
    curve = curve.sort_values("n_params").reset_index(drop=True)
    mean, std = curve["test_acc_mean"].to_numpy(), curve["test_acc_std"].to_numpy()
    unstable = unstable_mask(mean, std, thresholds)
    overfitting = overfitting_mask(mean, curve["train_test_gap_mean"].to_numpy(), unstable, thresholds)
    curve["regime"] = np.where(unstable, UNSTABLE, np.where(overfitting, OVERFITTING, LEARNING))
    curve["min_stable_params"] = float(minimum_stable(curve["n_params"].to_numpy(), unstable))
    return curve


# ---------------------------------------------------------------------------------------------
# the rules, on arrays: the last axis is a curve's configurations sorted by parameter count
# (or a prune curve's ratios, sorted); leading axes are resamples, a single curve has none.


def unstable_mask(mean: np.ndarray, std: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """True where a configuration is unstable: its seed std exceeds ``max_std`` or its mean is
    more than ``max_drop`` below the curve's best mean. A NaN std (one seed) is not above."""
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    with np.errstate(invalid="ignore"):
        return (std > thresholds.max_std) | (mean < mean.max(axis=-1, keepdims=True) - thresholds.max_drop)


def overfitting_mask(mean: np.ndarray, gap: np.ndarray, unstable: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """True where a stable configuration's mean train-test gap exceeds ``max_gap`` while its
    mean test accuracy does not improve on the next smaller configuration's."""
    mean = np.asarray(mean, dtype=float)
    first = np.ones(mean.shape[:-1] + (min(mean.shape[-1], 1),), dtype=bool)  # the smallest has none to beat
    improves = np.concatenate([first, np.diff(mean, axis=-1) > 0], axis=-1)
    return ~unstable & (np.asarray(gap, dtype=float) > thresholds.max_gap) & ~improves


def minimum_stable(n_params: np.ndarray, unstable: np.ndarray) -> np.ndarray:
    """Smallest parameter count from which no larger configuration is unstable, per leading
    index of ``unstable`` (``n_params`` sorted ascending, one per configuration); NaN where the
    largest configuration is unstable or there is none."""
    n_params, unstable = np.asarray(n_params, dtype=float), np.asarray(unstable, dtype=bool)
    width = unstable.shape[-1]
    if width == 0:
        return np.full(unstable.shape[:-1], np.nan)
    last_unstable = np.where(unstable.any(axis=-1), width - 1 - np.argmax(unstable[..., ::-1], axis=-1), -1)
    first_stable = np.minimum(last_unstable + 1, width - 1)
    return np.where(unstable[..., -1], np.nan, n_params[first_stable])


def minimum_stable_params(n_params: np.ndarray, unstable: np.ndarray) -> float:
    """``minimum_stable`` of one curve given in any order."""
    order = np.argsort(n_params)
    return float(minimum_stable(np.asarray(n_params)[order], np.asarray(unstable, dtype=bool)[order]))


def safe_ratio(ratios: np.ndarray, means: np.ndarray, tolerance: float) -> np.ndarray:
    """Largest pruning ratio up to which every ratio's mean accuracy stays within ``tolerance``
    pp of the unpruned (ratio 0.0) mean, per leading index of ``means`` (last axis: ``ratios``,
    sorted); NaN without the unpruned ratio."""
    ratios, means = np.asarray(ratios, dtype=float), np.asarray(means, dtype=float)
    if not np.any(ratios == 0.0):
        return np.full(means.shape[:-1], np.nan)
    reference = means[..., np.flatnonzero(ratios == 0.0)[0]][..., None]
    failing = ~(means >= reference - tolerance)
    last = np.where(failing.any(axis=-1), np.argmax(failing, axis=-1) - 1, len(ratios) - 1)
    return ratios[np.maximum(last, 0)]


# ---------------------------------------------------------------------------------------------
# the representative model


def representatives(regimes: pd.DataFrame) -> pd.DataFrame:
    """Per curve, the configuration at its minimum stable parameter count (the paper's
    'smallest stable configuration'); curves with none are left out."""
    at_min = regimes[regimes["n_params"] == regimes["min_stable_params"]]
    return at_min.sort_values(CURVE_KEYS).reset_index(drop=True)


def representative(regimes: pd.DataFrame) -> pd.Series | None:
    """The (dataset, family)'s representative model for Table I: among its curves'
    ``representatives``, the fewest parameters (ties: topology name); None when none."""
    candidates = representatives(regimes)
    return candidates.sort_values(["n_params", "topology"]).iloc[0] if len(candidates) else None


def shown_width(curve: pd.DataFrame):
    """The width a curve's pruning panel and its interval show: its representative's (the
    minimum stable width), else its largest width."""
    stable = curve.loc[curve["n_params"] == curve["min_stable_params"], "width"]
    return stable.iloc[0] if len(stable) else curve["width"].max()
