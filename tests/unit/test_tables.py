"""tables.py: safe pruning ratio and Table I on hand-made rows."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from minarch import models
from minarch.regimes import summarize
from minarch.tables import PAPER_TABLE1, safe_pruning_ratio, table1, to_markdown

RATIOS = [round(0.1 * i, 1) for i in range(11)]


def prune_rows(accuracies, seeds=(0,), **keys):
    """One row per (ratio, seed); ``accuracies`` is per ratio, or per ratio a list per seed."""
    rows = []
    for ratio, acc in zip(RATIOS, accuracies):
        per_seed = acc if isinstance(acc, (list, tuple)) else [acc] * len(seeds)
        for seed, value in zip(seeds, per_seed):
            rows.append({**keys, "seed": seed, "ratio": ratio, "test_acc": value})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "accuracies, expected",
    [
        ([90, 90, 90, 90, 90, 80, 70, 60, 50, 20, 10], 0.4),  # flat until 0.4, then a drop
        ([90, 90, 90, 90, 90, 80, 90, 90, 90, 90, 90], 0.4),  # recovery after the drop does not count
        ([90, 89.5, 89.2, 89.0, 90, 85, 10, 10, 10, 10, 10], 0.4),  # within 1 pp (89.0 exactly on the edge)
        ([90, 88.9, 90, 90, 90, 90, 90, 90, 90, 90, 90], 0.0),  # fails at the first ratio
        ([90] * 11, 1.0),  # never fails
        ([90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100], 1.0),  # improvements are fine
    ],
)
def test_safe_pruning_ratio(accuracies, expected):
    assert safe_pruning_ratio(prune_rows(accuracies), tolerance=1.0) == pytest.approx(expected)


def test_safe_pruning_ratio_uses_the_mean_over_seeds_and_ignores_row_order():
    # at 0.2 one seed drops 3 pp and the other gains 2.5: mean drop 0.25 pp (safe); at 0.3 the mean drops 1.5
    accuracies = [[90, 90], [90, 90], [87, 92.5], [88.5, 88.5]] + [[90, 90]] * 7
    rows = prune_rows(accuracies, seeds=(0, 1)).sample(frac=1.0, random_state=1)
    assert safe_pruning_ratio(rows, tolerance=1.0) == pytest.approx(0.2)
    assert safe_pruning_ratio(rows, tolerance=2.0) == pytest.approx(1.0)


def test_safe_pruning_ratio_tolerance():
    accuracies = [90, 89, 88, 87, 86, 85, 84, 83, 82, 81, 80]
    assert safe_pruning_ratio(prune_rows(accuracies), tolerance=2.5) == pytest.approx(0.2)
    assert safe_pruning_ratio(prune_rows(accuracies), tolerance=0.0) == pytest.approx(0.0)


def test_safe_pruning_ratio_without_unpruned_reference_is_nan():
    rows = prune_rows([90] * 11)
    assert math.isnan(safe_pruning_ratio(rows[rows["ratio"] > 0], 1.0))
    assert math.isnan(safe_pruning_ratio(rows.iloc[0:0], 1.0))


def final_rows(dataset, topology, curve):
    rows = []
    depth = int(topology[1])
    for width, accs in curve.items():
        for seed, acc in enumerate(accs):
            rows.append(
                {
                    "kind": "final",
                    "dataset": dataset,
                    "arch": "dnn",
                    "topology": topology,
                    "width": width,
                    "seed": seed,
                    "n_params": models.dnn_parameter_count(784, [width] * depth),
                    "test_acc": acc,
                    "train_acc": acc + 1.0,
                }
            )
    return rows


@pytest.fixture
def inputs():
    # mnist: L1 is stable from width 5 (3,990 + ... params); L2e from width 3; L2e w3 is smaller
    # than L1 w5, so L2e w3 is the representative. fashion_mnist: no stable configuration.
    curves = {
        ("mnist", "L1"): {2: [60, 80], 5: [90, 90.2], 10: [90.5, 90.7]},
        ("mnist", "L2e"): {1: [40, 70], 3: [90, 90.4], 10: [91, 91.2]},
        ("fashion_mnist", "L1"): {2: [80, 80.2], 5: [70, 90]},
    }
    rows = [r for (dataset, topology), curve in curves.items() for r in final_rows(dataset, topology, curve)]
    regimes = summarize(pd.DataFrame(rows))
    prune, qat = [], []
    drops = {("mnist", "L2e", 3): 6, ("mnist", "L1", 5): 3}  # index of the first failing ratio
    gaps = {("mnist", "L2e", 3): [0.1, 0.3], ("mnist", "L1", 5): [5.0, 6.0]}
    for (dataset, topology), curve in curves.items():
        for width in curve:
            key = dict(dataset=dataset, arch="dnn", topology=topology, width=width)
            first_fail = drops.get((dataset, topology, width), 1)
            accuracies = [90.0 if i < first_fail else 50.0 for i in range(11)]
            prune.append(prune_rows(accuracies, seeds=(0, 1), **key))
            for seed, gap in enumerate(gaps.get((dataset, topology, width), [9.0, 9.0])):
                qat.append({**key, "seed": seed, "gap_pp": gap})
    return regimes, pd.concat(prune, ignore_index=True), pd.DataFrame(qat)


def test_table1_picks_smallest_stable_configuration(inputs):
    regimes, prune, qat = inputs
    assert models.dnn_parameter_count(784, [3, 3]) < models.dnn_parameter_count(784, [5])
    table = table1(regimes, prune, qat, prune_tolerance=1.0)
    assert list(zip(table["dataset"], table["arch"])) == [("mnist", "dnn"), ("fashion_mnist", "dnn")]
    mnist = table.iloc[0]
    assert mnist["topology"] == "L2e" and mnist["width"] == 3
    assert mnist["min_params"] == models.dnn_parameter_count(784, [3, 3])
    assert mnist["n_seeds"] == 2
    assert mnist["test_acc_mean"] == pytest.approx(90.2)
    assert mnist["safe_pruning_pct"] == pytest.approx(50.0)
    assert mnist["gap_8bit_pct"] == pytest.approx(0.2)
    # the paper's published values beside ours
    assert mnist["paper_min_params"] == 2e4
    assert mnist["paper_safe_pruning_pct"] == 60
    assert mnist["paper_8bit_gap_pct"] == pytest.approx(0.15)
    fashion = table.iloc[1]
    assert math.isnan(fashion["min_params"]) and pd.isna(fashion["topology"])
    assert math.isnan(fashion["safe_pruning_pct"]) and math.isnan(fashion["gap_8bit_pct"])
    assert fashion["paper_safe_pruning_pct"] == 40 and fashion["paper_8bit_gap_pct"] == pytest.approx(1.42)


def test_paper_table_values():
    paper = PAPER_TABLE1.set_index(["dataset", "arch"])
    assert len(paper) == 9
    assert tuple(paper.loc[("mnist", "dnn")]) == (2e4, 60, 0.15)
    assert tuple(paper.loc[("cifar10", "cnn")]) == (3e6, 5, 14.80)
    assert tuple(paper.loc[("fashion_mnist", "vit")]) == (5e3, 20, 3.22)


def test_to_markdown(inputs):
    table = table1(*inputs)
    text = to_markdown(table)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(table)
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    for column in (
        "dataset",
        "arch",
        "representative",
        "min params",
        "paper min params",
        "safe pruning %",
        "paper safe pruning %",
        "8-bit gap %",
        "paper 8-bit gap %",
    ):
        assert column in header
    assert set(lines[1].replace("|", "").replace(":", "").strip()) <= {"-", " "}
    mnist = dict(zip(header, (cell.strip() for cell in lines[2].strip("|").split("|"))))
    assert mnist["dataset"] == "MNIST" and mnist["arch"] == "DNN"
    assert mnist["representative"] == "L2e w3"
    assert float(mnist["paper min params"]) == 2e4
    assert float(mnist["paper safe pruning %"]) == 60 and float(mnist["safe pruning %"]) == 50
    fashion = dict(zip(header, (cell.strip() for cell in lines[3].strip("|").split("|"))))
    assert fashion["dataset"] == "F-MNIST" and fashion["representative"] == "none stable"


def test_table1_has_no_representative_from_rows_that_cannot_be_judged(inputs):
    _, prune, qat = inputs
    # one seed per configuration: the stable-looking L1 w5 must not become the representative
    single = pd.DataFrame(final_rows("mnist", "L1", {2: [60], 5: [90], 10: [90.5]}))
    # every seed at chance (10%): stable by the std and drop rules, but training failed
    chance = pd.DataFrame(final_rows("fashion_mnist", "L1", {2: [10.0, 10.1], 5: [10.2, 10.1]}))
    table = table1(summarize(pd.concat([single, chance])), prune, qat, prune_tolerance=1.0).set_index("dataset")
    assert table["min_params"].isna().all() and table["topology"].isna().all()
    assert table["safe_pruning_pct"].isna().all() and table["gap_8bit_pct"].isna().all()
    assert table.loc["mnist", "note"].startswith("stability undetermined")
    assert table.loc["fashion_mnist", "note"].startswith("every configuration failed")
    lines = to_markdown(table.reset_index()).strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]
    assert [r["representative"] for r in rows] == ["not judged", "not judged"]
    assert rows[0]["note"].startswith("stability undetermined") and "regimes.min_seeds" in rows[0]["note"]


def test_table1_markdown_has_no_note_column_when_every_row_is_judged(inputs):
    table = table1(*inputs)
    assert (table["note"] == "").all()
    assert "note" not in to_markdown(table).splitlines()[0]


def _scoped(qat: pd.DataFrame) -> pd.DataFrame:
    """The DNN rows of ``inputs`` as one ViT family run under both scopes, with PTQ: scope
    linear gaps +1 pp, PTQ gaps 2 pp above QAT's."""
    vit = qat.assign(arch="vit")
    full = vit.assign(qat_scope="full", ptq_gap_pp=vit["gap_pp"] + 2)
    linear = vit.assign(qat_scope="linear", gap_pp=vit["gap_pp"] + 1, ptq_gap_pp=vit["gap_pp"] + 3)
    return pd.concat([linear, full], ignore_index=True)


def test_table1_gap_is_the_headline_scopes_with_ptq_beside_it(inputs):
    regimes, prune, qat = inputs
    regimes, prune = regimes.assign(arch="vit"), prune.assign(arch="vit")
    table = table1(regimes, prune, _scoped(qat)).set_index("dataset")
    mnist = table.loc["mnist"]
    # scope full is the paper's W8A8: the headline gap, whatever order the rows come in
    assert mnist["qat_scope"] == "full"
    assert mnist["gap_8bit_pct"] == pytest.approx(0.2) and mnist["ptq_gap_8bit_pct"] == pytest.approx(2.2)
    assert mnist["gap_8bit_pct_full"] == pytest.approx(0.2) and mnist["gap_8bit_pct_linear"] == pytest.approx(1.2)
    assert mnist["ptq_gap_8bit_pct_linear"] == pytest.approx(3.2)
    header = [cell.strip() for cell in to_markdown(table.reset_index()).splitlines()[0].strip("|").split("|")]
    assert {"8-bit scope", "PTQ 8-bit gap %", "ViT 8-bit gap % (linear)", "ViT PTQ 8-bit gap % (linear)"} <= set(header)
    # only scope linear run: that is the headline
    linear_only = _scoped(qat)
    table = table1(regimes, prune, linear_only[linear_only["qat_scope"] == "linear"]).set_index("dataset")
    assert table.loc["mnist", "qat_scope"] == "linear" and table.loc["mnist", "gap_8bit_pct"] == pytest.approx(1.2)
    assert "gap_8bit_pct_linear" not in table


def test_rows_without_a_scope_are_the_vits_linear_and_the_others_full(inputs):
    from minarch.tables import headline_qat_rows, with_scope

    _, _, qat = inputs
    old = pd.concat([qat, qat.assign(arch="vit")], ignore_index=True)  # written before qat.scope existed
    scoped = with_scope(old)
    assert set(scoped.loc[scoped["arch"] == "vit", "qat_scope"]) == {"linear"}
    assert set(scoped.loc[scoped["arch"] == "dnn", "qat_scope"]) == {"full"}
    both = pd.concat([old, _scoped(qat)], ignore_index=True)
    headline = headline_qat_rows(both)
    assert set(headline.loc[headline["arch"] == "vit", "qat_scope"]) == {"full"}
    assert len(headline) == len(qat) * 2  # one row per seed and configuration


def test_table1_of_rows_without_ptq(inputs):
    table = table1(*inputs)
    assert table["ptq_gap_8bit_pct"].isna().all()
    assert table.loc[0, "qat_scope"] == "full"  # DNN rows without a scope column: quantized whole


def test_table1_marks_a_representative_at_its_curves_widest_width_as_a_lower_bound(inputs):
    regimes, prune, qat = inputs
    table = table1(regimes, prune, qat, prune_tolerance=1.0)
    # L2e w3 has L2e w10 above it: a plateau was seen; F-MNIST has no representative at all
    assert table["min_params_lower_bound"].tolist() == [False, False]
    assert "lower bound" not in to_markdown(table)
    # only the widest width is within 2 pp of the best (itself): stable by comparison with itself
    rows = final_rows("cifar10", "L1", {5: [80, 80.2], 10: [85, 85.1], 20: [90, 90.2]})
    edge = summarize(pd.DataFrame(rows))
    table = table1(edge, prune.iloc[0:0], qat.iloc[0:0], prune_tolerance=1.0)
    row = table.iloc[0]
    assert row["width"] == 20 and bool(row["min_params_lower_bound"])
    assert "L1 w20 (widest swept: a lower bound)" in to_markdown(table)
    # read back from CSV, as the paper comparison and the records do
    assert "(widest swept: a lower bound)" in to_markdown(pd.read_csv(io.StringIO(table.to_csv(index=False))))
