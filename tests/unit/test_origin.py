"""origin.py: what the aggregates and the report say about where their rows come from."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from minarch import origin, provenance

CURRENT = {"train": "aaaaaaaaaaaa", "prune": "aaaaaaaaaaaa", "qat": "aaaaaaaaaaaa"}


def rows(code: str | None, n: int, first_seed: int = 0, **columns) -> pd.DataFrame:
    seeds = range(first_seed, first_seed + n)
    frame = pd.DataFrame({"dataset": "mnist", "arch": "dnn", "topology": "L1", "width": 2, "seed": seeds})
    if code is not None:
        frame["code_version"] = code
    return frame.assign(**columns)


# --------------------------------------------------------------------------- code versions
def test_rows_of_the_checkouts_code_say_so_and_do_not_warn():
    check = origin.check_code({"train": rows("aaaaaaaaaaaa", 3), "prune": rows("aaaaaaaaaaaa", 2)}, CURRENT)
    assert check.ok and check.warning() is None
    assert check.summary() == (
        "Code: every row comes from the checkout's current code (train and prune rows: code version aaaaaaaaaaaa)."
    )


def test_mixed_rows_are_named_mixed_with_each_version_and_its_rows():
    check = origin.check_code({"train": pd.concat([rows("aaaaaaaaaaaa", 3), rows("0123456789ab", 1)])}, CURRENT)
    line = check.warning()
    assert line == check.summary() and "\n" not in line
    assert line.startswith("WARNING: not every row comes from the checkout's current code")
    assert "the train rows are mixed, from 2 code versions (aaaaaaaaaaaa: 3 rows, 0123456789ab: 1 row" in line
    assert "run snakemake to rerun the jobs whose code changed" in line and "--forceall" not in line


def test_rows_of_other_code_than_the_checkouts_are_named_even_when_not_mixed():
    check = origin.check_code({"qat": rows("0123456789ab", 4)}, CURRENT)
    assert not check.ok and check.outdated() == ["qat"] and not check.mixed()
    assert "the QAT rows (4 rows) come from code version 0123456789ab, not the checkout's current aaaaaaaaaaaa" in (
        check.warning()
    )


def test_rows_that_record_no_code_version_are_unrecorded():
    check = origin.check_code({"train": rows(None, 2), "prune": rows("aaaaaaaaaaaa", 1)}, CURRENT)
    assert check.outdated() == ["train"]
    assert "code version unrecorded" in check.warning()


def test_the_checkouts_versions_come_from_provenance_by_default():
    check = origin.check_code({"table1": None, "train": rows(provenance.code_version("train"), 1)})
    assert check.ok and check.current == {"train": provenance.code_version("train")}
    assert origin.check_code({}).summary() == "Code: no rows."


def test_code_column_lists_each_keys_versions():
    train = pd.concat([rows("aaaaaaaaaaaa", 2), rows("0123456789ab", 1).assign(arch="cnn")])
    prune = rows("bbbbbbbbbbbb", 1)
    table = pd.DataFrame({"dataset": ["mnist", "mnist", "cifar10"], "arch": ["dnn", "cnn", "dnn"], "x": [1, 2, 3]})
    out = origin.with_code_column(table, ["dataset", "arch"], train, prune, None)
    assert out["code_version"].tolist()[:2] == ["aaaaaaaaaaaa + bbbbbbbbbbbb", "0123456789ab"]
    assert pd.isna(out["code_version"].iloc[2]) and out["x"].tolist() == [1, 2, 3]


def test_settings_columns_flatten_lists():
    assert origin.settings_columns("regimes", {"max_std": 1.0, "ratios": [0.0, 0.5]}) == {
        "regimes_max_std": 1.0,
        "regimes_ratios": "0.0,0.5",
    }


# --------------------------------------------------------------------------- the report's description
SAVED = {
    "train": {"learning_rate": 0.001, "batch_size": 64, "max_epochs": 1, "patience": 5, "eval_batch_size": 9},
    "data": {"validation_fraction": 0.1, "split_seed": 0},
    "prune": {"ratios": [0.0, 1.0], "finetune_epochs": 0},
    "qat": {"mode": "scratch", "finetune_epochs": 5, "backend": "qnnpack"},
    "regimes": {"max_std": 1.0},
    "table1": {"prune_tolerance": 1.0},
}
SWEEPS = {"dnn": {"arch": "dnn", "datasets": ["mnist"], "topologies": ["L1"], "widths": [2], "seeds": 2}}


def stage_rows(learning_rate=0.001, seeds=2, code=None, first_seed=0) -> dict[str, pd.DataFrame]:
    code = code or provenance.code_version("train")
    versions = {"minarch_version": "0.1.0", "torch_version": "2.14.1"}
    train = rows(code, seeds, first_seed).assign(
        train_learning_rate=learning_rate,
        train_batch_size=64,
        train_max_epochs=1,
        train_patience=5,
        train_validation_fraction=0.1,
        train_split_seed=0,
        train_eval_batch_size=4096,  # changes no result: not compared
        **versions,
    )
    prune = rows(code, seeds, first_seed).assign(prune_ratios="0.0,1.0", prune_finetune_epochs=0, **versions)
    qat = train.drop(columns=["train_eval_batch_size"]).assign(qat_mode="scratch", qat_finetune_epochs=5)
    return {"train": train, "prune": prune, "qat": qat.assign(qat_backend="qnnpack")}


def test_a_run_matching_its_saved_config_has_no_problems():
    facts = origin.describe_results({"dnn": stage_rows()}, SAVED, SWEEPS)
    assert facts["problems"] == []
    assert facts["settings"]["train"]["learning_rate"] == "0.001" and facts["settings"]["prune"]["ratios"] == "0.0, 1.0"
    assert facts["families"]["dnn"] == {"datasets": "mnist", "topologies": "L1", "widths": "2", "seeds": "2"}
    assert "every row comes from the checkout" in facts["code"] and facts["versions"] == "minarch 0.1.0, torch 2.14.1"


def test_the_report_describes_the_rows_and_names_a_setting_that_differs_from_the_saved_config():
    """The issue's case: the saved config says one learning rate, every row another."""
    tables = stage_rows(learning_rate=0.002)
    facts = origin.describe_results({"dnn": tables}, SAVED, SWEEPS, saved_path="results/config.yaml")
    assert facts["settings"]["train"]["learning_rate"] == "0.002"
    assert facts["problems"] == [
        "train.learning\\_rate: the results record 0.002, the saved config results/config.yaml says 0.001"
    ]
    later = stage_rows(0.002, 1, first_seed=2)  # one more seed, run with another config
    grown = {stage: pd.concat([frame, later[stage]]) for stage, frame in stage_rows().items()}
    facts = origin.describe_results({"dnn": grown}, SAVED, SWEEPS)
    assert facts["settings"]["train"]["learning_rate"] == "0.001 (2 runs) or 0.002 (1 run)"


def test_the_report_names_a_sweep_that_differs_and_rows_of_other_code():
    facts = origin.describe_results({"dnn": stage_rows(seeds=1, code="0123456789ab")}, SAVED, SWEEPS)
    problems = " | ".join(facts["problems"])
    assert "dnn: the results hold seeds 0, the saved config names 0, 1" in problems
    assert "not every row comes from the checkout's current code" in problems
    facts = origin.describe_results({}, SAVED, SWEEPS)
    assert facts["problems"] == ["dnn: the saved config names it, but there are no results of it"]


def test_the_report_names_aggregates_made_with_other_settings():
    regimes = pd.DataFrame({"regimes_max_std": [5.0, 5.0]})
    facts = origin.describe_results({"dnn": stage_rows()}, SAVED, SWEEPS, aggregates={"results/regimes.csv": regimes})
    assert facts["problems"] == [
        "results/regimes.csv was made with regimes.max\\_std 5, the saved config results/config.yaml says 1"
    ]
    old = origin.describe_results({"dnn": stage_rows()}, SAVED, SWEEPS, aggregates={"results/table1.csv": regimes})
    assert "results/table1.csv records no table1.prune\\_tolerance" in old["problems"][-1]


def test_outputs_older_than_their_inputs_are_named(tmp_path):
    for name in ("a.parquet", "figure.png", "b.parquet", "table.csv"):
        (tmp_path / name).write_text(name)
    now = time.time()
    os.utime(tmp_path / "figure.png", (now - 100, now - 100))  # made before its input changed
    pairs = [("figure.png", ["a.parquet", "b.parquet"]), ("table.csv", ["a.parquet"]), ("absent.png", ["a.parquet"])]
    assert origin.stale_outputs(pairs, tmp_path) == [
        "figure.png is older than its input a.parquet (and 1 more): it does not show it; rerun snakemake"
    ]
    many = [(f"out{i}", ["a.parquet"]) for i in range(15)]
    for i in range(15):
        (tmp_path / f"out{i}").write_text("")
        os.utime(tmp_path / f"out{i}", (now - 100, now - 100))
    facts = origin.describe_results({"dnn": stage_rows()}, SAVED, SWEEPS, many, root=tmp_path)
    assert len(facts["problems"]) == origin.MAX_LISTED + 1
    assert facts["problems"][-1] == "and 5 more outputs older than their inputs"


@pytest.mark.parametrize("text", ["fashion_mnist", "*bold*", "`code`", "a|b", "back\\slash"])
def test_rst_text_is_plain(text):
    from docutils.core import publish_parts

    html = publish_parts(origin.rst(text), writer="html")["body"]
    assert html == f"<p>{text.replace('&', '&amp;')}</p>\n"  # the text itself, no markup


def test_the_report_names_aggregates_made_by_other_code():
    table = pd.DataFrame({"aggregate_code_version": ["0123456789ab"], "regimes_max_std": [1.0]})
    facts = origin.describe_results({"dnn": stage_rows()}, SAVED, SWEEPS, aggregates={"results/regimes.csv": table})
    current = provenance.code_version("regimes")
    assert facts["problems"] == [
        f"results/regimes.csv was made by regimes code version 0123456789ab, not the checkout's current {current}; "
        "rerun snakemake"
    ]
    fresh = table.assign(aggregate_code_version=current)
    assert (
        origin.describe_results({"dnn": stage_rows()}, SAVED, SWEEPS, aggregates={"results/regimes.csv": fresh})[
            "problems"
        ]
        == []
    )
