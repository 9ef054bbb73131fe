"""A job runs a block of seeds (minarch.cost.block_size, minarch.records): a seed's results do
not depend on its block, re-cutting the blocks reruns no finished seed, and growing the sweep
inside and beyond a block runs only the new seeds. Needs the MNIST mirror, like the other
workflow tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from snakemake_support import MIRROR, planned_jobs, snakemake_command

CONFIG = """
train: {{max_epochs: 1}}
prune: {{ratios: [0.0, 0.5]}}
cluster: {{job_minutes: {minutes}}}
families:
  dnn: {{datasets: [mnist], topologies: [L1], widths: [4], seeds: {seeds}}}
"""
# The ViT at D = 4 stacks its training and its linear-scope QAT, not its full-scope QAT
VIT_CONFIG = """
train: {{max_epochs: 1}}
prune: {{ratios: [0.0]}}
qat: {{scope: [linear, full], ptq: false}}
cluster: {{job_minutes: {minutes}}}
families:
  vit: {{datasets: [mnist], widths: [4], seeds: 2}}
"""
RUN = "results/runs/mnist/dnn/L1/w4"
WHOLE = 1000  # minutes: every seed of the configuration in one job
ALONE = 1e-6  # every seed a job of its own

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MIRROR / "mnist.npz").is_file(), reason=f"no data mirror with mnist.npz at {MIRROR}"),
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, "--configfile", str(workdir / "cfg.yaml"), "--cores", "2", *args)
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "MINARCH_DATA_MIRROR": str(MIRROR)}
    )
    if result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def configure(workdir: Path, minutes: float, seeds: int) -> None:
    (workdir / "cfg.yaml").write_text(CONFIG.format(minutes=minutes, seeds=seeds))


def run(factory, name: str, minutes: float, seeds: int = 3) -> Path:
    workdir = factory.mktemp(name)
    configure(workdir, minutes, seeds)
    snakemake(workdir)
    return workdir


def seed_files(workdir: Path) -> dict[str, tuple[int, str]]:
    """Every per-seed file: mtime and content hash."""
    return {
        p.relative_to(workdir).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted((workdir / "results/runs").rglob("*"))
        if p.is_file()
    }


def stage_jobs(plan: dict[str, int]) -> dict[str, int]:
    return {rule: n for rule, n in plan.items() if rule.startswith(("train_", "prune_", "qat_"))}


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    return run(tmp_path_factory, "whole", WHOLE)


def test_a_seed_gives_the_same_bits_in_a_block_or_alone(whole, tmp_path_factory):
    alone = run(tmp_path_factory, "alone", ALONE)
    assert sorted(p.name for p in (whole / "results/blocks/train").rglob("*.json")) == ["seeds0-2.json"]
    assert sorted(p.name for p in (alone / "results/blocks/train").rglob("*.json")) == [
        "seeds0-0.json",
        "seeds1-1.json",
        "seeds2-2.json",
    ]
    for seed in range(3):
        folder = f"{RUN}/seed{seed}"
        assert (whole / folder / "model.pt").read_bytes() == (alone / folder / "model.pt").read_bytes(), folder
        for stage in ("train", "prune", "qat"):
            got, expected = (pd.read_parquet(w / folder / f"{stage}.parquet") for w in (alone, whole))
            # how the seed ran, not what it computed: wall-clock columns (train, QAT, PTQ) and how
            # many seeds trained as one stack (a small DNN's block stacks; alone, a stack of one)
            how = [c for c in got.columns if c.endswith("seconds") or c == "stacked_seeds"]
            if stage != "prune":
                assert set(got["stacked_seeds"]) == {1} and set(expected["stacked_seeds"]) == {3}, stage
            pd.testing.assert_frame_equal(got.drop(columns=how), expected.drop(columns=how), check_exact=True)


def test_a_vit_seed_gives_the_same_bits_in_a_block_whose_scopes_stack_differently(tmp_path_factory):
    """One QAT job of two ViT seeds runs its linear scope as one stack and its full scope one
    seed at a time; each seed's files equal those of a job of its own, and the job leaves no
    checkpoint of either kind behind."""
    runs = []
    for name, minutes in (("vit_whole", WHOLE), ("vit_alone", ALONE)):
        workdir = tmp_path_factory.mktemp(name)
        (workdir / "cfg.yaml").write_text(VIT_CONFIG.format(minutes=minutes))
        snakemake(workdir)
        runs.append(workdir)
    whole, alone = runs
    run = whole / "results/runs/mnist/vit/enc2learned/w4"
    assert sorted(p.name for p in (whole / "results/blocks/qat").rglob("*.json")) == ["seeds0-1.json"]
    assert not list(run.glob(".*.ckpt"))
    for seed in (0, 1):
        folder = run.relative_to(whole) / f"seed{seed}"
        assert (whole / folder / "model.pt").read_bytes() == (alone / folder / "model.pt").read_bytes()
        for stage in ("train", "qat"):
            got, expected = (pd.read_parquet(w / folder / f"{stage}.parquet") for w in (alone, whole))
            how = [c for c in got.columns if c.endswith("seconds") or c == "stacked_seeds"]
            pd.testing.assert_frame_equal(got.drop(columns=how), expected.drop(columns=how), check_exact=True)
        qat = pd.read_parquet(whole / folder / "qat.parquet")
        assert dict(zip(qat["qat_scope"], qat["stacked_seeds"])) == {"linear": 2, "full": 1}
        train = pd.read_parquet(whole / folder / "train.parquet")
        assert set(train["stacked_seeds"]) == {2}


def test_cutting_the_blocks_anew_reruns_no_finished_seed(whole, tmp_path):
    workdir = tmp_path / "recut"
    shutil.copytree(whole, workdir)  # mtimes kept: Snakemake sees a finished run
    before = seed_files(workdir)
    configure(workdir, ALONE, 3)  # as a change of cluster.job_minutes or a recalibration would
    plan = planned_jobs(snakemake(workdir, "-n"))
    assert stage_jobs(plan) == {"train_dnn": 3, "prune_dnn": 3, "qat_dnn": 3}, plan  # new blocks, new records
    snakemake(workdir)
    assert seed_files(workdir) == before
    for stage in ("train", "prune", "qat"):
        log = (workdir / f"results/logs/{stage}/mnist/dnn/L1/w4/seeds1-1.log").read_text()
        assert "0 of 1 seeds" in log, log
    assert planned_jobs(snakemake(workdir, "-n")) == {}


def test_growing_inside_and_beyond_a_block_runs_only_new_seeds(tmp_path_factory):
    from minarch import cost
    from minarch.config import load_config

    # blocks of two seeds for training: [0-1], [2] with 3 seeds; [0-1], [2-3], [4] with 5
    config = load_config(None)
    config["train"]["max_epochs"] = 1
    seconds, _ = cost.seed_job_seconds(config, cost.CostParameters(), "mnist", "dnn", "L1", 4)
    minutes = 2.5 * seconds["train"] / 60
    workdir = run(tmp_path_factory, "grow", minutes, seeds=3)
    assert sorted(p.name for p in (workdir / "results/blocks/train").rglob("*.json")) == [
        "seeds0-1.json",
        "seeds2-2.json",
    ]
    before = seed_files(workdir)
    configure(workdir, minutes, 5)
    plan = planned_jobs(snakemake(workdir, "-n"))
    assert plan["train_dnn"] == 2, plan  # [2-3] (seed 2 done, seed 3 new) and [4]; [0-1] stands
    snakemake(workdir)
    after = seed_files(workdir)
    assert {name: after[name] for name in before} == before  # seeds 0-2 untouched
    assert {f"{RUN}/seed{seed}/qat.parquet" for seed in (3, 4)} <= set(after)
    log = (workdir / "results/logs/train/mnist/dnn/L1/w4/seeds2-3.log").read_text()
    assert "1 of 2 seeds to train" in log, log
    collected = pd.read_parquet(workdir / "results/collected/dnn/qat.parquet")
    assert sorted(collected["seed"]) == [0, 1, 2, 3, 4]
    assert planned_jobs(snakemake(workdir, "-n")) == {}
