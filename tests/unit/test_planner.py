"""benchmarks/planner.py: the job plan follows the workflow's structure, its costs scale as they
should, the wall time lies between the critical path and the total, and what is left of a sweep
counts only the stage jobs whose block records exist."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from minarch import cost, records
from minarch.config import load_config
from minarch.settings import schema_default

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "benchmarks") not in sys.path:  # the benchmarks scripts are no package
    sys.path.insert(0, str(ROOT / "benchmarks"))

import planner  # noqa: E402

TINY = {
    "train": {"max_epochs": 4, "threads": 1},
    "prune": {"ratios": [0.0, 0.5, 1.0], "finetune_epochs": 0},
    "qat": {"mode": "scratch", "finetune_epochs": 3},
    "families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1", "L2e"], "widths": [5, 50], "seeds": 3}},
}


ONE_SEED_JOBS = {**TINY, "cluster": {"job_minutes": 1e-6}}  # every seed its own job


def planned_jobs(config):
    return cost.planned_jobs(config, cost.CostParameters())


def by_stage(jobs):
    counts = {}
    for job in jobs:
        counts[job.stage] = counts.get(job.stage, 0) + 1
    return counts


def test_plan_has_one_job_per_block_and_stage():
    jobs = planner.plan(TINY)  # 4 epochs of tiny MLPs: a configuration's 3 seeds fit one job
    configurations = 2 * 2
    counts = by_stage(jobs)
    assert counts["train"] == counts["prune"] == counts["qat"] == configurations
    assert counts["prepare"] == 2  # the dataset cache and its content version
    # save_config, collect x 3 stages, regimes, table1, quantization gaps, paper comparison, one figure
    assert counts["aggregate"] == 1 + 3 + 4 + 1
    assert "save_config" in {job.name for job in jobs}
    names = [job.name for job in jobs]
    assert len(set(names)) == len(names)
    by_name = {job.name: job for job in jobs}
    assert by_name["qat/mnist/dnn/L1/w5/seeds0-2"].after == ["train/mnist/dnn/L1/w5/seeds0-2"]
    assert sum(job.seeds for job in jobs if job.stage == "train") == configurations * 3
    one = {job.name: job for job in planner.plan(ONE_SEED_JOBS)}
    assert by_stage(one.values())["train"] == configurations * 3
    assert one["qat/mnist/dnn/L1/w5/seeds1-1"].after == ["train/mnist/dnn/L1/w5/seeds1-1"]


def test_topology_sweep_shares_the_square_runs_and_trains_only():
    config = {
        **ONE_SEED_JOBS,
        "topology_sweep": {"datasets": ["mnist"], "depths": [1, 2], "widths": [5, 50], "seeds": 3},
    }
    jobs = planner.plan(config)
    counts = by_stage(jobs)
    # depth 1-2: L1, L2u, L2d, L2e; L1 and L2e are the DNN family's runs
    assert counts["train"] == 4 * 2 * 3  # shapes x widths x seeds
    assert counts["prune"] == counts["qat"] == 2 * 2 * 3
    collect = next(job for job in jobs if job.name == "collect/topology_sweep_train")
    assert len(collect.after) == 4 * 2 * 3  # the train jobs
    assert {job.sweep for job in jobs if job.stage == "train"} == {"dnn", "topology_sweep"}


def test_costs_scale_with_epochs_seeds_and_process_start():
    # one point per depth, larger than every model here: every configuration costs its floor
    params = cost.CostParameters(
        points=[
            cost.Point("mnist", "dnn", 1, 10**9, 1.0, 3.0, 0.0),
            cost.Point("mnist", "dnn", 2, 10**9, 1.0, 3.0, 0.0),
        ],
        process_start=0.0,
        data_load={"mnist": 0.0},
        aggregate_seconds=0.0,
    )
    base = TINY
    jobs = {job.name: job for job in planner.plan(base, params)}
    train = jobs["train/mnist/dnn/L1/w5/seeds0-2"]
    assert train.seconds == pytest.approx(3 * 4 * 1.0)  # 3 seeds x 4 epochs x 1 s
    assert jobs["qat/mnist/dnn/L1/w5/seeds0-2"].seconds == pytest.approx(3 * 4 * 3.0)
    assert jobs["prune/mnist/dnn/L1/w5/seeds0-2"].seconds == pytest.approx(0.0)
    params.epoch_fraction = 0.5
    assert {j.name: j for j in planner.plan(base, params)}[train.name].seconds == pytest.approx(train.seconds / 2)
    params.epoch_fraction, params.process_start = 1.0, 5.0
    # the process start is paid once per block, not per seed
    assert {j.name: j for j in planner.plan(base, params)}[train.name].seconds == pytest.approx(train.seconds + 5)


def test_wall_time_between_critical_path_and_total():
    jobs = planner.plan(TINY)
    total = sum(job.seconds for job in jobs)
    assert planner.simulate_wall(jobs, 1) == pytest.approx(total)
    many = planner.simulate_wall(jobs, 1000)
    by_name = {job.name: job for job in jobs}

    def path(name):
        job = by_name[name]
        return job.seconds + max((path(d) for d in job.after if d in by_name), default=0.0)

    assert many == pytest.approx(max(path(job.name) for job in jobs))
    assert many < planner.simulate_wall(jobs, 2) < total
    assert planner.simulate_wall(jobs, 4, threads=2) == pytest.approx(planner.simulate_wall(jobs, 2))


def test_repository_configs_plan_every_family_and_the_summary_prints():
    default, quick = load_config(None), load_config(ROOT / "config" / "quick.yaml")
    assert quick["prune"]["ratios"] == default["prune"]["ratios"]  # merged over the defaults
    for config in (default, quick):
        summary = planner.estimate(config, cores=(2, 64))
        families = set(config["families"])
        assert families <= {row["sweep"] for row in summary.rows}
        assert summary.total_jobs == len(planner.plan(config))
        assert summary.wall_hours[64] <= summary.wall_hours[2] <= summary.total_cpu_hours
        text = planner.format_summary(summary, "title")
        assert "**total**" in text and "estimated wall time" in text
    assert planner.estimate(default).total_cpu_hours > 100 * planner.estimate(quick).total_cpu_hours


def write_config(tmp_path, content) -> str:
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(content))
    return str(path)


DNN_ONLY = {
    "train": {"max_epochs": 1},
    "families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": [2, 8], "seeds": 2}},
}


def test_a_config_naming_its_families_plans_only_those(tmp_path):
    # as the workflow merges it: the sweep comes whole from the user's file, no cnn/vit/phase 1
    config = load_config(write_config(tmp_path, DNN_ONLY))
    jobs = planner.plan(config)
    assert {job.sweep for job in jobs} == {"all", "dnn"}
    assert not any(job.name.startswith("collect/topology_sweep") for job in jobs)
    counts = by_stage(jobs)
    planned = planned_jobs(config)  # the count the workflow's plan line prints
    assert (counts["train"], counts["prune"], counts["qat"]) == (planned["train"], planned["prune"], planned["qat"])
    assert sum(job.seeds for job in jobs if job.stage == "train") == planned["runs"]


def test_repository_configs_plan_as_many_jobs_as_the_workflow_line():
    for config in (load_config(None), load_config(ROOT / "tests" / "cluster" / "tiny.yaml")):
        counts, planned = by_stage(planner.plan(config)), planned_jobs(config)
        assert (counts["train"], counts["prune"], counts["qat"]) == (planned["train"], planned["prune"], planned["qat"])


def test_settings_left_out_take_the_schema_defaults(tmp_path):
    config = load_config(write_config(tmp_path, {**DNN_ONLY, "qat": {"mode": "finetune"}}))
    assert config["qat"]["finetune_epochs"] == schema_default("qat", "finetune_epochs")
    assert config["cluster"]["runtime_margin"] == schema_default("cluster", "runtime_margin")
    qat = next(job for job in planner.plan(config) if job.stage == "qat")
    assert qat.epochs == qat.seeds * schema_default("qat", "finetune_epochs")


def test_remaining_counts_only_the_stage_jobs_whose_block_records_exist(tmp_path):
    """Progress: a stage job is done when its block's record exists; what is left keeps its
    order but no longer waits for done jobs."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(ONE_SEED_JOBS))
    jobs = planner.plan(load_config(path))
    left, done = planner.remaining(jobs, tmp_path)
    assert done == 0 and [j.name for j in left] == [j.name for j in jobs]

    def finish(stage, width, seed):
        record = tmp_path / records.block_record(stage, "mnist", "dnn", "L1", width, seed, seed)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("{}")

    finish("train", 5, 0), finish("train", 5, 1), finish("prune", 5, 0)  # seeds 0 and 1 of L1 w5 trained
    finish("qat", 50, 2)  # a QAT block whose train block must rerun
    left, done = planner.remaining(jobs, tmp_path)
    names = {j.name for j in left}
    assert done == 3 and not {"train/mnist/dnn/L1/w5/seeds0-0", "train/mnist/dnn/L1/w5/seeds1-1"} & names
    assert "prune/mnist/dnn/L1/w5/seeds0-0" not in names
    assert {
        "train/mnist/dnn/L1/w5/seeds2-2",
        "prune/mnist/dnn/L1/w5/seeds1-1",
        "qat/mnist/dnn/L1/w50/seeds2-2",
    } <= names
    prune = next(j for j in left if j.name == "prune/mnist/dnn/L1/w5/seeds1-1")
    assert prune.after == []  # its train job is done
    assert planner.summarize(left).total_cpu_hours < planner.summarize(jobs).total_cpu_hours


def test_progress_line_says_when_only_unchecked_aggregates_remain(tmp_path, capsys):
    import cost_model

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(ONE_SEED_JOBS))
    jobs = planner.plan(load_config(path))
    assert cost_model.main([str(path), "--remaining", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("what is left:") and " 0 of " in first
    for record in filter(None, map(planner.job_record, jobs)):  # every stage job's block record in place
        (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / record).write_text("{}")
    assert cost_model.main([str(path), "--remaining", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "(100%" in first and "not checked here" in first and "what is left" not in first
