"""jobs.py: what every job process sets up (torch threads, subnormal floats) and how it ends."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import minarch
from minarch.jobs import InstallationError, check_checkout, setup_torch

PACKAGE = Path(minarch.__file__).resolve().parent


def test_setup_torch_sets_threads_and_flushes_subnormals():
    threads = torch.get_num_threads()
    tiny = torch.tensor([1e-39, 3e-39])  # subnormal in float32 (< 1.18e-38)
    assert (tiny * 1.0 != 0).all(), "precondition: subnormals survive by default"
    try:
        setup_torch(1)
        assert torch.get_num_threads() == 1
        assert torch.equal(tiny * 1.0, torch.zeros(2))
        assert torch.equal(torch.tensor([2e-38]) * 1.0, torch.tensor([2e-38]))  # normal floats are untouched
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


JOB = """
import sys
from types import SimpleNamespace
from minarch.config import CUDA_MISSING, DeviceError
from minarch.data import DataError
from minarch.io import atomic_path
from minarch.jobs import run_job

def main(job):
    if job.params.fail == "1":
        raise DataError("mirror file mnist.npz is corrupt")
    if job.params.fail == "device":
        raise DeviceError(CUDA_MISSING)
    if job.params.fail == "disk":  # /dev/full: every write fails with ENOSPC, as on a full disk
        import torch
        with open("/dev/full", "wb") as handle:
            torch.save({"w": torch.zeros(1000)}, handle)
    if job.params.fail == "disk atomic":  # an output of its own, whose bytes land on /dev/full
        with atomic_path(job.output[0]), open("/dev/full", "wb") as full:
            full.write(b"x" * (1 << 20))
            full.flush()
    with open(job.output[0], "w") as handle:
        handle.write("result")

job = SimpleNamespace(log=[sys.argv[1]], output=[sys.argv[2]], params=SimpleNamespace(fail=sys.argv[3]))
if len(sys.argv) > 4:
    job.scriptdir = sys.argv[4]  # as Snakemake sets it: the folder of the job's script
run_job(job, main)
raise SystemExit(3)  # not reached: a finished job exits inside run_job
"""


def _run_job(tmp_path, fail: bool | str, scriptdir: Path | None = None):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    log, output = tmp_path / "job.log", tmp_path / "out.txt"
    extra = [str(scriptdir)] if scriptdir else []
    done = subprocess.run(
        [sys.executable, str(script), str(log), str(output), {True: "1", False: "0"}.get(fail, fail), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, log.read_text(), output


def test_finished_job_exits_zero_with_its_outputs_and_log(tmp_path):
    done, log, output = _run_job(tmp_path, fail=False)
    assert done.returncode == 0, done.stderr
    assert output.read_text() == "result"
    assert "INFO done in" in log


def test_known_failure_is_one_logged_line_and_exit_one(tmp_path):
    done, log, output = _run_job(tmp_path, fail=True)
    assert done.returncode == 1
    assert not output.exists()
    assert log.strip().endswith("mirror file mnist.npz is corrupt") and len(log.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def _checkout(tmp_path, edited: bool) -> Path:
    """Another clone: workflow/scripts beside src/minarch, a copy of the running package's
    sources, with one edit or without."""
    root = tmp_path / "clone"
    (root / "workflow" / "scripts").mkdir(parents=True)
    shutil.copytree(PACKAGE, root / "src" / "minarch", ignore=shutil.ignore_patterns("__pycache__"))
    if edited:
        with open(root / "src" / "minarch" / "regimes.py", "a") as handle:
            handle.write("\n# an edit in the other clone\n")
    return root


def test_check_checkout_accepts_the_running_package_and_copies_of_its_sources(tmp_path):
    check_checkout(PACKAGE.parents[1] / "workflow" / "scripts")  # this checkout (editable install)
    check_checkout(_checkout(tmp_path, edited=False) / "workflow" / "scripts")  # `pip install .` of the same code
    (tmp_path / "bare" / "workflow" / "scripts").mkdir(parents=True)
    check_checkout(tmp_path / "bare" / "workflow" / "scripts")  # a workflow without a package of its own


def test_check_checkout_rejects_the_package_of_another_checkout(tmp_path):
    root = _checkout(tmp_path, edited=True)
    with pytest.raises(InstallationError) as info:
        check_checkout(root / "workflow" / "scripts")
    message = str(info.value)
    assert str(PACKAGE) in message and str(root) in message and "pip install -e ." in message
    assert "\n" not in message


def test_a_job_of_another_checkout_stops_in_one_line_before_running(tmp_path):
    root = _checkout(tmp_path, edited=True)
    done, log, output = _run_job(tmp_path, fail=False, scriptdir=root / "workflow" / "scripts")
    assert done.returncode == 1 and not output.exists()
    assert len(log.strip().splitlines()) == 1 and "imported minarch from" in log and "pip install -e ." in log
    assert "Traceback" not in done.stderr
    done, log, output = _run_job(tmp_path, fail=False, scriptdir=PACKAGE.parents[1] / "workflow" / "scripts")
    assert done.returncode == 0 and output.read_text() == "result"


@pytest.mark.parametrize(
    "failure, line",
    [
        ("device", "train.device is 'cuda' but torch sees no CUDA GPU on this machine"),
        ("disk", "disk full: free space and rerun"),
        ("disk atomic", "out.txt: free space on"),
    ],
)
def test_device_and_disk_failures_are_one_logged_line_and_exit_one(tmp_path, failure, line):
    done, log, output = _run_job(tmp_path, fail=failure)
    assert done.returncode == 1 and not output.exists()
    assert len(log.strip().splitlines()) == 1 and line in log, log
    assert "Traceback" not in done.stderr, done.stderr
