"""A train or QAT job killed mid-training resumes from its last finished epoch and ends with
the outputs of an uninterrupted run (Parquet tables equal but for the timing column, model
files byte for byte): the whole run SIGKILLed (a closed terminal, an OOM killer) and rerun,
or the job alone killed (a cluster's time or memory limit) and retried by Snakemake
(``--retries``, as the SLURM profile sets it), asking for twice its runtime and memory.
Needs the MNIST mirror, like the other workflow tests."""

from __future__ import annotations

import re
import subprocess
import time
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


def run_killing_the_job_once(workdir: Path, checkpoint: str, script: str) -> str:
    """Run with ``--retries 1`` and SIGKILL the job running ``script`` (alone, as a scheduler
    kills a job past its limits) once ``checkpoint`` exists; the run's output."""
    log_path = workdir / "retried.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command(workdir, "--retries", "1", cores=1), stdout=log, stderr=subprocess.STDOUT, env=environment()
        )
    deadline = time.monotonic() + TIMEOUT_S
    while not (workdir / RUN / checkpoint).exists():
        assert process.poll() is None, f"the run ended before {checkpoint}:\n{log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {checkpoint} within {TIMEOUT_S} s"
        time.sleep(0.05)
    subprocess.run(["pkill", "-KILL", "-f", f"{workdir}/.snakemake/scripts/.*{script}"], check=True)
    assert process.wait(TIMEOUT_S) == 0, log_path.read_text()[-3000:]
    return log_path.read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    reference = workdir_for(tmp_path_factory, "uninterrupted")
    snakemake(reference, cores=1)
    killed = workdir_for(tmp_path_factory, "killed")
    run_until(killed, ".train-seed0.ckpt")  # killed in training, after an epoch
    train_log = killed / "results/logs/train/mnist/dnn/L2e/w30/seeds0-0.log"
    snakemake(killed, "--unlock", cores=1)
    # training resumes; the QAT job alone is killed after an epoch, retried, resumes and the run completes
    retried = run_killing_the_job_once(killed, ".qat-seed0.ckpt", "qat.py")
    qat_log = (killed / "results/logs/qat/mnist/dnn/L2e/w30/seeds0-0.log").read_text()
    return reference, killed, train_log.read_text(), qat_log, retried


def test_killed_train_and_qat_jobs_resume_from_their_checkpoints(runs):
    _, _, train_log, qat_log, _ = runs
    assert "resuming from the checkpoint after epoch" in train_log, train_log[-2000:]
    assert "resuming from the checkpoint after epoch" in qat_log, qat_log[-2000:]


def test_resumed_run_equals_the_uninterrupted_run(runs):
    reference, killed, _, _, _ = runs
    assert_same_runs(killed, reference)


def test_a_job_killed_alone_is_retried_with_twice_its_runtime_and_memory(runs):
    retried = runs[4]
    job = r"^(?:local)?rule qat_dnn:\n(?:    .*\n)*?    resources: .*?runtime=(\d+), mem_mb=(\d+)"
    qat_jobs = re.findall(job, retried, re.MULTILINE)
    assert len(qat_jobs) == 2, retried[-3000:]
    (runtime, memory), (runtime_again, memory_again) = [(int(a), int(b)) for a, b in qat_jobs]
    assert (runtime_again, memory_again) == (2 * runtime, 2 * memory)


def test_checkpoints_are_removed_once_the_jobs_complete(runs):
    _, killed, _, _, _ = runs
    leftovers = [name for name in files_under(killed, "results/runs") if name.endswith(".ckpt")]
    assert not leftovers, leftovers
