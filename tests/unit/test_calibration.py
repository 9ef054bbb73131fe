"""benchmarks/calibration.py: a finished run's outputs calibrate the cost model, and written
points read back as they were."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from minarch import cost
from minarch.config import load_config
from minarch.warm import FORK_NOTE

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "benchmarks") not in sys.path:  # the benchmarks scripts are no package
    sys.path.insert(0, str(ROOT / "benchmarks"))

import calibration  # noqa: E402


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
    params = calibration.from_measurements(tmp_path)
    seconds = params.seconds("mnist", "dnn", 1, 100)
    assert seconds["epoch"] == pytest.approx(2.0)
    assert seconds["qat_epoch"] == pytest.approx(5.0)
    assert params.process_start == pytest.approx(8.0 - min(params.data_load.values()))
    assert all(p.dataset != "mnist" or p.arch != "dnn" or p.n_params == 100 for p in params.points)
    assert any(p.dataset == "cifar10" for p in params.points)  # unmeasured pairs keep the table
    assert calibration.measured_epoch_fraction(tmp_path) == pytest.approx(0.5)
    with pytest.raises(FileNotFoundError):
        calibration.from_measurements(tmp_path / "nothing")


def test_jobs_forked_from_a_warm_worker_give_no_process_start(tmp_path):
    """Their benchmark lacks the imports a job of its own pays: they are left out."""
    for seed in (0, 1):
        write_run(tmp_path, "mnist", "L1", 5, seed, epoch_seconds=2.0)
    for name, seconds, note in (("seeds0-0", 12.5, ""), ("seeds1-1", 4.6, " " + FORK_NOTE)):
        for kind, text in (("benchmarks", f"s\th:m:s\n{seconds}\t0:00:12\n"), ("logs", f"INFO done in 4 s{note}\n")):
            folder = tmp_path / kind / "train" / "mnist" / "dnn" / "L1" / "w5"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.{'tsv' if kind == 'benchmarks' else 'log'}").write_text(text)
    params = calibration.from_measurements(tmp_path)
    assert params.process_start == pytest.approx(8.0 - min(params.data_load.values()))
    assert "1 train-job benchmarks" in params.source


def test_written_points_read_back_as_they_were(tmp_path):
    calibration.write_points(cost.DEFAULT_POINTS[:3], tmp_path / "points.csv")
    assert cost.read_points(tmp_path / "points.csv") == list(cost.DEFAULT_POINTS[:3])


def test_speed_factor_is_the_median_of_measured_over_predicted_epochs(monkeypatch):
    params = cost.CostParameters()
    slower = {"dnn": 2.0, "cnn": 3.0, "vit": 5.0}  # this machine, per family, against the table

    def measure(dataset, arch, topology, width, splits, settings, budget):
        from minarch.sizes import parameter_count

        n_params = parameter_count(dataset, arch, topology, width)
        predicted = params.seconds(dataset, arch, cost.depth_of(arch, topology), n_params)
        return cost.Point(
            dataset, arch, cost.depth_of(arch, topology), n_params,
            slower[arch] * predicted["epoch"], slower[arch] * predicted["qat_epoch"], predicted["test_eval"],
        )  # fmt: skip

    monkeypatch.setattr(calibration, "measure_point", measure)
    monkeypatch.setattr(calibration, "dataset_path", lambda dataset: None)  # no data is read
    monkeypatch.setattr("minarch.stages.splits_for", lambda *args: None)
    monkeypatch.setattr("minarch.jobs.setup_torch", lambda threads: None)  # leave this process's torch alone
    factor, measured = calibration.speed_factor(params)
    assert factor == pytest.approx(3.0)  # median of 2, 2, 3, 3, 5, 5
    assert [point.arch for point, _ in measured] == ["dnn", "cnn", "vit"]


def test_scaled_parameters_predict_factor_times_the_seconds():
    params = cost.CostParameters()
    faster = calibration.scaled(params, 0.5, "a test")
    config = load_config(None)
    key = ("mnist", "vit", "enc2", 16)
    assert cost.seed_job_seconds(config, faster, *key)[0] == pytest.approx(
        {stage: 0.5 * s for stage, s in cost.seed_job_seconds(config, params, *key)[0].items()}
    )
    overhead = cost.job_overhead(params, "cifar10", "vit")
    assert cost.job_overhead(faster, "cifar10", "vit") == pytest.approx(0.5 * overhead)
    assert faster.source.endswith("x 0.50 (a test)") and params.points[0].epoch == cost.DEFAULT_POINTS[0].epoch
