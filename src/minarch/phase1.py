"""Phase 1 (paper Sec. III-A, Fig. 2b): does the hidden-layer shape of a DNN matter once the
parameter count is fixed? The topology table labels every (topology, width) like the regime
table; the invariance table measures, per depth and decade of parameter count, how far the
topologies' mean test accuracies spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from minarch import topology as topo
from minarch.regimes import Thresholds, finals, summarize


def topology_table(train_rows: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """One row per (dataset, topology, width): parameter count, test accuracy over seeds,
    regime; with the topology's depth and its first hidden layer's width."""
    table = summarize(finals(train_rows), thresholds)
    table.insert(3, "depth", table["topology"].map(topo.depth).astype(int))
    return table.sort_values(["dataset", "depth", "topology", "n_params"], ignore_index=True)


def decade(n_params) -> np.ndarray:
    """The power of ten below a parameter count: 1,234 -> 3 (the band 1e3 <= n < 1e4)."""
    return np.floor(np.log10(np.asarray(n_params, dtype=float))).astype(int)


def invariance(table: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """Per (dataset, depth, decade): each topology's accuracy is the mean over its
    configurations in that decade; the spread is the largest minus the smallest of those.
    ``shape_invariant`` marks decades from which every larger one spreads by at most
    ``tolerance`` pp (decades with a single topology cannot show a spread and are skipped)."""
    banded = table.assign(decade=decade(table["n_params"]))
    per_topology = banded.groupby(["dataset", "depth", "decade", "topology"], as_index=False).agg(
        test_acc_mean=("test_acc_mean", "mean"), n_configs=("width", "size")
    )
    rows = []
    for (dataset, depth, band), group in per_topology.groupby(["dataset", "depth", "decade"], sort=True):
        best, worst = group.loc[group["test_acc_mean"].idxmax()], group.loc[group["test_acc_mean"].idxmin()]
        rows.append(
            {
                "dataset": dataset,
                "depth": depth,
                "decade": band,
                "params_from": 10**band,
                "params_to": 10 ** (band + 1),
                "n_topologies": len(group),
                "n_configs": int(group["n_configs"].sum()),
                "spread_pp": best["test_acc_mean"] - worst["test_acc_mean"],
                "best_topology": best["topology"],
                "worst_topology": worst["topology"],
                "best_acc": best["test_acc_mean"],
                "worst_acc": worst["test_acc_mean"],
            }
        )
    result = pd.DataFrame(rows)
    if result.empty:
        return result.assign(shape_invariant=[])
    comparable = result["n_topologies"] > 1
    within = (result["spread_pp"] <= tolerance) | ~comparable
    # invariant from here on: this decade and every larger one of the same depth are within
    tail_within = within[::-1].groupby([result["dataset"], result["depth"]]).cummin()[::-1]
    result["shape_invariant"] = comparable & tail_within.astype(bool)
    return result
