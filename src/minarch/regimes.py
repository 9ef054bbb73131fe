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
    curve = curve.sort_values("n_params").reset_index(drop=True)
    mean, std = curve["test_acc_mean"].to_numpy(), curve["test_acc_std"].to_numpy()
    unstable = (std > thresholds.max_std) | (mean < mean.max() - thresholds.max_drop)
    improves = np.r_[True, np.diff(mean) > 0]
    overfitting = ~unstable & (curve["train_test_gap_mean"].to_numpy() > thresholds.max_gap) & ~improves
    curve["regime"] = np.where(unstable, UNSTABLE, np.where(overfitting, OVERFITTING, LEARNING))
    curve["min_stable_params"] = minimum_stable_params(curve["n_params"].to_numpy(), unstable)
    return curve


def minimum_stable_params(n_params: np.ndarray, unstable: np.ndarray) -> float:
    """Smallest parameter count from which no larger configuration of the curve is unstable
    (NaN when the largest one is)."""
    order = np.argsort(n_params)
    n_params, unstable = np.asarray(n_params)[order], np.asarray(unstable)[order]
    if len(n_params) == 0 or unstable[-1]:
        return float("nan")
    last_unstable = np.flatnonzero(unstable)
    first_stable = last_unstable[-1] + 1 if len(last_unstable) else 0
    return float(n_params[first_stable])


def representatives(regimes: pd.DataFrame) -> pd.DataFrame:
    """Per curve, the configuration at its minimum stable parameter count (the paper's
    'smallest stable configuration'); curves with none are left out."""
    at_min = regimes[regimes["n_params"] == regimes["min_stable_params"]]
    return at_min.sort_values(CURVE_KEYS).reset_index(drop=True)
