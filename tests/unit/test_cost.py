"""cost.py: the job plan follows the workflow's structure, costs scale as they should, and
measured outputs calibrate the model."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from minarch import cost
from minarch.config import ConfigError, planned_jobs
from minarch.settings import schema_default

TINY = {
    "train": {"max_epochs": 4, "threads": 1},
    "prune": {"ratios": [0.0, 0.5, 1.0], "finetune_epochs": 0},
    "qat": {"mode": "scratch", "finetune_epochs": 3},
    "families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1", "L2e"], "widths": [5, 50], "seeds": 3}},
}


def by_stage(jobs):
    counts = {}
    for job in jobs:
        counts[job.stage] = counts.get(job.stage, 0) + 1
    return counts


def test_interpolation_is_log_log_with_a_floor_and_linear_growth_beyond_the_table():
    points = [(10, 1.0), (1000, 10.0)]
    assert cost.interpolate(points, 10) == pytest.approx(1.0)
    assert cost.interpolate(points, 100) == pytest.approx(10**0.5)  # straight line in log-log
    assert cost.interpolate(points, 10000) == pytest.approx(100.0)  # beyond: proportional to size
    assert cost.interpolate(points, 1) == pytest.approx(1.0)  # floor below the table
    assert cost.interpolate([(5, 2.0)], 1) == 2.0
    assert cost.interpolate([(5, 2.0)], 50) == pytest.approx(20.0)


def test_depths_interpolate_linearly_and_fashion_mnist_uses_mnist():
    params = cost.CostParameters(
        points=[
            cost.Point("mnist", "dnn", 1, 100, 1.0, 2.0, 0.1),
            cost.Point("mnist", "dnn", 4, 100, 4.0, 8.0, 0.4),
        ]
    )
    assert params.seconds("mnist", "dnn", 2, 100)["epoch"] == pytest.approx(2.0)
    assert params.seconds("fashion_mnist", "dnn", 4, 100)["qat_epoch"] == pytest.approx(8.0)
    assert params.seconds("mnist", "dnn", 9, 100)["epoch"] == pytest.approx(4.0)  # nearest depth outside
    with pytest.raises(KeyError, match="cifar10 cnn"):
        params.seconds("cifar10", "cnn", 1, 100)


def test_plan_has_one_job_per_seed_and_stage():
    jobs = cost.plan(TINY)
    configurations = 2 * 2
    counts = by_stage(jobs)
    assert counts["train"] == counts["prune"] == counts["qat"] == configurations * 3
    assert counts["prepare"] == 1
    # save_config, collect x 3 stages, regimes, table1, paper comparison, one figure
    assert counts["aggregate"] == 1 + 3 + 3 + 1
    assert "save_config" in {job.name for job in jobs}
    names = [job.name for job in jobs]
    assert len(set(names)) == len(names)
    assert "train/mnist/dnn/L2e/w50/seed2" in names
    by_name = {job.name: job for job in jobs}
    assert by_name["qat/mnist/dnn/L1/w5/seed1"].after == ["train/mnist/dnn/L1/w5/seed1"]
    assert sum(job.seeds for job in jobs if job.stage == "train") == configurations * 3


def test_topology_sweep_shares_the_square_runs_and_trains_only():
    config = {**TINY, "topology_sweep": {"datasets": ["mnist"], "depths": [1, 2], "widths": [5, 50], "seeds": 3}}
    jobs = cost.plan(config)
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
    jobs = {job.name: job for job in cost.plan(base, params)}
    train = jobs["train/mnist/dnn/L1/w5/seed2"]
    assert train.seconds == pytest.approx(4 * 1.0)  # 4 epochs x 1 s
    assert jobs["qat/mnist/dnn/L1/w5/seed2"].seconds == pytest.approx(4 * 3.0)
    assert jobs["prune/mnist/dnn/L1/w5/seed2"].seconds == pytest.approx(0.0)
    params.epoch_fraction = 0.5
    assert {j.name: j for j in cost.plan(base, params)}[train.name].seconds == pytest.approx(train.seconds / 2)
    params.epoch_fraction, params.process_start = 1.0, 5.0
    assert {j.name: j for j in cost.plan(base, params)}[train.name].seconds == pytest.approx(train.seconds + 5)


def test_wall_time_between_critical_path_and_total():
    jobs = cost.plan(TINY)
    total = sum(job.seconds for job in jobs)
    assert cost.simulate_wall(jobs, 1) == pytest.approx(total)
    many = cost.simulate_wall(jobs, 1000)
    by_name = {job.name: job for job in jobs}

    def path(name):
        job = by_name[name]
        return job.seconds + max((path(d) for d in job.after if d in by_name), default=0.0)

    assert many == pytest.approx(max(path(job.name) for job in jobs))
    assert many < cost.simulate_wall(jobs, 2) < total
    assert cost.simulate_wall(jobs, 4, threads=2) == pytest.approx(cost.simulate_wall(jobs, 2))


def test_repository_configs_plan_every_family_and_the_summary_prints():
    default, quick = cost.load_config(None), cost.load_config(cost.REPO / "config" / "quick.yaml")
    assert quick["prune"]["ratios"] == default["prune"]["ratios"]  # merged over the defaults
    for config in (default, quick):
        summary = cost.estimate(config, cores=(2, 64))
        families = set(config["families"])
        assert families <= {row["sweep"] for row in summary.rows}
        assert summary.total_jobs == len(cost.plan(config))
        assert summary.wall_hours[64] <= summary.wall_hours[2] <= summary.total_cpu_hours
        text = cost.format_summary(summary, "title")
        assert "**total**" in text and "estimated wall time" in text
    assert cost.estimate(default).total_cpu_hours > 100 * cost.estimate(quick).total_cpu_hours


def write_run(root, dataset, topology, width, seed, epoch_seconds, qat_seconds=None, n_params=100):
    folder = root / "runs" / dataset / "dnn" / topology / f"w{width}" / f"seed{seed}"
    folder.mkdir(parents=True)
    common = {
        "dataset": dataset,
        "arch": "dnn",
        "topology": topology,
        "width": width,
        "seed": seed,
        "n_params": n_params,
        "train_max_epochs": 4,
        "stopped_epoch": 2,
    }
    rows = [{**common, "kind": "epoch", "epoch": e, "seconds": epoch_seconds} for e in (1, 2)]
    rows.append({**common, "kind": "final", "epoch": 2, "seconds": 2 * epoch_seconds + 0.5})
    pd.DataFrame(rows).to_parquet(folder / "train.parquet")
    if qat_seconds is not None:
        pd.DataFrame([{**common, "seconds": qat_seconds, "stopped_epoch": 2}]).to_parquet(folder / "qat.parquet")


# a job per seed (4.5 s of training + 8 s each), or a block of both seeds as earlier runs had them
@pytest.mark.parametrize("benchmarks", [{"seed0": 12.5, "seed1": 12.5}, {"seeds0-1": 17.0}], ids=["seed", "block"])
def test_from_measurements_reads_epochs_qat_and_process_start(tmp_path, benchmarks):
    for seed in (0, 1):
        write_run(tmp_path, "mnist", "L1", 5, seed, epoch_seconds=2.0, qat_seconds=10.0)
    bench = tmp_path / "benchmarks" / "train" / "mnist" / "dnn" / "L1" / "w5"
    bench.mkdir(parents=True)
    for name, seconds in benchmarks.items():
        (bench / f"{name}.tsv").write_text(f"s\th:m:s\n{seconds}\t0:00:17\n")
    params = cost.from_measurements(tmp_path)
    seconds = params.seconds("mnist", "dnn", 1, 100)
    assert seconds["epoch"] == pytest.approx(2.0)
    assert seconds["qat_epoch"] == pytest.approx(5.0)
    assert params.process_start == pytest.approx(8.0 - min(params.data_load.values()))
    assert all(p.dataset != "mnist" or p.arch != "dnn" or p.n_params == 100 for p in params.points)
    assert any(p.dataset == "cifar10" for p in params.points)  # unmeasured pairs keep the table
    assert cost.measured_epoch_fraction(tmp_path) == pytest.approx(0.5)
    with pytest.raises(FileNotFoundError):
        cost.from_measurements(tmp_path / "nothing")


def test_default_points_are_sane():
    for point in cost.DEFAULT_POINTS:
        assert point.epoch > 0 and point.qat_epoch >= point.epoch and 0 <= point.test_eval < point.epoch
        assert math.isfinite(point.n_params)


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
    config = cost.load_config(write_config(tmp_path, DNN_ONLY))
    jobs = cost.plan(config)
    assert {job.sweep for job in jobs} == {"all", "dnn"}
    assert not any(job.name.startswith("collect/topology_sweep") for job in jobs)
    counts = by_stage(jobs)
    planned = planned_jobs(config)  # the count the workflow's plan line prints
    assert (counts["train"], counts["prune"], counts["qat"]) == (planned["train"], planned["prune"], planned["qat"])
    assert sum(job.seeds for job in jobs if job.stage == "train") == planned["runs"]


def test_repository_configs_plan_as_many_jobs_as_the_workflow_line():
    for config in (cost.load_config(None), cost.load_config(cost.REPO / "tests" / "cluster" / "tiny.yaml")):
        counts, planned = by_stage(cost.plan(config)), planned_jobs(config)
        assert (counts["train"], counts["prune"], counts["qat"]) == (planned["train"], planned["prune"], planned["qat"])


def test_settings_left_out_take_the_schema_defaults(tmp_path):
    config = cost.load_config(write_config(tmp_path, {**DNN_ONLY, "qat": {"mode": "finetune"}}))
    assert config["qat"]["finetune_epochs"] == schema_default("qat", "finetune_epochs")
    assert config["cluster"]["runtime_margin"] == schema_default("cluster", "runtime_margin")
    qat = next(job for job in cost.plan(config) if job.stage == "qat")
    assert qat.epochs == qat.seeds * schema_default("qat", "finetune_epochs")


def test_a_bad_config_is_one_line_naming_the_key(tmp_path):
    bad = {"families": {"dnn": {**DNN_ONLY["families"]["dnn"], "widths": [5.0]}}}
    with pytest.raises(ConfigError, match=r"families\.dnn\.widths\[0\]"):
        cost.load_config(write_config(tmp_path, bad))


def test_default_points_are_the_calibration_csv(tmp_path):
    assert cost.DEFAULT_POINTS == tuple(cost.read_points(cost.POINTS_CSV)) and len(cost.DEFAULT_POINTS) > 0
    cost.write_points(cost.DEFAULT_POINTS[:3], tmp_path / "points.csv")
    assert cost.read_points(tmp_path / "points.csv") == list(cost.DEFAULT_POINTS[:3])


def test_remaining_counts_only_the_stage_jobs_whose_seed_outputs_are_missing(tmp_path):
    """Progress: a stage job is done when its seed has that stage's file; what is left keeps
    its order but no longer waits for done jobs."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    jobs = cost.plan(cost.load_config(path))
    left, done = cost.remaining(jobs, tmp_path)
    assert done == 0 and [j.name for j in left] == [j.name for j in jobs]
    run = tmp_path / "results/runs/mnist/dnn/L1/w5"
    for seed in (0, 1):  # seeds 0 and 1 of L1 w5 have trained; seed 2 has not
        (run / f"seed{seed}").mkdir(parents=True)
        (run / f"seed{seed}" / "train.parquet").write_bytes(b"")
    (run / "seed0" / "prune.parquet").write_bytes(b"")
    stale = tmp_path / "results/runs/mnist/dnn/L1/w50/seed2"  # a QAT output whose train job must rerun
    stale.mkdir(parents=True)
    (stale / "qat.parquet").write_bytes(b"")
    left, done = cost.remaining(jobs, tmp_path)
    names = {j.name for j in left}
    assert done == 3 and not {"train/mnist/dnn/L1/w5/seed0", "train/mnist/dnn/L1/w5/seed1"} & names
    assert "prune/mnist/dnn/L1/w5/seed0" not in names
    assert {
        "train/mnist/dnn/L1/w5/seed2",
        "prune/mnist/dnn/L1/w5/seed1",
        "qat/mnist/dnn/L1/w50/seed2",
    } <= names
    prune = next(j for j in left if j.name == "prune/mnist/dnn/L1/w5/seed1")
    assert prune.after == []  # its train job is done
    assert cost.summarize(left).total_cpu_hours < cost.summarize(jobs).total_cpu_hours


@pytest.mark.parametrize(
    "key",
    [
        ("mnist", "dnn", "L1", 5),
        ("cifar10", "dnn", "L4uuu", 1000),
        ("cifar10", "vit", "enc2", 16),
        ("mnist", "cnn", "conv3x3", 32),
    ],
)
def test_a_jobs_request_covers_its_prediction_and_at_most_triples_it(key):
    """runtime >= the predicted seconds at max_epochs, and <= 3x them for every job the
    one-minute floor allows (20 s or longer); memory grows with the model."""
    config, params = cost.load_config(None), cost.CostParameters()
    seconds, _ = cost.seed_job_seconds(config, params, *key)
    for stage in cost.STAGES:
        request = cost.job_request(config, stage, *key, params)
        assert request["runtime"] * 60 >= seconds[stage]
        assert request["runtime"] * 60 <= max(60, 3 * seconds[stage])
        assert request["mem_mb"] >= config["cluster"]["memory_margin"] * cost.PROCESS_MB
    tight = {**config, "cluster": {**config["cluster"], "runtime_margin": 1.0, "memory_margin": 1.0}}
    assert cost.job_request(tight, "train", *key, params)["runtime"] == max(1, math.ceil(seconds["train"] / 60))
    assert cost.job_memory_mb("cifar10", "dnn", "L4uuu", 1000) > cost.job_memory_mb("cifar10", "dnn", "L1", 5) + 1000


def test_cluster_cost_points_replace_the_built_in_table(tmp_path):
    points = tmp_path / "points.csv"
    cost.write_points([cost.Point("mnist", "dnn", 1, 10, 600.0, 600.0, 1.0)], points)
    config = {**cost.load_config(None), "cluster": {"cost_points": str(points), "runtime_margin": 1.0}}
    params = cost.cluster_parameters(config)
    # 20 epochs of 10 minutes
    assert cost.job_request(config, "train", "mnist", "dnn", "L1", 1, params)["runtime"] >= 200
    assert cost.cluster_parameters({"cluster": {"cost_points": None}}).source == cost.CostParameters().source
