"""Robustness of the workflow end to end: a SIGKILLed run resumes without touching
what was finished and ends with the same results; runs are bit-reproducible on CPU, with
jobs in parallel or not; bad input stops with one line naming the problem and loses nothing.

Two full runs of one small DNN config are shared by the tests (module fixtures): ``serial``
(``--cores 1``, uninterrupted) and ``interrupted`` (``--cores 2``, SIGKILLed after its first
train job, then rerun). Metrics are compared without the columns of how a seed ran (``HOW``:
wall-clock seconds, stacked seeds); no other column may differ. Like test_workflow.py this
needs the data mirror (MINARCH_DATA_MIRROR, else ../shared/data beside the checkout).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snakemake_support import MIRROR, one_line_error, planned_jobs, run_and_kill, snakemake_command

# two configurations x 2 seeds: two train jobs (one block of 2 seeds each), so that one can
# finish while the other has written one seed of two
SMALL = """
train: {max_epochs: 1}
prune: {ratios: [0.0, 0.5, 1.0]}
families:
  dnn: {datasets: [mnist], topologies: [L1], widths: [4, 16], seeds: 2}
"""
BLOCKS = ["results/runs/mnist/dnn/L1/w4", "results/runs/mnist/dnn/L1/w16"]
STAGE_FILES = {"model.pt", "train.parquet", "prune.parquet", "qat.parquet"}
STAGE_OF = {"model.pt": "train", "train.parquet": "train", "prune.parquet": "prune", "qat.parquet": "qat"}
# How a seed ran, not what it computed: the only columns allowed to differ. Wall-clock times
# (train, QAT, PTQ), and how many seeds trained as one stack (a small DNN's block stacks its
# seeds; a seed retrained alone is a stack of one, with the same bits).
HOW = ["seconds", "ptq_seconds", "stacked_seeds"]
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")  # minarch.io.atomic_path: .{name}.{random}.tmp
CHECKPOINT = re.compile(r"^\.(train|qat)-seeds?\d+(-\d+)?(\.[a-z]+)?\.ckpt$")  # a running job's per-epoch checkpoint


def is_output(path: str) -> bool:
    """A stage's output, not a temporary write or a job's checkpoint."""
    return not (TEMP_NAME.match(Path(path).name) or CHECKPOINT.match(Path(path).name))


def completed(paths: list[str]) -> list[str]:
    """The seeds' files among ``paths`` whose stage table, written last, is there too."""
    present = set(paths)
    return [p for p in paths if (Path(p).parent / f"{STAGE_OF[Path(p).name]}.parquet").as_posix() in present]


def block_record_of(seed_file: str) -> str:
    """The record of the block (seeds 0-1 of its configuration) that writes a seed's file."""
    run = Path(seed_file)
    configuration = run.parent.parent.relative_to("results/runs").as_posix()
    return f"results/blocks/{STAGE_OF[run.name]}/{configuration}/seeds0-1.json"


KILL_TIMEOUT_S = 600

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MIRROR / "mnist.npz").is_file(), reason=f"no data mirror with mnist.npz at {MIRROR}"),
]


def command(workdir: Path, *args: str, cores: int = 2) -> list[str]:
    return snakemake_command(workdir, "--configfile", str(workdir / "cfg.yaml"), "--cores", str(cores), *args)


def environment(**changes: str | None) -> dict[str, str]:
    env = {**os.environ, "MINARCH_DATA_MIRROR": str(MIRROR)}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def snakemake(
    workdir: Path, *args: str, cores: int = 2, env: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command(workdir, *args, cores=cores), capture_output=True, text=True, env=env or environment()
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def new_workdir(factory, name: str) -> Path:
    path = factory.mktemp(name)
    (path / "cfg.yaml").write_text(SMALL)
    return path


def files_under(root: Path, *parts: str) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for part in parts
        if (root / part).exists()
        for p in (root / part).rglob("*")
        if p.is_file()
    )


def fingerprint(root: Path, paths) -> dict[str, tuple[int, str]]:
    """mtime (ns) and content hash of each file."""
    return {p: ((root / p).stat().st_mtime_ns, hashlib.sha256((root / p).read_bytes()).hexdigest()) for p in paths}


def metrics(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.drop(columns=[c for c in HOW if c in frame.columns])


def model_records(path: Path) -> dict[str, bytes]:
    """model.pt's zip records (weights, spec, format), each read in full: a torn file fails."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def assert_same_tables(got: Path, expected: Path) -> None:
    """The final tables: collected Parquet and regimes equal exactly but for the ``HOW``
    columns, Table I and the regimes CSV byte for byte."""
    names = files_under(expected, "results/collected") + ["results/regimes.parquet"]
    assert files_under(got, "results/collected") + ["results/regimes.parquet"] == names
    for name in names:
        pd.testing.assert_frame_equal(metrics(got / name), metrics(expected / name), check_exact=True, obj=name)
    for name in ["results/table1.csv", "results/table1.md", "results/regimes.csv"]:
        assert (got / name).read_text() == (expected / name).read_text(), name


def assert_same_runs(got: Path, expected: Path) -> None:
    """Every per-seed table equal exactly but for the ``HOW`` columns, every saved model byte
    for byte."""
    names = files_under(expected, "results/runs")
    assert files_under(got, "results/runs") == names
    for name in names:
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(metrics(got / name), metrics(expected / name), check_exact=True, obj=name)
        else:
            assert (got / name).read_bytes() == (expected / name).read_bytes(), name


def job_intervals(workdir: Path, stage: str) -> list[tuple[float, float]]:
    """(start, end) of each job of a stage, from its benchmark file (written when the job
    ends; its first column is the job's wall-clock seconds)."""
    intervals = []
    for tsv in (workdir / "results/benchmarks" / stage).rglob("*.tsv"):
        seconds = float(tsv.read_text().splitlines()[1].split("\t")[0])
        end = tsv.stat().st_mtime
        intervals.append((end - seconds, end))
    return intervals


def overlapping(intervals: list[tuple[float, float]]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(intervals) for b in intervals[i + 1 :])


def jobs_in_log(text: str) -> tuple[dict[str, list[str]], set[str]]:
    """Snakemake's log: jobid -> output files of every started job, and the finished jobids."""
    started = {}
    for block in re.finditer(r"^(?:local)?rule \w+:\n((?:[ \t]+.*\n)+)", text, re.M):
        body = block.group(1)
        jobid = re.search(r"^\s+jobid: (\d+)$", body, re.M)
        output = re.search(r"^\s+output: (.*)$", body, re.M)
        if jobid and output:
            started[jobid.group(1)] = [p.strip() for p in output.group(1).split(",")]
    return started, set(re.findall(r"^Finished jobid: (\d+) \(Rule: ", text, re.M))


# ---------------------------------------------------------------------------------------------
# shared runs


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    """The small config, uninterrupted, one job at a time."""
    workdir = new_workdir(tmp_path_factory, "serial")
    snakemake(workdir, cores=1)
    return workdir


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> dict:
    """The same config with --cores 2, SIGKILLed (the whole process group, as a closed terminal
    or an OOM killer would) once a train job has finished and another job has written some but
    not all of its seeds' files, then rerun as a user would. Returns what was seen on the way."""
    workdir = new_workdir(tmp_path_factory, "interrupted")
    log_path = workdir / "first_run.log"

    def a_train_job_done_and_another_half_done() -> bool:
        started, finished = jobs_in_log(log_path.read_text())
        done = {f for jobid in finished for f in started.get(jobid, [])}
        trains_done = [f for f in done if f.startswith("results/blocks/train/")]
        # a seed's file whose block has not finished yet: a half-done job
        written = [p for p in files_under(workdir, "results/runs") if is_output(p)]
        half_done = [p for p in completed(written) if block_record_of(p) not in done]
        return bool(trains_done and half_done)

    run_and_kill(
        command(workdir, cores=2),
        environment(),
        log_path,
        a_train_job_done_and_another_half_done,
        "a finished train job beside a half-done one",
        KILL_TIMEOUT_S,
    )
    # the log again: a job may have finished between the last poll and the kill
    started, finished = jobs_in_log(log_path.read_text())
    finished_outputs = sorted({f for jobid in finished for f in started.get(jobid, [])})
    state = {
        "workdir": workdir,
        "finished_outputs": finished_outputs,
        "before": fingerprint(workdir, finished_outputs),
        "files_at_kill": files_under(workdir, "results", "resources"),
        # seeds' files of the blocks the kill interrupted (a temporary file, if the kill hit a
        # write, is no output: it stays behind, hidden, and is never mistaken for one)
        "half_done": sorted(
            p
            for p in completed([p for p in files_under(workdir, "results/runs") if is_output(p)])
            if block_record_of(p) not in finished_outputs
        ),
        "table1_at_kill": (workdir / "results/table1.csv").exists(),
    }
    state["half_done_before"] = fingerprint(workdir, state["half_done"])
    # a file with an output's name must be complete (outputs are written to a temporary name
    # and renamed): read back every one that exists right after the kill
    state["torn_at_kill"] = []
    for name in files_under(workdir, "results/runs", "results/collected"):
        base = Path(name).name
        try:
            if not is_output(name):
                continue
            if base.endswith(".parquet"):
                pd.read_parquet(workdir / name)
            else:
                model_records(workdir / name)
        except Exception as error:  # noqa: BLE001 - any read failure is the finding
            state["torn_at_kill"].append(f"{name}: {type(error).__name__}")
    # Snakemake's lock survives a SIGKILL: the rerun refuses and says how to remove it
    rerun = snakemake(workdir, check=False)
    state["first_rerun"] = rerun
    if rerun.returncode != 0 and "--unlock" in rerun.stdout + rerun.stderr:
        snakemake(workdir, "--unlock")
        rerun = snakemake(workdir, check=False)
    state["rerun"] = rerun
    return state


# ---------------------------------------------------------------------------------------------
# 1. interruption


def test_killed_run_is_caught_midway(interrupted):
    assert any(p.startswith("results/blocks/train/") for p in interrupted["finished_outputs"]), "no train job ended"
    assert interrupted["half_done"], "no job was half done at the kill"
    assert not interrupted["table1_at_kill"], "the run had already finished"


def test_stale_lock_after_kill_names_the_way_out(interrupted):
    """Snakemake 9 keeps its lock after a SIGKILL: the same command then fails, saying to
    run --unlock (what the README tells users); it must not fail for any other reason."""
    first = interrupted["first_rerun"]
    if first.returncode != 0:
        output = first.stdout + first.stderr
        assert "LockException" in output and "--unlock" in output, output[-3000:]


def test_rerun_after_kill_completes(interrupted):
    rerun = interrupted["rerun"]
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-5000:]
    workdir = interrupted["workdir"]
    assert planned_jobs(snakemake(workdir, "-n")) == {}


def test_rerun_after_kill_keeps_finished_outputs(interrupted):
    workdir = interrupted["workdir"]
    after = fingerprint(workdir, interrupted["finished_outputs"])
    changed = [p for p in interrupted["finished_outputs"] if after[p] != interrupted["before"][p]]
    assert not changed, f"finished before the kill, rewritten by the rerun: {changed}"


def test_rerun_after_kill_keeps_the_seeds_a_killed_block_finished(interrupted):
    """A seed whose files a killed block had written completely (stamped, minarch.records) is
    kept, not redone: the rerun of its block skips it."""
    after = fingerprint(interrupted["workdir"], interrupted["half_done"])
    redone = [p for p in interrupted["half_done"] if after[p] != interrupted["half_done_before"][p]]
    assert not redone, f"seeds a killed block had finished were redone: {redone}"


def test_kill_leaves_no_file_that_looks_finished(interrupted):
    """Right after the kill every file under results/runs is a stage output that reads back
    completely, or has a temporary name that no rule produces; after the rerun only outputs
    are left (the rerun jobs remove their outputs' leftover temporary files)."""
    assert not interrupted["torn_at_kill"], interrupted["torn_at_kill"]
    for name in interrupted["files_at_kill"]:
        if name.startswith("results/runs/"):
            assert Path(name).name in STAGE_FILES or not is_output(name), name
    for name in files_under(interrupted["workdir"], "results/runs"):
        assert Path(name).name in STAGE_FILES, name


def test_rerun_after_kill_gives_the_uninterrupted_results(interrupted, serial):
    assert interrupted["rerun"].returncode == 0
    assert_same_tables(interrupted["workdir"], serial)


# ---------------------------------------------------------------------------------------------
# 2 + 4. determinism and concurrency


def test_jobs_really_ran_in_parallel_with_two_cores(interrupted):
    """The --cores 2 run overlapped jobs (both halves can), so the comparison below covers
    parallel execution."""
    workdir = interrupted["workdir"]
    assert overlapping(
        job_intervals(workdir, "train")
        + job_intervals(workdir, "prune")
        + job_intervals(workdir, "qat")
        + job_intervals(workdir, "collect")
    )


def test_same_config_twice_gives_bit_identical_metrics(serial, interrupted):
    """Two directories, --cores 1 versus --cores 2 (with parallel jobs, interrupted and
    resumed): identical per-seed, collected and aggregate tables but for `seconds`."""
    names = files_under(serial, "results/runs")
    assert len(names) == 4 * len(STAGE_FILES)  # the comparison sees every seed's files
    assert_same_runs(interrupted["workdir"], serial)
    assert_same_tables(interrupted["workdir"], serial)


# ---------------------------------------------------------------------------------------------
# 3. bad input (config errors: test_workflow.py::test_bad_config_fails_with_one_named_line)


def copy_run(source: Path, destination: Path, skip: str | None = None) -> None:
    """A finished run, mtimes kept (so Snakemake sees it finished), without ``skip``."""
    ignore = (lambda folder, names: [n for n in names if Path(folder, n) == source / skip]) if skip else None
    shutil.copytree(source, destination, ignore=ignore)


def damaged_mirror(tmp_path: Path, damage: str) -> Path:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    if damage == "checksum":
        with np.load(MIRROR / "mnist.npz") as archive:
            arrays = {name: archive[name].copy() for name in archive.files}
        arrays["y_test"][0] = (arrays["y_test"][0] + 1) % 10  # one label off
        np.savez(mirror / "mnist.npz", **arrays)
    elif damage == "truncated":
        data = (MIRROR / "mnist.npz").read_bytes()
        (mirror / "mnist.npz").write_bytes(data[: len(data) // 2])
    return mirror


def offline(proxy: str = "http://127.0.0.1:9") -> dict[str, str | None]:
    """No mirror, and every download through a proxy that refuses (port 9: nothing listens),
    so that the test is offline even on a machine with internet."""
    return {
        "MINARCH_DATA_MIRROR": None,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "no_proxy": "",
        "NO_PROXY": "",
    }


# (environment changes, fragments of the one error line)
DATA_CASES = {
    "mirror folder missing": (lambda tmp: {"MINARCH_DATA_MIRROR": str(tmp / "nowhere")}, ["nowhere", "does not exist"]),
    "mirror folder empty": (
        lambda tmp: {"MINARCH_DATA_MIRROR": str(damaged_mirror(tmp, "none"))},
        ["has no mnist.npz", "MINARCH_DATA_MIRROR"],
    ),
    "wrong checksum": (
        lambda tmp: {"MINARCH_DATA_MIRROR": str(damaged_mirror(tmp, "checksum"))},
        ["mnist.npz", "checksum mismatch", "y_test"],
    ),
    "truncated file": (
        lambda tmp: {"MINARCH_DATA_MIRROR": str(damaged_mirror(tmp, "truncated"))},
        ["mnist.npz", "corrupt"],
    ),
    # no mirror at all and no network: torchvision's download must fail fast, in one line
    "offline without mirror": (lambda tmp: offline(), ["could not download mnist", "MINARCH_DATA_MIRROR"]),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_source_fails_fast_in_one_line_and_loses_nothing(serial, tmp_path, case):
    """A finished run whose dataset cache was deleted, remade from a bad source: the prepare
    job stops with one line, writes no cache, and no finished output is touched."""
    workdir = tmp_path / "run"
    copy_run(serial, workdir, skip="resources/datasets/mnist.npz")
    kept = files_under(workdir, "results/runs", "results/collected") + ["results/table1.csv", "results/regimes.csv"]
    before = fingerprint(workdir, kept)
    changes, fragments = DATA_CASES[case]
    started = time.monotonic()
    # naming the cache as a target remakes it (a missing intermediate alone is not remade while
    # everything downstream is up to date), and with it every job downstream: none may start
    result = snakemake(
        workdir, "resources/datasets/mnist.npz", "all", env=environment(**changes(tmp_path)), check=False
    )
    seconds = time.monotonic() - started
    one_line_error(result, *fragments)
    assert "Error in rule prepare_dataset" in result.stdout + result.stderr
    assert seconds < 120, f"took {seconds:.0f} s to fail"
    assert not (workdir / "resources/datasets/mnist.npz").exists()
    assert not [p for p in files_under(workdir, "resources", "results") if TEMP_NAME.match(Path(p).name)]
    assert fingerprint(workdir, kept) == before


def test_download_from_a_network_that_never_answers_times_out(tmp_path):
    """A network that accepts connections but never answers (a dead proxy, a captive portal):
    the download gives up after minarch.data.DOWNLOAD_TIMEOUT_S (set to 1 s here) with the
    one-line offline hint, rather than hanging the job forever (urllib waits without limit)."""
    code = (
        "import sys, pathlib, minarch.data as data\n"
        "data.DOWNLOAD_TIMEOUT_S = 1\n"
        "try:\n    data.prepare('mnist', pathlib.Path(sys.argv[1]))\n"
        "except data.DataError as error:\n    print(error)\n    sys.exit(3)\n"
    )
    with socket.socket() as black_hole:  # listens, so connections succeed, but never reads or answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        env = environment(**offline(f"http://127.0.0.1:{black_hole.getsockname()[1]}"))
        try:
            result = subprocess.run(
                [sys.executable, "-c", code, str(tmp_path / "mnist.npz")],
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the download hung on a network that never answers")
    assert result.returncode == 3, result.stdout + result.stderr
    message = result.stdout.strip()
    assert "\n" not in message and "could not download mnist" in message and "timed out" in message, message
    assert not (tmp_path / "mnist.npz").exists()


def test_a_damaged_model_is_retrained_alone_and_nothing_else_changes(serial, tmp_path):
    """A seed's model.pt overwritten after its block finished (e.g. a disk filled up while
    copying results): the run notices the changed file, says so in one line, retrains that
    seed alone (its block-mate is kept) and ends with the results of the undamaged run."""
    workdir = tmp_path / "run"
    copy_run(serial, workdir)
    corrupt = "results/runs/mnist/dnn/L1/w4/seed0/model.pt"
    retrained = {corrupt, corrupt.replace("model.pt", "train.parquet")}
    others = [p for p in files_under(workdir, "results/runs") if p not in retrained]
    before = fingerprint(workdir, others)
    data = (workdir / corrupt).read_bytes()
    (workdir / corrupt).write_bytes(data[: len(data) // 2])

    dry_run = snakemake(workdir, "-n")
    output = dry_run.stdout + dry_run.stderr
    assert f"minarch: {corrupt} is gone or changed, so its block runs again" in output, output[-3000:]
    plan = planned_jobs(dry_run)
    stage_jobs = {rule: n for rule, n in plan.items() if rule.startswith(("prepare", "train", "prune", "qat"))}
    # the train block reruns; prune and QAT follow it, and find their seeds still valid
    assert stage_jobs == {"train_dnn": 1, "prune_dnn": 1, "qat_dnn": 1}, plan
    result = snakemake(workdir)
    train_log = (workdir / "results/logs/train/mnist/dnn/L1/w4/seeds0-1.log").read_text()
    assert "1 of 2 seeds to train" in train_log, train_log
    for stage in ("prune", "qat"):  # the retrained model has the same bits: nothing to redo
        assert "0 of 2 seeds" in (workdir / f"results/logs/{stage}/mnist/dnn/L1/w4/seeds0-1.log").read_text()
    assert fingerprint(workdir, others) == before, result.stderr[-3000:]
    assert_same_runs(workdir, serial)
    assert_same_tables(workdir, serial)
