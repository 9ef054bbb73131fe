"""Our results against every quantitative claim of the paper (arXiv 2601.17987, Sec. IV a-c,
Table I and the conclusions).

``CLAIMS`` lists the claims as data (``Claim``): an id, the paper's section, the claim in our
words, the family and dataset it is about (once), how we measure it, and its ``Check`` (e.g.
``PruningSummary("fail_pct", 60, 70)``), which judges a run and states the agreement
criterion and the paper's value in words generated from the same numbers and constants.
``comparison_table`` evaluates all of them on a run's outputs (the frames of
README.md's *Outputs*) and ``paper_comparison`` renders the result as Markdown with a header
stating the size of the run. Each claim gets one verdict:

- ``agree`` / ``disagree`` by the claim's criterion;
- ``not measured`` when the run lacks what the claim needs (its dataset or family, a width
  the claim is about, prune or QAT rows, the phase-1 table, a stable configuration), or when
  what it reads cannot be judged: a configuration labelled ``failed`` or ``undetermined``, or a
  minimum stable size that depends on undetermined configurations or whose every configuration
  failed (``minarch.regimes.unclaimable``). No verdict rests on such rows.

Criteria (module constants, so they are stated once):

- **minimum stable parameters** agree within an order of magnitude: ``|log10(ours/paper)| <=
  MIN_PARAMS_DECADES`` (1, a factor of 10 either way; the paper gives one significant digit);
- **pruning ratios** (safe or failing) agree within ``PRUNE_SLACK_PP`` (10 pp, one step of
  the 0.1 ratio grid) of the paper's value or range;
- **8-bit gaps** agree within ``GAP_SLACK_PP`` (1 pp) of the paper's value or range; an
  upper bound ("no more than 3 %") is checked as stated, "small" means at most
  ``GAP_SLACK_PP``;
- **accuracies** the paper gives as "about X" or "about X-Y %" agree within
  ``ACC_SLACK_PP`` (1 pp) of that value or range;
- **trends** (deeper/wider tolerates more pruning, gap shrinks with width) by the sign of
  Spearman's rank correlation, averaged over the curves where it can be measured.

"Stable" is our regime label ``learning`` or ``overfitting`` (``minarch.regimes``), "safe" pruning is
``minarch.tables.safe_pruning_ratio`` with the run's tolerance and a configuration's
*failing* ratio is the first swept ratio past its safe ratio. Where a claim disagrees, the
``reason`` column gives the direction (ours higher/lower/earlier/later) and up to two likely
reasons derived from the run itself, in a per-topic order (``_reasons``): a model whose
parameter count differs from the paper's (e.g. our ViT, 12D²+(16C+34)D+10 = 3,882 at D=16 on
MNIST), a representative model more than half a decade from the paper's size (for the Table I
pruning and gap cells), a coarser or shorter width grid, fewer epochs (``train_max_epochs``)
or seeds than the paper; when none applies, the definition the paper leaves open (stability
rule, pruning tolerance, QAT schedule: the mode the run's QAT rows record, ``Run.qat_schedule``).

Inputs: ``regimes`` (regimes.parquet), ``table1`` (table1.csv), the collected prune and QAT
rows of every family, optionally ``topology_invariance`` (topology_invariance.csv) and
``intervals`` (``minarch.confidence.table1_intervals``, shown beside the Table I cells).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from minarch import topology as topo
from minarch.data import DATASETS
from minarch.regimes import CONFIG_KEYS, NOT_JUDGED, STABLE, representative, unclaimable
from minarch.settings import schema_default, vit_position_kind
from minarch.sizes import VIT_GRID, vit_parameter_formula
from minarch.tables import ARCH_TITLES, PAPER_TABLE1, safe_pruning_ratio

MIN_PARAMS_DECADES = 1.0
PRUNE_SLACK_PP = 10.0
GAP_SLACK_PP = 1.0
ACC_SLACK_PP = 1.0

AGREE, DISAGREE, NOT_MEASURED = "agree", "disagree", "not measured"

# The paper's run (Sec. III-C): 20 epochs; 30 seeds for DNNs, 10 for CNNs and ViTs; the DNN
# width grid as listed, CNN channels "between 1 and 32" and ViT dimensions "between 1 and 16"
# (their exact grids are not stated).
PAPER_EPOCHS = 20
PAPER_SEEDS = {"dnn": 30, "cnn": 10, "vit": 10}
PAPER_DNN_WIDTHS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
PAPER_WIDTH_RANGE = {"dnn": (1, 1000), "cnn": (1, 32), "vit": (1, 16)}
VIT_PARAMS_TEXT = f"{vit_parameter_formula()} (C input channels)"
VIT_POSITIONS_EXTRA = f"{VIT_GRID * VIT_GRID + 1}D"  # one learned D-vector per token

COLUMNS = ["id", "section", "claim", "paper", "ours", "verdict", "measure", "reason"]


@dataclass(frozen=True)
class Outcome:
    ours: str
    verdict: str
    note: str = ""  # why not measured, or a fact that explains a disagreement


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, as data: ``how`` we measure it is a template whose ``{dataset}``
    and ``{criterion}`` come from ``dataset`` and ``check``, so the words of an agreement rule
    are written once, beside the constants it uses; ``paper`` is the check's statement of the
    paper's value unless given."""

    id: str
    section: str
    topic: str  # stability | accuracy | pruning | quantization | phase1: orders the likely reasons
    claim: str  # in our words
    how: str
    check: Check = field(repr=False)
    arch: str | None = None
    dataset: str | None = None
    paper: str | None = None  # the paper's value or range

    def __post_init__(self):
        paper = self.paper if self.paper is not None else self.check.paper(self)
        if paper is None:
            raise ValueError(f"claim {self.id}: its check states no paper value; give paper=")
        object.__setattr__(self, "paper", paper)

    @property
    def measure(self) -> str:
        """How we measure it, with the agreement criterion (from the constants as they are now)."""
        where = _title(self.dataset) if self.dataset is not None else ""
        return self.how.format(dataset=where, criterion=self.check.criterion(self))

    def outcome(self, run: Run) -> Outcome:
        return self.check.judge(run, self)


# ---------------------------------------------------------------------------------------------
# the run's outputs


def _title(dataset: str) -> str:
    return DATASETS[dataset].title if dataset in DATASETS else dataset


def _int(value) -> str:
    return f"{int(round(value)):,}"


def _sci(value: float) -> str:
    """2e4 for 20,000; 3.5e4 for 35,000."""
    exponent = int(math.floor(math.log10(value)))
    return f"{value / 10**exponent:.2g}e{exponent}"


def _spearman(x, y) -> float:
    """Spearman's rho; 0 for constant input (no trend to see)."""
    if len(x) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = stats.spearmanr(x, y).statistic
    return 0.0 if np.isnan(rho) else float(rho)


class Run:
    """A run's outputs and what the claims need from them."""

    def __init__(
        self,
        regimes: pd.DataFrame,
        table1: pd.DataFrame,
        prune_rows: pd.DataFrame | None,
        qat_rows: pd.DataFrame | None,
        topology_invariance: pd.DataFrame | None = None,
        intervals: pd.DataFrame | None = None,
        prune_tolerance: float = 1.0,
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
        present = set(self.regimes["arch"])
        return [a for a in ARCH_TITLES if a in present] + sorted(present - set(ARCH_TITLES))

    @cached_property
    def datasets(self) -> list[str]:
        present = set(self.regimes["dataset"])
        return [d for d in DATASETS if d in present] + sorted(present - set(DATASETS))

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


# ---------------------------------------------------------------------------------------------
# checks


def _missing(run: Run, dataset: str, arch: str) -> Outcome | None:
    if not run.has(dataset, arch):
        return Outcome("—", NOT_MEASURED, f"the run has no {ARCH_TITLES.get(arch, arch)} on {_title(dataset)}")
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


# ---------------------------------------------------------------------------------------------
# the words of the agreement rules, generated from the constants the checks use


def _span(low: float, high: float, unit: str = "") -> str:
    """The paper's value or range: '50-60%', '1.5-2.5 pp', '~96%' (a single value); both ends
    at the precision of the finer one ('99.0-99.6%')."""
    decimals = 0 if float(low).is_integer() and float(high).is_integer() else 1
    if low == high:
        return f"~{low:.{decimals}f}{unit}"
    return f"{low:.{decimals}f}-{high:.{decimals}f}{unit}"


_WIDTH_SYMBOL = {"dnn": "width", "cnn": "channels", "vit": "D"}
_SHARE = {0.25: "quarter", 0.5: "half"}


def _width_text(arch: str, width) -> str:
    """'4-8 channels', 'D=6': a width (or range) the way the paper names it per family."""
    return f"{width} channels" if arch == "cnn" else f"D={width}" if arch == "vit" else f"width {width}"


# ---------------------------------------------------------------------------------------------
# which widths a claim is about


@dataclass(frozen=True)
class WidthsIn:
    """The swept widths in [low, high]."""

    low: int
    high: int

    def of(self, grid: list[int]) -> list[int]:
        return [w for w in grid if self.low <= w <= self.high]

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
        return f"in the top {_SHARE[1 - self.fraction]} ({_WIDTH_SYMBOL[arch]} >= {self.fraction * self.largest:g})"

    def paper(self, arch: str) -> str:
        return f"stable only near {_width_text(arch, self.largest)}"


@dataclass(frozen=True)
class Largest:
    """The paper's largest width, when the sweep ends there."""

    width: int

    def of(self, grid: list[int]) -> list[int]:
        return [self.width] if self.width in grid and max(grid) == self.width else []


# ---------------------------------------------------------------------------------------------
# checks: each knows its agreement rule, its words and (where it states it) the paper's value


class Check:
    """How a claim is judged: ``judge`` gives the outcome on a run (for the claim's family and
    dataset), ``criterion`` the words of its agreement rule, ``paper`` the paper's value
    (None where the claim states it in words)."""

    def judge(self, run: Run, claim: Claim) -> Outcome:
        raise NotImplementedError

    def criterion(self, claim: Claim) -> str:
        return ""

    def paper(self, claim: Claim) -> str | None:
        return None


@dataclass(frozen=True)
class MinParams(Check):
    """Table I's minimum stable parameter count within MIN_PARAMS_DECADES of the paper's."""

    value: float

    def criterion(self, claim: Claim) -> str:
        return f"agree within a factor {10**MIN_PARAMS_DECADES:g}"

    def paper(self, claim: Claim) -> str:
        return _sci(self.value)

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
        if missing := _missing(run, dataset, arch):
            return missing
        if unclaimed := _unclaimable(run, dataset, arch):
            return unclaimed
        row = run.table_row(dataset, arch)
        ours = np.nan if row is None else row["min_params"]
        if np.isnan(ours):
            return Outcome("no stable configuration", DISAGREE, "no width of the sweep is stable")
        where = f"{row['topology']} w{int(row['width'])}"
        text = _with_ci(f"{_int(ours)} ({where})", run.interval(dataset, arch, "min_params"), _int)
        return Outcome(
            text,
            _verdict(abs(math.log10(ours / self.value)) <= MIN_PARAMS_DECADES),
            "ours " + ("larger" if ours > self.value else "smaller"),
        )


# Table I's pruning and gap cells: (slack, how ours is shown, the paper's unit, the rows they need)
_CELLS = {
    "safe_pruning_pct": (PRUNE_SLACK_PP, lambda v: f"{v:.0f}%", "%", "prune"),
    "gap_8bit_pct": (GAP_SLACK_PP, lambda v: f"{v:+.2f} pp", " pp", "QAT"),
}


@dataclass(frozen=True)
class TableCell(Check):
    """A Table I cell of the representative model within its slack of the paper's value."""

    column: str  # safe_pruning_pct | gap_8bit_pct
    value: float

    def criterion(self, claim: Claim) -> str:
        return f"agree within ±{_CELLS[self.column][0]:g} pp"

    def paper(self, claim: Claim) -> str:
        return f"{self.value:g}{_CELLS[self.column][2]}"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
        slack, fmt, _, what = _CELLS[self.column]
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

    def criterion(self, claim: Claim) -> str:
        low, high = self.bounds
        return (
            f"agree when all lie within a factor {10**MIN_PARAMS_DECADES:g} of {self.around:,.0f} "
            f"({low:,.0f}-{high:,.0f})"
        )

    def paper(self, claim: Claim) -> str:
        return f"~{self.around:,.0f} params"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset = claim.dataset
        if (missing := _missing(run, dataset, "dnn")) or (missing := _unclaimable(run, dataset, "dnn")):
            return missing
        per = run.curve(dataset, "dnn").groupby("topology")["min_stable_params"].first()
        text = ", ".join(f"{t}: {'none' if np.isnan(v) else _int(v)}" for t, v in per.items())
        ok = bool(per.notna().all() and per.between(*self.bounds).all())
        return Outcome(text, _verdict(ok))


@dataclass(frozen=True)
class MinStableWidth(Check):
    """The curve's minimum stable width is among ``widths`` of the grid."""

    widths: WidthsIn | Neighbours | TopOfSweep

    def criterion(self, claim: Claim) -> str:
        return f"agree when it is {self.widths.text(claim.arch)}"

    def paper(self, claim: Claim) -> str:
        return self.widths.paper(claim.arch)

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
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
            f"width {width} ({_int(minimum)} params)",
            _verdict(width in ok_widths),
            "ours " + ("later" if width > max(ok_widths) else "earlier"),
        )


@dataclass(frozen=True)
class AccuracyAt(Check):
    """Mean test accuracy at each of ``widths`` within [low, high] ± ACC_SLACK_PP."""

    widths: WidthsIn | Largest
    low: float
    high: float

    def criterion(self, claim: Claim) -> str:
        each = "when each is " if isinstance(self.widths, WidthsIn) else ""
        the_range = "the range " if self.low != self.high else ""
        return f"agree {each}within {the_range}±{ACC_SLACK_PP:g} pp"

    def paper(self, claim: Claim) -> str:
        return _span(self.low, self.high, "%")

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
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

    def criterion(self, claim: Claim) -> str:
        return "agree when positive"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
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

    def criterion(self, claim: Claim) -> str:
        return f"agree when ρ >= {self.min_rho:g}"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
        if missing := _missing(run, dataset, arch):
            return missing
        curve = run.curve(dataset, arch)
        if unjudged := _not_judged(curve):
            return unjudged
        rho = _spearman(curve["width"], curve["test_acc_mean"])
        return Outcome(
            f"Spearman ρ(width, accuracy) = {rho:.2f} over {len(curve)} widths", _verdict(rho >= self.min_rho)
        )


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

    def criterion(self, claim: Claim) -> str:
        if self.high >= 100:
            return f"agree when >= {self.low:g}% − {PRUNE_SLACK_PP:g} pp"
        return f"agree within {_span(self.low, self.high, '%')} ±{PRUNE_SLACK_PP:g} pp"

    def paper(self, claim: Claim) -> str:
        return f">{self.low:g}%" if self.high >= 100 else _span(self.low, self.high, "%")

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch, column = claim.dataset, claim.arch, self.column
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


# what a trend reads: (table of Run, name in the outcome)
_TREND_COLUMNS = {"safe_pct": ("config_pruning", "safe pruning %"), "gap": ("config_gaps", "8-bit gap")}


@dataclass(frozen=True)
class Trend(Check):
    """Mean Spearman rho between ``by`` (depth or width) and ``column`` over the groups where
    it can be measured (stable configurations only, unless ``stable_only`` is false; the
    claim's dataset only when it names one); agree when its sign is ``sign``."""

    by: str  # depth | width
    column: str  # safe_pct | gap
    sign: int
    stable_only: bool = True

    def criterion(self, claim: Claim) -> str:
        # a family of one shape on one dataset has one curve: its rho, not a mean of several
        mean = "the mean ρ is " if claim.dataset is None else ""
        return f"agree when {mean}{'positive' if self.sign > 0 else 'negative'}"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        arch, by, column = claim.arch, self.by, self.column
        if claim.dataset is not None and (missing := _missing(run, claim.dataset, arch)):
            return missing
        frame, name = _TREND_COLUMNS[column]
        table = getattr(run, frame)
        table = run.stable(table, None, arch) if self.stable_only else run.judged(table, arch)
        if claim.dataset is not None:
            table = table[table["dataset"] == claim.dataset]
        if table.empty:
            return Outcome("—", NOT_MEASURED, f"no stable {ARCH_TITLES.get(arch, arch)} configurations with data")
        if by == "depth":
            table = table.assign(depth=table["topology"].map(lambda t: topo.parse(t)[0]))
            groups = table.groupby(["dataset", "width"])  # same first width, different depth
            minimum = 2
        else:
            groups = table.groupby(["dataset", "topology"])  # one curve, different widths
            minimum = 3
        rhos = [_spearman(g[by], g[column]) for _, g in groups if g[by].nunique() >= minimum]
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

    def criterion(self, claim: Claim) -> str:
        return f"agree when <= {self.high:g} pp"

    def paper(self, claim: Claim) -> str:
        return _span(0, 0, " pp") if self.bound is None else f"<= {self.bound:g} pp"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        if missing := _missing(run, claim.dataset, claim.arch):
            return missing
        gaps = run.config_gaps
        gaps = gaps[(gaps["dataset"] == claim.dataset) & (gaps["arch"] == claim.arch)]
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

    def criterion(self, claim: Claim) -> str:
        return f"agree within {_span(self.low, self.high)} ±{GAP_SLACK_PP:g} pp"

    def paper(self, claim: Claim) -> str:
        return _span(self.low, self.high, " pp")

    def judge(self, run: Run, claim: Claim) -> Outcome:
        dataset, arch = claim.dataset, claim.arch
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


@dataclass(frozen=True)
class Across(Check):
    """A claim about the whole run (several families or datasets): ``function(run)`` judges it
    by the rule ``rule`` states."""

    function: Callable[[Run], Outcome] = field(repr=False)
    rule: str

    def criterion(self, claim: Claim) -> str:
        return f"agree when {self.rule}"

    def judge(self, run: Run, claim: Claim) -> Outcome:
        return self.function(run)


def _grows_with_complexity(run: Run) -> Outcome:
    parts, ok, measured = [], True, False
    for arch in run.archs:
        values = [(d, run.table_row(d, arch)) for d in ("mnist", "fashion_mnist", "cifar10") if run.has(d, arch)]
        values = [(d, row["min_params"]) for d, row in values if row is not None and pd.notna(row["min_params"])]
        if len(values) < 2:
            continue
        measured = True
        numbers = [v for _, v in values]
        ok &= all(b >= a for a, b in zip(numbers, numbers[1:]))
        parts.append(f"{ARCH_TITLES.get(arch, arch)}: " + " → ".join(f"{_int(v)}" for v in numbers))
    if not measured:
        return Outcome("—", NOT_MEASURED, "fewer than two datasets with a stable configuration per family")
    return Outcome("; ".join(parts), _verdict(ok))


def _gap_grows_on_cifar(run: Run) -> Outcome:
    parts, ok = [], []
    for arch in run.archs:
        a, b = run.table_row("mnist", arch), run.table_row("cifar10", arch)
        if a is None or b is None or pd.isna(a["gap_8bit_pct"]) or pd.isna(b["gap_8bit_pct"]):
            continue
        parts.append(f"{ARCH_TITLES.get(arch, arch)}: {a['gap_8bit_pct']:+.2f} → {b['gap_8bit_pct']:+.2f} pp")
        ok.append(b["gap_8bit_pct"] > a["gap_8bit_pct"])
    if not ok:
        return Outcome("—", NOT_MEASURED, "no family with a representative model on both MNIST and CIFAR-10")
    return Outcome("; ".join(parts), _verdict(all(ok)))


def _vit_gap_negative(run: Run) -> Outcome:
    gaps = run.judged(run.config_gaps, "vit")
    if gaps.empty:
        return Outcome("—", NOT_MEASURED, "no ViT QAT rows (of configurations neither failed nor undetermined)")
    negative = gaps[gaps["gap"] < 0]
    return Outcome(
        f"{len(negative)} of {len(gaps)} ViT configurations have int8 > float on average", _verdict(len(negative) > 0)
    )


def _shape_invariance(run: Run) -> Outcome:
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
        parts.append(f"{_title(dataset)} depth {depth}: {start} (top-decade spread {spread:.2f} pp)")
    return Outcome("; ".join(parts), _verdict(all(ok)))


# ---------------------------------------------------------------------------------------------
# the claims


def _table1_claims() -> list[Claim]:
    """Three claims per row of the paper's Table I."""
    claims = []
    for row in PAPER_TABLE1.itertuples(index=False):
        d, a, title, arch = row.dataset, row.arch, _title(row.dataset), ARCH_TITLES[row.arch]
        cell = {"section": "Table I", "arch": a, "dataset": d}
        claims += [
            Claim(
                id=f"table1-{d}-{a}-min-params",
                topic="stability",
                **cell,
                claim=f"{arch} on {title}: the smallest stable model has about {_sci(row.paper_min_params)} "
                "parameters.",
                how="Table I min_params"
                + (" (minimum over the square depths)" if a == "dnn" else "")
                + "; {criterion}.",
                check=MinParams(row.paper_min_params),
            ),
            Claim(
                id=f"table1-{d}-{a}-safe-pruning",
                topic="pruning",
                **cell,
                claim=f"{arch} on {title}: the smallest stable model can be pruned to about "
                f"{row.paper_safe_pruning_pct:g}% without losing accuracy.",
                how="Table I safe_pruning_pct of the representative model; {criterion}.",
                check=TableCell("safe_pruning_pct", row.paper_safe_pruning_pct),
            ),
            Claim(
                id=f"table1-{d}-{a}-8bit-gap",
                topic="quantization",
                **cell,
                claim=f"{arch} on {title}: 8-bit QAT of the smallest stable model costs about "
                f"{row.paper_8bit_gap_pct:g} pp of accuracy.",
                how="Table I gap_8bit_pct (mean float − int8 over seeds); {criterion}.",
                check=TableCell("gap_8bit_pct", row.paper_8bit_gap_pct),
            ),
        ]
    return claims


# The text claims, in the paper's order. ``how`` is the measurement in words, ``{dataset}``
# and ``{criterion}`` filled in from ``dataset`` and ``check``; ``paper`` only where the check
# does not state the paper's value itself.
CLAIMS: tuple[Claim, ...] = tuple(_table1_claims()) + (
    # --- IV-a convergence
    Claim(
        id="dnn-mnist-stable-1e3",
        section="IV-a",
        topic="stability",
        arch="dnn",
        dataset="mnist",
        claim="On MNIST, DNNs of every depth become stable once they have around a thousand parameters.",
        how="Each square depth's minimum stable parameter count on {dataset}; {criterion}.",
        check=MinParamsPerDepth(1_000),
    ),
    Claim(
        id="cnn-mnist-stable-channels",
        section="IV-a",
        topic="stability",
        arch="cnn",
        dataset="mnist",
        claim="On MNIST the one-conv CNN becomes stable at 4 to 8 channels.",
        how="Minimum stable channel count on {dataset}; {criterion}.",
        check=MinStableWidth(WidthsIn(4, 8)),
    ),
    Claim(
        id="cnn-fmnist-stable-channels",
        section="IV-a",
        topic="stability",
        arch="cnn",
        dataset="fashion_mnist",
        claim="On Fashion-MNIST the one-conv CNN becomes stable at 4 to 8 channels.",
        how="Minimum stable channel count on {dataset}; {criterion}.",
        check=MinStableWidth(WidthsIn(4, 8)),
    ),
    Claim(
        id="cnn-mnist-acc-4-8",
        section="IV-a",
        topic="accuracy",
        arch="cnn",
        dataset="mnist",
        claim="At those 4-8 channels the CNN scores roughly 99.4-99.8% on MNIST.",
        how="Mean test accuracy at every swept width in 4-8 on {dataset}; {criterion}.",
        check=AccuracyAt(WidthsIn(4, 8), 99.4, 99.8),
    ),
    Claim(
        id="cnn-fmnist-acc-4-8",
        section="IV-a",
        topic="accuracy",
        arch="cnn",
        dataset="fashion_mnist",
        claim="At those 4-8 channels the CNN scores roughly 99.0-99.6% on Fashion-MNIST.",
        how="Mean test accuracy at every swept width in 4-8 on {dataset}; {criterion}.",
        check=AccuracyAt(WidthsIn(4, 8), 99.0, 99.6),
    ),
    Claim(
        id="cnn-cifar-rise-16-32",
        section="IV-a",
        topic="accuracy",
        arch="cnn",
        dataset="cifar10",
        claim="On CIFAR-10 the CNN still gains accuracy going from 16 to 32 channels.",
        how="Mean test accuracy at 32 minus at 16 channels on {dataset}; {criterion}.",
        check=Rises(16, 32),
        paper="rising",
    ),
    Claim(
        id="cnn-cifar-acc-32",
        section="IV-a",
        topic="accuracy",
        arch="cnn",
        dataset="cifar10",
        claim="The CNN reaches roughly 83-88% on CIFAR-10 at 32 channels.",
        how="Mean test accuracy at 32 channels on {dataset}; {criterion}.",
        check=AccuracyAt(Largest(32), 83, 88),
    ),
    Claim(
        id="vit-mnist-late-plateau",
        section="IV-a",
        topic="stability",
        arch="vit",
        dataset="mnist",
        claim="On MNIST the ViT levels off only near its largest hidden dimension.",
        how="Minimum stable hidden dimension on {dataset} (the sweep must end at 16); {criterion}.",
        check=MinStableWidth(TopOfSweep(0.75, 16)),
    ),
    Claim(
        id="vit-mnist-acc-16",
        section="IV-a",
        topic="accuracy",
        arch="vit",
        dataset="mnist",
        claim="The widest ViT scores about 96% on MNIST.",
        how="Mean test accuracy at D=16 on {dataset}; {criterion}.",
        check=AccuracyAt(Largest(16), 96, 96),
    ),
    Claim(
        id="vit-fmnist-acc-16",
        section="IV-a",
        topic="accuracy",
        arch="vit",
        dataset="fashion_mnist",
        claim="The widest ViT scores about 80% on Fashion-MNIST.",
        how="Mean test accuracy at D=16 on {dataset}; {criterion}.",
        check=AccuracyAt(Largest(16), 80, 80),
    ),
    Claim(
        id="vit-cifar-acc-16",
        section="IV-a",
        topic="accuracy",
        arch="vit",
        dataset="cifar10",
        claim="The widest ViT scores about 37% on CIFAR-10.",
        how="Mean test accuracy at D=16 on {dataset}; {criterion}.",
        check=AccuracyAt(Largest(16), 37, 37),
    ),
    Claim(
        id="vit-cifar-still-rising",
        section="IV-a",
        topic="accuracy",
        arch="vit",
        dataset="cifar10",
        claim="On CIFAR-10 the ViT's accuracy keeps climbing over the whole width range (it stays "
        "under-parameterised).",
        how="Spearman ρ between D and mean test accuracy on {dataset}; {criterion}.",
        check=RisesThroughout(0.9),
        paper="monotone rise",
    ),
    Claim(
        id="cnn-mnist-4-channels",
        section="IV (closing)",
        topic="stability",
        arch="cnn",
        dataset="mnist",
        claim="Four channels are the CNN's minimal stable size on MNIST.",
        how="Minimum stable channel count on {dataset}; {criterion}.",
        check=MinStableWidth(Neighbours(4)),
    ),
    Claim(
        id="vit-mnist-6-dims",
        section="IV (closing)",
        topic="stability",
        arch="vit",
        dataset="mnist",
        claim="Six hidden dimensions are the ViT's minimal stable size on MNIST.",
        how="Minimum stable D on {dataset}; {criterion}.",
        check=MinStableWidth(Neighbours(6)),
    ),
    Claim(
        id="min-params-grow-with-complexity",
        section="IV (closing)",
        topic="stability",
        claim="Each family's minimal stable size grows from MNIST to Fashion-MNIST to CIFAR-10.",
        how="Table I min_params per family in dataset order; {criterion}.",
        check=Across(_grows_with_complexity, "non-decreasing for every family measured on 2+ datasets"),
        paper="non-decreasing",
    ),
    # --- IV-b pruning
    Claim(
        id="dnn-mnist-prune-50-60",
        section="IV-b",
        topic="pruning",
        arch="dnn",
        dataset="mnist",
        claim="Stable DNNs on MNIST keep their accuracy up to about half to three-fifths of their weights pruned.",
        how="Median safe pruning % over the stable DNN configurations on {dataset}; {criterion}.",
        check=PruningSummary("safe_pct", 50, 60),
    ),
    Claim(
        id="cnn-mnist-prune-fail-60-70",
        section="IV-b",
        topic="pruning",
        arch="cnn",
        dataset="mnist",
        claim="The CNN on MNIST starts failing between 60 and 70% pruning.",
        how="Median failing % (first swept ratio past the safe one) over the stable CNN configurations on "
        "{dataset}; {criterion}.",
        check=PruningSummary("fail_pct", 60, 70),
    ),
    Claim(
        id="cnn-fmnist-prune-fail-60-70",
        section="IV-b",
        topic="pruning",
        arch="cnn",
        dataset="fashion_mnist",
        claim="The CNN on Fashion-MNIST starts failing between 60 and 70% pruning.",
        how="As for MNIST, on {dataset}.",
        check=PruningSummary("fail_pct", 60, 70),
    ),
    Claim(
        id="cnn-cifar-prune-fail-50-60",
        section="IV-b",
        topic="pruning",
        arch="cnn",
        dataset="cifar10",
        claim="On CIFAR-10 the CNN fails earlier, between 50 and 60% pruning.",
        how="As for MNIST, on {dataset}; {criterion}.",
        check=PruningSummary("fail_pct", 50, 60),
    ),
    Claim(
        id="vit-mnist-prune-fail-small",
        section="IV-b",
        topic="pruning",
        arch="vit",
        dataset="mnist",
        claim="A small ViT on MNIST starts failing at 45-60% pruning.",
        how="Failing % of the smallest stable ViT (Table I's representative) on {dataset}; {criterion}.",
        check=PruningSummary("fail_pct", 45, 60, at_representative=True),
    ),
    Claim(
        id="vit-cifar-prune-fail-small",
        section="IV-b",
        topic="pruning",
        arch="vit",
        dataset="cifar10",
        claim="A small ViT on CIFAR-10 starts failing at 35-45% pruning.",
        how="Failing % of the smallest stable ViT on {dataset}; {criterion}.",
        check=PruningSummary("fail_pct", 35, 45, at_representative=True),
    ),
    Claim(
        id="dnn-deeper-prunes-more",
        section="IV-b, V",
        topic="pruning",
        arch="dnn",
        claim="Deeper DNNs withstand more pruning.",
        how="Per dataset and first-layer width with 2+ stable depths, Spearman ρ(depth, safe pruning %); {criterion}.",
        check=Trend("depth", "safe_pct", +1),
        paper="positive trend",
    ),
    Claim(
        id="dnn-wider-prunes-more",
        section="IV-b",
        topic="pruning",
        arch="dnn",
        claim="Wider DNNs withstand more pruning.",
        how="Per DNN curve with 3+ stable widths, Spearman ρ(width, safe pruning %); {criterion}.",
        check=Trend("width", "safe_pct", +1),
        paper="positive trend",
    ),
    Claim(
        id="cnn-wider-prunes-more",
        section="IV-b",
        topic="pruning",
        arch="cnn",
        claim="CNNs with more channels withstand more pruning.",
        how="As above, for the CNN curves.",
        check=Trend("width", "safe_pct", +1),
        paper="positive trend",
    ),
    Claim(
        id="vit-wider-prunes-more",
        section="IV-b",
        topic="pruning",
        arch="vit",
        claim="Wider ViTs withstand more pruning.",
        how="As above, for the ViT curves.",
        check=Trend("width", "safe_pct", +1),
        paper="positive trend",
    ),
    Claim(
        id="dnn-deep-over-60",
        section="V",
        topic="pruning",
        arch="dnn",
        dataset="mnist",
        claim="Deep DNNs (3-4 hidden layers) keep their accuracy beyond 60% sparsity.",
        how="Median safe pruning % over the stable L3ee/L4eee configurations on {dataset}; {criterion}.",
        check=PruningSummary("safe_pct", 60, topologies=("L3ee", "L4eee")),
    ),
    # --- IV-c quantization
    Claim(
        id="dnn-mnist-gap-small",
        section="IV-c",
        topic="quantization",
        arch="dnn",
        dataset="mnist",
        claim="Once stable, DNNs on MNIST lose little or nothing to 8-bit QAT.",
        how="Median over the stable DNN configurations on {dataset} of the mean gap (float − int8); {criterion}.",
        check=GapBound(),
    ),
    Claim(
        id="cnn-mnist-gap-le-3",
        section="IV-c",
        topic="quantization",
        arch="cnn",
        dataset="mnist",
        claim="Stable CNNs on MNIST lose at most about 3 pp to 8-bit QAT.",
        how="Median over the stable CNN configurations on {dataset} of the mean gap; {criterion}.",
        check=GapBound(3),
    ),
    Claim(
        id="cnn-fmnist-gap-le-3",
        section="IV-c",
        topic="quantization",
        arch="cnn",
        dataset="fashion_mnist",
        claim="Stable CNNs on Fashion-MNIST lose at most about 3 pp to 8-bit QAT.",
        how="As for MNIST, on {dataset}.",
        check=GapBound(3),
    ),
    Claim(
        id="cnn-cifar-gap-large",
        section="IV-c",
        topic="quantization",
        arch="cnn",
        dataset="cifar10",
        claim="On CIFAR-10 the larger CNNs lose a modest 1.5-2.5 pp to 8-bit QAT.",
        how="Mean gap over the CNN configurations with 16+ channels on {dataset}; {criterion}.",
        check=GapRange(AtLeast(16), 1.5, 2.5),
    ),
    Claim(
        id="vit-mnist-gap-shrinks",
        section="IV-c",
        topic="quantization",
        arch="vit",
        dataset="mnist",
        claim="The ViT's 8-bit gap on MNIST shrinks as it gets wider.",
        how="Spearman ρ(D, mean gap) over all swept D on {dataset}; {criterion}.",
        check=Trend("width", "gap", -1, stable_only=False),
        paper="shrinking",
    ),
    Claim(
        id="vit-fmnist-gap-shrinks",
        section="IV-c",
        topic="quantization",
        arch="vit",
        dataset="fashion_mnist",
        claim="The ViT's 8-bit gap on Fashion-MNIST shrinks as it gets wider.",
        how="Spearman ρ(D, mean gap) over all swept D on {dataset}; {criterion}.",
        check=Trend("width", "gap", -1, stable_only=False),
        paper="shrinking",
    ),
    Claim(
        id="vit-cifar-gap-16",
        section="IV-c",
        topic="quantization",
        arch="vit",
        dataset="cifar10",
        claim="Even the widest ViT on CIFAR-10 loses roughly 4-6 pp to 8-bit QAT.",
        how="Mean gap at D=16 on {dataset}; {criterion}.",
        check=GapRange(Largest(16), 4, 6),
    ),
    Claim(
        id="gap-larger-on-cifar",
        section="IV (closing), V",
        topic="quantization",
        claim="The 8-bit gap is larger on CIFAR-10 than on MNIST.",
        how="Table I gap_8bit_pct on CIFAR-10 vs MNIST, per family; {criterion}.",
        check=Across(_gap_grows_on_cifar, "larger for every family measured on both"),
        paper="larger on CIFAR-10",
    ),
    Claim(
        id="vit-int8-beats-float",
        section="V",
        topic="quantization",
        arch="vit",
        claim="For some hidden dimensions the quantized ViT beats its float version.",
        how="Count of ViT configurations whose mean gap is negative; {criterion}.",
        check=Across(_vit_gap_negative, "there is at least one"),
        paper="some D",
    ),
    # --- phase 1
    Claim(
        id="phase1-shape-invariance",
        section="V (phase 1)",
        topic="phase1",
        arch="dnn",
        claim="Beyond some parameter count a DNN's hidden-layer shape no longer matters.",
        how="topology_invariance.csv: per dataset and depth with 2+ shapes, the decade from which every "
        "larger decade's spread is within the tolerance; {criterion}.",
        check=Across(_shape_invariance, "every depth has one"),
        paper="invariant when large",
    ),
)


# ---------------------------------------------------------------------------------------------
# likely reasons for a disagreement


def _reasons(run: Run, claim: Claim) -> list[str]:
    """What in the run (or in the paper's open definitions) most likely explains a
    disagreement, most likely first."""
    arch, dataset = claim.arch, claim.dataset
    found: dict[str, str] = {}
    if run.max_epochs and max(run.max_epochs) < PAPER_EPOCHS:
        found["epochs"] = f"at most {max(run.max_epochs)} epochs (paper: {PAPER_EPOCHS})"
    for a in [arch] if arch else run.archs:
        seeds = run.seeds(a)
        if seeds and a in PAPER_SEEDS and seeds[0] < PAPER_SEEDS[a]:
            found.setdefault(
                "seeds", f"{seeds[0]} seeds per {ARCH_TITLES.get(a, a)} configuration (paper: {PAPER_SEEDS[a]})"
            )
        grid = run.widths(a)
        if grid and a in PAPER_WIDTH_RANGE:
            low, high = PAPER_WIDTH_RANGE[a]
            if a == "dnn" and len(set(grid) & set(PAPER_DNN_WIDTHS)) < len(PAPER_DNN_WIDTHS):
                found.setdefault("grid", f"coarser width grid ({len(grid)} DNN widths {grid}; paper: 12)")
            elif max(grid) < high or min(grid) > low:
                found.setdefault(
                    "grid", f"{ARCH_TITLES.get(a, a)} widths {min(grid)}-{max(grid)} (paper: {low}-{high})"
                )
    if claim.topic == "stability" and "min-params" in claim.id and arch and dataset:
        curve = run.curve(dataset, arch)
        paper = PAPER_TABLE1.set_index(["dataset", "arch"])["paper_min_params"].get((dataset, arch))
        if len(curve):
            largest = curve.loc[curve["n_params"].idxmax()]
            if arch == "vit":
                sizes = [
                    f"{_int(top['n_params'])} at D={int(top['width'])} with {vit_position_kind(topology)} positions"
                    for topology, group in curve.groupby("topology", sort=True)
                    for top in [group.loc[group["n_params"].idxmax()]]
                ]
                found["params"] = (
                    f"our ViT has {VIT_PARAMS_TEXT} parameters with sinusoidal positions, "
                    f"{VIT_POSITIONS_EXTRA} more with learned ones ({'; '.join(sizes)} on {_title(dataset)}); "
                    "the paper's 5e3-6e3 at its stable D imply a larger count"
                )
            elif paper is not None and paper > largest["n_params"]:
                found["params"] = (
                    f"the paper's {_sci(paper)} exceeds our largest {ARCH_TITLES[arch]} on "
                    f"{_title(dataset)} ({_int(largest['n_params'])} at width "
                    f"{int(largest['width'])}): our family cannot reach it"
                )
    if claim.id.startswith("table1-") and claim.topic in ("pruning", "quantization"):
        d, a = dataset, arch
        row = run.table_row(d, a)
        paper = PAPER_TABLE1.set_index(["dataset", "arch"])["paper_min_params"].get((d, a))
        if (
            row is not None
            and pd.notna(row["min_params"])
            and paper
            and abs(math.log10(row["min_params"] / paper)) > 0.5
        ):
            found["representative"] = (
                f"our representative model ({_int(row['min_params'])} params) is not the paper's size ({_sci(paper)})"
            )
    found["definition"] = {
        "stability": "our stability rule (std <= regimes.max_std, within regimes.max_drop of the curve's best) "
        "is a decision; the paper states no numeric rule",
        "accuracy": "not explained by run size; the paper leaves architecture and preprocessing details open",
        "pruning": f"'safe' means within {run.prune_tolerance:g} pp of the unpruned mean (table1.prune_tolerance); "
        "the paper states no tolerance",
        "quantization": f"{run.qat_schedule}, evaluated as a real int8 model; the paper's QAT schedule and "
        "backend are not stated",
        "phase1": "spread tolerance topology_sweep.invariance_tolerance is a decision; the paper judges by eye",
    }[claim.topic]
    order = {
        "stability": ["params", "grid", "epochs", "seeds", "definition"],
        "accuracy": ["epochs", "grid", "seeds", "definition"],
        "pruning": ["representative", "definition", "epochs", "seeds"],
        "quantization": ["representative", "epochs", "seeds", "definition"],
        "phase1": ["epochs", "seeds", "grid", "definition"],
    }[claim.topic]
    return [found[k] for k in order if k in found]


# ---------------------------------------------------------------------------------------------
# entry points


def comparison_table(
    regimes: pd.DataFrame,
    table1: pd.DataFrame,
    prune_rows: pd.DataFrame | None,
    qat_rows: pd.DataFrame | None,
    topology_invariance: pd.DataFrame | None = None,
    intervals: pd.DataFrame | None = None,
    prune_tolerance: float = 1.0,
    claims: tuple[Claim, ...] = CLAIMS,
) -> pd.DataFrame:
    """One row per claim: id, section, claim, paper, ours, verdict, measure, reason (the likely
    reason for a disagreement, what is missing for 'not measured', empty for 'agree')."""
    run = Run(regimes, table1, prune_rows, qat_rows, topology_invariance, intervals, prune_tolerance)
    rows = []
    for claim in claims:
        outcome = claim.outcome(run)
        if outcome.verdict == DISAGREE:
            reasons = _reasons(run, claim)[:2]
            reason = "; ".join(([outcome.note] if outcome.note else []) + reasons)
        elif outcome.verdict == NOT_MEASURED:
            reason = outcome.note
        else:
            reason = ""
        rows.append(
            {
                "id": claim.id,
                "section": claim.section,
                "claim": claim.claim,
                "paper": claim.paper,
                "ours": outcome.ours,
                "verdict": outcome.verdict,
                "measure": claim.measure,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def run_size(regimes: pd.DataFrame, prune_rows=None, qat_rows=None, table1=None) -> list[str]:
    """Lines describing the run: families, datasets, widths and seeds per family, max epochs."""
    run = Run(regimes, table1 if table1 is not None else pd.DataFrame(), prune_rows, qat_rows)
    lines = [
        f"- families: {', '.join(ARCH_TITLES.get(a, a) for a in run.archs) or 'none'}; "
        f"datasets: {', '.join(_title(d) for d in run.datasets) or 'none'}"
    ]
    for arch in run.archs:
        seeds = run.seeds(arch)
        seed_text = f"{seeds[0]}" if seeds[0] == seeds[1] else f"{seeds[0]}-{seeds[1]}"
        topologies = sorted(regimes.loc[regimes["arch"] == arch, "topology"].unique())
        lines.append(
            f"- {ARCH_TITLES.get(arch, arch)}: {len(run.widths(arch))} widths {run.widths(arch)}, "
            f"{len(topologies)} topolog{'y' if len(topologies) == 1 else 'ies'}, {seed_text} seeds "
            f"(paper: {PAPER_SEEDS.get(arch, '?')})"
        )
    epochs = run.max_epochs
    lines.append(
        f"- max epochs: {', '.join(map(str, epochs)) if epochs else 'not recorded in the inputs'} "
        f"(paper: {PAPER_EPOCHS})"
    )
    return lines


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def paper_comparison(
    regimes: pd.DataFrame,
    table1: pd.DataFrame,
    prune_rows: pd.DataFrame | None,
    qat_rows: pd.DataFrame | None,
    topology_invariance: pd.DataFrame | None = None,
    intervals: pd.DataFrame | None = None,
    prune_tolerance: float = 1.0,
) -> str:
    """Markdown: the run's size, the criteria, and one table row per claim."""
    table = comparison_table(regimes, table1, prune_rows, qat_rows, topology_invariance, intervals, prune_tolerance)
    counts = table["verdict"].value_counts()
    head = [
        "# Our results against the paper's claims (arXiv 2601.17987)",
        "",
        "Run:",
        *run_size(regimes, prune_rows, qat_rows, table1),
        "",
        f"Criteria: minimum stable parameters within a factor {10**MIN_PARAMS_DECADES:g}; pruning ratios within "
        f"±{PRUNE_SLACK_PP:g} pp; 8-bit gaps within ±{GAP_SLACK_PP:g} pp; 'about' accuracies within "
        f"±{ACC_SLACK_PP:g} pp; trends by the sign of Spearman's ρ. 'Safe' pruning: within "
        f"{prune_tolerance:g} pp of the unpruned mean. See `minarch.comparison`.",
        "",
        f"{len(table)} claims: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in (AGREE, DISAGREE, NOT_MEASURED)),
        "",
    ]
    shown = ["id", "section", "claim", "paper", "ours", "verdict", "measure", "reason"]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in shown) + " |" for _, row in table.iterrows()]
    return "\n".join(head + lines) + "\n"
