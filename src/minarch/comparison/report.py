"""The claims evaluated once on a run (``evaluate``: one row per claim) and rendered as Markdown
(``markdown``) with a header stating the size of the run.

Where a claim disagrees, the ``reason`` column gives the direction (ours higher/lower/
earlier/later, the check's note) and up to two likely reasons derived from the run itself, in
a per-topic order (``ORDER``, over the rules of ``REASONS``): a model whose parameter count
differs from the paper's (e.g. our ViT, 12D²+(16C+34)D+10 = 3,882 at D=16 on MNIST), a
representative model more than half a decade from the paper's size (for the Table I pruning
and gap cells), a coarser or shorter width grid, fewer epochs (``train_max_epochs``) or seeds
than the paper; when none applies, the definition the paper leaves open (stability rule,
pruning tolerance, QAT schedule: the mode the run's QAT rows record, ``Run.qat_schedule``).
For ``not measured`` the column says what is missing; for ``agree`` it is empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from minarch.comparison.checks import (
    ACC_SLACK_PP,
    AGREE,
    DISAGREE,
    GAP_SLACK_PP,
    MIN_PARAMS_DECADES,
    NOT_MEASURED,
    PRUNE_SLACK_PP,
    MinParams,
    TableCell,
)
from minarch.comparison.claims import (
    CLAIMS,
    PAPER_DNN_WIDTHS,
    PAPER_EPOCHS,
    PAPER_SEEDS,
    PAPER_WIDTH_RANGE,
    Claim,
)
from minarch.comparison.run import Run, family, integer, sci, title
from minarch.families import vit_position_kind
from minarch.sizes import VIT_GRID, vit_parameter_formula
from minarch.tables import PAPER_TABLE1

COLUMNS = ["id", "section", "claim", "paper", "ours", "verdict", "measure", "reason"]
VIT_PARAMS_TEXT = f"{vit_parameter_formula()} (C input channels)"
VIT_POSITIONS_EXTRA = f"{VIT_GRID * VIT_GRID + 1}D"  # one learned D-vector per token


# ---------------------------------------------------------------------------------------------
# likely reasons for a disagreement: each rule gives its reason or None


def _paper_min_params(dataset: str, arch: str) -> float | None:
    return PAPER_TABLE1.set_index(["dataset", "arch"])["paper_min_params"].get((dataset, arch))


def _families(run: Run, claim: Claim) -> list[str]:
    return [claim.arch] if claim.arch else run.archs


def _epochs(run: Run, claim: Claim) -> str | None:
    if run.max_epochs and max(run.max_epochs) < PAPER_EPOCHS:
        return f"at most {max(run.max_epochs)} epochs (paper: {PAPER_EPOCHS})"
    return None


def _seeds(run: Run, claim: Claim) -> str | None:
    for arch in _families(run, claim):
        seeds = run.seeds(arch)
        if seeds and arch in PAPER_SEEDS and seeds[0] < PAPER_SEEDS[arch]:
            return f"{seeds[0]} seeds per {family(arch)} configuration (paper: {PAPER_SEEDS[arch]})"
    return None


def _grid(run: Run, claim: Claim) -> str | None:
    for arch in _families(run, claim):
        grid = run.widths(arch)
        if not grid or arch not in PAPER_WIDTH_RANGE:
            continue
        low, high = PAPER_WIDTH_RANGE[arch]
        if arch == "dnn" and len(set(grid) & set(PAPER_DNN_WIDTHS)) < len(PAPER_DNN_WIDTHS):
            return f"coarser width grid ({len(grid)} DNN widths {grid}; paper: {len(PAPER_DNN_WIDTHS)})"
        if max(grid) < high or min(grid) > low:
            return f"{family(arch)} widths {min(grid)}-{max(grid)} (paper: {low}-{high})"
    return None


def _params(run: Run, claim: Claim) -> str | None:
    """Table I's minimum stable size: our family's parameter count is not the paper's."""
    arch, dataset = claim.arch, claim.dataset
    if not isinstance(claim.check, MinParams) or not len(curve := run.curve(dataset, arch)):
        return None
    largest = curve.loc[curve["n_params"].idxmax()]
    if arch == "vit":
        sizes = [
            f"{integer(top['n_params'])} at D={int(top['width'])} with {vit_position_kind(topology)} positions"
            for topology, group in curve.groupby("topology", sort=True)
            for top in [group.loc[group["n_params"].idxmax()]]
        ]
        return (
            f"our ViT has {VIT_PARAMS_TEXT} parameters with sinusoidal positions, "
            f"{VIT_POSITIONS_EXTRA} more with learned ones ({'; '.join(sizes)} on {title(dataset)}); "
            "the paper's 5e3-6e3 at its stable D imply a larger count"
        )
    paper = _paper_min_params(dataset, arch)
    if paper is not None and paper > largest["n_params"]:
        return (
            f"the paper's {sci(paper)} exceeds our largest {family(arch)} on {title(dataset)} "
            f"({integer(largest['n_params'])} at width {int(largest['width'])}): our family cannot reach it"
        )
    return None


def _representative(run: Run, claim: Claim) -> str | None:
    """Table I's pruning and gap cells: our representative model is far from the paper's size."""
    if not isinstance(claim.check, TableCell):
        return None
    row = run.table_row(claim.dataset, claim.arch)
    paper = _paper_min_params(claim.dataset, claim.arch)
    if row is not None and pd.notna(row["min_params"]) and paper and abs(math.log10(row["min_params"] / paper)) > 0.5:
        return f"our representative model ({integer(row['min_params'])} params) is not the paper's size ({sci(paper)})"
    return None


_DEFINITIONS: dict[str, Callable[[Run], str]] = {
    "stability": lambda run: (
        "our stability rule (std <= regimes.max_std, within regimes.max_drop of the curve's "
        "best) is a decision; the paper states no numeric rule"
    ),
    "accuracy": lambda run: "not explained by run size; the paper leaves architecture and preprocessing details open",
    "pruning": lambda run: (
        f"'safe' means within {run.prune_tolerance:g} pp of the unpruned mean "
        "(table1.prune_tolerance); the paper states no tolerance"
    ),
    "quantization": lambda run: (
        f"{run.qat_schedule}, evaluated as a real int8 model; the paper's QAT schedule and backend are not stated"
    ),
    "phase1": lambda run: "spread tolerance topology_sweep.invariance_tolerance is a decision; the paper judges by eye",
}

REASONS: dict[str, Callable[[Run, Claim], str | None]] = {
    "epochs": _epochs,
    "seeds": _seeds,
    "grid": _grid,
    "params": _params,
    "representative": _representative,
    "definition": lambda run, claim: _DEFINITIONS[claim.topic](run),  # what the paper leaves open
}
# per topic, the reasons most likely first
ORDER = {
    "stability": ("params", "grid", "epochs", "seeds", "definition"),
    "accuracy": ("epochs", "grid", "seeds", "definition"),
    "pruning": ("representative", "definition", "epochs", "seeds"),
    "quantization": ("representative", "epochs", "seeds", "definition"),
    "phase1": ("epochs", "seeds", "grid", "definition"),
}


def reasons(run: Run, claim: Claim) -> list[str]:
    """What in the run (or in the paper's open definitions) most likely explains a
    disagreement, most likely first."""
    return [text for key in ORDER[claim.topic] if (text := REASONS[key](run, claim))]


# ---------------------------------------------------------------------------------------------
# evaluation and rendering


def evaluate(run: Run, claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """One row per claim: id, section, claim, paper, ours, verdict, measure, reason (the likely
    reason for a disagreement, what is missing for 'not measured', empty for 'agree')."""
    rows = []
    for claim in claims:
        outcome = claim.outcome(run)
        if outcome.verdict == DISAGREE:
            reason = "; ".join(([outcome.note] if outcome.note else []) + reasons(run, claim)[:2])
        elif outcome.verdict == NOT_MEASURED:
            reason = outcome.note
        else:
            reason = ""
        row = (claim.id, claim.section, claim.claim, claim.paper, outcome.ours, outcome.verdict, claim.measure, reason)
        rows.append(dict(zip(COLUMNS, row)))
    return pd.DataFrame(rows, columns=COLUMNS)


def run_size(run: Run) -> list[str]:
    """Lines describing the run: families, datasets, widths and seeds per family, max epochs."""
    lines = [
        f"- families: {', '.join(family(a) for a in run.archs) or 'none'}; "
        f"datasets: {', '.join(title(d) for d in run.datasets) or 'none'}"
    ]
    for arch in run.archs:
        seeds = run.seeds(arch)
        seed_text = f"{seeds[0]}" if seeds[0] == seeds[1] else f"{seeds[0]}-{seeds[1]}"
        topologies = sorted(run.regimes.loc[run.regimes["arch"] == arch, "topology"].unique())
        lines.append(
            f"- {family(arch)}: {len(run.widths(arch))} widths {run.widths(arch)}, "
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


def markdown(run: Run, table: pd.DataFrame) -> str:
    """Markdown: the run's size, the criteria, and one row per claim of ``table`` (``evaluate``'s)."""
    counts = table["verdict"].value_counts()
    head = [
        "# Our results against the paper's claims (arXiv 2601.17987)",
        "",
        "Run:",
        *run_size(run),
        "",
        f"Criteria: minimum stable parameters within a factor {10**MIN_PARAMS_DECADES:g}; pruning ratios within "
        f"±{PRUNE_SLACK_PP:g} pp; 8-bit gaps within ±{GAP_SLACK_PP:g} pp; 'about' accuracies within "
        f"±{ACC_SLACK_PP:g} pp; trends by the sign of Spearman's ρ. 'Safe' pruning: within "
        f"{run.prune_tolerance:g} pp of the unpruned mean. See `minarch.comparison`.",
        "",
        f"{len(table)} claims: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in (AGREE, DISAGREE, NOT_MEASURED)),
        "",
    ]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in COLUMNS) + " |" for _, row in table.iterrows()]
    return "\n".join(head + lines) + "\n"
