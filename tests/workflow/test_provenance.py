"""Provenance end to end on one tiny run (MNIST from the data mirror): inputs are checked where
they are read (the dataset cache, per-seed Parquet files), every row names the code that made
it, jobs run the checkout's own package, and the report describes the run whatever config the
report command gets. Each damage is done on a copy of the finished run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake_support import MIRROR, REPO, one_line_error, snakemake_command

from minarch import io

# every family and phase 1 named, one configuration each: valid whether or not a user's sweep
# sections are merged with the default config's
TINY = """
train: {max_epochs: 1}
prune: {ratios: [0.0, 1.0]}
families:
  dnn: {datasets: [mnist], topologies: [L1], widths: [2], seeds: 1}
  cnn: {datasets: [mnist], widths: [1], seeds: 1}
  vit: {datasets: [mnist], widths: [2], seeds: 1}
topology_sweep: {datasets: [mnist], depths: [1], widths: [2], seeds: 1}
"""
RUN = "results/runs/mnist/dnn/L1/w2/seed0"
CACHE = "resources/datasets/mnist.npz"

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MIRROR / "mnist.npz").is_file(), reason=f"no data mirror with mnist.npz at {MIRROR}"),
]


def snakemake(
    workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile", configfile: Path | None = None
) -> subprocess.CompletedProcess:
    command = snakemake_command(
        workdir, "--configfile", str(configfile or workdir / "tiny.yaml"), "--cores", "2", *args, snakefile=snakefile
    )
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "MINARCH_DATA_MIRROR": str(MIRROR)}
    )


def succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("provenance")
    (workdir / "tiny.yaml").write_text(TINY)
    code = io.source_hash(REPO / "src" / "minarch")
    succeeded(snakemake(workdir))
    return {"workdir": workdir, "source_hash": code}


def copy_of(finished: dict, tmp_path: Path) -> Path:
    """The finished run, mtimes kept (so Snakemake sees it finished), to damage."""
    workdir = tmp_path / "run"
    shutil.copytree(finished["workdir"], workdir)
    return workdir


# --------------------------------------------------------------------------- provenance of code
def test_every_row_names_the_code_that_made_it(finished):
    files = sorted((finished["workdir"] / "results").rglob("*.parquet"))
    per_seed = [path for path in files if "runs" in path.parts or "collected" in path.parts]
    assert len(per_seed) > 10
    for path in per_seed:
        frame = pd.read_parquet(path)
        assert set(frame["minarch_source_hash"]) == {finished["source_hash"]}, path
        assert len(finished["source_hash"]) == 12 and set(frame["minarch_version"]) == {"0.1.0"}


def test_an_aggregate_warns_once_when_rows_come_from_different_code(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    path = workdir / RUN / "prune.parquet"
    older = pd.read_parquet(path).assign(minarch_source_hash="0123456789ab")  # as if made before an edit
    io.write_parquet(older, path)
    succeeded(snakemake(workdir, "results/table1.csv"))
    table1_log = (workdir / "results/logs/table1.log").read_text()
    warnings = [line for line in table1_log.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, table1_log
    # (2 versions; more where src/minarch was edited while the fixture's run went on)
    assert "different versions of the minarch code" in warnings[0] and "0123456789ab: 2 rows" in warnings[0]
    assert f"{finished['source_hash']}: " in warnings[0]
    # the DNN's collected prune rows all come from the one older code: nothing to warn about
    collect_log = (workdir / "results/logs/collect/dnn_prune.log").read_text()
    assert "WARNING" not in collect_log, collect_log


def test_jobs_run_the_package_of_the_workflows_own_checkout(tmp_path):
    """A second clone run with the first clone's virtualenv (or with a conda environment that
    holds only the dependencies): the Snakefile puts its own src/ first, in its process and
    on every job's PYTHONPATH, so its jobs import the second clone's package, not the one
    installed in the environment (which minarch.jobs.check_checkout would refuse)."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Snakefile", "workflow", "config", "src", "profiles", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, clone / name)
    marks = tmp_path / "imported.txt"
    with open(clone / "src/minarch/__init__.py", "a") as handle:  # an edit made in the second clone
        handle.write(
            f"\nimport sys as _sys\nwith open({str(marks)!r}, 'a') as _f:\n    _f.write(_sys.argv[0] + '\\n')\n"
        )
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text(TINY)
    result = snakemake(workdir, "results/config.yaml", snakefile=clone / "Snakefile")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (workdir / "results/config.yaml").is_file()
    importers = marks.read_text().splitlines()
    assert any("snakemake" in line for line in importers), importers  # the workflow's own process
    assert any(line.endswith("save_config.py") for line in importers), importers  # and the job


# --------------------------------------------------------------------------- inputs checked where read
def test_a_tampered_dataset_cache_stops_the_job_that_reads_it(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    with np.load(workdir / CACHE) as archive:
        arrays = {name: archive[name].copy() for name in archive.files}
    arrays["y_train"] = np.random.default_rng(0).permutation(arrays["y_train"])  # still a valid file
    np.savez(workdir / CACHE, **arrays)
    (workdir / RUN / "train.parquet").unlink()
    result = snakemake(workdir, f"{RUN}/train.parquet")
    line = one_line_error(result, CACHE, "differs from the content recorded when it was made", "y_train")
    assert "delete it and rerun" in line, line
    assert not (workdir / RUN / "train.parquet").exists()


@pytest.mark.parametrize("damage", ["truncated", "junk"])
def test_a_corrupt_per_seed_parquet_stops_its_readers_in_one_line(finished, tmp_path, damage):
    workdir = copy_of(finished, tmp_path)
    path = workdir / RUN / "train.parquet"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2] if damage == "truncated" else b"not parquet at all" * 50)
    for reader, target in [
        ("qat_dnn", f"{RUN}/qat.parquet"),
        ("collect", "results/collected/dnn/train.parquet"),
    ]:
        result = snakemake(workdir, target, "--allowed-rules", reader)
        line = one_line_error(result, f"{RUN}/train.parquet", "corrupt")
        assert "delete it and rerun" in line, line
        assert f"Error in rule {reader}" in result.stdout + result.stderr


# --------------------------------------------------------------------------- the report describes its run
def test_the_run_saves_its_config(finished):
    saved = yaml.safe_load((finished["workdir"] / "results/config.yaml").read_text())
    assert saved["train"]["max_epochs"] == 1 and saved["prune"]["ratios"] == [0.0, 1.0]
    assert saved["families"]["dnn"]["widths"] == [2] and saved["families"]["vit"]["seeds"] == 1


def test_report_describes_the_saved_config_whatever_config_it_gets(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text("train: {max_epochs: 7, learning_rate: 0.25}\nprune: {ratios: [0.0, 0.3, 1.0]}\n")
    report = workdir / "results/report.html"
    succeeded(snakemake(workdir, "--report", str(report), configfile=other))
    html = report.read_text()
    assert "at most 1" in html and "learning rate 0.001," in html and "the ratios 0.0, 1.0," in html
    assert "at most 7" not in html and "learning rate 0.25" not in html and "the ratios 0.0, 0.3" not in html


def test_report_before_any_run_says_so_in_one_line(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    result = snakemake(tmp_path, "--report", str(tmp_path / "report.html"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [line for line in output.splitlines() if "no results to report yet" in line]
    assert len(lines) == 1 and "run the workflow first" in lines[0], output
    assert "older version of Snakemake" not in output and "Traceback" not in output
    assert not (tmp_path / "report.html").exists()
