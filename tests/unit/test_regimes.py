"""regimes.py: regime labels and the minimum stable parameter count on hand-made curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from minarch import models
from minarch.regimes import (
    FAILED,
    LEARNING,
    OVERFITTING,
    UNDETERMINED,
    UNSTABLE,
    Thresholds,
    finals,
    label_curve,
    minimum_stable_params,
    representatives,
    summarize,
    unclaimable,
    widest_swept,
)


def final_rows(curve: dict, dataset="mnist", arch="dnn", topology="L1"):
    """{width: ([test_acc per seed], [train_acc per seed])} -> 'final' rows like train.parquet's."""
    rows = []
    for width, (tests, trains) in curve.items():
        for seed, (test_acc, train_acc) in enumerate(zip(tests, trains)):
            rows.append(
                {
                    "kind": "final",
                    "dataset": dataset,
                    "arch": arch,
                    "topology": topology,
                    "width": width,
                    "seed": seed,
                    "n_params": models.dnn_parameter_count(784, [width] * int(topology[1])),
                    "test_acc": test_acc,
                    "train_acc": train_acc,
                }
            )
    return pd.DataFrame(rows)


# best mean is 90.0 (width 5); defaults max_std 1, max_drop 2, max_gap 3
CURVE = {
    1: ([50.0, 60.0, 70.0], [50.0, 60.0, 70.0]),  # noisy: std 10 -> unstable
    2: ([80.0, 80.2, 79.8], [80.0, 80.0, 80.0]),  # tight but 10 pp below best -> unstable (drop)
    3: ([89.0, 89.2, 88.8], [91.0, 91.0, 91.0]),  # stable, gap 2 -> learning
    5: ([90.0, 90.1, 89.9], [99.0, 99.0, 99.0]),  # gap 9 but improves on width 3 -> learning
    10: ([89.8, 89.9, 89.7], [99.5, 99.5, 99.5]),  # gap 9.7 and no improvement -> overfitting
    20: ([89.9, 90.0, 89.8], [90.5, 90.5, 90.5]),  # improves again, small gap -> learning
}


@pytest.fixture
def labelled():
    table = summarize(final_rows(CURVE))
    return table.set_index("width")


def test_labels(labelled):
    assert labelled["regime"].to_dict() == {
        1: UNSTABLE,
        2: UNSTABLE,
        3: LEARNING,
        5: LEARNING,
        10: OVERFITTING,
        20: LEARNING,
    }


def test_statistics(labelled):
    assert labelled.loc[1, "test_acc_mean"] == pytest.approx(60.0)
    assert labelled.loc[1, "test_acc_std"] == pytest.approx(10.0)  # sample std, ddof=1
    assert labelled.loc[1, "test_acc_min"] == 50.0 and labelled.loc[1, "test_acc_max"] == 70.0
    assert labelled.loc[10, "train_test_gap_mean"] == pytest.approx(99.5 - 89.8)
    assert (labelled["n_seeds"] == 3).all()
    assert labelled.loc[5, "n_params"] == 784 * 5 + 5 + 5 * 10 + 10


def test_min_stable_params_of_curve(labelled):
    expected = models.dnn_parameter_count(784, [3])
    assert (labelled["min_stable_params"] == expected).all()


def test_sample_std_is_used():
    # seeds 90 +- 0.8: population std 0.8 (stable), sample std 0.8*sqrt(2) = 1.13 (unstable)
    curve = {5: ([89.2, 90.8], [90.0, 90.0]), 10: ([90.0, 90.0], [90.0, 90.0])}
    table = summarize(final_rows(curve)).set_index("width")
    assert table.loc[5, "test_acc_std"] == pytest.approx(0.8 * math.sqrt(2))
    assert table.loc[5, "regime"] == UNSTABLE


def test_thresholds_are_used():
    strict = summarize(final_rows(CURVE), Thresholds(max_std=1.0, max_drop=0.15, max_gap=3.0)).set_index("width")
    assert strict.loc[10, "regime"] == UNSTABLE  # 89.8 is now more than 0.15 below 90.0
    lenient = summarize(final_rows(CURVE), Thresholds(max_std=20.0, max_drop=50.0, max_gap=10.0))
    lenient = lenient.set_index("width")
    assert lenient.loc[1, "regime"] == LEARNING and lenient.loc[2, "regime"] == LEARNING
    assert lenient.loc[10, "regime"] == LEARNING  # gap 9.7 below 10


def test_thresholds_and_tolerance_defaults_are_the_schemas(monkeypatch):
    from minarch import regimes, settings

    schema = settings.load_schema()["properties"]
    assert Thresholds() == Thresholds(**{k: v["default"] for k, v in schema["regimes"]["properties"].items()})
    assert regimes.PRUNE_TOLERANCE == schema["table1"]["properties"]["prune_tolerance"]["default"]
    # nothing else holds a default: a changed schema default is the new default
    changed = {**schema, "regimes": {"properties": {k: {"default": 7} for k in schema["regimes"]["properties"]}}}
    monkeypatch.setattr(settings, "_schema_sections", lambda: changed)
    assert Thresholds() == Thresholds(max_std=7, max_drop=7, max_gap=7, chance_margin=7, min_seeds=7)


def test_enough_seeds_is_the_one_rule_for_counts_and_arrays():
    rule = Thresholds(min_seeds=3)
    assert not rule.enough_seeds(2) and rule.enough_seeds(3) and rule.enough_seeds(4)
    assert rule.enough_seeds(pd.Series([1, 3, 5])).tolist() == [False, True, True]


def test_single_seed_only_drop_counts_when_min_seeds_allows_it():
    curve = {2: ([70.0], [70.0]), 5: ([89.5], [90.0]), 10: ([90.0], [90.0])}
    table = summarize(final_rows(curve), Thresholds(min_seeds=1)).set_index("width")
    assert table["test_acc_std"].isna().all()
    assert table["regime"].to_dict() == {2: UNSTABLE, 5: LEARNING, 10: LEARNING}


def test_fewer_seeds_than_min_seeds_is_undetermined_with_no_minimum():
    # one seed: no std, so nothing can be called stable; the minimum is not claimed
    curve = {2: ([70.0], [70.0]), 5: ([89.5], [90.0]), 10: ([90.0], [90.0])}
    table = summarize(final_rows(curve)).set_index("width")
    assert set(table["regime"]) == {UNDETERMINED}
    assert table["min_stable_params"].isna().all()
    assert table["note"].str.contains("regimes.min_seeds").all()
    assert representatives(table.reset_index()).empty
    assert unclaimable(table.reset_index()).startswith("stability undetermined")
    # three seeds demanded, two given: undetermined too
    two = summarize(
        final_rows({5: ([90.0, 90.1], [90.0, 90.0]), 10: ([90.2, 90.1], [90.0, 90.0])}), Thresholds(min_seeds=3)
    )
    assert set(two["regime"]) == {UNDETERMINED} and two["min_stable_params"].isna().all()


def test_an_undetermined_configuration_that_cannot_change_the_minimum_keeps_it():
    # width 1 has one seed, but width 2 is unstable whatever width 1 is: the minimum is width 3's
    curve = {
        1: ([50.0], [50.0]),
        2: ([80.0, 90.0], [90.0, 90.0]),
        3: ([90.0, 90.1], [90.0, 90.0]),
        5: ([90.2, 90.1], [90.0, 90.0]),
    }
    table = summarize(final_rows(curve)).set_index("width")
    assert table.loc[1, "regime"] == UNDETERMINED and table.loc[2, "regime"] == UNSTABLE
    assert (table["min_stable_params"] == models.dnn_parameter_count(784, [3])).all()
    assert unclaimable(table.reset_index()) == ""
    # an undetermined width above the unstable one: the minimum could be either side of it
    curve[4] = ([90.0], [90.0])
    table = summarize(final_rows(curve))
    assert table["min_stable_params"].isna().all() and unclaimable(table).startswith("stability undetermined")


def train_history(curve: dict, losses=None, best_epoch=None, **keys) -> pd.DataFrame:
    """Epoch and final rows (as stages.train_run writes them) for ``final_rows(curve)``'s runs;
    ``losses(width, seed)`` gives the epochs' loss (default 0.5), ``best_epoch`` the final row's epoch."""
    rows = []
    for final in final_rows(curve, **keys).to_dict("records"):
        loss = losses(final["width"], final["seed"]) if losses else 0.5
        for epoch in (1, 2):
            rows.append(
                {**final, "kind": "epoch", "epoch": epoch, "train_loss": loss, "val_loss": loss, "test_loss": loss}
            )
        rows.append(
            {
                **final,
                "epoch": 2 if best_epoch is None else best_epoch,
                "train_loss": loss,
                "val_loss": loss,
                "test_loss": loss,
            }
        )
    return pd.DataFrame(rows)


# lr=10-like: every seed near 10% (9.8-11.4), tight enough to pass the std and drop rules
AT_CHANCE = {w: ([9.8 + 0.2 * w, 10.2 + 0.2 * w, 10.0 + 0.2 * w], [10.0, 10.0, 10.0]) for w in (1, 2, 5, 7)}


def test_chance_accuracy_is_failed_and_never_stable():
    table = summarize(finals(train_history(AT_CHANCE)))
    assert set(table["regime"]) == {FAILED}
    assert table["note"].str.startswith("at chance").all()
    assert table["min_stable_params"].isna().all() and representatives(table).empty
    assert unclaimable(table).startswith("every configuration failed")
    # the margin is a config key: 0 pp leaves only what is at or below 10% itself
    narrow = summarize(finals(train_history(AT_CHANCE)), Thresholds(chance_margin=0.0))
    assert not (narrow["regime"] == FAILED).any()


def test_nan_loss_with_best_epoch_zero_is_failed_and_counts_as_unstable():
    # width 5 diverged in seed 1 (NaN losses, best epoch 0 as the training loop then writes);
    # its final accuracy looks fine, but it must not be stable, so the minimum moves past it
    curve = {2: ([80.0, 90.0], [90.0, 90.0]), 5: ([91.0, 91.1], [91.0, 91.0]), 10: ([91.2, 91.1], [91.0, 91.0])}
    rows = train_history(curve, losses=lambda w, s: float("nan") if (w, s) == (5, 1) else 0.5)
    rows.loc[(rows["kind"] == "final") & (rows["width"] == 5) & (rows["seed"] == 1), "epoch"] = 0
    table = summarize(finals(rows)).set_index("width")
    assert table.loc[5, "regime"] == FAILED
    assert "diverged: non-finite loss in 1 of 2 seeds" in table.loc[5, "note"]
    assert "best epoch 0 in 1 of 2 seeds" in table.loc[5, "note"]
    assert table.loc[10, "regime"] == LEARNING
    assert (table["min_stable_params"] == models.dnn_parameter_count(784, [10])).all()


def test_best_epoch_zero_alone_is_failed():
    table = summarize(finals(train_history({5: ([91.0, 91.1], [91.0, 91.0])}, best_epoch=0)))
    assert table["regime"].tolist() == [FAILED] and "best epoch 0 in 2 of 2" in table["note"].iloc[0]


def test_a_failed_configuration_does_not_set_the_curves_best():
    # a diverged width whose final accuracy is NaN must not poison the drop rule's best mean
    curve = {2: ([60.0, 60.1], [60.0, 60.0]), 5: ([90.0, 90.1], [90.0, 90.0]), 10: ([float("nan")] * 2, [0.0] * 2)}
    table = summarize(final_rows(curve)).set_index("width")
    assert table.loc[10, "regime"] == FAILED
    assert table.loc[2, "regime"] == UNSTABLE  # 30 pp below width 5, the best that did not fail
    assert table["min_stable_params"].isna().all()  # the largest failed


def test_curves_are_labelled_separately():
    other = {1: ([95.0, 95.0], [95.0, 95.0]), 2: ([95.1, 95.1], [95.1, 95.1])}
    rows = pd.concat(
        [final_rows(CURVE), final_rows(other, topology="L2e"), final_rows(other, dataset="cifar10")], ignore_index=True
    )
    table = summarize(rows)
    mnist_l1 = table[(table["dataset"] == "mnist") & (table["topology"] == "L1")].set_index("width")
    assert mnist_l1.loc[3, "regime"] == LEARNING  # the other curves' 95% is not this curve's best
    l2e = table[table["topology"] == "L2e"]
    assert (l2e["regime"] == LEARNING).all()
    assert (l2e["min_stable_params"] == models.dnn_parameter_count(784, [1, 1])).all()
    assert len(table) == len(CURVE) + 4


def test_finals_keeps_only_final_rows():
    rows = final_rows(CURVE)
    epochs = rows.assign(kind="epoch", test_acc=0.0)
    picked = finals(pd.concat([epochs, rows, epochs], ignore_index=True))
    assert len(picked) == len(rows) and (picked["kind"] == "final").all()
    assert list(picked.index) == list(range(len(rows)))


@pytest.mark.parametrize(
    "unstable, expected",
    [
        ([False, False, False, False], 10),
        ([True, False, False, False], 20),
        ([True, True, False, False], 30),
        ([False, True, False, False], 30),  # an unstable point between stable ones
        ([True, False, True, False], 40),
        ([False, False, False, True], math.nan),  # largest unstable
        ([True, True, True, True], math.nan),
    ],
)
def test_minimum_stable_params(unstable, expected):
    n_params = np.array([10, 20, 30, 40])
    result = minimum_stable_params(n_params, np.array(unstable))
    if math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == expected


def test_minimum_stable_params_sorts_by_parameter_count():
    # given out of order: 30 unstable, so the answer is 40 whatever the input order
    assert minimum_stable_params(np.array([40, 10, 30, 20]), np.array([False, False, True, False])) == 40
    assert math.isnan(minimum_stable_params(np.array([], dtype=int), np.array([], dtype=bool)))


def test_unstable_between_stable_widths_in_summarize():
    curve = {
        1: ([90.0, 90.1], [90.0, 90.0]),
        2: ([85.0, 95.0], [90.0, 90.0]),  # mean 90 but std 7 -> unstable
        3: ([90.2, 90.3], [90.0, 90.0]),
        5: ([90.3, 90.4], [90.0, 90.0]),
    }
    table = summarize(final_rows(curve)).set_index("width")
    assert table["regime"].to_dict() == {1: LEARNING, 2: UNSTABLE, 3: LEARNING, 5: LEARNING}
    assert (table["min_stable_params"] == models.dnn_parameter_count(784, [3])).all()
    reps = representatives(table.reset_index())
    assert list(reps["width"]) == [3]


def test_largest_unstable_gives_nan_and_no_representative():
    curve = {1: ([90.0, 90.0], [90.0, 90.0]), 2: ([80.0, 100.0], [90.0, 90.0])}
    table = summarize(final_rows(curve))
    assert table["min_stable_params"].isna().all()
    assert representatives(table).empty


def test_label_curve_sorts_by_parameters():
    table = summarize(final_rows(CURVE))
    shuffled = table.sample(frac=1.0, random_state=3).drop(columns=["regime", "min_stable_params"])
    again = label_curve(shuffled, Thresholds())
    assert list(again["n_params"]) == sorted(again["n_params"])
    assert list(again["regime"]) == list(table.sort_values("n_params")["regime"])


def test_array_rules_on_many_resamples_equal_the_single_curve_case():
    # the rules take (resamples x configurations); each row must be what label_curve says of it
    from minarch.regimes import minimum_stable, overfitting_mask, unstable_mask

    rng = np.random.default_rng(5)
    n_params = np.array([10.0, 20.0, 40.0, 80.0, 160.0])
    mean = 90 + rng.normal(0, 1.5, size=(50, 5))
    std = rng.uniform(0, 2, size=(50, 5))
    gap = rng.uniform(0, 6, size=(50, 5))
    unstable = unstable_mask(mean, std, Thresholds())
    overfitting = overfitting_mask(mean, gap, unstable, Thresholds())
    minima = minimum_stable(n_params, unstable)
    for b in range(50):
        curve = pd.DataFrame(
            {"n_params": n_params, "test_acc_mean": mean[b], "test_acc_std": std[b], "train_test_gap_mean": gap[b]}
        )
        labelled = label_curve(curve, Thresholds())
        expected = np.where(unstable[b], UNSTABLE, np.where(overfitting[b], OVERFITTING, LEARNING))
        assert list(labelled["regime"]) == list(expected)
        assert labelled["min_stable_params"].iloc[0] == minima[b] or (
            np.isnan(minima[b]) and labelled["min_stable_params"].isna().all()
        )
    assert np.isnan(minima).any() and not np.isnan(minima).all()  # both outcomes occur


def test_safe_ratio_on_many_resamples_equals_safe_pruning_ratio():
    from minarch.regimes import safe_ratio
    from minarch.tables import safe_pruning_ratio

    rng = np.random.default_rng(2)
    ratios = np.round(np.linspace(0, 1, 11), 1)
    means = 90 - np.cumsum(rng.uniform(0, 0.6, size=(40, 11)), axis=1)
    found = safe_ratio(ratios, means, 1.0)
    for b in range(40):
        rows = pd.DataFrame({"ratio": ratios, "test_acc": means[b]})
        assert found[b] == safe_pruning_ratio(rows, 1.0)
    assert len(set(found)) > 1
    assert np.isnan(safe_ratio(ratios[1:], means[:, 1:], 1.0)).all()  # no unpruned reference


def test_widest_swept_is_the_curves_widest_configuration_only():
    rows = pd.concat(
        [
            pd.DataFrame(final_rows({5: ([90, 90.2], [91, 91]), 10: ([91, 91.1], [92, 92])})),
            pd.DataFrame(final_rows({5: ([90, 90.2], [91, 91]), 20: ([91, 91.1], [92, 92])}, topology="L2e")),
        ]
    )
    regimes = summarize(rows)
    at = {
        (t, w): widest_swept(regimes, row)
        for t, w, row in zip(regimes["topology"], regimes["width"], regimes.to_dict("records"))
    }
    # each curve's own widest: L1 ends at 10, L2e at 20 (L1 w10 is widest although L2e goes further)
    assert at == {("L1", 5): False, ("L1", 10): True, ("L2e", 5): False, ("L2e", 20): True}
    # a configuration of a curve the regimes do not hold is not called widest
    assert not widest_swept(regimes, {"dataset": "cifar10", "arch": "dnn", "topology": "L1", "width": 10})
