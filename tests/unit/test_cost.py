"""cost.py: costs scale as they should, blocks of seeds sit at fixed indices and fit the target,
and each cluster job asks for at least its prediction. (The plan of a sweep and its wall time:
test_planner.py; the calibration of the points: test_calibration.py.)"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from minarch import cost, data, registry
from minarch.config import load_config


def planned_jobs(config):
    return cost.planned_jobs(config, cost.CostParameters())


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


def test_blocks_sit_at_fixed_seed_indices_and_fit_the_target():
    assert cost.seed_blocks(7, 3) == [(0, 2), (3, 5), (6, 6)]
    assert cost.seed_blocks(2, 30) == [(0, 1)] and cost.seed_blocks(0, 3) == []
    assert cost.covering([(0, 2), (3, 5), (6, 6)], 2, 3) == [(0, 2), (3, 5)]
    config, params = load_config(None), cost.CostParameters()
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
    config = load_config(write_config(tmp_path, layer))
    # mnist/L1/w4 trains 5 seeds (phase 1), cifar10/L1/w4 2; prune and QAT only the families' 2
    assert planned_jobs(config) == {"runs": 7, "train": 2, "prune": 2, "qat": 2}
    one_each = {**config, "cluster": {**config["cluster"], "job_minutes": 1e-6}}
    assert planned_jobs(one_each) == {"runs": 7, "train": 7, "prune": 4, "qat": 4}


def test_a_blocks_priority_is_the_longest_chain_of_jobs_it_starts(tmp_path):
    """A prune or QAT block's priority is its own predicted seconds; a train block's adds the
    longest prune or QAT job its seeds feed (none for a phase-1-only shape), so the ViT's
    training, whose three-scope QAT is the longest job, starts before a DNN's."""
    layer = {
        "families": {
            "dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": [5], "seeds": 4},
            "vit": {"datasets": ["mnist"], "widths": [16], "seeds": 4},
        },
        "topology_sweep": {"datasets": ["mnist"], "depths": [2], "widths": [5], "seeds": 2},
        "qat": {"scope": ["linear", "attention", "full"]},
        "cluster": {"job_minutes": 1e-6},  # a seed a job
    }
    config = load_config(write_config(tmp_path, layer))
    params = cost.CostParameters()
    blocks = cost.configuration_blocks(config, params)
    vit, dnn = ("mnist", "vit", "enc2learned", 16), ("mnist", "dnn", "L1", 5)
    qat = cost.job_priority(config, params, vit, blocks[vit], "qat", 2, 2)
    assert qat == cost.job_seconds(config, params, "qat", *vit) > cost.job_seconds(config, params, "prune", *vit)
    train = cost.job_priority(config, params, vit, blocks[vit], "train", 2, 2)
    assert train == pytest.approx(cost.job_seconds(config, params, "train", *vit) + qat)
    assert train > cost.job_priority(config, params, dnn, blocks[dnn], "train", 2, 2)
    phase1 = ("mnist", "dnn", "L2e", 5)  # trained only, for the topology sweep
    assert blocks[phase1]["qat"] == [] and cost.job_priority(
        config, params, phase1, blocks[phase1], "train", 0, 0
    ) == cost.job_seconds(config, params, "train", *phase1)


def test_default_points_are_sane():
    for point in cost.DEFAULT_POINTS:
        assert point.epoch > 0 and point.qat_epoch >= point.epoch and 0 <= point.test_eval < point.epoch
        assert math.isfinite(point.n_params)


def write_config(tmp_path, content) -> str:
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(content))
    return str(path)


def test_default_points_are_the_calibration_csv():
    assert cost.DEFAULT_POINTS == tuple(cost.read_points(cost.POINTS_CSV)) and len(cost.DEFAULT_POINTS) > 0


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
    config, params = load_config(None), cost.CostParameters()
    seconds, _ = cost.seed_job_seconds(config, params, *key)
    for stage in cost.STAGES:
        overhead = cost.job_overhead(params, key[0], key[1])
        request = cost.job_request(config, stage, *key, params)
        assert request["runtime"] * 60 >= overhead + seconds[stage]
        floor = config["cluster"]["min_runtime"]
        assert floor <= request["runtime"]
        assert request["runtime"] * 60 <= max(60 * floor, 3 * (overhead + seconds[stage]))
        block = cost.job_request(config, stage, *key, params, seeds=4)  # a block asks for its seeds' time
        assert block["runtime"] * 60 >= overhead + 4 * seconds[stage]
        # and for one seed's memory, or every seed's where they train as one stack
        stacked = registry.family(key[1]).stacks(key[3], "cpu", stage, "full")  # the default scope
        assert (block["mem_mb"] > request["mem_mb"]) if stacked else (block["mem_mb"] == request["mem_mb"])
        retried = cost.job_request(config, stage, *key, params, seeds=4, attempt=3)  # a retry asks for more
        assert retried == {"runtime": 3 * block["runtime"], "mem_mb": 3 * block["mem_mb"]}
        assert request["mem_mb"] >= config["cluster"]["memory_margin"] * cost.PROCESS_MB
    tight = {**config, "cluster": {**config["cluster"], "runtime_margin": 1.0, "memory_margin": 1.0, "min_runtime": 1}}
    predicted = cost.job_overhead(params, key[0], key[1]) + seconds["train"]
    assert cost.job_request(tight, "train", *key, params)["runtime"] == max(1, math.ceil(predicted / 60))
    assert cost.job_memory_mb("cifar10", "dnn", "L4uuu", 1000) > cost.job_memory_mb("cifar10", "dnn", "L1", 5) + 1000


# What a fresh job process holds once its splits are loaded (``stages.splits_for``), as the
# kernel counts it: torch, minarch and the arrays, before any model exists.
_LOAD_PEAK = """
import resource, sys
from minarch import stages
from minarch.settings import TrainSettings
stages.splits_for(sys.argv[1], sys.argv[2], TrainSettings())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


@pytest.fixture(scope="module")
def cifar_shaped_cache(tmp_path_factory):
    """A cache of CIFAR-10's size and shape (random images, recorded under its name, which is
    how a cache of its official download is known): the memory of loading, not the content."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 50_000, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 10_000, dtype=np.uint8),
    }
    checksums = data.content_checksums(arrays)
    path = tmp_path_factory.mktemp("cifar") / "cifar10.npz"
    np.savez(path, **arrays, sha256=np.array([checksums[n] for n in data.ARRAYS]), dataset=np.array("cifar10"))
    return path


@pytest.mark.parametrize("arch, topology, width", [("dnn", "L1", 1), ("vit", "enc2learned", 2)])
def test_a_jobs_memory_request_covers_loading_its_splits(cifar_shaped_cache, arch, topology, width):
    """The scheduler's mem_mb for the smallest model on CIFAR-10, the largest dataset, is above
    the measured peak of loading its splits alone. The ViT resizes its images first, which on
    the recorded CIFAR-10 run peaked 1 GB above the float32 splits and over its request."""
    peak = float(
        subprocess.run(
            [sys.executable, "-c", _LOAD_PEAK, arch, str(cifar_shaped_cache)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for stage in cost.STAGES:
        request = cost.job_request(load_config(None), stage, "cifar10", arch, topology, width, cost.CostParameters())
        assert request["mem_mb"] > peak, (stage, request, peak)


def test_cluster_cost_points_replace_the_built_in_table(tmp_path):
    points = tmp_path / "points.csv"
    # one Point, as benchmarks/calibration.py's write_points writes it
    points.write_text("dataset,arch,depth,n_params,epoch,qat_epoch,test_eval\nmnist,dnn,1,10,600.0,600.0,1.0\n")
    config = {**load_config(None), "cluster": {"cost_points": str(points), "runtime_margin": 1.0}}
    params = cost.cluster_parameters(config)
    # 20 epochs of 10 minutes
    assert cost.job_request(config, "train", "mnist", "dnn", "L1", 1, params)["runtime"] >= 200
    assert cost.cluster_parameters({"cluster": {"cost_points": None}}).source == cost.CostParameters().source


def test_a_qat_block_holds_a_stack_where_a_scope_it_runs_stacks():
    """The ViT at D = 4 stacks its linear-scope QAT, not its full-scope one: a block of 10
    seeds asks for every seed's memory only when the config runs the linear scope."""
    one = cost.job_memory_mb("mnist", "vit", "enc2", 4, "qat", 1)
    assert cost.job_memory_mb("mnist", "vit", "enc2", 4, "qat", 10, ("full",)) == one
    assert cost.job_memory_mb("mnist", "vit", "enc2", 4, "qat", 10, ("full", "linear")) > one
    config, params = load_config(None), cost.CostParameters()
    linear = {**config, "qat": {**config["qat"], "scope": ["linear"]}}
    key = ("mnist", "vit", "enc2", 4)
    full_request = cost.job_request(config, "qat", *key, params, seeds=10)
    assert cost.job_request(linear, "qat", *key, params, seeds=10)["mem_mb"] > full_request["mem_mb"]
