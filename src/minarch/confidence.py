"""Bootstrap confidence intervals over seeds for Table I (docs/design.md §2).

Three quantities, each resampled the way its data were made:

- **Minimum stable parameter count** of a (dataset, arch): the seeds are resampled *within
  each configuration* (each width's per-seed final test accuracies, with replacement,
  independently per width and per topology), every curve is relabelled, and the statistic is
  the minimum over the group's curves (topologies; the DNN's square depths) of the curve's
  minimum stable parameter count -- NaN when no curve has one in that resample.
- **Safe pruning ratio** of the representative model: whole seeds are resampled (a seed's
  prune curve, test accuracy against ratio, stays together) and the safe ratio recomputed.
- **8-bit gap**: a plain bootstrap of the mean of the per-seed gaps.

The resampling is ``scipy.stats.bootstrap`` throughout: for the first two, one sample per
configuration (per seed), holding seed *indices*, so a multi-sample call resamples each
configuration on its own (``paired=False``) and the statistic looks the accuracies up.

**One rule.** The regime and pruning rules are ``minarch.regimes``' array functions
(``unstable_mask``, ``minimum_stable``, ``safe_ratio``), which take every resample at once
(resamples x configurations, resamples x ratios); the point estimates of ``regimes.summarize``
and ``tables.safe_pruning_ratio`` are the same functions on one resample, so the two cannot
disagree.

**Intervals.** Percentile intervals of the bootstrap distribution (not BCa, which fails on
degenerate data such as all seeds equal). The minimum stable count and the safe ratio take
values on the swept grid, so their bounds are order statistics (``np.quantile`` methods
``lower`` / ``higher``: the bounds are grid values, slightly conservative). A resample with
no stable configuration counts as larger than every grid value (the minimum lies beyond the
sweep): ``share_none`` reports how often that happened, and a bound that falls among those
resamples is NaN (typically the upper bound, when ``share_none`` exceeds
``(1 - confidence) / 2``). The gap interval is scipy's own percentile interval.

**Determinism.** Each quantity of each (dataset, arch, topology[, width]) draws from its own
``numpy.random.Generator`` seeded with ``[seed, crc32(key)]``: results depend on ``seed``
and that key only, not on which other rows are present or their order.

**Failed and undetermined configurations** (``minarch.regimes``). Which configurations failed
is judged once on all seeds and held fixed; they count as unstable in every resample. No
interval is drawn from fewer seeds than ``regimes.min_seeds``: a (dataset, arch) or curve with
such a configuration gets NaN minimum-stable bounds, and a representative with fewer prune or
QAT seeds NaN pruning or gap bounds (with ``min_seeds: 1``, a single-seed configuration cannot
be resampled, scipy needs two observations, and is kept as it is).

What the intervals do not cover: the representative model is held fixed (the one Table I
chose), so the pruning and gap intervals are conditional on that choice.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from minarch.regimes import (
    CONFIG_KEYS,
    CURVE_KEYS,
    FAILED,
    PRUNE_TOLERANCE,
    Thresholds,
    at_chance,
    minimum_stable,
    safe_ratio,
    shown_width,
    summarize,
    unstable_mask,
)

INTERVAL_COLUMNS = [
    "min_params_ci_low",
    "min_params_ci_high",
    "min_params_none_share",
    "safe_pruning_pct_ci_low",
    "safe_pruning_pct_ci_high",
    "gap_8bit_pct_ci_low",
    "gap_8bit_pct_ci_high",
]


def generator(seed: int, *key) -> np.random.Generator:
    """A Generator fixed by ``seed`` and a key naming what it resamples."""
    return np.random.default_rng([int(seed), zlib.crc32("/".join(map(str, key)).encode())])


def percentile_interval(distribution: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Order-statistic percentile interval of a bootstrap distribution on a grid; NaN entries
    (no value in that resample) rank above every value, and a bound landing on them is NaN."""
    values = np.where(np.isnan(distribution), np.inf, np.asarray(distribution, dtype=float))
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    low = float(np.quantile(values, alpha, method="lower"))
    high = float(np.quantile(values, 1 - alpha, method="higher"))
    return tuple(float("nan") if np.isinf(v) else v for v in (low, high))


def _bootstrap_indices(sizes: list[int], n_resamples: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per sample, ``(n_resamples, size)`` resampled indices drawn by ``scipy.stats.bootstrap``
    (unpaired: each sample on its own). Samples of one observation stay as they are."""
    full = [np.broadcast_to(np.arange(n), (n_resamples, n)) for n in sizes]
    resampled = [k for k, n in enumerate(sizes) if n >= 2]
    if not resampled or n_resamples == 0:
        return full
    drawn: list[tuple[np.ndarray, ...]] = []

    def statistic(*indices, axis=-1):
        drawn.append(indices)
        return np.zeros(indices[0].shape[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # the dummy statistic is constant
        stats.bootstrap(
            tuple(np.arange(sizes[k]) for k in resampled),
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            paired=False,
            method="percentile",
            rng=rng,
        )
    for position, k in enumerate(resampled):
        full[k] = np.concatenate([batch[position] for batch in drawn], axis=0)
    return full


# ---------------------------------------------------------------------------------------------
# minimum stable parameter count


@dataclass
class _Curve:
    """One (dataset, arch, topology): per configuration (sorted by n_params) its seeds' accuracies."""

    n_params: np.ndarray
    test: list[np.ndarray]

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Curve:
        # seeds in seed order, so a seed index means the same run whatever the row order
        rows = rows.sort_values(["seed"], kind="stable") if "seed" in rows else rows
        configs = sorted(rows.groupby(CONFIG_KEYS, sort=False), key=lambda item: item[1]["n_params"].iloc[0])
        n_params = np.array([group["n_params"].iloc[0] for _, group in configs], dtype=float)
        return cls(n_params, [group["test_acc"].to_numpy(float) for _, group in configs])

    def stats(self, indices: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per resample and configuration: mean and sample std (ddof=1) of test accuracy;
        ``indices[k]`` is ``(B, n_k)`` seed indices of configuration k."""
        acc = [values[i] for values, i in zip(self.test, indices)]
        mean = np.stack([a.mean(axis=-1) for a in acc], axis=-1)
        std = np.stack(
            [a.std(axis=-1, ddof=1) if a.shape[-1] > 1 else np.full(a.shape[0], np.nan) for a in acc], axis=-1
        )
        return mean, std


def _curve_distribution(
    curve: _Curve, failed: np.ndarray, thresholds: Thresholds, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    indices = _bootstrap_indices([len(values) for values in curve.test], n_resamples, rng)
    mean, std = curve.stats(indices)
    return minimum_stable(curve.n_params, unstable_mask(mean, std, thresholds, failed))


def too_few_seeds(rows: pd.DataFrame, thresholds: Thresholds) -> bool:
    """Whether some configuration of ``rows`` has fewer seeds than ``min_seeds``: its
    stability is undetermined (``minarch.regimes``) and no interval is drawn from it."""
    return bool(len(rows)) and not thresholds.enough_seeds(int(rows.groupby(CONFIG_KEYS)["seed"].nunique().min()))


def _single_group(rows: pd.DataFrame, what: str) -> tuple[str, str]:
    groups = rows[["dataset", "arch"]].drop_duplicates()
    if len(groups) != 1:
        raise ValueError(f"{what} needs the rows of exactly one (dataset, arch), got {len(groups)}")
    return tuple(groups.iloc[0])


def min_stable_distribution(
    final_rows: pd.DataFrame, thresholds: Thresholds = Thresholds(), n_resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """Bootstrap distribution (``n_resamples`` values, NaN = no stable configuration) of the
    minimum stable parameter count of one (dataset, arch): seeds resampled within each
    configuration, each curve relabelled, minimum over the group's topologies."""
    if "kind" in final_rows:
        final_rows = final_rows[final_rows["kind"] == "final"]
    dataset, arch = _single_group(final_rows, "min_stable_distribution")
    # which configurations failed is judged on all seeds (regimes.summarize) and held fixed
    labels = summarize(final_rows, thresholds)
    per_curve = []
    for (_, _, topology), rows in final_rows.groupby(CURVE_KEYS, sort=True):
        failed = labels[labels["topology"] == topology].sort_values("n_params")["regime"].eq(FAILED).to_numpy()
        per_curve.append(
            _curve_distribution(
                _Curve.of(rows), failed, thresholds, n_resamples, generator(seed, "min_stable", dataset, arch, topology)
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no curve stable
        return np.fmin.reduce(np.stack(per_curve), axis=0)


def bootstrap_min_stable(
    final_rows: pd.DataFrame,
    thresholds: Thresholds = Thresholds(),
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(low, high, share_none): percentile interval of the minimum stable parameter count of
    one (dataset, arch) (one curve, or the minimum over its topologies), and the share of
    resamples with no stable configuration. All NaN when a configuration has fewer seeds than
    ``thresholds.min_seeds``."""
    if too_few_seeds(final_rows[final_rows["kind"] == "final"] if "kind" in final_rows else final_rows, thresholds):
        return float("nan"), float("nan"), float("nan")
    distribution = min_stable_distribution(final_rows, thresholds, n_resamples, seed)
    low, high = percentile_interval(distribution, confidence)
    share_none = float(np.isnan(distribution).mean()) if distribution.size else float("nan")
    return low, high, share_none


# ---------------------------------------------------------------------------------------------
# safe pruning ratio


def safe_pruning_distribution(
    prune_rows: pd.DataFrame, tolerance: float = PRUNE_TOLERANCE, n_resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """Bootstrap distribution of ``safe_pruning_ratio`` (a ratio, 0-1) over whole seeds of one
    configuration's prune rows (``seed, ratio, test_acc``)."""
    matrix = prune_rows.pivot_table(index="seed", columns="ratio", values="test_acc", aggfunc="mean", dropna=False)
    matrix = matrix.sort_index(axis=1)
    ratios, accuracy = matrix.columns.to_numpy(float), matrix.to_numpy(float)  # (seeds, ratios)
    key = [prune_rows[c].iloc[0] if c in prune_rows and len(prune_rows) else "" for c in CONFIG_KEYS]
    (indices,) = _bootstrap_indices([len(accuracy)], n_resamples, generator(seed, "safe_pruning", *key))

    if accuracy.size == 0:
        return np.full(n_resamples, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a ratio no resampled seed has
        means = np.nanmean(accuracy[indices], axis=-2)
    return safe_ratio(ratios, means, tolerance)


def bootstrap_safe_pruning(
    prune_rows: pd.DataFrame,
    tolerance: float = PRUNE_TOLERANCE,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """(low, high): percentile interval of the safe pruning ratio (0-1) of one configuration,
    resampling whole seeds' prune curves."""
    return percentile_interval(safe_pruning_distribution(prune_rows, tolerance, n_resamples, seed), confidence)


# ---------------------------------------------------------------------------------------------
# mean (8-bit gap)


def bootstrap_mean(
    values, n_resamples: int = 1000, confidence: float = 0.95, rng: np.random.Generator | int = 0
) -> tuple[float, float]:
    """(low, high): scipy's percentile bootstrap interval of the mean; the value itself for a
    single value, NaN for none."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1 or n_resamples == 0 or np.all(values == values[0]):
        return float(values.mean()), float(values.mean())
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        vectorized=True,
        method="percentile",
        rng=rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def gap_intervals(
    qat_rows: pd.DataFrame,
    thresholds: Thresholds = Thresholds(),
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per configuration and quantization scope (``qat_scope``; ``tables.with_scope`` adds it to
    rows written before scopes existed), over its seeds: the mean float and int8 test
    accuracies, the QAT gap (``gap_pp``) and, where PTQ ran, the PTQ gap (``ptq_gap_pp``), each
    gap with its bootstrap interval (NaN bounds from fewer seeds than ``thresholds.min_seeds``),
    and ``qat_at_chance``: the seeds whose int8 model is at chance (``regimes.at_chance``) while
    their float model is not, a QAT run that diverged rather than a cost of rounding (on
    CIFAR-10, QAT from scratch of the widest 4-layer DNNs). Their gaps stay in the mean: they
    are what the recipe gives.
    One row per scope of the same trained models: which part of a model costs accuracy in 8 bits."""
    keys = ["dataset", "arch", "topology", "width", "qat_scope"]
    gaps = [column for column in ("gap_pp", "ptq_gap_pp") if column in qat_rows]
    out = []
    for key, group in qat_rows.groupby(keys, sort=True):
        n_seeds = group["seed"].nunique()
        result = {
            **dict(zip(keys, key)),
            "n_seeds": n_seeds,
            "float_test_acc": group["float_test_acc"].mean(),
            "int8_test_acc": group["int8_test_acc"].mean(),
            "qat_at_chance": int(
                (at_chance(group["int8_test_acc"], thresholds) & ~at_chance(group["float_test_acc"], thresholds)).sum()
            ),
            **({"ptq_int8_test_acc": group["ptq_int8_test_acc"].mean()} if "ptq_int8_test_acc" in group else {}),
        }
        for column in gaps:
            values = group[column].to_numpy(float)
            low = high = np.nan
            if thresholds.enough_seeds(n_seeds) and np.isfinite(values).any():
                low, high = bootstrap_mean(values, n_resamples, confidence, generator(seed, column, *key))
            mean = np.nanmean(values) if np.isfinite(values).any() else np.nan
            result.update({column: mean, f"{column}_ci_low": low, f"{column}_ci_high": high})
        out.append(result)
    columns = [*keys, "n_seeds", "float_test_acc", "int8_test_acc", "qat_at_chance"]
    columns += ["ptq_int8_test_acc"] if "ptq_int8_test_acc" in qat_rows else []
    columns += [f"{c}{suffix}" for c in gaps for suffix in ("", "_ci_low", "_ci_high")]
    return pd.DataFrame(out, columns=columns).assign(n_resamples=n_resamples, confidence=confidence)


# ---------------------------------------------------------------------------------------------
# Table I


def table1_intervals(
    final_rows: pd.DataFrame,
    prune_rows: pd.DataFrame,
    qat_rows: pd.DataFrame,
    table: pd.DataFrame,
    thresholds: Thresholds = Thresholds(),
    prune_tolerance: float = PRUNE_TOLERANCE,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per Table I row (``table``: ``tables.table1``'s output), bootstrap intervals of its three
    columns, keyed by ``dataset, arch`` to merge into it:

    - ``min_params_ci_low/high`` and ``min_params_none_share`` from ``final_rows`` (the final
      train rows the regime table was built from; ``kind == "final"`` rows are taken if a
      ``kind`` column is present), minimum over the row's topologies;
    - ``safe_pruning_pct_ci_low/high`` (percent) from the representative's ``prune_rows``;
    - ``gap_8bit_pct_ci_low/high`` (pp) from the representative's ``qat_rows`` (``gap_pp``).
    Rows without a representative (no stable configuration) get NaN pruning and gap bounds, and
    so does every interval drawn from fewer seeds than ``thresholds.min_seeds``.
    """
    if "kind" in final_rows:
        final_rows = final_rows[final_rows["kind"] == "final"]
    out = []
    for _, row in table.iterrows():
        dataset, arch = row["dataset"], row["arch"]
        result = {"dataset": dataset, "arch": arch, **{c: np.nan for c in INTERVAL_COLUMNS}}
        group = final_rows[(final_rows["dataset"] == dataset) & (final_rows["arch"] == arch)]
        if not group.empty:
            low, high, none = bootstrap_min_stable(group, thresholds, n_resamples, confidence, seed)
            result.update(min_params_ci_low=low, min_params_ci_high=high, min_params_none_share=none)
        if isinstance(row.get("topology"), str) and not pd.isna(row.get("width")):

            def of(frame):
                return frame[
                    (frame["dataset"] == dataset)
                    & (frame["arch"] == arch)
                    & (frame["topology"] == row["topology"])
                    & (frame["width"] == row["width"])
                ]

            prune = of(prune_rows)
            if not prune.empty and thresholds.enough_seeds(prune["seed"].nunique()):
                low, high = bootstrap_safe_pruning(prune, prune_tolerance, n_resamples, confidence, seed)
                result.update(safe_pruning_pct_ci_low=100 * low, safe_pruning_pct_ci_high=100 * high)
            qat = of(qat_rows)
            if not qat.empty and thresholds.enough_seeds(qat["seed"].nunique()):
                rng = generator(seed, "gap", dataset, arch, row["topology"], row["width"])
                low, high = bootstrap_mean(qat["gap_pp"].to_numpy(float), n_resamples, confidence, rng)
                result.update(gap_8bit_pct_ci_low=low, gap_8bit_pct_ci_high=high)
        out.append(result)
    return pd.DataFrame(out, columns=["dataset", "arch", *INTERVAL_COLUMNS]).assign(
        n_resamples=n_resamples, confidence=confidence
    )


def curve_intervals(
    final_rows: pd.DataFrame,
    prune_rows: pd.DataFrame,
    regimes: pd.DataFrame,
    thresholds: Thresholds = Thresholds(),
    prune_tolerance: float = PRUNE_TOLERANCE,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per curve (dataset, arch, topology), for the figures: the interval of its smallest
    stable width (``width_ci_low/high``, NaN high when too many resamples have none) and of the
    safe pruning ratio in % of the configuration the pruning panel shows (its smallest
    stable width, else its largest)."""
    if "kind" in final_rows:
        final_rows = final_rows[final_rows["kind"] == "final"]
    out = []
    for (dataset, arch, topology), curve in regimes.groupby(["dataset", "arch", "topology"], sort=True):
        width_of = dict(zip(curve["n_params"], curve["width"]))
        runs = final_rows[
            (final_rows["dataset"] == dataset) & (final_rows["arch"] == arch) & (final_rows["topology"] == topology)
        ]
        low, high, _ = bootstrap_min_stable(runs, thresholds, n_resamples, confidence, seed)
        shown = shown_width(curve)
        pruned = prune_rows[
            (prune_rows["dataset"] == dataset)
            & (prune_rows["arch"] == arch)
            & (prune_rows["topology"] == topology)
            & (prune_rows["width"] == shown)
        ]
        prune_low, prune_high = (
            bootstrap_safe_pruning(pruned, prune_tolerance, n_resamples, confidence, seed)
            if len(pruned) and thresholds.enough_seeds(pruned["seed"].nunique())
            else (np.nan, np.nan)
        )
        out.append(
            {
                "dataset": dataset,
                "arch": arch,
                "topology": topology,
                "width_ci_low": width_of.get(low, np.nan),
                "width_ci_high": width_of.get(high, np.nan),
                "safe_pruning_pct_ci_low": 100 * prune_low,
                "safe_pruning_pct_ci_high": 100 * prune_high,
            }
        )
    return pd.DataFrame(out)
