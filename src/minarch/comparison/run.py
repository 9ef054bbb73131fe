"""A run's outputs, and what the claims read from them (``Run``), with the number formats the
comparison writes them in."""

from __future__ import annotations

import math
import warnings
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from minarch import registry
from minarch.regimes import CONFIG_KEYS, NOT_JUDGED, PRUNE_TOLERANCE, STABLE
from minarch.settings import schema_default
from minarch.tables import arch_title, dataset_title, safe_pruning_ratio


def title(dataset: str) -> str:
    return dataset_title(dataset)


def family(arch: str) -> str:
    return arch_title(arch)


def integer(value) -> str:
    return f"{int(round(value)):,}"


def sci(value: float) -> str:
    """2e4 for 20,000; 3.5e4 for 35,000."""
    exponent = int(math.floor(math.log10(value)))
    return f"{value / 10**exponent:.2g}e{exponent}"


def spearman(x, y) -> float:
    """Spearman's rho; 0 for constant input (no trend to see)."""
    if len(x) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = stats.spearmanr(x, y).statistic
    return 0.0 if np.isnan(rho) else float(rho)


class Run:
    """A run's outputs (the frames of README.md's *Outputs*) and what the claims need from them."""

    def __init__(
        self,
        regimes: pd.DataFrame,
        table1: pd.DataFrame,
        prune_rows: pd.DataFrame | None,
        qat_rows: pd.DataFrame | None,
        topology_invariance: pd.DataFrame | None = None,
        intervals: pd.DataFrame | None = None,
        prune_tolerance: float = PRUNE_TOLERANCE,
    ):
        self.regimes = regimes
        self.table1 = table1
        self.prune_rows = prune_rows if prune_rows is not None else pd.DataFrame(columns=[*CONFIG_KEYS, "seed"])
        self.qat_rows = qat_rows if qat_rows is not None else pd.DataFrame(columns=[*CONFIG_KEYS, "seed"])
        self.topology_invariance = topology_invariance
        self.intervals = intervals
        self.prune_tolerance = prune_tolerance

    # -- size of the run
    @cached_property
    def archs(self) -> list[str]:
        present, known = set(self.regimes["arch"]), registry.families()
        return [a for a in known if a in present] + sorted(present - set(known))

    @cached_property
    def datasets(self) -> list[str]:
        present, known = set(self.regimes["dataset"]), registry.datasets()
        return [d for d in known if d in present] + sorted(present - set(known))

    def widths(self, arch: str, dataset: str | None = None) -> list[int]:
        rows = self.regimes[self.regimes["arch"] == arch]
        if dataset is not None:
            rows = rows[rows["dataset"] == dataset]
        return sorted(int(w) for w in rows["width"].unique())

    def seeds(self, arch: str) -> tuple[int, int] | None:
        n = self.regimes.loc[self.regimes["arch"] == arch, "n_seeds"]
        return (int(n.min()), int(n.max())) if len(n) else None

    @cached_property
    def max_epochs(self) -> list[int]:
        """Distinct ``train_max_epochs`` values found in any input (empty when none has it)."""
        found = set()
        for frame in (self.qat_rows, self.prune_rows, self.regimes, self.table1):
            if frame is not None and "train_max_epochs" in frame:
                found |= {int(v) for v in frame["train_max_epochs"].dropna().unique()}
        return sorted(found)

    @cached_property
    def qat_schedule(self) -> str:
        """The QAT the rows record (their ``qat_mode``, ``qat_finetune_epochs`` and
        ``qat_backend`` columns), e.g. 'QAT from scratch, qnnpack W8A8'; rows that do not
        record a setting (hand-made ones) count as the config schema's default."""
        rows = self.qat_rows

        def recorded(column: str, frame: pd.DataFrame = rows) -> list:
            values = sorted(set(frame[column].dropna())) if column in frame else []
            return values or [schema_default("qat", column.removeprefix("qat_"))]

        schedules = []
        for mode in recorded("qat_mode"):
            if mode == "finetune":
                mine = rows[rows["qat_mode"] == mode] if "qat_mode" in rows else rows
                epochs = "/".join(str(int(e)) for e in recorded("qat_finetune_epochs", mine))
                schedules.append(f"QAT fine-tuned from the float weights for {epochs} epochs")
            else:
                schedules.append("QAT from scratch" if mode == "scratch" else f"QAT mode {mode}")
        return f"{' and '.join(schedules)}, {'/'.join(recorded('qat_backend'))} W8A8"

    @cached_property
    def _pairs(self) -> set[tuple[str, str]]:
        return set(zip(self.regimes["dataset"], self.regimes["arch"]))

    def has(self, dataset: str, arch: str) -> bool:
        return (dataset, arch) in self._pairs

    def curve(self, dataset: str, arch: str, topology: str | None = None) -> pd.DataFrame:
        r = self.regimes
        rows = r[(r["dataset"] == dataset) & (r["arch"] == arch)]
        if topology is not None:
            rows = rows[rows["topology"] == topology]
        return rows.sort_values(["topology", "n_params"]).reset_index(drop=True)

    def table_row(self, dataset: str, arch: str) -> pd.Series | None:
        t = self.table1
        rows = t[(t["dataset"] == dataset) & (t["arch"] == arch)]
        return rows.iloc[0] if len(rows) else None

    def interval(self, dataset: str, arch: str, column: str) -> tuple[float, float] | None:
        if self.intervals is None:
            return None
        rows = self.intervals[(self.intervals["dataset"] == dataset) & (self.intervals["arch"] == arch)]
        low, high = f"{column}_ci_low", f"{column}_ci_high"
        if rows.empty or low not in rows:
            return None
        return float(rows[low].iloc[0]), float(rows[high].iloc[0])

    # -- per configuration: pruning and quantization summaries beside the regime
    @cached_property
    def config_pruning(self) -> pd.DataFrame:
        """Per configuration: safe pruning % and failing % (first swept ratio past the safe one;
        NaN when it never fails), with the regime table's columns."""
        rows = []
        for key, group in self.prune_rows.groupby(CONFIG_KEYS, sort=False):
            safe = safe_pruning_ratio(group, self.prune_tolerance)
            ratios = np.sort(group["ratio"].unique())
            later = ratios[ratios > safe] if not np.isnan(safe) else ratios[:0]
            rows.append(
                {
                    **dict(zip(CONFIG_KEYS, key)),
                    "safe_pct": 100 * safe,
                    "fail_pct": 100 * later[0] if len(later) else np.nan,
                }
            )
        table = pd.DataFrame(rows, columns=[*CONFIG_KEYS, "safe_pct", "fail_pct"])
        return table.merge(self.regimes, on=CONFIG_KEYS, how="inner")

    @cached_property
    def config_gaps(self) -> pd.DataFrame:
        gaps = (
            self.qat_rows.groupby(CONFIG_KEYS, as_index=False).agg(gap=("gap_pp", "mean"))
            if "gap_pp" in self.qat_rows
            else pd.DataFrame(columns=[*CONFIG_KEYS, "gap"])
        )
        return gaps.merge(self.regimes, on=CONFIG_KEYS, how="inner")

    def stable(self, frame: pd.DataFrame, dataset: str | None, arch: str) -> pd.DataFrame:
        rows = frame[(frame["arch"] == arch) & frame["regime"].isin(STABLE)]
        return rows[rows["dataset"] == dataset] if dataset is not None else rows

    def judged(self, frame: pd.DataFrame, arch: str) -> pd.DataFrame:
        """``frame``'s rows of ``arch`` that are neither failed nor undetermined."""
        return frame[(frame["arch"] == arch) & ~frame["regime"].isin(NOT_JUDGED)]
