"""The workflow end to end on a tiny config, in a temporary directory, with the real MNIST
from the data mirror (MINARCH_DATA_MIRROR, else ../shared/data beside the checkout)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from snakemake_support import MIRROR, planned_jobs, snakemake_command

TINY = """
train: {max_epochs: 1}
prune: {ratios: [0.0, 0.5, 1.0]}
families:
  dnn: {datasets: [mnist], topologies: [L1, L2e], widths: [2, 8], seeds: 2}
  cnn: {datasets: [mnist], widths: [2], seeds: 2}
  vit: {datasets: [mnist], widths: [4], seeds: 2}
topology_sweep: {datasets: [mnist], depths: [1, 2], widths: [2, 8], seeds: 2}
"""

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MIRROR / "mnist.npz").is_file(), reason=f"no data mirror with mnist.npz at {MIRROR}"),
]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, "--configfile", str(workdir / "tiny.yaml"), "--cores", "2", *args)
    env = {**os.environ, "MINARCH_DATA_MIRROR": str(MIRROR)}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("minarch")
    (path / "tiny.yaml").write_text(TINY)
    snakemake(path)
    return path


def test_builds_every_output(workdir):
    for name in [
        "regimes.parquet",
        "regimes.csv",
        "table1.csv",
        "table1.md",
        "figures/fig3_dnn.png",
        "figures/fig4_cnn.png",
        "figures/fig5_vit.png",
        "topologies.parquet",
        "topology_invariance.csv",
        "figures/fig2b_topologies.png",
        "paper_comparison.md",
        "paper_comparison.html",
        "table1.html",
        "quantization_gaps.csv",
        "quantization_gaps.md",
        "quantization_gaps.html",
    ]:
        assert (workdir / "results" / name).stat().st_size > 0, name
    gaps = pd.read_csv(workdir / "results/quantization_gaps.csv")
    # one row per configuration that ran QAT and scope: every DNN, CNN and ViT configuration, in scope full here
    assert len(gaps) == 2 * 2 + 1 + 1 and set(gaps["qat_scope"]) == {"full"}, gaps
    assert {"gap_pp", "gap_pp_ci_low", "ptq_gap_pp", "ptq_gap_pp_ci_high"} <= set(gaps.columns)
    runs = sorted((workdir / "results" / "runs").glob("mnist/dnn/*/w*/seed*"))
    assert len(runs) == 4 * 2 * 2  # phase 1's four depth-1/2 shapes; phase 2's squares among them
    for run in runs:
        files = {p.name for p in run.iterdir()}
        if run.parent.parent.name in ("L1", "L2e"):
            assert files == {"model.pt", "train.parquet", "prune.parquet", "qat.parquet"}
        else:  # phase 1 only trains
            assert files == {"model.pt", "train.parquet"}
    assert not list((workdir / "results").rglob("*.tmp")), "temporary files left behind"
    assert not list((workdir / "results").rglob("*.ckpt")), "checkpoints left behind"
    # one job per stage and configuration here (a block of its 2 seeds), each with its record
    assert len(list((workdir / "results/blocks/train").rglob("seeds0-1.json"))) == 4 * 2 + 1 + 1


def test_parquet_schemas_and_values(workdir):
    run = workdir / "results/runs/mnist/dnn/L2e/w8/seed1"
    train, prune, qat = (pd.read_parquet(run / f"{stage}.parquet") for stage in ("train", "prune", "qat"))
    provenance = {"dataset", "arch", "topology", "width", "seed", "n_params", "minarch_version", "torch_version"}
    provenance |= {"stamp", "code_version"}
    for frame in (train, prune, qat):
        assert provenance <= set(frame.columns)
        assert frame[["dataset", "arch", "topology", "width", "seed"]].iloc[0].tolist() == ["mnist", "dnn", "L2e", 8, 1]
        assert (frame["n_params"] == (784 + 1) * 8 + (8 + 1) * 8 + (8 + 1) * 10).all()
    assert train["kind"].tolist() == ["epoch", "final"]
    final = train[train["kind"] == "final"].iloc[0]
    assert 0 <= final["test_acc"] <= 100 and final["epoch"] == 1
    assert prune["ratio"].tolist() == [0.0, 0.5, 1.0]
    assert prune["achieved_sparsity"].tolist() == pytest.approx([0.0, 0.5, 1.0], abs=1e-3)
    # the unpruned model is the trained model
    assert prune.loc[prune["ratio"] == 0.0, "test_acc"].item() == pytest.approx(final["test_acc"], abs=1e-9)
    row = qat.iloc[0]
    assert row["float_test_acc"] == pytest.approx(final["test_acc"])
    assert row["gap_pp"] == pytest.approx(row["float_test_acc"] - row["int8_test_acc"])
    assert row["int8_is_quantized"] and row["int8_bytes"] < row["float_bytes"]
    assert row["qat_backend"] == "qnnpack" and row["qat_mode"] == "scratch"


@pytest.mark.parametrize(
    "run, n_params",
    [
        ("mnist/cnn/conv3x3/w2", (9 + 1) * 2 + (2 * 26 * 26 + 1) * 10),
        ("mnist/vit/enc2learned/w4", 12 * 4**2 + (16 + 34) * 4 + 10 + 50 * 4),  # learned positions: 50 D
    ],
)
def test_cnn_and_vit_runs(workdir, run, n_params):
    for seed in (0, 1):
        folder = workdir / "results/runs" / run / f"seed{seed}"
        train, prune, qat = (pd.read_parquet(folder / f"{stage}.parquet") for stage in ("train", "prune", "qat"))
        assert (train["n_params"] == n_params).all() and (qat["n_params"] == n_params).all()
        final = train[train["kind"] == "final"].iloc[0]
        assert prune.loc[prune["ratio"] == 0.0, "test_acc"].item() == pytest.approx(final["test_acc"], abs=1e-9)
        assert prune["achieved_sparsity"].tolist() == pytest.approx([0.0, 0.5, 1.0], abs=1e-3)
        assert qat["int8_is_quantized"].all() and qat["float_test_acc"].item() == pytest.approx(final["test_acc"])


def test_aggregates_agree_with_runs(workdir):
    results = workdir / "results"
    regimes = pd.read_parquet(results / "regimes.parquet")
    assert len(regimes) == 4 + 1 + 1 and set(regimes["regime"]) <= {"unstable", "learning", "overfitting", "failed"}
    finals = pd.concat(pd.read_parquet(p) for p in results.rglob("train.parquet"))
    finals = finals[(finals["kind"] == "final") & ~finals["topology"].isin(["L2u", "L2d"])]  # phase 1 only
    expected = finals.groupby(["arch", "topology", "width"])["test_acc"].mean()
    got = regimes.set_index(["arch", "topology", "width"])["test_acc_mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    # tiny ReLU nets may start with dead units (paper: small widths are unstable), but the
    # best width-8 run learns MNIST well above chance within one epoch
    assert finals.loc[(finals["arch"] == "dnn") & (finals["width"] == 8), "test_acc"].max() > 60
    table = pd.read_csv(results / "table1.csv")
    assert table[["dataset", "arch"]].values.tolist() == [["mnist", "dnn"], ["mnist", "cnn"], ["mnist", "vit"]]
    assert table.loc[0, "paper_min_params"] == 2e4 and table.loc[0, "paper_safe_pruning_pct"] == 60
    assert "paper 8-bit gap %" in (results / "table1.md").read_text()
    cnn = table[table["arch"] == "cnn"].iloc[0]  # bootstrap intervals over seeds contain the estimate
    if not pd.isna(cnn["min_params"]):
        assert cnn["min_params_ci_low"] <= cnn["min_params"] <= cnn["min_params_ci_high"]
    assert {"safe_pruning_pct_ci_low", "gap_8bit_pct_ci_high", "min_params_none_share"} <= set(table.columns)
    comparison = (results / "paper_comparison.md").read_text()
    assert "table1-mnist-cnn-min-params" in comparison and "not measured" in comparison


def test_topology_sweep_outputs(workdir):
    results = workdir / "results"
    table = pd.read_parquet(results / "topologies.parquet")
    assert sorted(table["topology"].unique()) == ["L1", "L2d", "L2e", "L2u"] and len(table) == 8
    assert set(table["depth"]) == {1, 2}
    square = pd.read_parquet(results / "regimes.parquet").query("arch == 'dnn'").set_index(["topology", "width"])
    shared = table.set_index(["topology", "width"]).loc[square.index]
    pd.testing.assert_series_equal(shared["test_acc_mean"], square["test_acc_mean"])
    spread = pd.read_csv(results / "topology_invariance.csv")
    assert {"depth", "decade", "spread_pp", "n_topologies", "shape_invariant"} <= set(spread.columns)
    assert (spread["spread_pp"] >= 0).all() and spread.loc[spread["depth"] == 2, "n_topologies"].max() >= 2


def test_topology_figure_plans_training_only(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    plan = planned_jobs(snakemake(tmp_path, "-n", "results/figures/fig2b_topologies.png"))
    assert plan["train_dnn"] == 4 * 2 and plan["topology_figure"] == 1  # shapes x widths, a block of 2 seeds each
    assert not any(name.startswith(("prune", "qat", "train_cnn", "train_vit")) for name in plan)


def test_report_is_self_contained_with_figures_and_tables(workdir):
    report = workdir / "results" / "report.html"
    snakemake(workdir, "--report", str(report))
    html = report.read_text()
    assert report.stat().st_size > 100_000  # images and tables are embedded
    for name in (
        "fig3_dnn.png",
        "fig4_cnn.png",
        "fig5_vit.png",
        "fig2b_topologies.png",
        "table1.html",
        "quantization_gaps.html",
        "regimes.html",
        "topology_invariance.html",
        "paper_comparison.html",
        "Phase 1: topologies",
    ):
        assert name in html, name
    assert "Table I" in (workdir / "results" / "table1.html").read_text()


def test_second_run_does_nothing(workdir):
    assert planned_jobs(snakemake(workdir, "-n")) == {}


def test_deleting_one_qat_file_reruns_only_that_seed(workdir):
    target = workdir / "results/runs/mnist/dnn/L1/w2/seed0/qat.parquet"
    untouched = [workdir / f"results/runs/mnist/dnn/L1/{run}/qat.parquet" for run in ("w2/seed1", "w8/seed0")]
    before = [path.stat().st_mtime_ns for path in untouched]
    target.unlink()
    plan = planned_jobs(snakemake(workdir, "-n"))
    assert plan == {
        "qat_dnn": 1,
        "collect": 1,
        "table1": 1,
        "quantization_gaps": 1,
        "family_figure": 1,
        "paper_comparison": 1,
        "save_config": 1,  # the config is saved again once the outputs it describes are remade
        "all": 1,
    }
    snakemake(workdir)
    assert target.is_file() and [path.stat().st_mtime_ns for path in untouched] == before
    log = (workdir / "results/logs/qat/mnist/dnn/L1/w2/seeds0-1.log").read_text()
    assert "1 of 2 seeds to quantise" in log, log


def test_one_figure_plans_only_what_it_needs(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    plan = planned_jobs(snakemake(tmp_path, "-n", "results/figures/fig3_dnn.png"))
    assert "table1" not in plan and "regimes" not in plan and "all" not in plan
    assert plan["family_figure"] == 1 and plan["collect"] == 3 and plan["train_dnn"] == 4  # 2 topologies x 2 widths


def job_resources_in_plan(result: subprocess.CompletedProcess) -> dict[str, set[str]]:
    """Rule -> the distinct 'resources:' lines of its planned jobs (dry run output)."""
    resources: dict[str, set[str]] = {}
    for block in (result.stdout + result.stderr).split("\n\n"):
        rule = re.search(r"^(?:local)?rule (\w+):$", block, re.M)
        line = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and line:
            resources.setdefault(rule.group(1), set()).add(line.group(1))
    return resources


def test_gpu_is_requested_only_for_cuda_stage_jobs(tmp_path):
    # (which rules run locally on a cluster is checked by tests/cluster/run_slurm_e2e.sh: a
    # dry run prints every job as "rule", local or not)
    (tmp_path / "tiny.yaml").write_text(TINY)
    auto = job_resources_in_plan(snakemake(tmp_path, "-n"))
    assert auto and not any("gpu" in line for lines in auto.values() for line in lines)
    (tmp_path / "tiny.yaml").write_text(TINY + "\n" + "train: {max_epochs: 1, device: cuda}\n")
    cuda = job_resources_in_plan(snakemake(tmp_path, "-n"))
    stages = {rule: lines for rule, lines in cuda.items() if rule.startswith(("train", "prune", "qat"))}
    assert stages and all("gpu=1" in line for lines in stages.values() for line in lines)
    assert not any("gpu" in line for rule, lines in cuda.items() if rule not in stages for line in lines)
    # a GPU model and partition, or a gres instead of gpu (the SLURM plugin takes one or the other)
    for gpu, expected, absent in [
        ("{gpu_model: h100, slurm_partition: gpu}", ("gpu=1", "gpu_model=h100", "slurm_partition=gpu"), "gres"),
        ("{gres: 'gpu:h100:1'}", ("gres=gpu:h100:1",), "gpu=1"),
    ]:
        (tmp_path / "tiny.yaml").write_text(TINY + f"train: {{max_epochs: 1, device: cuda}}\ncluster: {{gpu: {gpu}}}\n")
        lines = [
            line
            for rule, lines in job_resources_in_plan(snakemake(tmp_path, "-n")).items()
            if rule.startswith(("train", "prune", "qat"))
            for line in lines
        ]
        assert lines and all(all(e in line for e in expected) and absent not in line for line in lines), lines


def test_stage_jobs_ask_for_the_cost_models_runtime_and_memory(tmp_path):
    """Every train, prune and QAT job's runtime and mem_mb are minarch.cost.job_request's for
    its configuration; the margins scale them."""
    from minarch import cost
    from minarch.config import load_config

    (tmp_path / "tiny.yaml").write_text(TINY)
    plan = job_resources_in_plan(snakemake(tmp_path, "-n"))
    config = load_config(tmp_path / "tiny.yaml")
    expected = cost.job_request(config, "qat", "mnist", "vit", "enc2learned", 4, cost.CostParameters(), seeds=2)
    lines = plan["qat_vit"]
    assert lines and all(
        f"runtime={expected['runtime']}," in line and f"mem_mb={expected['mem_mb']}," in line for line in lines
    ), lines
    (tmp_path / "tiny.yaml").write_text(TINY + "cluster: {runtime_margin: 3.0, memory_margin: 3.0}\n")
    wider = job_resources_in_plan(snakemake(tmp_path, "-n"))["qat_vit"]
    assert all(
        f"mem_mb={2 * expected['mem_mb'] - 1}," in line or f"mem_mb={2 * expected['mem_mb']}," in line for line in wider
    ), wider


def test_jobs_start_longest_chain_first(tmp_path):
    """Every train, prune and QAT job's priority in the plan is minarch.cost.job_priority's
    for its block, so the ViT's training (whose QAT is the longest job) goes first."""
    from minarch import cost
    from minarch.config import load_config

    (tmp_path / "tiny.yaml").write_text(TINY)
    result = snakemake(tmp_path, "-n")
    config, params = load_config(tmp_path / "tiny.yaml"), cost.CostParameters()
    blocks = cost.configuration_blocks(config, params)
    planned = {}
    for block in (result.stdout + result.stderr).split("\n\n"):
        rule = re.search(r"^(?:local)?rule (train|prune|qat)_(\w+):$", block, re.M)
        if rule:
            wildcards = dict(re.findall(r"(\w+)=(\w+)", re.search(r"^\s+wildcards: (.*)$", block, re.M).group(1)))
            key = (wildcards["dataset"], rule.group(2), wildcards["topology"], int(wildcards["width"]))
            first, last = int(wildcards["first"]), int(wildcards["last"])
            priority = float(re.search(r"^\s+priority: (\S+)$", block, re.M).group(1))
            assert priority == pytest.approx(
                cost.job_priority(config, params, key, blocks[key], rule.group(1), first, last)
            ), block
            planned[(rule.group(1), key, first)] = priority
    assert len(planned) == sum(len(entry[stage]) for entry in blocks.values() for stage in cost.STAGES)
    first_train = max((value, key[1]) for (stage, key, _), value in planned.items() if stage == "train")
    assert first_train[1] == "vit"


@pytest.mark.parametrize(
    "bad_yaml, named",
    [
        ("widthz: 3", "widthz"),
        ("families: {dnn: {datasets: [svhn], topologies: [L1], widths: [2], seeds: 1}}", "svhn"),
        ("families: {dnn: {datasets: [mnist], topologies: [L1], widths: [-2], seeds: 1}}", "families.dnn.widths[0]"),
        ("families: {dnn: {datasets: [mnist], topologies: [L2x], widths: [2], seeds: 1}}", "L2x"),
        ("prune: {ratios: [0.0, 1.5]}", "prune.ratios[1]"),
        ("families: {cnnn: {}}", "cnnn"),
        # wrong key or type, named at its full path
        ("train: {lr: 0.01}", "config error at train"),  # unknown nested key
        ("train: {learning_rate: fast}", "config error at train.learning_rate"),
        (
            "families: {dnn: {datasets: [mnist], topologies: [L1], widths: 8, seeds: 2}}",
            "config error at families.dnn.widths",
        ),
        (
            "families: {dnn: {datasets: [mnist], topologies: [L1], widths: [8], seeds: true}}",
            "config error at families.dnn.seeds",
        ),
        ("train: 5", "config error at train"),
    ],
)
def test_bad_config_fails_with_one_named_line(tmp_path, bad_yaml, named):
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "bad.yaml").write_text(bad_yaml)
    result = snakemake(
        tmp_path, "-n", "--configfile", str(tmp_path / "tiny.yaml"), str(tmp_path / "bad.yaml"), check=False
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.startswith("config error")]
    assert len(lines) == 1 and named in lines[0], output
    assert "Traceback" not in output
    assert not (tmp_path / "results").exists()


def test_growing_the_sweep_runs_only_what_is_new(workdir, tmp_path):
    """More seeds and a new width for the CNN: the dry run plans the blocks that hold new seeds
    (and the aggregates) only, and the run leaves every finished per-seed file as it was."""
    grown = tmp_path / "grown"
    shutil.copytree(workdir, grown)  # mtimes kept: Snakemake sees a finished run
    old = "cnn: {datasets: [mnist], widths: [2], seeds: 2}"
    assert old in TINY
    (grown / "tiny.yaml").write_text(TINY.replace(old, "cnn: {datasets: [mnist], widths: [2, 3], seeds: 3}"))
    plan = planned_jobs(snakemake(grown, "-n"))
    stage_jobs = {rule: n for rule, n in plan.items() if rule.startswith(("train_", "prune_", "qat_"))}
    # w2's block grows to seeds 0-2 (seeds 0 and 1 are skipped), w3 is a new block of seeds 0-2
    assert stage_jobs == {"train_cnn": 2, "prune_cnn": 2, "qat_cnn": 2}, plan
    finished = {
        p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (grown / "results" / "runs").rglob("*") if p.is_file()
    }
    snakemake(grown)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished} == finished
    for run in ("w2/seed2", "w3/seed0", "w3/seed2"):
        assert (grown / "results/runs/mnist/cnn/conv3x3" / run / "qat.parquet").is_file(), run
    assert planned_jobs(snakemake(grown, "-n")) == {}
