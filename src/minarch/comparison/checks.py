"""How a claim is judged: each ``Check`` knows its agreement rule, states it in words
(``criterion``), says how it measures (``how``) and, where the claim gives one, the paper's
value (``paper``), all from the same numbers and the constants below.

Criteria:

- **minimum stable parameters** agree within an order of magnitude: ``|log10(ours/paper)| <=
  MIN_PARAMS_DECADES`` (1, a factor of 10 either way; the paper gives one significant digit);
  ours found at the widest width swept is a lower bound (``regimes.widest_swept``): above
  the factor it disagrees, below it is not measured, within it is consistent;
- **pruning ratios** (safe or failing) agree within ``PRUNE_SLACK_PP`` (10 pp, one step of
  the 0.1 ratio grid) of the paper's value or range;
- **8-bit gaps** agree within ``GAP_SLACK_PP`` (1 pp) of the paper's value or range; an
  upper bound ("no more than 3 %") is checked as stated, "small" means at most
  ``GAP_SLACK_PP``;
- **accuracies** the paper gives as "about X" or "about X-Y %" agree within
  ``ACC_SLACK_PP`` (1 pp) of that value or range;
- **trends** (deeper/wider tolerates more pruning, gap shrinks with width) by the sign of
  Spearman's rank correlation, averaged over the curves where it can be measured.

"Stable" is our regime label ``learning`` or ``overfitting`` (``minarch.regimes``), "safe"
pruning is ``minarch.tables.safe_pruning_ratio`` with the run's tolerance and a
configuration's *failing* ratio is the first swept ratio past its safe ratio. A check says
``not measured`` when the run lacks what it needs or what it reads cannot be judged (a
configuration ``failed`` or ``undetermined``, ``minarch.regimes.unclaimable``).

``how`` and ``criterion`` are templates the claim fills in: ``{dataset}`` (the dataset's
title) and ``{criterion}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from minarch import registry
from minarch import topology as topo
from minarch.comparison.run import Run, family, integer, sci, spearman, title
from minarch.regimes import CONFIG_KEYS, NOT_JUDGED, STABLE, representative, unclaimable, widest_swept

MIN_PARAMS_DECADES = 1.0
PRUNE_SLACK_PP = 10.0
GAP_SLACK_PP = 1.0
ACC_SLACK_PP = 1.0

AGREE, DISAGREE, NOT_MEASURED = "agree", "disagree", "not measured"


@dataclass(frozen=True)
class Outcome:
    ours: str
    verdict: str
    note: str = ""  # why not measured, or a fact that explains a disagreement


def _missing(run: Run, dataset: str, arch: str) -> Outcome | None:
    if not run.has(dataset, arch):
        return Outcome("—", NOT_MEASURED, f"the run has no {family(arch)} on {title(dataset)}")
    return None


def _not_judged(rows: pd.DataFrame) -> Outcome | None:
    """'not measured' when a row the claim reads is failed or undetermined (``regimes``): no
    verdict may rest on such a configuration."""
    bad = rows[rows["regime"].isin(NOT_JUDGED)] if "regime" in rows else rows.iloc[0:0]
    if bad.empty:
        return None
    first = bad.iloc[0]
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    return Outcome(
        "—",
        NOT_MEASURED,
        f"{first['topology']} w{int(first['width'])} is {first['regime']} ({first.get('note', '')}){more}",
    )


def _unclaimable(run: Run, dataset: str, arch: str) -> Outcome | None:
    """'not measured' when the minimum stable size cannot be claimed (``regimes.unclaimable``)."""
    reason = unclaimable(run.curve(dataset, arch))
    return Outcome("—", NOT_MEASURED, reason) if reason else None


def _within(value: float, low: float, high: float, slack: float) -> bool:
    return low - slack <= value <= high + slack


def _verdict(ok: bool) -> str:
    return AGREE if ok else DISAGREE


def _with_ci(text: str, interval, fmt) -> str:
    if interval is None or all(np.isnan(v) for v in interval):
        return text
    low, high = (("beyond grid" if np.isnan(v) else fmt(v)) for v in interval)
    return f"{text} (95% CI {low}–{high})"


def span(low: float, high: float, unit: str = "") -> str:
    """The paper's value or range: '50-60%', '1.5-2.5 pp', '~96%' (a single value); both ends
    at the precision of the finer one ('99.0-99.6%')."""
    decimals = 0 if float(low).is_integer() and float(high).is_integer() else 1
    if low == high:
        return f"~{low:.{decimals}f}{unit}"
    return f"{low:.{decimals}f}-{high:.{decimals}f}{unit}"


_SHARE = {0.25: "quarter", 0.5: "half"}


def _width_text(arch: str, width) -> str:
    """'4-8 channels', 'D=6': a width (or range) the way the paper names it per family."""
    return f"{width} channels" if arch == "cnn" else f"D={width}" if arch == "vit" else f"width {width}"


# ---------------------------------------------------------------------------------------------
# which widths a claim is about: ``of`` picks them from a grid, ``where`` names them in ``how``


@dataclass(frozen=True)
class WidthsIn:
    """The swept widths in [low, high]."""

    low: int
    high: int

    def of(self, grid: list[int]) -> list[int]:
        return [w for w in grid if self.low <= w <= self.high]

    def where(self, arch: str) -> str:
        return f"at every swept width {self.text(arch)}"

    def text(self, arch: str) -> str:
        return f"in {self.low}-{self.high}"

    def paper(self, arch: str) -> str:
        return _width_text(arch, f"{self.low}-{self.high}")


@dataclass(frozen=True)
class AtLeast:
    """The swept widths from ``low`` up ("the larger channel counts")."""

    low: int

    def of(self, grid: list[int]) -> list[int]:
        return [w for w in grid if w >= self.low]

    def where(self, arch: str) -> str:
        return f"over the {family(arch)} configurations with {_width_text(arch, f'{self.low}+')}"


@dataclass(frozen=True)
class Neighbours:
    """The paper's width and the grid points on either side of it."""

    value: int

    def of(self, grid: list[int]) -> list[int]:
        if self.value not in grid:
            return []
        i = grid.index(self.value)
        return grid[max(i - 1, 0) : i + 2]

    def text(self, arch: str) -> str:
        return f"{self.value} or a neighbouring grid width"

    def paper(self, arch: str) -> str:
        return _width_text(arch, self.value)


@dataclass(frozen=True)
class TopOfSweep:
    """The widths from ``fraction`` of the paper's largest one, when the sweep ends there."""

    fraction: float
    largest: int

    def of(self, grid: list[int]) -> list[int]:
        if not grid or max(grid) != self.largest:
            return []
        return [w for w in grid if w >= self.fraction * self.largest]

    def text(self, arch: str) -> str:
        symbol = registry.family(arch).width_symbol
        return f"in the top {_SHARE[1 - self.fraction]} ({symbol} >= {self.fraction * self.largest:g})"

    def paper(self, arch: str) -> str:
        return f"stable only near {_width_text(arch, self.largest)}"


@dataclass(frozen=True)
class At:
    """One width the paper names, wherever the sweep ends (a claim about the width itself,
    unlike ``Largest``: "at 32 channels" still holds when the sweep went on to 64)."""

    width: int

    def of(self, grid: list[int]) -> list[int]:
        return [self.width] if self.width in grid else []

    def where(self, arch: str) -> str:
        return f"at {_width_text(arch, self.width)}"


@dataclass(frozen=True)
class Largest(At):
    """The paper's largest width, when the sweep ends there (a claim about "the widest")."""

    def of(self, grid: list[int]) -> list[int]:
        return super().of(grid) if grid and max(grid) == self.width else []


# ---------------------------------------------------------------------------------------------
# checks: ``arch`` and ``dataset`` are the claim's (None for a claim about the whole run)


class Check:
    """How a claim is judged: ``judge`` gives the outcome on a run, ``criterion`` the words of
    its agreement rule, ``how`` the words of its measurement, ``paper`` the paper's value
    (None where the claim states it in words)."""

    def judge(self, run: Run, arch: str | None, dataset: str | None) -> Outcome:
        raise NotImplementedError

    def how(self, arch: str | None, dataset: str | None) -> str:
        raise NotImplementedError

    def criterion(self, arch: str | None, dataset: str | None) -> str:
        return ""

    def paper(self, arch: str | None) -> str | None:
        return None


@dataclass(frozen=True)
class MinParams(Check):
    """Table I's minimum stable parameter count within MIN_PARAMS_DECADES of the paper's."""

    value: float

    def how(self, arch, dataset) -> str:
        return "Table I min_params" + (" (minimum over the square depths)" if arch == "dnn" else "") + "; {criterion}."

    def criterion(self, arch, dataset) -> str:
        return f"agree within a factor {10**MIN_PARAMS_DECADES:g}"

    def paper(self, arch) -> str:
        return sci(self.value)

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        if unclaimed := _unclaimable(run, dataset, arch):
            return unclaimed
        row = run.table_row(dataset, arch)
        ours = np.nan if row is None else row["min_params"]
        if np.isnan(ours):
            return Outcome("no stable configuration", DISAGREE, "no width of the sweep is stable")
        where = f"{row['topology']} w{int(row['width'])}"
        if not widest_swept(run.regimes, row):
            text = _with_ci(f"{integer(ours)} ({where})", run.interval(dataset, arch, "min_params"), integer)
            ok = abs(math.log10(ours / self.value)) <= MIN_PARAMS_DECADES
            return Outcome(text, _verdict(ok), "ours " + ("larger" if ours > self.value else "smaller"))
        # a lower bound (regimes.widest_swept): too large is proven, too small is not, and within
        # the factor it is consistent with the paper's (whose grid may end where ours does)
        text = f"≥ {integer(ours)} ({where}, the widest swept)"
        if math.log10(self.value / ours) > MIN_PARAMS_DECADES:
            return Outcome(text, NOT_MEASURED, f"a lower bound: the sweep ends at {where}, before a plateau showed")
        return Outcome(text, _verdict(math.log10(ours / self.value) <= MIN_PARAMS_DECADES), "ours larger")


# Table I's pruning and gap cells: (slack, how ours is shown, the paper's unit, the rows they
# need, what the cell is)
_CELLS = {
    "safe_pruning_pct": (PRUNE_SLACK_PP, lambda v: f"{v:.0f}%", "%", "prune", "of the representative model"),
    "gap_8bit_pct": (GAP_SLACK_PP, lambda v: f"{v:+.2f} pp", " pp", "QAT", "(mean float − int8 over seeds)"),
}


@dataclass(frozen=True)
class TableCell(Check):
    """A Table I cell of the representative model within its slack of the paper's value."""

    column: str  # safe_pruning_pct | gap_8bit_pct
    value: float

    def how(self, arch, dataset) -> str:
        return f"Table I {self.column} {_CELLS[self.column][4]}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return f"agree within ±{_CELLS[self.column][0]:g} pp"

    def paper(self, arch) -> str:
        return f"{self.value:g}{_CELLS[self.column][2]}"

    def judge(self, run, arch, dataset) -> Outcome:
        slack, fmt, _, what, _ = _CELLS[self.column]
        if missing := _missing(run, dataset, arch):
            return missing
        row = run.table_row(dataset, arch)
        if row is None or not isinstance(row["topology"], str):
            reason = unclaimable(run.curve(dataset, arch)) or "no stable configuration"
            return Outcome("—", NOT_MEASURED, f"{reason}, so no representative model")
        ours = row[self.column]
        if pd.isna(ours):
            return Outcome("—", NOT_MEASURED, f"no {what} rows for the representative model")
        interval = run.interval(dataset, arch, self.column)
        return Outcome(
            _with_ci(fmt(ours), interval, fmt),
            _verdict(abs(ours - self.value) <= slack),
            "ours " + ("higher" if ours > self.value else "lower"),
        )


@dataclass(frozen=True)
class MinParamsPerDepth(Check):
    """Every square DNN depth's minimum stable size within MIN_PARAMS_DECADES of ``around``."""

    around: float

    @property
    def bounds(self) -> tuple[float, float]:
        return self.around / 10**MIN_PARAMS_DECADES, self.around * 10**MIN_PARAMS_DECADES

    def how(self, arch, dataset) -> str:
        return "Each square depth's minimum stable parameter count on {dataset}; {criterion}."

    def criterion(self, arch, dataset) -> str:
        low, high = self.bounds
        return (
            f"agree when all lie within a factor {10**MIN_PARAMS_DECADES:g} of {self.around:,.0f} "
            f"({low:,.0f}-{high:,.0f})"
        )

    def paper(self, arch) -> str:
        return f"~{self.around:,.0f} params"

    def judge(self, run, arch, dataset) -> Outcome:
        if (missing := _missing(run, dataset, "dnn")) or (missing := _unclaimable(run, dataset, "dnn")):
            return missing
        per = run.curve(dataset, "dnn").groupby("topology")["min_stable_params"].first()
        text = ", ".join(f"{t}: {'none' if np.isnan(v) else integer(v)}" for t, v in per.items())
        ok = bool(per.notna().all() and per.between(*self.bounds).all())
        return Outcome(text, _verdict(ok))


@dataclass(frozen=True)
class MinStableWidth(Check):
    """The curve's minimum stable width is among ``widths`` of the grid."""

    widths: WidthsIn | Neighbours | TopOfSweep

    def how(self, arch, dataset) -> str:
        return f"Minimum stable {registry.family(arch).width_noun} on {{dataset}}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return f"agree when it is {self.widths.text(arch)}"

    def paper(self, arch) -> str:
        return self.widths.paper(arch)

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        grid = run.widths(arch, dataset)
        ok_widths = self.widths.of(grid)
        if not ok_widths:
            return Outcome("—", NOT_MEASURED, f"the width grid {grid} has no width the claim is about")
        if unclaimed := _unclaimable(run, dataset, arch):
            return unclaimed
        best = representative(run.curve(dataset, arch))
        if best is None:
            return Outcome("no stable width", DISAGREE, "no width of the sweep is stable")
        minimum, width = best["n_params"], int(best["width"])
        return Outcome(
            f"width {width} ({integer(minimum)} params)",
            _verdict(width in ok_widths),
            "ours " + ("later" if width > max(ok_widths) else "earlier"),
        )


@dataclass(frozen=True)
class AccuracyAt(Check):
    """Mean test accuracy at each of ``widths`` within [low, high] ± ACC_SLACK_PP."""

    widths: WidthsIn | Largest
    low: float
    high: float

    def how(self, arch, dataset) -> str:
        return f"Mean test accuracy {self.widths.where(arch)} on {{dataset}}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        each = "when each is " if isinstance(self.widths, WidthsIn) else ""
        the_range = "the range " if self.low != self.high else ""
        return f"agree {each}within {the_range}±{ACC_SLACK_PP:g} pp"

    def paper(self, arch) -> str:
        return span(self.low, self.high, "%")

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        grid = run.widths(arch, dataset)
        chosen = self.widths.of(grid)
        if not chosen:
            return Outcome("—", NOT_MEASURED, f"the width grid {grid} lacks the widths the claim is about")
        curve = run.curve(dataset, arch).set_index("width")
        if unjudged := _not_judged(curve.loc[chosen].reset_index()):
            return unjudged
        acc = curve.loc[chosen, "test_acc_mean"]
        text = ", ".join(f"w{w}: {a:.2f}%" for w, a in acc.items())
        ok = all(_within(a, self.low, self.high, ACC_SLACK_PP) for a in acc)
        return Outcome(text, _verdict(ok), "ours " + ("higher" if acc.mean() > self.high else "lower"))


@dataclass(frozen=True)
class Rises(Check):
    """Mean test accuracy higher at ``end`` than at ``start``."""

    start: int
    end: int

    def how(self, arch, dataset) -> str:
        widths = f"{self.end} minus at {_width_text(arch, self.start)}"
        return f"Mean test accuracy at {widths} on {{dataset}}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return "agree when positive"

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        curve = run.curve(dataset, arch).set_index("width")
        if self.start not in curve.index or self.end not in curve.index:
            return Outcome("—", NOT_MEASURED, f"the width grid lacks {self.start} or {self.end}")
        if unjudged := _not_judged(curve.loc[[self.start, self.end]].reset_index()):
            return unjudged
        a, b = curve.loc[self.start, "test_acc_mean"], curve.loc[self.end, "test_acc_mean"]
        return Outcome(f"{a:.2f}% → {b:.2f}% ({b - a:+.2f} pp)", _verdict(b > a))


@dataclass(frozen=True)
class RisesThroughout(Check):
    """Spearman's rho between width and mean test accuracy at least ``min_rho``."""

    min_rho: float

    def how(self, arch, dataset) -> str:
        symbol = registry.family(arch).width_symbol
        return f"Spearman ρ between {symbol} and mean test accuracy on {{dataset}}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return f"agree when ρ >= {self.min_rho:g}"

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        curve = run.curve(dataset, arch)
        if unjudged := _not_judged(curve):
            return unjudged
        rho = spearman(curve["width"], curve["test_acc_mean"])
        return Outcome(
            f"Spearman ρ(width, accuracy) = {rho:.2f} over {len(curve)} widths", _verdict(rho >= self.min_rho)
        )


# what the pruning summaries read, in words
_PRUNED = {"safe_pct": "safe pruning %", "fail_pct": "failing %"}
_PRUNED_GLOSS = {"safe_pct": "", "fail_pct": " (first swept ratio past the safe one)"}


@dataclass(frozen=True)
class PruningSummary(Check):
    """Median over the stable configurations (or the Table I representative) of the safe or
    failing pruning %, against the paper's range widened by PRUNE_SLACK_PP; ``high`` 100 is
    the bound "more than ``low``"."""

    column: str  # safe_pct | fail_pct
    low: float
    high: float = 100.0
    topologies: tuple[str, ...] | None = None
    at_representative: bool = False

    def how(self, arch, dataset) -> str:
        if self.at_representative:
            what = _PRUNED[self.column].capitalize()
            what += f" of the smallest stable {family(arch)} (Table I's representative)"
        else:
            which = "/".join(self.topologies) if self.topologies is not None else family(arch)
            what = f"Median {_PRUNED[self.column]}{_PRUNED_GLOSS[self.column]} over the stable {which} configurations"
        return what + " on {dataset}; {criterion}."

    def criterion(self, arch, dataset) -> str:
        if self.high >= 100:
            return f"agree when >= {self.low:g}% − {PRUNE_SLACK_PP:g} pp"
        return f"agree within {span(self.low, self.high, '%')} ±{PRUNE_SLACK_PP:g} pp"

    def paper(self, arch) -> str:
        return f">{self.low:g}%" if self.high >= 100 else span(self.low, self.high, "%")

    def judge(self, run, arch, dataset) -> Outcome:
        column = self.column
        if missing := _missing(run, dataset, arch):
            return missing
        rows = run.stable(run.config_pruning, dataset, arch)
        if self.topologies is not None:
            rows = rows[rows["topology"].isin(self.topologies)]
        if self.at_representative:
            rep = run.table_row(dataset, arch)
            if rep is None or not isinstance(rep["topology"], str):
                return Outcome("—", NOT_MEASURED, "no stable configuration")
            rows = rows[(rows["topology"] == rep["topology"]) & (rows["width"] == rep["width"])]
        if rows.empty:
            which = "/".join(self.topologies) + " " if self.topologies is not None else ""
            return Outcome("—", NOT_MEASURED, f"no stable {which}configuration with prune rows")
        values = rows[column].fillna(100.0 + PRUNE_SLACK_PP) if column == "fail_pct" else rows[column]
        value = float(values.median())
        label = "never fails" if value > 100 else f"{value:.0f}%"
        where = (
            f"{rows['topology'].iloc[0]} w{int(rows['width'].iloc[0])}"
            if self.at_representative
            else f"median of {len(rows)} stable configurations, range {rows[column].min():.0f}–"
            f"{rows[column].max():.0f}%"
        )
        return Outcome(
            f"{label} ({where})",
            _verdict(_within(value, self.low, self.high, PRUNE_SLACK_PP)),
            "ours " + ("higher" if value > self.high else "lower"),
        )


# what a trend reads: (table of Run, its name in the outcome, its name in ``how``)
_TREND_COLUMNS = {
    "safe_pct": ("config_pruning", "safe pruning %", "safe pruning %"),
    "gap": ("config_gaps", "8-bit gap", "mean gap"),
}
# over what a trend is measured: (groups, their name in ``how``, the fewest distinct values per group)
_TREND_GROUPS = {
    "depth": (["dataset", "width"], "dataset and first-layer width", 2),  # same first width, different depth
    "width": (["dataset", "topology"], "{family} curve", 3),  # one curve, different widths
}


@dataclass(frozen=True)
class Trend(Check):
    """Mean Spearman rho between ``by`` (depth or width) and ``column`` over the groups where
    it can be measured (stable configurations only, unless ``stable_only`` is false; the
    claim's dataset only when it names one); agree when its sign is ``sign``."""

    by: str  # depth | width
    column: str  # safe_pct | gap
    sign: int
    stable_only: bool = True

    def how(self, arch, dataset) -> str:
        name = _TREND_COLUMNS[self.column][2]
        if not self.stable_only:
            symbol = registry.family(arch).width_symbol
            return f"Spearman ρ({symbol}, {name}) over all swept {symbol} on {{dataset}}; {{criterion}}."
        _, groups, minimum = _TREND_GROUPS[self.by]
        groups = groups.format(family=family(arch))
        return f"Per {groups} with {minimum}+ stable {self.by}s, Spearman ρ({self.by}, {name}); {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        # a family of one shape on one dataset has one curve: its rho, not a mean of several
        mean = "the mean ρ is " if dataset is None else ""
        return f"agree when {mean}{'positive' if self.sign > 0 else 'negative'}"

    def judge(self, run, arch, dataset) -> Outcome:
        by, column = self.by, self.column
        if dataset is not None and (missing := _missing(run, dataset, arch)):
            return missing
        frame, name, _ = _TREND_COLUMNS[column]
        table = getattr(run, frame)
        table = run.stable(table, None, arch) if self.stable_only else run.judged(table, arch)
        if dataset is not None:
            table = table[table["dataset"] == dataset]
        if table.empty:
            return Outcome("—", NOT_MEASURED, f"no stable {family(arch)} configurations with data")
        if by == "depth":
            table = table.assign(depth=table["topology"].map(lambda t: topo.parse(t)[0]))
        keys, _, minimum = _TREND_GROUPS[by]
        rhos = [spearman(g[by], g[column]) for _, g in table.groupby(keys) if g[by].nunique() >= minimum]
        if not rhos:
            return Outcome("—", NOT_MEASURED, f"no group with {minimum}+ stable {by}s")
        mean = float(np.mean(rhos))
        unit = "width" if by == "depth" else "curve"
        return Outcome(
            f"mean Spearman ρ({by}, {name}) = {mean:+.2f} over {len(rhos)} {unit}{'' if len(rhos) == 1 else 's'}",
            _verdict(np.sign(mean) == self.sign),
        )


@dataclass(frozen=True)
class GapBound(Check):
    """The stable configurations' median 8-bit gap at most ``bound`` pp (None: "small", at
    most GAP_SLACK_PP)."""

    bound: float | None = None

    @property
    def high(self) -> float:
        return GAP_SLACK_PP if self.bound is None else self.bound

    def how(self, arch, dataset) -> str:
        return f"Median over the stable {family(arch)} configurations on {{dataset}} of the mean gap; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return f"agree when <= {self.high:g} pp"

    def paper(self, arch) -> str:
        return span(0, 0, " pp") if self.bound is None else f"<= {self.bound:g} pp"

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        gaps = run.config_gaps
        gaps = gaps[(gaps["dataset"] == dataset) & (gaps["arch"] == arch)]
        rows = gaps[gaps["regime"].isin(STABLE)]
        if rows.empty:
            return Outcome("—", NOT_MEASURED, "no stable configuration with QAT rows")
        median = float(rows["gap"].median())
        return Outcome(
            f"median {median:+.2f} pp, max {rows['gap'].max():+.2f} pp over {len(rows)} stable configurations",
            _verdict(median <= self.high),
            "ours higher",
        )


@dataclass(frozen=True)
class GapRange(Check):
    """The mean 8-bit gap over ``widths``' configurations within [low, high] ± GAP_SLACK_PP."""

    widths: AtLeast | Largest
    low: float
    high: float

    def how(self, arch, dataset) -> str:
        return f"Mean gap {self.widths.where(arch)} on {{dataset}}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return f"agree within {span(self.low, self.high)} ±{GAP_SLACK_PP:g} pp"

    def paper(self, arch) -> str:
        return span(self.low, self.high, " pp")

    def judge(self, run, arch, dataset) -> Outcome:
        if missing := _missing(run, dataset, arch):
            return missing
        gaps = run.config_gaps
        gaps = gaps[(gaps["dataset"] == dataset) & (gaps["arch"] == arch)]
        grid = run.widths(arch, dataset)
        chosen = self.widths.of(grid)
        rows = gaps[gaps["width"].isin(chosen)]
        if not chosen or rows.empty:
            return Outcome("—", NOT_MEASURED, f"the width grid {grid} or the QAT rows lack the widths")
        if unjudged := _not_judged(rows):
            return unjudged
        value = float(rows["gap"].mean())
        text = f"{value:+.2f} pp (widths {', '.join(map(str, sorted(rows['width'].astype(int))))})"
        return Outcome(
            text,
            _verdict(_within(value, self.low, self.high, GAP_SLACK_PP)),
            "ours " + ("higher" if value > self.high else "lower"),
        )


# ---------------------------------------------------------------------------------------------
# claims about the whole run (several families or datasets)


@dataclass(frozen=True)
class Across(Check):
    """``function(run)`` judges the claim by the rule ``rule`` states, measuring what
    ``measures`` says."""

    function: Callable[[Run], Outcome] = field(repr=False)
    measures: str
    rule: str

    def how(self, arch, dataset) -> str:
        return f"{self.measures}; {{criterion}}."

    def criterion(self, arch, dataset) -> str:
        return f"agree when {self.rule}"

    def judge(self, run, arch, dataset) -> Outcome:
        return self.function(run)


def grows_with_complexity(run: Run) -> Outcome:
    """Per family, its minimal stable sizes in dataset order must not decrease. A size found at
    its curve's widest configuration is a lower bound (``regimes.widest_swept``, shown as
    ≥): a step from a lower bound upwards proves nothing, while a fall to an exact size is a
    fall whatever the true size above. A family whose steps are all unproven is shown and not
    counted."""
    parts, ok, measured, unproven = [], True, False, []
    for arch in run.archs:
        rows = [run.table_row(d, arch) for d in ("mnist", "fashion_mnist", "cifar10") if run.has(d, arch)]
        rows = [row for row in rows if row is not None and pd.notna(row["min_params"])]
        values = [(row["min_params"], widest_swept(run.regimes, row)) for row in rows]
        if len(values) < 2:
            continue
        steps = list(zip(values, values[1:]))
        falls = [a > b and not b_bound for (a, _), (b, b_bound) in steps]
        rises = [b >= a and not a_bound for (a, a_bound), (b, _) in steps]
        shown = f"{family(arch)}: " + " → ".join(f"{'≥ ' if bound else ''}{integer(v)}" for v, bound in values)
        if any(falls) or all(rises):
            measured = True
            ok &= not any(falls)
            parts.append(shown)
        else:
            unproven.append(f"{shown} (lower bounds, not counted)")
    ours = "; ".join(parts + unproven) or "—"
    if not measured:
        why = "fewer than two datasets with a stable configuration per family"
        return Outcome(ours, NOT_MEASURED, why + (" that is not a lower bound" if unproven else ""))
    return Outcome(ours, _verdict(ok))


def gap_grows_on_cifar(run: Run) -> Outcome:
    parts, ok = [], []
    for arch in run.archs:
        a, b = run.table_row("mnist", arch), run.table_row("cifar10", arch)
        if a is None or b is None or pd.isna(a["gap_8bit_pct"]) or pd.isna(b["gap_8bit_pct"]):
            continue
        parts.append(f"{family(arch)}: {a['gap_8bit_pct']:+.2f} → {b['gap_8bit_pct']:+.2f} pp")
        ok.append(b["gap_8bit_pct"] > a["gap_8bit_pct"])
    if not ok:
        return Outcome("—", NOT_MEASURED, "no family with a representative model on both MNIST and CIFAR-10")
    return Outcome("; ".join(parts), _verdict(all(ok)))


def vit_gap_negative(run: Run) -> Outcome:
    gaps = run.judged(run.config_gaps, "vit")
    if gaps.empty:
        return Outcome("—", NOT_MEASURED, "no ViT QAT rows (of configurations neither failed nor undetermined)")
    negative = gaps[gaps["gap"] < 0]
    return Outcome(
        f"{len(negative)} of {len(gaps)} ViT configurations have int8 > float on average", _verdict(len(negative) > 0)
    )


def qat_more_robust_than_ptq(run: Run) -> Outcome:
    """Per configuration (neither failed nor undetermined), the mean over seeds of PTQ's gap
    minus QAT's (both of one seed's row, the headline scope); per family the median of that."""
    rows = run.qat_rows
    if "ptq_gap_pp" not in rows or not rows["ptq_gap_pp"].notna().any():
        return Outcome("—", NOT_MEASURED, "no PTQ rows (qat.ptq off, or results made before PTQ)")
    rows = rows[rows["ptq_gap_pp"].notna() & rows["gap_pp"].notna()]
    per_config = (
        rows.assign(excess=rows["ptq_gap_pp"] - rows["gap_pp"])
        .groupby(CONFIG_KEYS, as_index=False)
        .agg(excess=("excess", "mean"))
        .merge(run.regimes, on=CONFIG_KEYS, how="inner")
    )
    parts, ok = [], []
    for arch in run.archs:
        judged = run.judged(per_config, arch)
        if judged.empty:
            continue
        median = float(judged["excess"].median())
        parts.append(f"{family(arch)}: PTQ gap − QAT gap, median {median:+.2f} pp over {len(judged)} configurations")
        ok.append(median > 0)
    if not ok:
        return Outcome("—", NOT_MEASURED, "no configuration with QAT and PTQ rows, neither failed nor undetermined")
    return Outcome("; ".join(parts), _verdict(all(ok)))


def shape_invariance(run: Run) -> Outcome:
    table = run.topology_invariance
    if table is None or table.empty:
        return Outcome("—", NOT_MEASURED, "no phase-1 table (topology_invariance.csv)")
    table = table[table["n_topologies"] > 1]
    if table.empty:
        return Outcome("—", NOT_MEASURED, "no decade with two or more shapes")
    parts, ok = [], []
    for (dataset, depth), group in table.sort_values("decade").groupby(["dataset", "depth"], sort=True):
        invariant = group[group["shape_invariant"].astype(bool)]
        ok.append(not invariant.empty)
        start = f"from 1e{int(invariant['decade'].min())}" if len(invariant) else "never"
        spread = group["spread_pp"].iloc[-1]
        parts.append(f"{title(dataset)} depth {depth}: {start} (top-decade spread {spread:.2f} pp)")
    return Outcome("; ".join(parts), _verdict(all(ok)))
