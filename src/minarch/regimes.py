"""Regime labels per configuration and the minimum stable parameter count (docs/design.md §2).

A *curve* is one (dataset, arch, topology) across its widths. Thresholds are the config's
``regimes`` section. Two labels come first, because they say a configuration cannot be judged
the usual way:

- ``failed``: its training failed, so its accuracy says nothing about the architecture: a
  seed diverged (a non-finite loss in any epoch or in its final evaluation), a seed's best
  epoch is 0 (the restored weights are the untrained ones: no epoch's validation loss beat
  the start; the untrained model's own loss is not recorded, so this is the test of "never
  improved on its initialisation"), or the mean test accuracy over seeds is at most
  ``chance_margin`` pp above chance (100 / classes %). A failed configuration counts as
  unstable for the minimum stable size, and the curve's best mean is taken without it.
- ``undetermined``: fewer seeds than ``min_seeds``, so its stability is not judged (with one
  seed there is no std at all). For the minimum stable size it is neither stable nor
  unstable: the curve's minimum is reported only when it is the same either way, else NaN
  (``unclaimable`` says why).

The others, in percentage points:
- ``max_std``: a configuration whose test-accuracy std over seeds exceeds it is unstable;
- ``max_drop``: so is one whose mean is more than this below the curve's best mean;
- ``max_gap``: a stable one whose mean train-test gap exceeds it, while its test accuracy no
  longer improves on the next smaller width, is overfitting. Everything else is learning.
The std is the sample std (ddof=1). The ``note`` column says why a configuration is failed
or undetermined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from minarch.settings import schema_default, schema_field
from minarch.sizes import NUM_CLASSES

CONFIG_KEYS = ["dataset", "arch", "topology", "width"]
CURVE_KEYS = ["dataset", "arch", "topology"]
RUN_KEYS = [*CONFIG_KEYS, "seed"]
LOSS_COLUMNS = ["train_loss", "val_loss", "test_loss"]
UNSTABLE, LEARNING, OVERFITTING = "unstable", "learning", "overfitting"
FAILED, UNDETERMINED = "failed", "undetermined"
STABLE = (LEARNING, OVERFITTING)  # the labels that claim stability
NOT_JUDGED = (FAILED, UNDETERMINED)  # the labels that claim nothing about the architecture


@dataclass(frozen=True)
class Thresholds:
    """The config's ``regimes`` section; a key left out takes the schema's default."""

    max_std: float = schema_field("regimes", "max_std")
    max_drop: float = schema_field("regimes", "max_drop")
    max_gap: float = schema_field("regimes", "max_gap")
    chance_margin: float = schema_field("regimes", "chance_margin")
    min_seeds: int = schema_field("regimes", "min_seeds")

    def enough_seeds(self, n_seeds):
        """Whether ``n_seeds`` (a count, or an array of counts) are enough to judge a
        configuration's stability or to draw an interval from it (``min_seeds``)."""
        return n_seeds >= self.min_seeds


# pp: a pruned model is 'safe' while its mean accuracy is within this of the unpruned mean
# (``safe_ratio``); the config's ``table1.prune_tolerance`` when left out
PRUNE_TOLERANCE: float = schema_default("table1", "prune_tolerance")


def chance_pct() -> float:
    """Test accuracy (%) of guessing: every dataset here has NUM_CLASSES balanced classes."""
    return 100.0 / NUM_CLASSES


def at_chance(test_acc, thresholds: Thresholds) -> np.ndarray:
    """Whether each accuracy (%) is within ``thresholds.chance_margin`` of guessing: a model
    that learned nothing (a failed training, or a QAT run that diverged and kept an early epoch)."""
    return np.asarray(test_acc, dtype=float) <= chance_pct() + thresholds.chance_margin


def _non_finite(rows: pd.DataFrame) -> np.ndarray:
    """Per row: any loss column (those present) non-finite."""
    columns = [c for c in LOSS_COLUMNS if c in rows]
    if not columns:
        return np.zeros(len(rows), dtype=bool)
    return ~np.isfinite(rows[columns].to_numpy(float)).all(axis=1)


def finals(train_rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the restored best-epoch model's metrics, with ``diverged``: whether
    any of the run's rows (its epochs and its final evaluation) has a non-finite loss."""
    final = train_rows[train_rows["kind"] == "final"].reset_index(drop=True)
    bad = train_rows.loc[_non_finite(train_rows), RUN_KEYS].drop_duplicates()
    marked = final[RUN_KEYS].merge(bad.assign(_bad=True), on=RUN_KEYS, how="left") if len(bad) else None
    return final.assign(diverged=np.zeros(len(final), dtype=bool) if marked is None else marked["_bad"].notna())


def summarize(final_rows: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """Per configuration: parameter count, test accuracy statistics over seeds, mean
    train-test gap, regime, the curve's minimum stable parameter count and a note (why the
    configuration is failed or undetermined)."""
    diverged = final_rows["diverged"].to_numpy(bool) if "diverged" in final_rows else _non_finite(final_rows)
    rows = final_rows.assign(
        gap=final_rows["train_acc"] - final_rows["test_acc"],
        diverged=diverged | ~np.isfinite(final_rows["test_acc"].to_numpy(float)),
        untrained=final_rows["epoch"].eq(0) if "epoch" in final_rows else False,
    )
    table = rows.groupby(CONFIG_KEYS, as_index=False).agg(
        n_params=("n_params", "first"),
        n_seeds=("seed", "nunique"),
        test_acc_mean=("test_acc", "mean"),
        test_acc_std=("test_acc", "std"),
        test_acc_min=("test_acc", "min"),
        test_acc_max=("test_acc", "max"),
        train_acc_mean=("train_acc", "mean"),
        train_test_gap_mean=("gap", "mean"),
        n_diverged=("diverged", "sum"),
        n_untrained=("untrained", "sum"),
    )
    table = table.assign(failure=_failures(table, thresholds)).drop(columns=["n_diverged", "n_untrained"])
    curves = [label_curve(curve, thresholds) for _, curve in table.groupby(CURVE_KEYS, sort=True)]
    if not curves:
        return table.drop(columns="failure").assign(regime=[], min_stable_params=[], note=[])
    return pd.concat(curves, ignore_index=True).drop(columns="failure")


def _failures(table: pd.DataFrame, thresholds: Thresholds) -> list[str]:
    """Per configuration, why its training failed ('' when it did not)."""
    chance, out = chance_pct(), []
    for row in table.itertuples(index=False):
        why = []
        if row.n_diverged:
            why.append(f"diverged: non-finite loss in {row.n_diverged} of {row.n_seeds} seeds")
        if row.n_untrained:
            why.append(
                f"best epoch 0 in {row.n_untrained} of {row.n_seeds} seeds: no epoch improved on the initial weights"
            )
        if at_chance(row.test_acc_mean, thresholds):
            why.append(
                f"at chance: mean test accuracy {row.test_acc_mean:.2f}% is within regimes.chance_margin "
                f"({thresholds.chance_margin:g} pp) of {chance:g}%"
            )
        out.append("; ".join(why))
    return out


def label_curve(curve: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """Regime, minimum stable parameter count and note of one curve's configurations (sorted
    by parameter count on return): ``unstable_mask``, ``overfitting_mask`` and
    ``minimum_stable`` on a single resample. ``failure`` (why training failed, '' if not) and
    ``n_seeds`` are used where present."""
    curve = curve.sort_values("n_params").reset_index(drop=True)
    mean, std = curve["test_acc_mean"].to_numpy(), curve["test_acc_std"].to_numpy()
    failure = curve["failure"] if "failure" in curve else pd.Series("", index=curve.index)
    failed = (failure != "").to_numpy()
    few = ~failed & ~thresholds.enough_seeds(curve["n_seeds"]).to_numpy() if "n_seeds" in curve else failed & False
    unstable = unstable_mask(mean, std, thresholds, failed)
    overfitting = overfitting_mask(mean, curve["train_test_gap_mean"].to_numpy(), unstable, thresholds)
    curve["regime"] = np.select(
        [failed, few, unstable, overfitting], [FAILED, UNDETERMINED, UNSTABLE, OVERFITTING], LEARNING
    )
    curve["min_stable_params"] = float(minimum_stable(curve["n_params"].to_numpy(), unstable, few))
    curve["note"] = np.where(failed, failure, "")
    if few.any():
        seeds = curve["n_seeds"]
        curve.loc[few, "note"] = [
            f"{n} seed{'s' if n != 1 else ''}, fewer than regimes.min_seeds "
            f"({thresholds.min_seeds}): stability not judged"
            for n in seeds[few]
        ]
    return curve


# ---------------------------------------------------------------------------------------------
# the rules, on arrays: the last axis is a curve's configurations sorted by parameter count
# (or a prune curve's ratios, sorted); leading axes are resamples, a single curve has none.


def unstable_mask(mean: np.ndarray, std: np.ndarray, thresholds: Thresholds, failed=False) -> np.ndarray:
    """True where a configuration is unstable: it ``failed`` (a mask over configurations, held
    fixed across resamples), its seed std exceeds ``max_std``, or its mean is more than
    ``max_drop`` below the best mean of the curve's configurations that did not fail. A NaN
    std (one seed) is not above."""
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    failed = np.broadcast_to(np.asarray(failed, dtype=bool), mean.shape[-1:])
    best = np.where(failed, -np.inf, mean).max(axis=-1, keepdims=True) if mean.shape[-1] else mean
    with np.errstate(invalid="ignore"):
        return failed | (std > thresholds.max_std) | (mean < best - thresholds.max_drop)


def overfitting_mask(mean: np.ndarray, gap: np.ndarray, unstable: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """True where a stable configuration's mean train-test gap exceeds ``max_gap`` while its
    mean test accuracy does not improve on the next smaller configuration's."""
    mean = np.asarray(mean, dtype=float)
    first = np.ones(mean.shape[:-1] + (min(mean.shape[-1], 1),), dtype=bool)  # the smallest has none to beat
    improves = np.concatenate([first, np.diff(mean, axis=-1) > 0], axis=-1)
    return ~unstable & (np.asarray(gap, dtype=float) > thresholds.max_gap) & ~improves


def _first_stable(n_params: np.ndarray, unstable: np.ndarray) -> np.ndarray:
    width = unstable.shape[-1]
    if width == 0:
        return np.full(unstable.shape[:-1], np.nan)
    last_unstable = np.where(unstable.any(axis=-1), width - 1 - np.argmax(unstable[..., ::-1], axis=-1), -1)
    first_stable = np.minimum(last_unstable + 1, width - 1)
    return np.where(unstable[..., -1], np.nan, n_params[first_stable])


def _bounds(n_params, unstable, undetermined) -> tuple[np.ndarray, np.ndarray]:
    """The minimum with the undetermined configurations taken as stable, and as unstable."""
    n_params, unstable = np.asarray(n_params, dtype=float), np.asarray(unstable, dtype=bool)
    undetermined = np.asarray(undetermined, dtype=bool)
    return _first_stable(n_params, unstable & ~undetermined), _first_stable(n_params, unstable | undetermined)


def minimum_undetermined(n_params: np.ndarray, unstable: np.ndarray, undetermined) -> np.ndarray:
    """True where the minimum stable count depends on how the ``undetermined`` configurations
    (too few seeds) would be judged."""
    optimistic, pessimistic = _bounds(n_params, unstable, undetermined)
    return ~((optimistic == pessimistic) | (np.isnan(optimistic) & np.isnan(pessimistic)))  # NaN: none either way


def minimum_stable(n_params: np.ndarray, unstable: np.ndarray, undetermined=False) -> np.ndarray:
    """Smallest parameter count from which no larger configuration is unstable, per leading
    index of ``unstable`` (``n_params`` sorted ascending, one per configuration); NaN where the
    largest configuration is unstable, there is none, or the answer depends on the
    ``undetermined`` configurations (``minimum_undetermined``)."""
    pessimistic = _bounds(n_params, unstable, undetermined)[1]
    return np.where(minimum_undetermined(n_params, unstable, undetermined), np.nan, pessimistic)


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


def widest_swept(regimes: pd.DataFrame, config) -> bool:
    """Whether ``config`` (a row naming dataset, arch, topology and width) is the widest
    configuration of its curve in ``regimes``. A minimum stable size found there is only a
    lower bound: no wider configuration tested the plateau, its stability was judged against
    itself (the drop-from-the-best rule cannot fail a curve's best), and a wider configuration
    scoring more than ``max_drop`` above it would move the threshold up."""
    curve = regimes
    for key in CURVE_KEYS:
        curve = curve[curve[key] == config[key]]
    return bool(len(curve)) and bool(config["width"] >= curve["width"].max())


def shown_width(curve: pd.DataFrame):
    """The width a curve's pruning panel and its interval show: its representative's (the
    minimum stable width), else its largest width."""
    stable = curve.loc[curve["n_params"] == curve["min_stable_params"], "width"]
    return stable.iloc[0] if len(stable) else curve["width"].max()


def unclaimable(regimes: pd.DataFrame) -> str:
    """Why these configurations (a curve, or every curve of a dataset and family) support no
    claim about the minimum stable size; '' when their minimum (or that none is stable) stands:
    some curve's minimum depends on undetermined configurations, or every configuration failed."""
    if regimes.empty:
        return ""
    notes = regimes["note"] if "note" in regimes else pd.Series("", index=regimes.index)

    def example(rows: pd.DataFrame) -> str:
        return f"{rows['topology'].iloc[0]} w{int(rows['width'].iloc[0])}: {notes[rows.index[0]]}"

    for _, curve in regimes.groupby(CURVE_KEYS, sort=True):
        curve = curve.sort_values("n_params")
        regime = curve["regime"].to_numpy()
        if minimum_undetermined(
            curve["n_params"].to_numpy(), np.isin(regime, (UNSTABLE, FAILED)), regime == UNDETERMINED
        ):
            few = regimes[regimes["regime"] == UNDETERMINED]
            return (
                f"stability undetermined: {len(few)} of {len(regimes)} configurations have too few seeds "
                f"(e.g. {example(few)})"
            )
    if (regimes["regime"] == FAILED).all():
        return f"every configuration failed (e.g. {example(regimes)})"
    return ""
