"""What the workflow test files share (pytest puts this folder on sys.path): the checkout,
the data mirror, the snakemake command line, reading its output, and killing a run midway."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# MINARCH_DATA_MIRROR, else ../shared/data beside the checkout
MIRROR = Path(os.environ.get("MINARCH_DATA_MIRROR") or REPO.parent / "shared" / "data")


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def snakemake_command(workdir: Path, *args: str, snakefile: Path | None = None) -> list[str]:
    """``python -m snakemake`` on this checkout's workflow, run in ``workdir``."""
    snakefile = snakefile or REPO / "Snakefile"
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir), *args]


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The failure is reported as one line holding every fragment, and not as a traceback."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    lines = [line for line in output.splitlines() if all(f in line for f in fragments)]
    assert lines, f"no line with {fragments} in:\n{output[-5000:]}"
    assert "Traceback" not in output, output[-5000:]
    return lines[0]


def run_and_kill(
    command: list[str], env: dict, log_path: Path, ready: Callable[[], bool], waiting_for: str, timeout_s: float = 600
) -> None:
    """Start ``command`` in a session of its own (output to ``log_path``) and SIGKILL the whole
    process group, as a closed terminal or an OOM killer would, once ``ready()`` holds; fail if
    the run ends or ``timeout_s`` passes first."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(
                    f"the run ended (rc {process.returncode}) before {waiting_for}:\n{log_path.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {waiting_for} within {timeout_s} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
