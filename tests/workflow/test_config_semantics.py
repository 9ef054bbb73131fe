"""A user's config means what it says: dry runs (``snakemake -n``, no training) in
a working directory laid out like a clone, with the default ``config/config.yaml`` beside the
user's file, so Snakemake merges the user's file over the paper's full sweep as it does for a
user. The sweep (``families``, ``topology_sweep``) comes whole from the user's files, every
plan is summarised in one line, and bad values stop with one line naming the problem.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from snakemake_support import REPO, one_line_error, planned_jobs, snakemake_command

pytestmark = pytest.mark.workflow

DNN_ONLY = """
train: {max_epochs: 1}
families:
  dnn: {datasets: [mnist], topologies: [L1], widths: [4, 16], seeds: 2}
"""
CNN_ONLY = """
families:
  cnn: {datasets: [fashion_mnist], widths: [2], seeds: 3}
"""
WITH_PHASE_1 = """
families:
  dnn: {datasets: [mnist], topologies: [L1], widths: [4], seeds: 2}
topology_sweep: {datasets: [mnist], depths: [1, 2], widths: [4], seeds: 2}
"""
SUMMARY = re.compile(r"^minarch plan: .*; (\d+) training runs in (\d+) train \+ (\d+) prune \+ (\d+) qat jobs", re.M)


@pytest.fixture
def clone(tmp_path) -> Path:
    """A working directory with the default config where the Snakefile looks for it."""
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    return tmp_path


def dry_run(workdir: Path, *configs: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``snakemake -n`` with each text in ``configs`` as one --configfile, in order."""
    paths = []
    for index, text in enumerate(configs):
        path = workdir / f"user{index}.yaml"
        path.write_text(text)
        paths.append(str(path))
    command = snakemake_command(workdir, "-n", *extra, *(["--configfile", *paths] if paths else []))
    return subprocess.run(command, capture_output=True, text=True)


def rules_of(result: subprocess.CompletedProcess) -> dict[str, int]:
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return planned_jobs(result)


def by_stage(jobs: dict[str, int], stage: str) -> int:
    return sum(n for rule, n in jobs.items() if rule.startswith(f"{stage}_"))


def summary_of(result: subprocess.CompletedProcess) -> str:
    """The one summary line (Snakemake prints the job stats twice; the summary comes once)."""
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("minarch plan:")]
    assert len(lines) == 1, (result.stdout + result.stderr)[-5000:]
    return lines[0]


def one_single_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """``one_line_error``, with exactly one such line and nothing run."""
    line = one_line_error(result, *fragments)
    output = result.stdout + result.stderr
    lines = [text for text in output.splitlines() if all(f in text for f in fragments)]
    assert len(lines) == 1, f"no single line with {fragments} in:\n{output[-5000:]}"
    assert not (Path(result.args[result.args.index("--directory") + 1]) / "results").exists()
    return line


def test_a_config_naming_only_the_dnn_plans_only_its_runs(clone):
    result = dry_run(clone, DNN_ONLY)
    jobs = rules_of(result)
    stages = {rule for rule in jobs if rule.startswith(("train_", "prune_", "qat_"))}
    assert stages == {"train_dnn", "prune_dnn", "qat_dnn"}
    # w4 and w16 on MNIST, 2 seeds (not 30), each configuration's seeds one block (they fit cluster.job_minutes)
    assert jobs["train_dnn"] == 2 and jobs["prepare_dataset"] == 1
    assert "topology_sweep" not in jobs and "topology_figure" not in jobs  # no phase 1
    assert jobs["family_figure"] == 1 and jobs["collect"] == 3
    line = summary_of(result)
    assert "dnn [mnist; L1; widths 4, 16; 2 seeds]" in line and "no phase 1" in line and "max_epochs 1" in line


def test_a_config_naming_only_the_cnn_plans_only_its_runs(clone):
    jobs = rules_of(dry_run(clone, CNN_ONLY))
    stages = {rule for rule in jobs if rule.startswith(("train_", "prune_", "qat_"))}
    assert stages == {"train_cnn", "prune_cnn", "qat_cnn"}
    assert jobs["train_cnn"] == 1 and "topology_sweep" not in jobs  # one block of its 3 seeds


def test_topology_sweep_null_turns_phase_1_off(clone):
    with_phase_1 = rules_of(dry_run(clone, WITH_PHASE_1))
    assert with_phase_1["topology_sweep"] == 1 and with_phase_1["train_dnn"] == 4  # L1 (shared), L2u, L2d, L2e
    # a second file turns it off; so does --config
    for result in (
        dry_run(clone, WITH_PHASE_1, "topology_sweep: null\n"),
        dry_run(clone, WITH_PHASE_1, extra=("--config", "topology_sweep=null")),
    ):
        jobs = rules_of(result)
        assert "topology_sweep" not in jobs and "topology_figure" not in jobs
        assert jobs["train_dnn"] == 1
        assert "no phase 1" in summary_of(result)


def test_config_override_replaces_the_families_whole(clone):
    result = dry_run(
        clone, DNN_ONLY, extra=("--config", "families={vit: {datasets: [mnist], widths: [4, 8], seeds: 2}}")
    )
    jobs = rules_of(result)
    assert {rule for rule in jobs if rule.startswith("train_")} == {"train_vit"}
    assert jobs["train_vit"] == 2  # a block of 2 seeds per width
    assert "vit [mnist; widths 4, 8; 2 seeds]" in summary_of(result)


def test_summary_line_counts_what_the_dry_run_plans(clone):
    result = dry_run(clone, WITH_PHASE_1 + "train: {max_epochs: 2}\n")
    jobs = rules_of(result)
    runs, train, prune, qat = map(int, SUMMARY.search(summary_of(result)).groups())
    assert (train, prune, qat) == (by_stage(jobs, "train"), by_stage(jobs, "prune"), by_stage(jobs, "qat"))
    # 4 configurations x 2 seeds, a block each; only L1 is pruned and quantised
    assert (runs, train, prune, qat) == (8, 4, 1, 1)
    assert "max_epochs 2" in summary_of(result)


def test_quick_config_still_runs_its_whole_sweep(clone):
    result = dry_run(clone, (REPO / "config" / "quick.yaml").read_text())
    jobs = rules_of(result)
    assert {rule.split("_")[1] for rule in jobs if rule.startswith("train_")} == {"dnn", "cnn", "vit"}
    assert jobs["topology_sweep"] == 1
    # a block per configuration and stage: 24 family configurations + 4 phase-1-only shapes
    assert (by_stage(jobs, "train"), by_stage(jobs, "prune"), by_stage(jobs, "qat")) == (28, 24, 24)


@pytest.mark.parametrize(
    "bad, fragments",
    [
        (
            "families: {dnn: {datasets: [mnist], topologies: [L1], widths: [5.0], seeds: 2}}",
            ("config error at families.dnn.widths[0]", "5.0", "integer"),
        ),
        (
            "families: {dnn: {datasets: [mnist], topologies: [L1], widths: [5], seeds: 2}}\n"
            "prune: {ratios: [0.5, 1.0]}",
            ("config error at prune.ratios", "0.0"),
        ),
    ],
)
def test_bad_values_stop_with_one_line(clone, bad, fragments):
    one_single_line_error(dry_run(clone, bad), *fragments)


def test_learning_rate_1e_minus_3_is_a_number(clone):
    result = dry_run(clone, DNN_ONLY + "train: {learning_rate: 1e-3, max_epochs: 1}\n")
    assert by_stage(rules_of(result), "train") == 2  # 2 widths, a block of 2 seeds each


def test_yaml_error_in_the_default_config_names_file_and_line(clone):
    default = clone / "config" / "config.yaml"
    lines = default.read_text().splitlines()
    lines[5] = "  validation_fraction: [0.1"  # line 6: an unclosed list
    default.write_text("\n".join(lines) + "\n")
    line = one_single_line_error(dry_run(clone, DNN_ONLY), "config/config.yaml, line", "YAML syntax error")
    assert re.search(r"line (6|7), column \d+", line), line
