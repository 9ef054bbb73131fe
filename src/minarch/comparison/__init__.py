"""Our results against every quantitative claim of the paper (arXiv 2601.17987, Sec. IV a-c,
Table I and the conclusions).

- ``claims``: what the paper says, one compact row per claim with the datasets it covers;
- ``checks``: how a claim is judged, its agreement rule stated in words from the same
  constants (the criteria are listed there);
- ``run``: a run's outputs (the frames of README.md's *Outputs*) and what the checks read;
- ``report``: the claims evaluated once on a run, the likely reasons for a disagreement, and
  the Markdown with a header stating the size of the run.

Each claim gets one verdict:

- ``agree`` / ``disagree`` by the claim's criterion;
- ``not measured`` when the run lacks what the claim needs (its dataset or family, a width
  the claim is about, prune or QAT rows, the phase-1 table, a stable configuration), or when
  what it reads cannot be judged: a configuration labelled ``failed`` or ``undetermined``, or a
  minimum stable size that depends on undetermined configurations or whose every configuration
  failed (``minarch.regimes.unclaimable``). No verdict rests on such rows.

Inputs: ``regimes`` (regimes.parquet), ``table1`` (table1.csv), the collected prune and QAT
rows of every family, optionally ``topology_invariance`` (topology_invariance.csv) and
``intervals`` (``minarch.confidence.table1_intervals``, shown beside the Table I cells).
"""

from __future__ import annotations

import pandas as pd

from minarch.comparison.checks import AGREE, DISAGREE, NOT_MEASURED
from minarch.comparison.claims import CLAIMS, Claim
from minarch.comparison.report import evaluate, markdown, run_size
from minarch.comparison.run import Run
from minarch.regimes import PRUNE_TOLERANCE

__all__ = [
    "AGREE",
    "CLAIMS",
    "DISAGREE",
    "NOT_MEASURED",
    "Claim",
    "Run",
    "comparison_table",
    "evaluate",
    "markdown",
    "paper_comparison",
    "run_size",
]


def comparison_table(
    regimes: pd.DataFrame,
    table1: pd.DataFrame,
    prune_rows: pd.DataFrame | None,
    qat_rows: pd.DataFrame | None,
    topology_invariance: pd.DataFrame | None = None,
    intervals: pd.DataFrame | None = None,
    prune_tolerance: float = PRUNE_TOLERANCE,
    claims: tuple[Claim, ...] = CLAIMS,
) -> pd.DataFrame:
    """``evaluate`` on the run these outputs make: one row per claim."""
    run = Run(regimes, table1, prune_rows, qat_rows, topology_invariance, intervals, prune_tolerance)
    return evaluate(run, claims)


def paper_comparison(
    regimes: pd.DataFrame,
    table1: pd.DataFrame,
    prune_rows: pd.DataFrame | None,
    qat_rows: pd.DataFrame | None,
    topology_invariance: pd.DataFrame | None = None,
    intervals: pd.DataFrame | None = None,
    prune_tolerance: float = PRUNE_TOLERANCE,
) -> str:
    """The Markdown report of the run these outputs make (``markdown`` of ``evaluate``)."""
    run = Run(regimes, table1, prune_rows, qat_rows, topology_invariance, intervals, prune_tolerance)
    return markdown(run, evaluate(run))
