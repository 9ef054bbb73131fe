"""A train or QAT job killed mid-training (SIGKILL of the whole run, as an OOM killer or a
cluster's time limit would) resumes from its last finished epoch when the workflow is rerun,
and ends with the outputs of an uninterrupted run: Parquet tables equal but for the timing
column, model files byte for byte. Needs the MNIST mirror, like the other workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from snakemake_support import MIRROR, run_and_kill
from test_robustness import assert_same_runs, command, environment, files_under, snakemake

# One configuration, one seed (one job per stage), three epochs: each epoch takes seconds, so
# the run can be killed after the first epoch's checkpoint and before the job ends.
CONFIG = """
train: {max_epochs: 3, patience: 5}
prune: {ratios: [0.0, 1.0]}
families:
  dnn: {datasets: [mnist], topologies: [L2e], widths: [30], seeds: 1}
"""
RUN = "results/runs/mnist/dnn/L2e/w30"
TIMEOUT_S = 600

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MIRROR / "mnist.npz").is_file(), reason=f"no data mirror with mnist.npz at {MIRROR}"),
]


def workdir_for(factory, name: str) -> Path:
    path = factory.mktemp(name)
    (path / "cfg.yaml").write_text(CONFIG)
    return path


def run_until(workdir: Path, checkpoint: str) -> None:
    """Start the workflow and SIGKILL it once ``checkpoint`` exists (an epoch has finished)."""
    run_and_kill(
        command(workdir, cores=1),
        environment(),
        workdir / f"killed_at{checkpoint}.log",
        (workdir / RUN / checkpoint).exists,
        checkpoint,
        TIMEOUT_S,
    )


def unlock_and_rerun_until(workdir: Path, checkpoint: str | None) -> None:
    snakemake(workdir, "--unlock", cores=1)
    if checkpoint is None:
        snakemake(workdir, cores=1)
    else:
        run_until(workdir, checkpoint)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    reference = workdir_for(tmp_path_factory, "uninterrupted")
    snakemake(reference, cores=1)
    killed = workdir_for(tmp_path_factory, "killed")
    run_until(killed, ".train-seed0.ckpt")  # killed in training, after an epoch
    train_log = killed / "results/logs/train/mnist/dnn/L2e/w30/seeds0-0.log"
    unlock_and_rerun_until(killed, ".qat-seed0.ckpt")  # training resumes; killed again in QAT
    resumed_train_log = train_log.read_text()
    unlock_and_rerun_until(killed, None)  # QAT resumes; the run completes
    qat_log = (killed / "results/logs/qat/mnist/dnn/L2e/w30/seeds0-0.log").read_text()
    return reference, killed, resumed_train_log, qat_log


def test_killed_train_and_qat_jobs_resume_from_their_checkpoints(runs):
    _, _, train_log, qat_log = runs
    assert "resuming from the checkpoint after epoch" in train_log, train_log[-2000:]
    assert "resuming from the checkpoint after epoch" in qat_log, qat_log[-2000:]


def test_resumed_run_equals_the_uninterrupted_run(runs):
    reference, killed, _, _ = runs
    assert_same_runs(killed, reference)


def test_checkpoints_are_removed_once_the_jobs_complete(runs):
    _, killed, _, _ = runs
    leftovers = [name for name in files_under(killed, "results/runs") if name.endswith(".ckpt")]
    assert not leftovers, leftovers
