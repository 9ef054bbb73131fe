"""Warm workers (minarch.warm): a job delegated to the server runs in a fork with its own
arguments, directory, environment and streams, exits with its status, stops with its
process, computes what its own process computes, and is refused (and runs in its own
process) when the server's code is not the code on disk."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minarch import warm

SCRIPT = """
import os, signal, sys, time
from minarch.warm import delegate


class Job:  # what Snakemake's preamble defines as `snakemake`, as far as delegate() reads it
    log = [os.environ["JOB_LOG"]] if os.environ.get("JOB_LOG") else []


snakemake = Job()

delegate()
preloaded = "torch" in sys.modules
import torch

mode = sys.argv[1]
where = "fork" if os.environ.get("MINARCH_WARM_FORK") else "own"
ignores = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
print(where, os.getcwd(), os.environ.get("PROBE"), preloaded, ignores, flush=True)
if mode == "exit":
    sys.exit(int(sys.argv[2]))
if mode == "raise":
    raise RuntimeError("boom")
if mode == "message":
    sys.exit("a one-line message")
if mode == "sleep":
    with open(sys.argv[2], "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(120)
if mode == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "compute":
    torch.set_num_threads(2)
    torch.manual_seed(0)
    a, b = torch.randn(300, 400), torch.randn(400, 200)
    print(torch.nn.functional.relu(a @ b).sum(0).tolist(), torch.get_num_threads(), flush=True)
    import numpy  # its BLAS too, after the fork
    x = numpy.random.default_rng(0).standard_normal((400, 400))
    print((x @ x).sum(0).tolist(), flush=True)
"""


@pytest.fixture(scope="module")
def server():
    started = warm.start()
    assert started is not None, "the warm worker server did not start"
    yield started
    started.stop()
    assert warm.SOCKET_ENV not in os.environ and not Path(started.folder).exists()


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return path


ONE_THREAD = dict.fromkeys(warm.THREAD_VARIABLES, "1")  # what Snakemake gives a job of 1 thread


def default_sigint():
    """A job starts with SIGINT at its default, whatever the test runner has (nohup, a
    background job and CI ignore it, and a child inherits that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def job(script, *args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **ONE_THREAD, "PROBE": "probe-value", **(env or {})},
        cwd=cwd,
        timeout=120,
        preexec_fn=default_sigint,
    )


def copy_checkout(into: Path) -> Path:
    """The package and the schema it reads, as another clone holds them; its src/ folder."""
    shutil.copytree(Path(warm.__file__).parent, into / "src" / "minarch", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(warm.__file__).parents[2] / "workflow" / "schemas", into / "workflow" / "schemas")
    return into / "src"


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_job_runs_in_a_fork_with_its_own_directory_environment_and_status(server, script, tmp_path):
    (tmp_path / "job.log").write_text("what the job logged\n")
    result = job(script, "exit", 3, cwd=tmp_path, env={"JOB_LOG": "job.log"})
    assert result.returncode == 3, result.stderr
    assert result.stdout.split() == ["fork", str(tmp_path), "probe-value", "True", "False"]
    assert (tmp_path / "job.log").read_text() == f"what the job logged\n{warm.FORK_NOTE}\n"


def test_failures_reach_the_job_as_they_would_in_its_own_process(server, script):
    raised = job(script, "raise")
    assert raised.returncode == 1 and "RuntimeError: boom" in raised.stderr
    message = job(script, "message")
    assert message.returncode == 1 and message.stderr.strip().endswith("a one-line message")
    killed = job(script, "kill")
    assert killed.returncode == 128 + signal.SIGKILL
    assert killed.stdout.startswith("fork")


def test_a_fork_computes_what_its_own_process_computes(server, script):
    forked = job(script, "compute")
    alone = job(script, "compute", env={warm.SOCKET_ENV: ""})
    assert forked.returncode == alone.returncode == 0, forked.stderr + alone.stderr
    assert forked.stdout.split()[0] == "fork" and alone.stdout.split()[0] == "own"
    assert forked.stdout.splitlines()[1:] == alone.stdout.splitlines()[1:]  # same kernels, same bits


def sleeping_job(script, tmp_path, preexec_fn=default_sigint) -> tuple[subprocess.Popen, int]:
    """A job that sleeps, started, and the pid of the process running its script."""
    pid_file = tmp_path / "pid"
    process = subprocess.Popen(
        [sys.executable, str(script), "sleep", str(pid_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **ONE_THREAD},
        preexec_fn=preexec_fn,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    return process, int(pid_file.read_text())


def test_signals_to_the_job_reach_the_fork(server, script, tmp_path):
    process, worker = sleeping_job(script, tmp_path)
    assert worker != process.pid
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert gone(worker)


def test_a_signal_the_job_ignores_is_ignored_in_the_fork(server, script, tmp_path):
    """Snakemake starts jobs with SIGINT ignored (Ctrl-C lets running jobs finish)."""
    process, worker = sleeping_job(script, tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert process.stdout.readline().split()[::4] == ["fork", "True"]
    process.send_signal(signal.SIGINT)
    os.kill(worker, signal.SIGINT)  # as a terminal's Ctrl-C would reach it too
    time.sleep(1.0)
    assert process.poll() is None
    process.terminate()
    assert process.wait(timeout=30) == 128 + signal.SIGTERM


def test_a_killed_job_takes_its_fork_with_it(server, script, tmp_path):
    process, worker = sleeping_job(script, tmp_path)
    process.kill()  # SIGKILL: nothing forwards it; the monitor sees the connection close
    process.wait(timeout=30)
    assert gone(worker)


def test_without_a_server_the_job_runs_in_its_own_process(script, tmp_path):
    result = job(script, "exit", 0, env={warm.SOCKET_ENV: str(tmp_path / "no-such-socket")})
    assert result.returncode == 0 and result.stdout.split()[:1] == ["own"]


def test_another_checkout_is_refused_and_runs_in_its_own_process(server, script, tmp_path):
    """A job importing minarch from elsewhere (another clone) never runs the server's code."""
    src = copy_checkout(tmp_path)
    result = job(script, "exit", 0, env={"PYTHONPATH": str(src)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:1] == ["own"]
    assert "warm worker refused this job" in result.stderr and str(src / "minarch") in result.stderr


def test_other_thread_settings_are_refused(server, script):
    """numpy's OpenBLAS took its thread count from the server's environment when it loaded."""
    result = job(script, "exit", 0, env={"OPENBLAS_NUM_THREADS": "2"})
    assert result.returncode == 0 and result.stdout.split()[:1] == ["own"]
    assert "thread settings" in result.stderr


def test_code_changed_since_the_server_started_is_refused(script, tmp_path):
    """A server importing a copy of the package; one of its files edited afterwards: the job
    runs the file as it is now, in its own process."""
    package = copy_checkout(tmp_path) / "minarch"
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(package.parent), "PROBE": "x"}
    socket_path = tmp_path / "socket"
    server = subprocess.Popen(
        [sys.executable, "-m", "minarch.warm", str(socket_path), str(os.getpid())],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        env[warm.SOCKET_ENV] = str(socket_path)
        before = subprocess.run([sys.executable, str(script), "exit", "0"], capture_output=True, text=True, env=env)
        assert before.stdout.split()[:1] == ["fork"], before.stderr
        stages = package / "stages.py"
        stages.write_text(stages.read_text() + "\n# edited during the run\n")
        after = subprocess.run([sys.executable, str(script), "exit", "0"], capture_output=True, text=True, env=env)
        assert after.returncode == 0 and after.stdout.split()[:1] == ["own"], after.stderr
        assert f"{stages} changed since the server started" in after.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not socket_path.exists()


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    """A Snakemake killed outright (no onerror) leaves no server behind."""
    socket_path = tmp_path / "socket"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, os; "
            f"p = subprocess.Popen([sys.executable, '-m', 'minarch.warm', {str(socket_path)!r}, str(os.getpid())]); "
            "print(p.pid, flush=True); import time; time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    server_pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    assert gone(server_pid, within=15)
    assert not socket_path.exists()


def test_stale_names_the_first_changed_file(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("x = 1\n")
    second.write_text("y = 2\n")
    recorded = {str(first): warm.file_hash(first), str(second): warm.file_hash(second)}
    assert warm.stale(recorded) is None
    second.write_text("y = 3\n")
    assert warm.stale(recorded) == str(second)
    second.unlink()
    assert warm.stale(recorded) == str(second)


HELD_SCRIPT = """
import hashlib, sys
from minarch.warm import delegate

delegate()
from minarch import data

splits = data.load_splits(sys.argv[1], validation_fraction=0.25, split_seed=1)
digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in (splits.x_train, splits.y_val, splits.x_test)))
print(sorted(data._HELD), digest.hexdigest(), flush=True)
"""


def test_the_server_holds_what_its_calls_keep_for_the_forks(tmp_path, capfd):
    """hold calls: a dataset's verified splits reach the forked jobs, equal to a load from disk;
    a call that fails is reported once and dropped, and the jobs run on."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {f"x_{part}": rng.integers(0, 256, (n, 4, 4), dtype=np.uint8) for part, n in (("train", 20), ("test", 8))}
    arrays |= {f"y_{part}": rng.integers(0, 10, n, dtype=np.uint8) for part, n in (("train", 20), ("test", 8))}
    from minarch import data

    cache = tmp_path / "tiny.npz"
    recorded = [data.content_checksums(arrays)[name] for name in data.ARRAYS]
    np.savez(cache, **arrays, **{data.CHECKSUMS_KEY: np.array(recorded), data.NAME_KEY: np.array("tiny")})
    time.sleep(data.RACY_NS / 1e9 + 0.1)  # older than the clock's tick: the server holds it
    script = tmp_path / "held.py"
    script.write_text(HELD_SCRIPT)
    hold = [("minarch.data:hold_splits", {"path": str(cache), "validation_fraction": 0.25, "split_seed": 1}),
            ("minarch.no_such_module:keep", {"x": 1})]  # fmt: skip
    server = warm.start(hold=hold)
    assert server is not None
    try:
        runs = [job(script, cache), job(script, cache), job(script, cache, env={warm.SOCKET_ENV: ""})]
    finally:
        server.stop()
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    (held, digest), (held_again, digest_again), (not_held, digest_alone) = (run.stdout.split() for run in runs)
    assert held == held_again == str([os.path.realpath(cache)]) and not_held == "[]"
    assert digest == digest_again == digest_alone  # the same tensors, held or read
    errors = capfd.readouterr().err
    assert errors.count("stops calling minarch.no_such_module:keep") == 1 and "ModuleNotFoundError" in errors
