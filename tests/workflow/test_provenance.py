"""Provenance end to end on one tiny run (MNIST from the data mirror): inputs are checked where
they are read (the dataset cache, a model, per-seed Parquet files), every row names the code
that made it, a change of the code that can change results reruns exactly the jobs that run it
(and nothing else does), every aggregate says which code its rows come from, jobs run the
checkout's own package, and the report describes the results it shows. Each damage is done on
a copy of the finished run. A seed's file damaged after its block finished is noticed when
the workflow plans (its block record lists every file's size and modification time) and the
block redoes that seed: the run ends with the undamaged results, never with the damage's."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake_support import MIRROR, REPO, one_line_error, planned_jobs, snakemake_command

from minarch import data, provenance

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


TRAIN_BLOCK = "results/blocks/train/mnist/dnn/L1/w2/seeds0-0.json"  # the job that trains RUN
NOTICE = "is gone or changed, so its block runs again"


def snakemake(
    workdir: Path,
    *args: str,
    snakefile: Path = REPO / "Snakefile",
    configfile: Path | None = None,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    command = snakemake_command(
        workdir, "--configfile", str(configfile or workdir / "tiny.yaml"), "--cores", "2", *args, snakefile=snakefile
    )
    environment = {**os.environ, "MINARCH_DATA_MIRROR": str(MIRROR), **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment)


def succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("provenance")
    (workdir / "tiny.yaml").write_text(TINY)
    code = {stage: provenance.code_version(stage) for stage in provenance.RUN_STAGES}
    succeeded(snakemake(workdir))
    return {"workdir": workdir, "code": code}


def copy_of(finished: dict, tmp_path: Path) -> Path:
    """The finished run, mtimes kept (so Snakemake sees it finished), to damage."""
    workdir = tmp_path / "run"
    shutil.copytree(finished["workdir"], workdir)
    return workdir


def clone_of_checkout(tmp_path: Path) -> Path:
    """Another clone of this checkout (workflow, config and package), to edit."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Snakefile", "workflow", "config", "src", "profiles", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, clone / name)
    return clone


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def rules_planned(result: subprocess.CompletedProcess) -> dict[str, int]:
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return planned_jobs(result)


STAGE_RULE = re.compile(r"^(train|prune|qat)_")


# --------------------------------------------------------------------------- provenance of code
def test_every_row_names_the_code_that_made_it(finished):
    files = sorted((finished["workdir"] / "results").rglob("*.parquet"))
    per_seed = [path for path in files if "runs" in path.parts or "collected" in path.parts]
    assert len(per_seed) > 10
    for path in per_seed:
        frame = pd.read_parquet(path)
        stage = path.stem
        assert set(frame["code_version"]) == {finished["code"][stage]}, path
        assert "minarch_source_hash" not in frame and set(frame["minarch_version"]) == {"0.1.0"}
    assert re.fullmatch(r"[0-9a-f]{12}", finished["code"]["train"])


def test_aggregates_say_in_themselves_when_rows_are_mixed_or_not_the_checkouts(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    path = workdir / RUN / "prune.parquet"
    older = pd.read_parquet(path).assign(code_version="0123456789ab")  # as if made before a change
    older.to_parquet(path, index=False)
    succeeded(snakemake(workdir, "results/paper_comparison.md"))
    current = finished["code"]["prune"]
    for name in ("table1.md", "table1.html", "paper_comparison.md", "paper_comparison.html"):
        text = html.unescape((workdir / "results" / name).read_text())
        warnings = [line for line in text.splitlines() if "WARNING" in line]
        assert len(warnings) == 1, (name, text[-2000:])
        assert "not every row comes from the checkout's current code" in warnings[0]
        assert f"the prune rows are mixed, from 2 code versions ({current}: " in warnings[0]
        assert "0123456789ab: 2 rows" in warnings[0] and "--forceall" not in warnings[0]
    table1 = pd.read_csv(workdir / "results/table1.csv").set_index("arch")
    assert table1.loc["dnn", "code_version"] == " + ".join(sorted(["0123456789ab", current]))
    assert table1.loc["cnn", "code_version"] == current
    table1_log = (workdir / "results/logs/table1.log").read_text()
    assert len([line for line in table1_log.splitlines() if "WARNING" in line]) == 1, table1_log
    # the DNN's collected prune rows all come from the one older code: not mixed, but not the checkout's
    collect_log = (workdir / "results/logs/collect/dnn_prune.log").read_text()
    assert f"the prune rows (2 rows) come from code version 0123456789ab, not the checkout's current {current}" in (
        collect_log
    )
    # and the regimes, made from the train rows alone, do not warn
    assert "WARNING" not in (workdir / "results/regimes.html").read_text()
    assert "Code: every row comes from the checkout's current code" in html.unescape(
        (workdir / "results/regimes.html").read_text()
    )


def test_comments_change_nothing_and_code_changes_rerun_what_runs_it(finished, tmp_path):
    """The issue's case 1 as dry runs of a clone whose package is edited: comments and
    docstrings plan nothing; the DNN's init std halved in models.py plans every train, prune
    and QAT job (\"params changed\"); a regime rule changed plans the aggregates that use it."""
    workdir = copy_of(finished, tmp_path)
    clone = clone_of_checkout(tmp_path)
    package = clone / "src" / "minarch"
    edit(package / "models.py", "def dnn(", "# a comment\n\n\ndef dnn(")
    edit(package / "models.py", '"""Flatten -> (Linear, ReLU)', '"""Reworded docstring. Flatten -> (Linear, ReLU)')
    edit(package / "regimes.py", "def finals(", "# why finals\n\n\ndef finals(")
    dry = snakemake(workdir, "-n", snakefile=clone / "Snakefile")
    assert rules_planned(dry) == {}, dry.stdout[-3000:]

    edit(
        package / "models.py", "std=math.sqrt(2.0 / layer.in_features)", "std=0.5 * math.sqrt(2.0 / layer.in_features)"
    )
    plan = rules_planned(dry := snakemake(workdir, "-n", snakefile=clone / "Snakefile"))
    stages = {rule: n for rule, n in plan.items() if STAGE_RULE.match(rule)}
    assert stages == {
        "train_dnn": 1, "prune_dnn": 1, "qat_dnn": 1, "train_cnn": 1, "prune_cnn": 1, "qat_cnn": 1,
        "train_vit": 1, "prune_vit": 1, "qat_vit": 1,
    }, plan  # fmt: skip
    assert "Params have changed since last execution" in dry.stdout + dry.stderr

    edit(
        package / "models.py", "std=0.5 * math.sqrt(2.0 / layer.in_features)", "std=math.sqrt(2.0 / layer.in_features)"
    )
    assert rules_planned(snakemake(workdir, "-n", snakefile=clone / "Snakefile")) == {}
    edit(package / "regimes.py", "return n_seeds >= self.min_seeds", "return n_seeds > self.min_seeds")
    plan = rules_planned(snakemake(workdir, "-n", snakefile=clone / "Snakefile"))
    assert not [rule for rule in plan if STAGE_RULE.match(rule) or rule.startswith(("collect", "prepare"))], plan
    assert {"regimes", "table1", "paper_comparison", "family_figure", "topology_sweep"} <= set(plan), plan


def test_a_comment_edit_and_a_new_seed_keep_every_aggregate_of_one_code(finished, tmp_path):
    """The issue's false alarm: a comment-only edit and one more seed made every aggregate warn
    of "2 different versions" and recommend retraining the sweep."""
    workdir = copy_of(finished, tmp_path)
    clone = clone_of_checkout(tmp_path)
    train = clone / "src/minarch/train.py"
    train.write_text("# an edit that changes no result\n" + train.read_text())
    grown = workdir / "grown.yaml"
    grown.write_text(TINY.replace("widths: [2], seeds: 1}", "widths: [2], seeds: 2}", 1))
    result = succeeded(snakemake(workdir, snakefile=clone / "Snakefile", configfile=grown))
    ran = {rule: n for rule, n in planned_jobs(result).items() if STAGE_RULE.match(rule)}
    assert ran == {"train_dnn": 1, "prune_dnn": 1, "qat_dnn": 1}, ran
    for name in ("table1.md", "paper_comparison.md", "regimes.html"):
        text = html.unescape((workdir / "results" / name).read_text())
        assert "WARNING" not in text and "Code: every row comes from the checkout's current code" in text, name


def test_jobs_run_the_package_of_the_workflows_own_checkout(tmp_path):
    """A second clone run with the first clone's virtualenv (or with a conda environment that
    holds only the dependencies): the Snakefile puts its own src/ first, in its process and
    on every job's PYTHONPATH, so its jobs import the second clone's package, not the one
    installed in the environment (which minarch.jobs.check_checkout would refuse)."""
    clone = clone_of_checkout(tmp_path)
    marks = tmp_path / "imported.txt"
    with open(clone / "src/minarch/__init__.py", "a") as handle:  # an edit made in the second clone
        handle.write(
            f"\nimport sys as _sys\nwith open({str(marks)!r}, 'a') as _f:\n    _f.write(_sys.argv[0] + '\\n')\n"
        )
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text(TINY)
    result = snakemake(workdir, CACHE, snakefile=clone / "Snakefile")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (workdir / CACHE).is_file()
    importers = marks.read_text().splitlines()
    assert any("snakemake" in line for line in importers), importers  # the workflow's own process
    assert any(line.endswith("prepare_dataset.py") for line in importers), importers  # and the job


# --------------------------------------------------------------------------- inputs checked where read
def test_a_tampered_dataset_cache_stops_the_job_that_reads_it(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    with np.load(workdir / CACHE) as archive:
        arrays = {name: archive[name].copy() for name in archive.files}
    arrays["y_train"] = np.random.default_rng(0).permutation(arrays["y_train"])  # still a valid file
    np.savez(workdir / CACHE, **arrays)
    (workdir / RUN / "train.parquet").unlink()
    result = snakemake(workdir, TRAIN_BLOCK)
    line = one_line_error(result, CACHE, "differs from the content recorded when it was made", "y_train")
    assert "delete it and rerun" in line, line
    assert not (workdir / RUN / "train.parquet").exists()


def test_another_datasets_cache_copied_onto_the_name_stops_the_job_that_reads_it(finished, tmp_path):
    """The issue's case 2: fashion_mnist.npz copied onto mnist.npz trained "MNIST" to 77%."""
    workdir = copy_of(finished, tmp_path)
    data.prepare("fashion_mnist", tmp_path / "fashion_mnist.npz", mirror=str(MIRROR))
    shutil.copy(tmp_path / "fashion_mnist.npz", workdir / CACHE)
    (workdir / RUN / "train.parquet").unlink()
    # every finished file, the rerun job's own outputs aside (Snakemake removes those before it runs)
    kept = sorted(p for p in (workdir / "results/runs").rglob("*") if p.is_file() and p.name != "model.pt")
    before = {p: p.stat().st_mtime_ns for p in kept}
    result = snakemake(workdir, TRAIN_BLOCK)
    # stopped by the job that reads it first: the train job, or the one that writes its version file
    line = one_line_error(result, CACHE, "holds fashion_mnist, not the mnist its name says")
    assert "delete it and rerun" in line, line
    assert not (workdir / RUN / "train.parquet").exists()
    assert all(p.exists() for p in kept) and {p: p.stat().st_mtime_ns for p in kept} == before


def test_a_model_copied_onto_another_runs_path_is_noticed_and_retrained(finished, tmp_path):
    """The issue's case 3: seed 0's model.pt copied onto seed 1's gave prune rows saying seed 0
    under seed 1's path. The model here records another seed than its path names: the run
    says in one line that the file changed, retrains that seed alone, and every table is the
    undamaged run's (a job that still meets such a model stops: tests/unit/test_models.py)."""
    import torch

    workdir = copy_of(finished, tmp_path)
    model = workdir / RUN / "model.pt"
    payload = torch.load(model, weights_only=True)
    payload["spec"]["seed"] = 5  # the model of seed 5, at seed 0's path
    torch.save(payload, model)
    result = succeeded(snakemake(workdir))
    output = result.stdout + result.stderr
    assert f"minarch: {RUN}/model.pt {NOTICE} ({TRAIN_BLOCK})" in output, output[-3000:]
    assert torch.load(model, weights_only=True)["spec"]["seed"] == 0
    for stage in ("train", "prune", "qat"):
        got = pd.read_parquet(workdir / f"results/collected/dnn/{stage}.parquet")
        expected = pd.read_parquet(finished["workdir"] / f"results/collected/dnn/{stage}.parquet")
        timing = [c for c in ("seconds", "ptq_seconds") if c in got.columns]
        pd.testing.assert_frame_equal(got.drop(columns=timing), expected.drop(columns=timing), check_exact=True)


@pytest.mark.parametrize("damage", ["truncated", "junk"])
def test_a_corrupt_per_seed_parquet_is_noticed_and_redone(finished, tmp_path, damage):
    workdir = copy_of(finished, tmp_path)
    path = workdir / RUN / "train.parquet"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2] if damage == "truncated" else b"not parquet at all" * 50)
    dry = succeeded(snakemake(workdir, "-n"))
    assert f"minarch: {RUN}/train.parquet {NOTICE} ({TRAIN_BLOCK})" in dry.stdout + dry.stderr
    assert {rule for rule in rules_planned(dry) if STAGE_RULE.match(rule)} == {"train_dnn", "prune_dnn", "qat_dnn"}
    succeeded(snakemake(workdir))
    redone = pd.read_parquet(path)
    expected = pd.read_parquet(finished["workdir"] / RUN / "train.parquet")
    pd.testing.assert_frame_equal(redone.drop(columns="seconds"), expected.drop(columns="seconds"), check_exact=True)
    # the retrained model has the same bits, so its prune and QAT rows stand
    for stage in ("prune", "qat"):
        assert "0 of 1 seeds" in (workdir / f"results/logs/{stage}/mnist/dnn/L1/w2/seeds0-0.log").read_text()


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
    page = report.read_text()
    assert "at most 1" in page and "learning rate 0.001," in page and "the ratios 0.0, 1.0," in page
    assert "at most 7" not in page and "learning rate 0.25" not in page and "the ratios 0.0, 0.3" not in page


def test_report_before_any_run_says_so_in_one_line(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    result = snakemake(tmp_path, "--report", str(tmp_path / "report.html"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [line for line in output.splitlines() if "no results to report yet" in line]
    assert len(lines) == 1 and "run the workflow first" in lines[0], output
    assert "older version of Snakemake" not in output and "Traceback" not in output
    assert not (tmp_path / "report.html").exists()


def test_the_report_describes_its_results_and_names_what_differs_from_the_saved_config(finished, tmp_path):
    """The issue's case 4: one target rebuilt with a new learning rate (save_config runs only
    once everything is made, so the saved config stays the last finished run's); the report
    describes the rows and says where they differ from the saved config, and which outputs
    are older than their inputs."""
    workdir = copy_of(finished, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(TINY.replace("train: {max_epochs: 1}", "train: {max_epochs: 1, learning_rate: 0.002}"))
    succeeded(snakemake(workdir, "results/table1.csv", "--allowed-rules", "train_dnn", "prune_dnn", "qat_dnn",
                        "collect", "regimes", "table1", configfile=other))  # fmt: skip
    saved = yaml.safe_load((workdir / "results/config.yaml").read_text())
    assert saved["train"]["learning_rate"] == 0.001  # the last run that finished
    report = workdir / "results/report.html"
    succeeded(snakemake(workdir, "--report", str(report)))
    page = report.read_text()
    # the DNN's run retrained at 0.002; the CNN's, the ViT's and phase 1's tables still say 0.001
    assert re.search(r"learning rate 0.001 \(\d runs\) or 0.002 \(1 run\),", page), page[:3000]
    assert re.search(r"train.learning_rate: the results record 0.001 \(\d runs\) or 0.002 \(1 run\), the saved", page)
    assert "results/figures/fig3_dnn.png is older than its input results/collected/dnn/train.parquet" in page
    assert "results/paper_comparison.md is older than its input" in page


def test_the_config_is_saved_once_everything_else_is_made(finished, tmp_path):
    """A run stopped before its end (Ctrl-C) leaves the config of the last finished run: the
    config is saved last, once every other target of rule all is made."""
    workdir = copy_of(finished, tmp_path)
    (workdir / "results/figures/fig3_dnn.png").unlink()
    plan = rules_planned(snakemake(workdir, "-n"))
    assert plan == {"family_figure": 1, "save_config": 1, "all": 1}, plan
    dry = snakemake(workdir, "-n", "--forceall")
    order = [m.group(1) for m in re.finditer(r"^(?:local)?rule (\w+):", dry.stdout, re.M)]
    assert order.index("save_config") > max(i for i, rule in enumerate(order) if rule not in ("save_config", "all"))


# --------------------------------------------------------------------------- only what changes results reruns
def test_naming_the_mirror_in_the_config_reruns_nothing(finished, tmp_path):
    """The issue's case 5: data.mirror set to the folder MINARCH_DATA_MIRROR names reran every
    train, prune and QAT job (the mirror's path was a parameter of the dataset cache)."""
    workdir = copy_of(finished, tmp_path)
    named = workdir / "named.yaml"
    named.write_text(TINY + f"data: {{mirror: {MIRROR}}}\n")
    # only the saved config is rewritten (it records the run's config, paths and all)
    assert set(rules_planned(snakemake(workdir, "-n", configfile=named))) <= {"save_config", "all"}
    plan = rules_planned(snakemake(workdir, "-n", configfile=named, env={"MINARCH_DATA_MIRROR": ""}))
    assert set(plan) <= {"save_config", "all"}, plan


def test_the_evaluation_batch_size_reruns_nothing(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    bigger = workdir / "bigger.yaml"
    bigger.write_text(TINY.replace("train: {max_epochs: 1}", "train: {max_epochs: 1, eval_batch_size: 333}"))
    plan = rules_planned(snakemake(workdir, "-n", configfile=bigger))
    assert set(plan) <= {"save_config", "all"}, plan  # the saved config records it; no job reruns


def test_a_deleted_cache_is_remade_and_only_a_new_seed_trains(finished, tmp_path):
    """The issue's case 5: deleting the dataset cache (what the README advises after a cache
    error) and adding a seed retrained every finished seed. Now the finished blocks only
    check their seeds, and only the new seed is computed."""
    workdir = copy_of(finished, tmp_path)
    (workdir / CACHE).unlink()
    grown = workdir / "grown.yaml"
    grown.write_text(TINY.replace("widths: [2], seeds: 1}", "widths: [2], seeds: 2}", 1))
    kept = {p: p.stat().st_mtime_ns for p in (workdir / "results/runs").rglob("*") if p.is_file()}
    started = time.time()
    result = succeeded(snakemake(workdir, configfile=grown))
    assert (workdir / CACHE).is_file()
    # every job that reads the rebuilt cache reruns, but only the new seed is computed: the
    # finished blocks check their seeds' stamps, and the DNN's grown block (seeds 0-1) computes seed 1
    computed = {}
    for path in (workdir / "results/logs").glob("*/mnist/**/seeds*.log"):
        if path.stat().st_mtime >= started:
            found = re.findall(r"(\d+) of \d+ seeds to", path.read_text())
            computed[str(path.relative_to(workdir / "results/logs"))] = int(found[-1])
    assert {log for log, n in computed.items() if n} == {
        "train/mnist/dnn/L1/w2/seeds0-1.log", "prune/mnist/dnn/L1/w2/seeds0-1.log", "qat/mnist/dnn/L1/w2/seeds0-1.log"
    }, (computed, result.stderr[-3000:])  # fmt: skip
    assert all(n == 1 for n in computed.values() if n) and len(computed) > 3, computed
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # no finished seed file was rewritten
    assert rules_planned(snakemake(workdir, "-n", configfile=grown)) == {}


# --------------------------------------------------------------------------- one line for each failure
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    cuda = workdir / "cuda.yaml"
    cuda.write_text(TINY.replace("train: {max_epochs: 1}", "train: {max_epochs: 1, device: cuda}"))
    (workdir / RUN / "train.parquet").unlink()
    result = snakemake(workdir, configfile=cuda)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [line for line in output.splitlines() if "train.device is 'cuda' but torch sees no CUDA GPU" in line]
    assert lines and len(set(lines)) == 1, output[-3000:]
    assert "Traceback" not in output, output[-5000:]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
@pytest.mark.parametrize("target", ["folder", "file"])
def test_an_unreadable_mirror_is_one_line_saying_permission(finished, tmp_path, target):
    workdir = copy_of(finished, tmp_path)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(MIRROR / "mnist.npz", mirror / "mnist.npz")
    (workdir / CACHE).unlink()
    locked = mirror if target == "folder" else mirror / "mnist.npz"
    locked.chmod(0)
    try:
        result = snakemake(workdir, CACHE, env={"MINARCH_DATA_MIRROR": str(mirror)})
    finally:
        locked.chmod(0o755)
    line = one_line_error(result, "permission denied reading the data mirror")
    assert "corrupt" not in line and "Error in rule prepare_dataset" in result.stdout + result.stderr
