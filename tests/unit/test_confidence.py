"""confidence.py: bootstrap intervals over seeds on hand-made rows."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from minarch import confidence, tables
from minarch.confidence import (
    bootstrap_mean,
    bootstrap_min_stable,
    bootstrap_safe_pruning,
    min_stable_distribution,
    percentile_interval,
    safe_pruning_distribution,
    table1_intervals,
)
from minarch.regimes import Thresholds, summarize
from minarch.tables import safe_pruning_ratio, table1

N = 200  # resamples: enough to see the spread, fast
RATIOS = [round(0.1 * i, 1) for i in range(11)]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def curve_rows(per_width: dict[int, list[float]], dataset="mnist", arch="dnn", topology="L1", params_per_width=10):
    """Final rows of one curve: ``per_width`` maps a width to its seeds' test accuracies."""
    return pd.DataFrame(
        [
            {
                "dataset": dataset,
                "arch": arch,
                "topology": topology,
                "width": w,
                "seed": s,
                "n_params": params_per_width * w,
                "test_acc": acc,
                "train_acc": acc + 0.5,
                "kind": "final",
            }
            for w, accs in per_width.items()
            for s, acc in enumerate(accs)
        ]
    )


SETTLED = {1: [20.0, 60, 30, 70, 40, 80], 2: [90.0] * 6, 3: [91.0] * 6, 4: [91.5] * 6}
# width 2: std 1.1 pp (unstable) but many resamples fall below 1 pp -> the minimum moves to 20 params
BORDERLINE = {1: [20.0, 60, 30, 70, 40, 80], 2: [89.0, 91.0, 89.0, 91.0, 90.0, 91.6], 3: [91.0] * 6, 4: [91.5] * 6}


def point(rows, thresholds=Thresholds()):
    return summarize(rows, thresholds)["min_stable_params"].min()


# ---------------------------------------------------------------------------------------------
# minimum stable parameter count


def test_agreeing_seeds_give_a_point_interval():
    rows = curve_rows({1: [89.5] * 5, 2: [90.0] * 5, 3: [91.0] * 5})
    low, high, none = bootstrap_min_stable(rows, n_resamples=N)
    assert low == high == point(rows) == 10
    assert none == 0.0
    # the first width is unstable in every resample (30 pp spread) -> a point again, at the second
    low, high, none = bootstrap_min_stable(curve_rows(SETTLED), n_resamples=N)
    assert low == high == point(curve_rows(SETTLED)) == 20


def test_disagreeing_seeds_widen_the_interval_around_the_point():
    rows = curve_rows(BORDERLINE)
    estimate = point(rows)
    assert estimate == 30  # width 2's std (1.05 pp) is above 1 pp
    low, high, none = bootstrap_min_stable(rows, n_resamples=N)
    assert low <= estimate <= high
    assert (low, high) == (20, 30)
    distribution = min_stable_distribution(rows, n_resamples=N)
    assert set(np.unique(distribution)) == {20.0, 30.0}
    assert none == 0.0


def test_share_of_resamples_with_no_stable_configuration():
    # the largest width is borderline: when it comes out unstable, the curve has no minimum
    rows = curve_rows({1: [90.0] * 6, 2: [89.0, 91.0, 89.0, 91.0, 90.0, 91.6]})
    assert point(rows) != point(rows)  # NaN: the largest width is unstable in the data
    low, high, none = bootstrap_min_stable(rows, n_resamples=N)
    assert 0.05 < none < 0.95
    assert low == 10 and math.isnan(high)  # the upper bound lies beyond the grid


def test_determinism_seed_and_row_order():
    rows = curve_rows(BORDERLINE)
    first = min_stable_distribution(rows, n_resamples=N, seed=3)
    shuffled = rows.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(first, min_stable_distribution(shuffled, n_resamples=N, seed=3))
    assert not np.array_equal(first, min_stable_distribution(rows, n_resamples=N, seed=4))


def test_group_minimum_over_topologies():
    a = curve_rows(BORDERLINE, topology="L1")
    b = curve_rows(
        {1: [20.0, 60, 30, 70, 40, 80], 2: [89.5, 90.5] * 3, 3: [91.0] * 6, 4: [91.2] * 6},
        topology="L2e",
        params_per_width=11,
    )
    both = min_stable_distribution(pd.concat([a, b]), n_resamples=N, seed=1)
    expected = np.fmin(
        min_stable_distribution(a, n_resamples=N, seed=1), min_stable_distribution(b, n_resamples=N, seed=1)
    )
    np.testing.assert_array_equal(both, expected)
    assert min_stable_distribution(b, n_resamples=N, seed=1).min() == 22  # L2e's width 2 is stable
    assert both.min() == 20
    with pytest.raises(ValueError, match="exactly one"):
        min_stable_distribution(pd.concat([a, curve_rows(SETTLED, dataset="cifar10")]), n_resamples=N)


def test_every_resample_is_the_regime_rule_on_resampled_seeds():
    # each value of the distribution is what summarize says of some resample of the seeds: with
    # two seeds per width, every resample's outcome is one of the few the seed draws allow
    rng = np.random.default_rng(0)
    per_width = {w: list(90 + rng.normal(0, 1.5 / w, size=2)) for w in range(1, 5)}
    thresholds = Thresholds(max_std=0.6, max_drop=0.5)
    possible = set()
    for draw in np.ndindex(*(3,) * len(per_width)):  # per width: seeds (0,0), (0,1) or (1,1)
        picked = {w: [accs[i] for i in ((0, 0), (0, 1), (1, 1))[d]] for (w, accs), d in zip(per_width.items(), draw)}
        possible.add(point(curve_rows(picked), thresholds))
    distribution = min_stable_distribution(curve_rows(per_width), thresholds, n_resamples=80)
    found = {v for v in distribution if not np.isnan(v)}
    assert len(found) > 1 and found <= {v for v in possible if not np.isnan(v)}


def test_single_seed_configurations_are_kept_when_min_seeds_is_one():
    rows = curve_rows({1: [50.0], 2: [90.0], 3: [91.0]})
    assert bootstrap_min_stable(rows, Thresholds(min_seeds=1), n_resamples=N) == (20.0, 20.0, 0.0)


def test_fewer_seeds_than_min_seeds_give_empty_intervals():
    # one seed: the old code gave zero-width 'intervals'; now there is none
    rows = curve_rows({1: [50.0], 2: [90.0], 3: [91.0]})
    assert all(math.isnan(v) for v in bootstrap_min_stable(rows, n_resamples=N))
    regimes = summarize(rows)
    configs = regimes[["dataset", "arch", "topology", "width"]].to_dict("records")
    prune = pd.concat([prune_rows([STEADY], **c) for c in configs])
    qat = pd.DataFrame([{**c, "seed": 0, "gap_pp": 0.3} for c in configs])
    table = table1(regimes, prune, qat, prune_tolerance=1.0)
    intervals = table1_intervals(rows, prune, qat, table, n_resamples=N).iloc[0]
    assert intervals[list(confidence.INTERVAL_COLUMNS)].isna().all()
    # a representative chosen with min_seeds 1 still gets no interval from its single prune/QAT seed
    table = table1(summarize(rows, Thresholds(min_seeds=1)), prune, qat, prune_tolerance=1.0)
    lenient = table1_intervals(rows, prune, qat, table, Thresholds(min_seeds=2), n_resamples=N).iloc[0]
    assert np.isnan(lenient[["safe_pruning_pct_ci_low", "gap_8bit_pct_ci_high"]].astype(float)).all()


def test_failed_configurations_are_unstable_in_every_resample():
    # width 1 sits at chance (10%) with tight seeds: without the failure rule it would be the
    # minimum in every resample (it is within max_std and, alone, the drop rule cannot see it)
    rows = curve_rows({1: [10.1, 10.2, 10.3, 10.2], 2: [10.4, 10.3, 10.2, 10.3]})
    rows = pd.concat([rows, curve_rows({3: [10.5, 10.3, 10.4, 10.4]})])
    assert all(math.isnan(v) for v in bootstrap_min_stable(rows, n_resamples=N)[:2])
    assert bootstrap_min_stable(rows, n_resamples=N)[2] == 1.0  # no resample has a stable size
    assert bootstrap_min_stable(rows, Thresholds(chance_margin=0.0), n_resamples=N)[:2] == (10.0, 10.0)


def test_percentile_interval_orders_none_above_every_value():
    low, high = percentile_interval(np.array([1.0] * 90 + [np.nan] * 10), 0.95)
    assert low == 1.0 and math.isnan(high)
    assert percentile_interval(np.array([1.0] * 99 + [np.nan]), 0.95) == (1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# safe pruning ratio


def prune_rows(per_seed: list[list[float]], **keys):
    return pd.DataFrame(
        [
            {
                "dataset": "mnist",
                "arch": "dnn",
                "topology": "L1",
                "width": 10,
                **keys,
                "seed": s,
                "ratio": r,
                "test_acc": acc,
            }
            for s, curve in enumerate(per_seed)
            for r, acc in zip(RATIOS, curve)
        ]
    )


STEADY = [90, 90, 90, 90, 90, 90, 80, 60, 40, 20, 10]  # safe up to 0.5


def test_safe_pruning_agreeing_seeds_give_a_point():
    rows = prune_rows([STEADY] * 5)
    assert bootstrap_safe_pruning(rows, 1.0, N) == (0.5, 0.5) == (safe_pruning_ratio(rows, 1.0),) * 2


def test_safe_pruning_disagreeing_seeds_widen_around_the_point():
    early = [90, 90, 90, 85, 80, 70, 60, 50, 40, 20, 10]  # this seed fails at 0.3
    late = [90, 90, 90, 90, 90, 90, 90, 90, 85, 20, 10]  # this one at 0.8
    rows = prune_rows([STEADY, early, late, STEADY, STEADY, late])
    estimate = safe_pruning_ratio(rows, 1.0)
    low, high = bootstrap_safe_pruning(rows, 1.0, N, seed=0)
    assert low <= estimate <= high and low < high
    assert low == 0.2 and high >= 0.5
    first = safe_pruning_distribution(rows, 1.0, N, seed=2)
    np.testing.assert_array_equal(
        first, safe_pruning_distribution(rows.sample(frac=1.0, random_state=1), 1.0, N, seed=2)
    )
    assert not np.array_equal(first, safe_pruning_distribution(rows, 1.0, N, seed=3))


def test_safe_pruning_resamples_are_the_table_rule_on_resampled_seeds():
    rng = np.random.default_rng(1)
    curves = [list(90 - np.cumsum(rng.uniform(0, 1.2, size=11))) for _ in range(3)]
    distribution = safe_pruning_distribution(prune_rows(curves), 1.0, 80)
    possible = {
        safe_pruning_ratio(prune_rows([curves[i] for i in draw]), 1.0) for draw in np.ndindex(3, 3, 3)
    }  # every multiset of three of the seeds
    assert len(np.unique(distribution)) > 1 and set(distribution) <= possible


# ---------------------------------------------------------------------------------------------
# mean and Table I


def test_bootstrap_mean():
    values = np.array([0.1, 0.5, -0.2, 0.9, 0.3, 0.4])
    low, high = bootstrap_mean(values, N, 0.95, rng=0)
    assert low < values.mean() < high
    assert bootstrap_mean(values, N, 0.95, rng=0) == (low, high)
    assert bootstrap_mean([0.2] * 5, N) == (0.2, 0.2)
    assert bootstrap_mean([0.7], N) == (0.7, 0.7)
    assert all(math.isnan(v) for v in bootstrap_mean([], N))
    wide = bootstrap_mean(values * 10, N, 0.95, rng=0)
    assert wide[1] - wide[0] > high - low


def test_table1_intervals_contain_table1_and_merge_by_dataset_arch():
    finals = pd.concat(
        [
            curve_rows(BORDERLINE, topology="L1"),
            curve_rows(SETTLED, topology="L2e", params_per_width=11),
            # the largest width is always more than 2 pp below the smaller one: never stable
            curve_rows({1: [95.0] * 6, 2: [50.0, 60, 70, 80, 85, 90]}, arch="cnn", topology="conv3x3"),
        ]
    )
    regimes = summarize(finals)
    configs = regimes[["dataset", "arch", "topology", "width"]].to_dict("records")
    prune = pd.concat([prune_rows([STEADY, STEADY, [90] * 11], **c) for c in configs])
    qat = pd.DataFrame([{**c, "seed": s, "gap_pp": 0.1 * s} for c in configs for s in range(4)])
    table = table1(regimes, prune, qat, prune_tolerance=1.0)
    intervals = table1_intervals(finals, prune, qat, table, n_resamples=N, seed=0)
    merged = table.merge(intervals, on=["dataset", "arch"], validate="one_to_one")
    assert len(merged) == len(table) == 2
    dnn = merged.set_index("arch").loc["dnn"]
    assert dnn["min_params"] == 22  # L2e width 2, smaller than L1's 30
    assert dnn["min_params_ci_low"] <= dnn["min_params"] <= dnn["min_params_ci_high"]
    assert dnn["min_params_ci_low"] == 20  # L1's width 2 when it comes out stable
    assert dnn["safe_pruning_pct_ci_low"] <= dnn["safe_pruning_pct"] <= dnn["safe_pruning_pct_ci_high"]
    assert dnn["gap_8bit_pct_ci_low"] < dnn["gap_8bit_pct"] < dnn["gap_8bit_pct_ci_high"]
    cnn = merged.set_index("arch").loc["cnn"]
    assert cnn["min_params_none_share"] == 1.0
    assert np.isnan(cnn[["min_params_ci_low", "safe_pruning_pct_ci_low", "gap_8bit_pct_ci_high"]].astype(float)).all()
    again = table1_intervals(finals.sample(frac=1.0, random_state=2), prune, qat, table, n_resamples=N, seed=0)
    pd.testing.assert_frame_equal(intervals, again)


def test_curve_intervals_map_parameters_to_widths_and_contain_the_estimates():
    from minarch.confidence import curve_intervals
    from minarch.regimes import summarize

    rows, prune = [], []
    for width, n_params, accs in (
        (2, 100, [50.0, 70.0, 60.0]),
        (8, 400, [95.0, 95.2, 95.1]),
        (32, 1600, [96.0, 96.1, 96.2]),
    ):
        for seed, acc in enumerate(accs):
            rows.append(
                {
                    "dataset": "mnist",
                    "arch": "cnn",
                    "topology": "conv3x3",
                    "width": width,
                    "seed": seed,
                    "n_params": n_params,
                    "test_acc": acc,
                    "train_acc": acc,
                }
            )
            if width == 8:
                prune += [
                    {
                        "dataset": "mnist",
                        "arch": "cnn",
                        "topology": "conv3x3",
                        "width": 8,
                        "seed": seed,
                        "ratio": r,
                        "test_acc": acc - 100 * max(0.0, r - 0.4) - 0.1 * seed,
                    }
                    for r in (0.0, 0.2, 0.4, 0.6)
                ]
    finals_ = pd.DataFrame(rows)
    regimes = summarize(finals_)
    found = curve_intervals(finals_, pd.DataFrame(prune), regimes, n_resamples=200).iloc[0]
    assert found["width_ci_low"] <= 8 <= found["width_ci_high"]
    assert found["safe_pruning_pct_ci_low"] == found["safe_pruning_pct_ci_high"] == 40


def _qat_rows(gaps_by_scope: dict[str, list[float]], ptq: list[float]) -> pd.DataFrame:
    rows = []
    for scope, gaps in gaps_by_scope.items():
        for seed, gap in enumerate(gaps):
            float_acc = 95.0 + seed
            rows.append(
                dict(dataset="mnist", arch="vit", topology="enc2learned", width=8, seed=seed, qat_scope=scope,
                     float_test_acc=float_acc, int8_test_acc=float_acc - gap, gap_pp=gap,
                     ptq_int8_test_acc=float_acc - ptq[seed], ptq_gap_pp=ptq[seed])
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_gap_intervals_one_row_per_scope_with_intervals_around_the_means():
    gaps = {"linear": [0.1, 0.3, 0.2], "full": [2.0, 4.0, 3.0]}
    ptq = [5.0, 7.0, 6.0]
    table = confidence.gap_intervals(_qat_rows(gaps, ptq), Thresholds(min_seeds=3), n_resamples=200)
    table = table.set_index("qat_scope")
    assert sorted(table.index) == ["full", "linear"] and (table["n_seeds"] == 3).all()
    for scope, values in gaps.items():
        row = table.loc[scope]
        assert row["gap_pp"] == pytest.approx(np.mean(values))
        assert min(values) <= row["gap_pp_ci_low"] <= row["gap_pp"] <= row["gap_pp_ci_high"] <= max(values)
        # PTQ of the same float models: the same interval whatever the QAT scope
        assert row["ptq_gap_pp"] == pytest.approx(6.0) and row["ptq_gap_pp_ci_low"] < 6.0 < row["ptq_gap_pp_ci_high"]
    assert table.loc["full", "int8_test_acc"] == pytest.approx(96.0 - 3.0)
    # deterministic, and no interval from fewer seeds than min_seeds
    again = confidence.gap_intervals(_qat_rows(gaps, ptq), Thresholds(min_seeds=3), n_resamples=200)
    pd.testing.assert_frame_equal(again.set_index("qat_scope"), table)
    few = confidence.gap_intervals(_qat_rows(gaps, ptq), Thresholds(min_seeds=4), n_resamples=200)
    assert few["gap_pp_ci_low"].isna().all() and few["gap_pp"].notna().all()


def test_gap_intervals_without_ptq_rows_have_no_ptq_columns():
    rows = _qat_rows({"full": [1.0, 2.0]}, [0.0, 0.0]).drop(columns=["ptq_gap_pp", "ptq_int8_test_acc"])
    table = confidence.gap_intervals(rows, Thresholds(min_seeds=2), n_resamples=100)
    assert "ptq_gap_pp" not in table and table["gap_pp"].item() == pytest.approx(1.5)
    text = tables.gaps_to_markdown(table)
    assert "PTQ" not in text and "| ViT" in text and "95% CI" in text


def test_a_qat_run_at_chance_is_counted_and_kept_in_the_gap():
    """A seed whose int8 model guesses (QAT diverged and kept an early epoch) while its float
    model learned is counted in qat_at_chance and still averaged into the gap; a seed whose
    float model is at chance too is not counted (nothing learned, nothing lost to QAT)."""
    rows = _qat_rows({"full": [0.2, 0.4, 86.0]}, [0.1, 0.1, 0.1])  # seed 2: 97% float, 11% int8
    table = confidence.gap_intervals(rows, Thresholds(min_seeds=2), n_resamples=100)
    assert table["qat_at_chance"].item() == 1 and table["gap_pp"].item() == pytest.approx((0.2 + 0.4 + 86.0) / 3)
    assert "| 1 of 3 " in tables.gaps_to_markdown(table) and "QAT at chance" in tables.gaps_to_markdown(table)
    margin = Thresholds().chance_margin
    untrained = rows.assign(float_test_acc=10.0 + margin / 2, int8_test_acc=10.0)
    assert confidence.gap_intervals(untrained, Thresholds(min_seeds=2), n_resamples=100)["qat_at_chance"].item() == 0
    healthy = confidence.gap_intervals(_qat_rows({"full": [0.2, 0.4, 0.3]}, [0.1] * 3), Thresholds(), n_resamples=100)
    assert healthy["qat_at_chance"].item() == 0 and "of 3" not in tables.gaps_to_markdown(healthy)
