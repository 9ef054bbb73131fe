"""tools/record_run.py: a record's facts come from the run's files, and README's Table I is the records'."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import record_run  # noqa: E402

RECORD = REPO / "docs" / "results" / "mnist-paper-recipe"

TIME_V = """\tCommand being timed: "snakemake --cores 2"
\tUser time (seconds): {user}
\tSystem time (seconds): {system}
\tPercent of CPU this job got: 180%
\tElapsed (wall clock) time (h:mm:ss or m:ss): {clock}
\tMaximum resident set size (kbytes): 123456
"""


def test_time_files_sum_wall_and_cpu_over_invocations(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(TIME_V.format(user="100.5", system="9.5", clock="1:02:03"))
    second.write_text(TIME_V.format(user="20", system="0", clock="4:05.50"))
    cost = record_run.read_time_files([first, second])
    assert cost == {"wall_s": 3723 + 245.5, "cpu_s": 130.0, "invocations": 2, "unreported": 0}
    # an invocation killed together with its `time` leaves an empty file: counted, not summed
    (tmp_path / "killed.txt").write_text("")
    cost = record_run.read_time_files([first, tmp_path / "killed.txt", second])
    assert cost == {"wall_s": 3723 + 245.5, "cpu_s": 130.0, "invocations": 3, "unreported": 1}
    (tmp_path / "c.txt").write_text("not a time file")
    with pytest.raises(ValueError, match="c.txt"):
        record_run.read_time_files([tmp_path / "c.txt"])


def test_disagreements_rank_cells_in_tolerances():
    table1 = pd.DataFrame(
        [
            ("mnist", "dnn", 2e5, 2e4, 50.0, 60, 0.15, 0.15),  # size 1 tolerance off, pruning 1, gap 0
            ("mnist", "vit", 5e3, 5e3, 20.0, 20, 3.0, 10.66),  # gap 7.66 tolerances off
        ],
        columns=[
            "dataset", "arch", "min_params", "paper_min_params", "safe_pruning_pct",
            "paper_safe_pruning_pct", "gap_8bit_pct", "paper_8bit_gap_pct",
        ],
    )  # fmt: skip
    ranked = record_run.disagreements(table1)
    assert list(ranked["cell"][:1]) == ["8-bit gap (pp)"] and ranked["arch"][0] == "vit"
    assert ranked["tolerances"][0] == pytest.approx(7.66)
    dnn = ranked[ranked["arch"] == "dnn"].set_index("cell")["tolerances"]
    assert dnn["smallest stable size"] == pytest.approx(1.0)
    assert dnn["safe pruning %"] == pytest.approx(1.0)
    assert dnn["8-bit gap (pp)"] == pytest.approx(0.0)


def _workdir_from_record(tmp_path: Path) -> Path:
    """A finished run's results/ folder rebuilt from the recorded MNIST run's files."""
    results = tmp_path / "run" / "results"
    (results / "figures").mkdir(parents=True)
    for name in ("config.yaml", "table1.csv", "table1.md", "regimes.csv", "paper_comparison.md"):
        shutil.copy2(RECORD / name, results / name)
    for figure in RECORD.glob("fig*.png"):
        shutil.copy2(figure, results / "figures" / figure.name)
    shutil.copytree(RECORD / "collected", results / "collected")
    return tmp_path / "run"


def test_record_copies_the_run_and_writes_its_facts(tmp_path):
    workdir = _workdir_from_record(tmp_path)
    (workdir / "time.1.txt").write_text(TIME_V.format(user="3600", system="0", clock="30:00"))
    dest = tmp_path / "docs" / "results" / "copy"
    facts = record_run.record(workdir, dest, "abc1234", [workdir / "time.1.txt"]).read_text()
    for name in ("config.yaml", "table1.csv", "paper_comparison.md", "fig3_dnn.png", "collected/vit/qat.parquet"):
        assert (dest / name).read_bytes() == (RECORD / name).read_bytes()
    assert "commit `abc1234`" in facts and "`e02f85ca700d`" in facts
    assert "wall 30.0 min, CPU 1.00 hours" in facts
    # the ViT's 8-bit gap (-0.04 pp against 10.66 pp) is the recorded run's largest disagreement
    ranked = facts.split("largest distance first")[1]
    first_row = next(line for line in ranked.splitlines() if line.startswith("| MNIST"))
    assert "ViT" in first_row and "8-bit gap" in first_row
    finals = pd.read_parquet(RECORD / "collected" / "dnn" / "train.parquet").query("kind == 'final'")
    dnn_row = next(line for line in facts.splitlines() if line.startswith("| dnn"))
    assert [cell.strip() for cell in dnn_row.strip("|").split("|")][1:4] == ["32", "5", str(len(finals))]


def test_record_sums_job_benchmarks_and_scales_the_prediction(tmp_path):
    workdir = _workdir_from_record(tmp_path)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for stage, seconds, cpu in (("train", 100.0, 90.0), ("qat", 260.0, 270.0)):
        tsv = workdir / "results" / "benchmarks" / stage / "mnist" / "dnn" / "seeds0-4.tsv"
        tsv.parent.mkdir(parents=True)
        tsv.write_text(header + f"{seconds}\t0:00:00\t1\t1\t1\t1\t0\t0\t90\t{cpu}\n")
    (workdir / "time.1.txt").write_text("")
    config = workdir / "results" / "config.yaml"
    facts = record_run.record(
        workdir, tmp_path / "dest", "abc1234", [workdir / "time.1.txt"], config, speed_factor=2.0
    ).read_text()
    assert "1 of them killed before `time` could report" in facts
    assert "2 finished jobs, 0.10 job-hours, CPU 0.10 hours" in facts
    plain = next(line for line in facts.splitlines() if "Cost model's prediction" in line)
    doubled = next(line for line in facts.splitlines() if "scaled by this machine's speed check" in line)
    cpu_hours = [float(line.split(" CPU-hours")[0].split(", ")[-1]) for line in (plain, doubled)]
    assert cpu_hours[1] == pytest.approx(2 * cpu_hours[0], rel=0.02)


def test_record_refuses_an_unfinished_run(tmp_path):
    (tmp_path / "results").mkdir()
    with pytest.raises(SystemExit, match="no table1.csv, config.yaml"):
        record_run.record(tmp_path, tmp_path / "dest", "abc1234", [])


def test_readme_table_is_the_records_table():
    written, wanted = record_run.readme_table(REPO / "README.md")
    assert written == wanted, "README's Table I is not the records': run tools/record_run.py table --readme README.md"
    for row in pd.read_csv(RECORD / "table1.csv").itertuples():
        assert f"{row.min_params:,.0f}" in written and f"{row.gap_8bit_pct:+.2f} pp" in written


SCOPES = REPO / "docs" / "results" / "mnist-vit-scopes"


def test_combined_run_takes_each_family_from_the_first_record_holding_it():
    # both MNIST records hold a ViT: the first named gives its regimes, Table I row and rows
    for first, other in ((SCOPES, RECORD), (RECORD, SCOPES)):
        run = record_run.combined_run([first, other])
        vit = run.table1[run.table1["arch"] == "vit"]
        assert len(vit) == 1 and len(run.table1) == 3
        want = pd.read_csv(first / "table1.csv").query("arch == 'vit'")
        assert vit["min_params"].tolist() == want["min_params"].tolist()
        regimes = run.regimes[run.regimes["arch"] == "vit"]
        assert sorted(regimes["width"]) == sorted(pd.read_csv(first / "regimes.csv").query("arch == 'vit'")["width"])
        qat = run.qat_rows[run.qat_rows["arch"] == "vit"]
        assert set(qat["width"]) == set(regimes["width"])
        assert qat.groupby(["topology", "width", "seed"]).size().max() == 1  # one headline scope per seed
    # the DNN and CNN exist only in the paper-recipe record, whatever the order
    assert set(record_run.combined_run([SCOPES, RECORD]).prune_rows["arch"]) == {"dnn", "cnn", "vit"}


def test_combined_run_refuses_records_of_different_pruning_tolerances(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(RECORD / "regimes.csv", other)
    pd.read_csv(SCOPES / "table1.csv").assign(table1_prune_tolerance=2.0).to_csv(other / "table1.csv", index=False)
    with pytest.raises(ValueError, match="different pruning tolerances"):
        record_run.combined_run([SCOPES, other])


def test_readme_claims_are_the_records_claims():
    written, wanted = record_run.readme_claims(REPO / "README.md")
    assert written == wanted, "README's claims are not the records': run tools/record_run.py claims --readme README.md"
    assert "Each family's minimal stable size grows" in written


def test_table_marks_a_size_at_the_widest_width_swept_from_the_records_regimes(tmp_path):
    # the MNIST record's ViT ran D = 16 only, so its smallest stable size is a lower bound
    # (its table1.csv predates the column: the mark comes from the record's regimes)
    text = record_run.table([RECORD])
    assert "| 39,760 (`L1` w50) |" in text and "| 13,550 (`conv3x3` w2) |" in text  # wider stable widths exist
    assert "| ≥ 3,882 (`enc2` w16) |" in text
    # the same record with a D = 32 that is no better: D = 16 has a plateau above it now
    folder = tmp_path / "wider"
    folder.mkdir()
    shutil.copy(RECORD / "table1.csv", folder)
    regimes = pd.read_csv(RECORD / "regimes.csv")
    wider = regimes[(regimes["arch"] == "vit")].assign(width=32)
    pd.concat([regimes, wider]).to_csv(folder / "regimes.csv", index=False)
    marked = record_run.table([folder], root=Path("/"))
    assert "| 3,882 (`enc2` w16) |" in marked and "≥" not in marked
