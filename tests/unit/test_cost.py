"""cost.py: the job plan follows the workflow's structure, costs scale as they should, and
measured outputs calibrate the model."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from minarch import cost, records
from minarch.config import ConfigError
from minarch.settings import schema_default

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


def test_plan_has_one_job_per_block_and_stage():
    jobs = cost.plan(TINY)  # 4 epochs of tiny MLPs: a configuration's 3 seeds fit one job
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
    one = {job.name: job for job in cost.plan(ONE_SEED_JOBS)}
    assert by_stage(one.values())["train"] == configurations * 3
    assert one["qat/mnist/dnn/L1/w5/seeds1-1"].after == ["train/mnist/dnn/L1/w5/seeds1-1"]


def test_blocks_sit_at_fixed_seed_indices_and_fit_the_target():
    assert cost.seed_blocks(7, 3) == [(0, 2), (3, 5), (6, 6)]
    assert cost.seed_blocks(2, 30) == [(0, 1)] and cost.seed_blocks(0, 3) == []
    assert cost.covering([(0, 2), (3, 5), (6, 6)], 2, 3) == [(0, 2), (3, 5)]
    config, params = cost.load_config(None), cost.CostParameters()
    key = ("mnist", "dnn", "L1", 100)
    seconds, _ = cost.seed_job_seconds(config, params, *key)
    for minutes in (1, 15, 60):
        sized = {**config, "cluster": {**config["cluster"], "job_minutes": minutes}}
        k = cost.block_size(sized, params, "train", *key)
        assert k >= 1 and (k == 1 or k * seconds["train"] <= 60 * minutes < (k + 1) * seconds["train"])
    # a seed longer than the target is a job of its own; more seeds never go beyond the count
    assert cost.block_size({**config, "cluster": {"job_minutes": 0.01}}, params, "train", *key) == 1
    blocks = cost.configuration_blocks(config, params)
    assert blocks[key]["train"][-1][1] == config["families"]["dnn"]["seeds"] - 1


def test_planned_jobs_count_the_blocks_a_sweep_needs(tmp_path):
    layer = {
        "families": {"dnn": {"datasets": ["mnist", "cifar10"], "topologies": ["L1"], "widths": [4], "seeds": 2}},
        "topology_sweep": {"datasets": ["mnist"], "depths": [1], "widths": [4], "seeds": 5},
    }
    config = cost.load_config(write_config(tmp_path, layer))
    # mnist/L1/w4 trains 5 seeds (phase 1), cifar10/L1/w4 2; prune and QAT only the families' 2
    assert planned_jobs(config) == {"runs": 7, "train": 2, "prune": 2, "qat": 2}
    one_each = {**config, "cluster": {**config["cluster"], "job_minutes": 1e-6}}
    assert planned_jobs(one_each) == {"runs": 7, "train": 7, "prune": 4, "qat": 4}


def test_topology_sweep_shares_the_square_runs_and_trains_only():
    config = {
        **ONE_SEED_JOBS,
        "topology_sweep": {"datasets": ["mnist"], "depths": [1, 2], "widths": [5, 50], "seeds": 3},
    }
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
    train = jobs["train/mnist/dnn/L1/w5/seeds0-2"]
    assert train.seconds == pytest.approx(3 * 4 * 1.0)  # 3 seeds x 4 epochs x 1 s
    assert jobs["qat/mnist/dnn/L1/w5/seeds0-2"].seconds == pytest.approx(3 * 4 * 3.0)
    assert jobs["prune/mnist/dnn/L1/w5/seeds0-2"].seconds == pytest.approx(0.0)
    params.epoch_fraction = 0.5
    assert {j.name: j for j in cost.plan(base, params)}[train.name].seconds == pytest.approx(train.seconds / 2)
    params.epoch_fraction, params.process_start = 1.0, 5.0
    # the process start is paid once per block, not per seed
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


def test_remaining_counts_only_the_stage_jobs_whose_block_records_exist(tmp_path):
    """Progress: a stage job is done when its block's record exists; what is left keeps its
    order but no longer waits for done jobs."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(ONE_SEED_JOBS))
    jobs = cost.plan(cost.load_config(path))
    left, done = cost.remaining(jobs, tmp_path)
    assert done == 0 and [j.name for j in left] == [j.name for j in jobs]

    def finish(stage, width, seed):
        record = tmp_path / records.block_record(stage, "mnist", "dnn", "L1", width, seed, seed)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("{}")

    finish("train", 5, 0), finish("train", 5, 1), finish("prune", 5, 0)  # seeds 0 and 1 of L1 w5 trained
    finish("qat", 50, 2)  # a QAT block whose train block must rerun
    left, done = cost.remaining(jobs, tmp_path)
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
    floor of cluster.min_runtime allows; memory grows with the model."""
    config, params = cost.load_config(None), cost.CostParameters()
    seconds, _ = cost.seed_job_seconds(config, params, *key)
    for stage in cost.STAGES:
        overhead = cost.job_overhead(params, key[0], key[1])
        request = cost.job_request(config, stage, *key, params)
        assert request["runtime"] * 60 >= overhead + seconds[stage]
        floor = config["cluster"]["min_runtime"]
        assert floor <= request["runtime"]
        assert request["runtime"] * 60 <= max(60 * floor, 3 * (overhead + seconds[stage]))
        block = cost.job_request(config, stage, *key, params, seeds=4)  # a block asks for its seeds' time
        assert block["runtime"] * 60 >= overhead + 4 * seconds[stage] and block["mem_mb"] == request["mem_mb"]
        assert request["mem_mb"] >= config["cluster"]["memory_margin"] * cost.PROCESS_MB
    tight = {**config, "cluster": {**config["cluster"], "runtime_margin": 1.0, "memory_margin": 1.0, "min_runtime": 1}}
    predicted = cost.job_overhead(params, key[0], key[1]) + seconds["train"]
    assert cost.job_request(tight, "train", *key, params)["runtime"] == max(1, math.ceil(predicted / 60))
    assert cost.job_memory_mb("cifar10", "dnn", "L4uuu", 1000) > cost.job_memory_mb("cifar10", "dnn", "L1", 5) + 1000


def test_cluster_cost_points_replace_the_built_in_table(tmp_path):
    points = tmp_path / "points.csv"
    cost.write_points([cost.Point("mnist", "dnn", 1, 10, 600.0, 600.0, 1.0)], points)
    config = {**cost.load_config(None), "cluster": {"cost_points": str(points), "runtime_margin": 1.0}}
    params = cost.cluster_parameters(config)
    # 20 epochs of 10 minutes
    assert cost.job_request(config, "train", "mnist", "dnn", "L1", 1, params)["runtime"] >= 200
    assert cost.cluster_parameters({"cluster": {"cost_points": None}}).source == cost.CostParameters().source
