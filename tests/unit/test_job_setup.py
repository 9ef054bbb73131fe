"""workflow.py: what every job process sets up (torch threads, subnormal floats) and how it ends."""

from __future__ import annotations

import subprocess
import sys

import torch

from minarch.workflow import setup_torch


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
from minarch.data import DataError
from minarch.workflow import run_job

def main(job):
    if job.params.fail:
        raise DataError("mirror file mnist.npz is corrupt")
    with open(job.output[0], "w") as handle:
        handle.write("result")

run_job(SimpleNamespace(log=[sys.argv[1]], output=[sys.argv[2]], params=SimpleNamespace(fail=sys.argv[3] == "1")), main)
raise SystemExit(3)  # not reached: a finished job exits inside run_job
"""


def _run_job(tmp_path, fail: bool):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    log, output = tmp_path / "job.log", tmp_path / "out.txt"
    done = subprocess.run([sys.executable, str(script), str(log), str(output), "1" if fail else "0"],
                          capture_output=True, text=True, timeout=60)
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
