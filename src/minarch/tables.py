"""Table I (docs/design.md §2): minimum stable parameters, safe pruning ratio and 8-bit gap per
(dataset, family), with the paper's published values beside ours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from minarch import registry
from minarch.regimes import PRUNE_TOLERANCE, representative, safe_ratio, unclaimable, widest_swept

CONFIG_KEYS = ["dataset", "arch", "topology", "width"]


def arch_title(arch: str) -> str:
    """A family's title (``minarch.registry.Family.title``); an unregistered one's name."""
    found = registry.families().get(arch)
    return found.title if found is not None else arch


def dataset_title(dataset: str) -> str:
    """A dataset's title (``minarch.registry.Dataset.title``); an unregistered one's name."""
    found = registry.datasets().get(dataset)
    return found.title if found is not None else dataset


def _scoped(arch: str) -> bool:
    found = registry.families().get(arch)
    return found is not None and found.scoped_qat


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


# Quantization scopes (``qat.scope``), the paper's W8A8 first: Table I's and the paper
# comparison's 8-bit gap is that of the first scope a configuration ran.
SCOPE_ORDER = ("full", "attention", "linear")


def with_scope(qat_rows: pd.DataFrame) -> pd.DataFrame:
    """``qat_rows`` with a ``qat_scope`` column: rows written before scopes existed are the
    linear-layer QAT of a family with scopes (the ViT) and the others' whole-model QAT."""
    if ("qat_scope" in qat_rows and qat_rows["qat_scope"].notna().all()) or "arch" not in qat_rows:
        return qat_rows
    implied = qat_rows["arch"].map(lambda arch: "linear" if _scoped(arch) else "full")
    scope = qat_rows["qat_scope"].fillna(implied) if "qat_scope" in qat_rows else implied
    return qat_rows.assign(qat_scope=scope)


def headline_qat_rows(qat_rows: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, the QAT rows of its headline scope (the first of ``SCOPE_ORDER`` it
    ran): one row per seed, as analyses that average a configuration's gap over seeds need."""
    rows = with_scope(qat_rows)
    if rows.empty or "qat_scope" not in rows:
        return rows
    rank = rows["qat_scope"].map({scope: i for i, scope in enumerate(SCOPE_ORDER)}).fillna(len(SCOPE_ORDER))
    best = rank.groupby([rows[k] for k in CONFIG_KEYS]).transform("min")
    return rows[rank == best]


def safe_pruning_ratio(prune_rows: pd.DataFrame, tolerance: float) -> float:
    """``regimes.safe_ratio`` of one configuration's prune rows: each ratio's mean (over
    seeds) pruned accuracy against the unpruned mean."""
    curve = prune_rows.groupby("ratio")["test_acc"].mean().sort_index()
    return float(safe_ratio(curve.index.to_numpy(float), curve.to_numpy(float), tolerance))


def table1(
    regimes: pd.DataFrame, prune_rows: pd.DataFrame, qat_rows: pd.DataFrame, prune_tolerance: float = PRUNE_TOLERANCE
) -> pd.DataFrame:
    """One row per (dataset, family) of ``regimes``: its representative model and that model's
    safe pruning % and 8-bit gap. ``note`` says why a row has no representative when the
    regimes cannot support one (``regimes.unclaimable``: too few seeds, every configuration
    failed); empty otherwise, where no representative means no stable configuration.
    ``min_params_lower_bound`` is True where the representative is the widest configuration
    of its curve (``regimes.widest_swept``): the sweep stopped before a plateau could show,
    so the smallest stable size is a lower bound.

    The 8-bit gap (``gap_8bit_pct``, mean float - int8 over seeds) is QAT's under the
    representative's headline scope (``qat_scope``, ``headline_qat_rows``), and
    ``ptq_gap_8bit_pct`` post-training quantization's under the same scope (NaN where PTQ
    was not run). When a family with scopes (the ViT) ran several, its rows also get
    ``gap_8bit_pct_{scope}`` and ``ptq_gap_8bit_pct_{scope}`` for each of them."""
    qat_rows = with_scope(qat_rows)
    headline = headline_qat_rows(qat_rows)
    ran = set(qat_rows.loc[qat_rows["arch"].map(_scoped).astype(bool), "qat_scope"]) if len(qat_rows) else set()
    scopes = [scope for scope in SCOPE_ORDER if scope in ran]
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
            "ptq_gap_8bit_pct": np.nan,
            "qat_scope": None,
            "min_params_lower_bound": False,
            "note": note,
        }
        best = None if note else representative(group)
        if best is not None:

            def of(frame, best=best, dataset=dataset, arch=arch):
                return frame[
                    (frame["dataset"] == dataset)
                    & (frame["arch"] == arch)
                    & (frame["topology"] == best["topology"])
                    & (frame["width"] == best["width"])
                ]

            quantized = of(headline)
            if len(quantized):
                row.update(
                    gap_8bit_pct=quantized["gap_pp"].mean(),
                    ptq_gap_8bit_pct=_mean(quantized, "ptq_gap_pp"),
                    qat_scope=quantized["qat_scope"].iloc[0],
                )
            if _scoped(arch) and len(scopes) > 1:
                for scope in scopes:
                    scoped = of(qat_rows[qat_rows["qat_scope"] == scope])
                    row[f"gap_8bit_pct_{scope}"] = scoped["gap_pp"].mean() if len(scoped) else np.nan
                    row[f"ptq_gap_8bit_pct_{scope}"] = _mean(scoped, "ptq_gap_pp")
            row.update(
                min_params=best["n_params"],
                topology=best["topology"],
                width=best["width"],
                n_seeds=best["n_seeds"],
                test_acc_mean=best["test_acc_mean"],
                safe_pruning_pct=100 * safe_pruning_ratio(of(prune_rows), prune_tolerance),
                min_params_lower_bound=widest_swept(regimes, best),
            )
        rows.append(row)
    table = pd.DataFrame(rows).merge(PAPER_TABLE1, on=["dataset", "arch"], how="left")
    order = {name: i for i, name in enumerate(registry.datasets())}
    arch_order = {name: i for i, name in enumerate(registry.families())}
    return table.sort_values(
        ["dataset", "arch"], key=lambda s: s.map(order if s.name == "dataset" else arch_order), ignore_index=True
    )


def _mean(frame: pd.DataFrame, column: str) -> float:
    return frame[column].mean() if column in frame and len(frame) else np.nan


def _interval(low, high, fmt: str) -> str:
    if pd.isna(low) and pd.isna(high):
        return ""
    show = lambda value: "none stable" if pd.isna(value) else format(value, fmt)  # noqa: E731
    return f"[{show(low)}, {show(high)}]"


def to_markdown(table: pd.DataFrame) -> str:
    """Table I for people: ours beside the paper's, with bootstrap intervals where computed."""
    notes = table["note"] if "note" in table else pd.Series(np.nan, index=table.index)
    # a table of an older run has no lower-bound column: nothing is marked there
    bounds = table.get("min_params_lower_bound", pd.Series(False, index=table.index)).fillna(False).astype(bool)

    def representative_text(topology, width, note, bound: bool) -> str:
        if isinstance(topology, str):
            return f"{topology} w{int(width)}" + (" (widest swept: a lower bound)" if bound else "")
        return "none stable" if pd.isna(note) or not note else "not judged"

    shown = table.assign(
        dataset=table["dataset"].map(dataset_title),
        arch=table["arch"].map(arch_title),
        representative=list(map(representative_text, table["topology"], table["width"], notes, bounds)),
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
        "ptq_gap_8bit_pct",
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
        "ptq_gap_8bit_pct": "PTQ 8-bit gap %",
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
    if "ptq_gap_8bit_pct" not in table:  # a table of an older run
        columns.remove("ptq_gap_8bit_pct")
    # the ViT's gaps per scope, where it ran several (QAT then PTQ), after the headline's
    per_scope = [
        c for scope in SCOPE_ORDER for c in (f"gap_8bit_pct_{scope}", f"ptq_gap_8bit_pct_{scope}") if c in table
    ]
    at = columns.index("ptq_gap_8bit_pct" if "ptq_gap_8bit_pct" in columns else "paper_8bit_gap_pct") + 1
    columns[at:at] = per_scope
    for column in per_scope:
        scope = column.rsplit("_", 1)[1]
        names[column] = f"ViT {'PTQ ' if column.startswith('ptq') else ''}8-bit gap % ({scope})"
    if "qat_scope" in table and table["qat_scope"].notna().any():
        shown["qat_scope"] = table["qat_scope"].fillna("")
        columns.insert(columns.index("gap_8bit_pct"), "qat_scope")
        names["qat_scope"] = "8-bit scope"
    if any(isinstance(n, str) and n for n in notes):  # why a row is not judged, only where one is
        shown["note"] = [n if isinstance(n, str) else "" for n in notes]
        columns.append("note")
    shown = shown[columns]
    for column in ("min_params", "paper_min_params", "n_seeds"):
        shown[column] = shown[column].astype("Int64")
    return shown.rename(columns=names).to_markdown(index=False, floatfmt=".4g") + "\n"


def gaps_to_markdown(gaps: pd.DataFrame) -> str:
    """The 8-bit gaps per configuration and scope (``confidence.gap_intervals``) for people:
    QAT beside PTQ, each with its bootstrap interval, and how many seeds' QAT ended at chance."""
    levels = gaps["confidence"].dropna() if "confidence" in gaps else pd.Series(dtype=float)
    ci = f"{100 * levels.iloc[0]:.0f}% CI" if len(levels) else "CI"
    shown = pd.DataFrame(
        {
            "dataset": gaps["dataset"].map(dataset_title),
            "family": gaps["arch"].map(arch_title),
            "topology": gaps["topology"],
            "width": gaps["width"].astype("Int64"),
            "scope": gaps["qat_scope"],
            "seeds": gaps["n_seeds"].astype("Int64"),
            "float acc %": gaps["float_test_acc"],
            "int8 acc % (QAT)": gaps["int8_test_acc"],
            "QAT gap pp": gaps["gap_pp"],
            f"QAT gap {ci}": [
                _interval(lo, hi, ".2f") for lo, hi in zip(gaps["gap_pp_ci_low"], gaps["gap_pp_ci_high"])
            ],
        }
    )
    if "qat_at_chance" in gaps:  # files written before the column existed have none
        shown["QAT at chance"] = [
            f"{int(k)} of {int(n)}" if k else "" for k, n in zip(gaps["qat_at_chance"], gaps["n_seeds"])
        ]
    if "ptq_gap_pp" in gaps:
        shown["PTQ gap pp"] = gaps["ptq_gap_pp"]
        shown[f"PTQ gap {ci}"] = [
            _interval(lo, hi, ".2f") for lo, hi in zip(gaps["ptq_gap_pp_ci_low"], gaps["ptq_gap_pp_ci_high"])
        ]
    return shown.to_markdown(index=False, floatfmt=".2f") + "\n"
