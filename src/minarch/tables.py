"""Table I (docs/design.md §2): minimum stable parameters, safe pruning ratio and 8-bit gap per
(dataset, family), with the paper's published values beside ours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from minarch.data import DATASETS
from minarch.regimes import representative, safe_ratio, unclaimable

ARCH_TITLES = {"dnn": "DNN", "cnn": "CNN", "vit": "ViT"}

# Paper, Table I.
PAPER_TABLE1 = pd.DataFrame(
    [
        ("mnist", "dnn", 2e4, 60, 0.15),
        ("mnist", "cnn", 3e4, 20, 0.74),
        ("mnist", "vit", 5e3, 20, 10.66),
        ("fashion_mnist", "dnn", 2e4, 40, 1.42),
        ("fashion_mnist", "cnn", 3e4, 20, 1.10),
        ("fashion_mnist", "vit", 5e3, 20, 3.22),
        ("cifar10", "dnn", 2e6, 40, 7.50),
        ("cifar10", "cnn", 3e6, 5, 14.80),
        ("cifar10", "vit", 6e3, 10, 4.17),
    ],
    columns=["dataset", "arch", "paper_min_params", "paper_safe_pruning_pct", "paper_8bit_gap_pct"],
)


def safe_pruning_ratio(prune_rows: pd.DataFrame, tolerance: float) -> float:
    """``regimes.safe_ratio`` of one configuration's prune rows: each ratio's mean (over
    seeds) pruned accuracy against the unpruned mean."""
    curve = prune_rows.groupby("ratio")["test_acc"].mean().sort_index()
    return float(safe_ratio(curve.index.to_numpy(float), curve.to_numpy(float), tolerance))


def table1(
    regimes: pd.DataFrame, prune_rows: pd.DataFrame, qat_rows: pd.DataFrame, prune_tolerance: float = 1.0
) -> pd.DataFrame:
    """One row per (dataset, family) of ``regimes``: its representative model and that model's
    safe pruning % and 8-bit gap. ``note`` says why a row has no representative when the
    regimes cannot support one (``regimes.unclaimable``: too few seeds, every configuration
    failed); empty otherwise, where no representative means no stable configuration."""
    rows = []
    for (dataset, arch), group in regimes.groupby(["dataset", "arch"], sort=False):
        note = unclaimable(group)
        row = {
            "dataset": dataset,
            "arch": arch,
            "min_params": np.nan,
            "topology": None,
            "width": np.nan,
            "n_seeds": np.nan,
            "test_acc_mean": np.nan,
            "safe_pruning_pct": np.nan,
            "gap_8bit_pct": np.nan,
            "note": note,
        }
        best = None if note else representative(group)
        if best is not None:
            key = (
                (prune_rows["dataset"] == dataset)
                & (prune_rows["arch"] == arch)
                & (prune_rows["topology"] == best["topology"])
                & (prune_rows["width"] == best["width"])
            )
            qkey = (
                (qat_rows["dataset"] == dataset)
                & (qat_rows["arch"] == arch)
                & (qat_rows["topology"] == best["topology"])
                & (qat_rows["width"] == best["width"])
            )
            row.update(
                min_params=best["n_params"],
                topology=best["topology"],
                width=best["width"],
                n_seeds=best["n_seeds"],
                test_acc_mean=best["test_acc_mean"],
                safe_pruning_pct=100 * safe_pruning_ratio(prune_rows[key], prune_tolerance),
                gap_8bit_pct=qat_rows.loc[qkey, "gap_pp"].mean(),
            )
        rows.append(row)
    table = pd.DataFrame(rows).merge(PAPER_TABLE1, on=["dataset", "arch"], how="left")
    order = {name: i for i, name in enumerate(DATASETS)}
    arch_order = {name: i for i, name in enumerate(ARCH_TITLES)}
    return table.sort_values(
        ["dataset", "arch"], key=lambda s: s.map(order if s.name == "dataset" else arch_order), ignore_index=True
    )


def _interval(low, high, fmt: str) -> str:
    if pd.isna(low) and pd.isna(high):
        return ""
    show = lambda value: "none stable" if pd.isna(value) else format(value, fmt)  # noqa: E731
    return f"[{show(low)}, {show(high)}]"


def to_markdown(table: pd.DataFrame) -> str:
    """Table I for people: ours beside the paper's, with bootstrap intervals where computed."""
    notes = table["note"] if "note" in table else pd.Series(np.nan, index=table.index)
    shown = table.assign(
        dataset=table["dataset"].map(lambda d: DATASETS[d].title),
        arch=table["arch"].map(ARCH_TITLES),
        representative=[
            f"{t} w{int(w)}" if isinstance(t, str) else "none stable" if pd.isna(n) or not n else "not judged"
            for t, w, n in zip(table["topology"], table["width"], notes)
        ],
    )
    columns = [
        "dataset",
        "arch",
        "representative",
        "min_params",
        "paper_min_params",
        "safe_pruning_pct",
        "paper_safe_pruning_pct",
        "gap_8bit_pct",
        "paper_8bit_gap_pct",
        "test_acc_mean",
        "n_seeds",
    ]
    names = {
        "min_params": "min params",
        "paper_min_params": "paper min params",
        "safe_pruning_pct": "safe pruning %",
        "paper_safe_pruning_pct": "paper safe pruning %",
        "gap_8bit_pct": "8-bit gap %",
        "paper_8bit_gap_pct": "paper 8-bit gap %",
        "test_acc_mean": "test acc % (ours)",
        "n_seeds": "seeds",
    }
    levels = table["confidence"].dropna() if "confidence" in table else pd.Series(dtype=float)
    ci = f"{100 * levels.iloc[0]:.0f}% CI" if len(levels) else "CI"
    for column, fmt in (("min_params", ",.0f"), ("safe_pruning_pct", ".0f"), ("gap_8bit_pct", ".2f")):
        if f"{column}_ci_low" in table:
            shown[f"{column}_ci"] = [
                _interval(lo, hi, fmt) for lo, hi in zip(table[f"{column}_ci_low"], table[f"{column}_ci_high"])
            ]
            columns.insert(columns.index(column) + 1, f"{column}_ci")
            names[f"{column}_ci"] = f"{names[column]} {ci}"
    if any(isinstance(n, str) and n for n in notes):  # why a row is not judged, only where one is
        shown["note"] = [n if isinstance(n, str) else "" for n in notes]
        columns.append("note")
    shown = shown[columns]
    for column in ("min_params", "paper_min_params", "n_seeds"):
        shown[column] = shown[column].astype("Int64")
    return shown.rename(columns=names).to_markdown(index=False, floatfmt=".4g") + "\n"
