"""The same sweep through the workflow of several commits, side by side in one invocation.

    .venv/bin/python benchmarks/commit_compare.py --commits 046272c f8fa865 WORKTREE \\
        --config benchmarks/configs/small_every_stage.yaml --output benchmarks/reports/blocks.md

Each commit is checked out with ``git worktree add --detach`` into a temporary folder
(``WORKTREE``: this checkout as it is, uncommitted changes included) and runs
``snakemake --cores N --configfile CONFIG`` in a fresh working directory with this venv, its
own ``src/`` first on ``PYTHONPATH``. The dataset caches are made first, untimed. Measured per
commit: wall seconds of the whole run, CPU seconds of Snakemake and every job it started
(``getrusage`` of the children), the number of jobs, and per family and stage the summed
``cpu_time`` of the jobs' Snakemake benchmark files (process starts included), with the mean
final test accuracy per family as a check that every commit computed the same thing. The
commits run one after another; run on an idle machine (its load is in the report).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import REPO, emit, load_line, mirror_folder

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
STAGES = ("train", "prune", "qat")


def checkout(commit: str, into: Path) -> Path:
    if commit == "WORKTREE":
        return REPO
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), commit], check=True,
                   capture_output=True)  # fmt: skip
    return into


def remove_checkout(folder: Path) -> None:
    """Undo ``checkout`` (nothing for ``WORKTREE``, this checkout)."""
    if folder != REPO and folder.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], capture_output=True)


def snakemake(code: Path, workdir: Path, configs: list[Path], cores: int, *targets: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(code / "src")}
    if mirror_folder() is not None:
        env["MINARCH_DATA_MIRROR"] = str(mirror_folder())
    command = [SNAKEMAKE, "--snakefile", str(code / "Snakefile"), "--directory", str(workdir),
               "--configfile", *map(str, configs), "--cores", str(cores),
               "--workflow-profile", "none", *targets]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{code}: snakemake {' '.join(targets)} failed:\n{result.stderr[-3000:]}")
    return result


def stage_cpu(workdir: Path) -> dict[tuple[str, str], tuple[float, int]]:
    """(family, stage) -> (summed cpu_time of its jobs' benchmark files, number of jobs)."""
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for stage in STAGES:
        for tsv in (workdir / "results" / "benchmarks" / stage).rglob("*.tsv"):
            family = tsv.relative_to(workdir / "results" / "benchmarks" / stage).parts[1]
            with open(tsv, newline="") as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            found[(family, stage)].append(float(row["cpu_time"]))
    return {key: (sum(values), len(values)) for key, values in found.items()}


def accuracies(workdir: Path) -> dict[str, float]:
    import pandas as pd

    frames = [pd.read_parquet(p) for p in (workdir / "results" / "runs").rglob("train.parquet")]
    finals = pd.concat(frames)
    finals = finals[finals["kind"] == "final"]
    return finals.groupby("arch")["test_acc"].mean().to_dict()


def measure(commit: str, configs: list[Path], cores: int, scratch: Path) -> dict:
    code = checkout(commit, scratch / f"code-{commit}")
    workdir = scratch / f"run-{commit}"
    workdir.mkdir()
    datasets = sorted(set(re.findall(r"\b(mnist|fashion_mnist|cifar10)\b", configs[0].read_text())))
    snakemake(code, workdir, configs, cores, *[f"resources/datasets/{d}.npz" for d in datasets])  # untimed
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = snakemake(code, workdir, configs, cores)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    jobs = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.M)
    return {
        "commit": commit,
        "wall": wall,
        "cpu": cpu,
        "jobs": int(jobs.group(1)) if jobs else 0,
        "stages": stage_cpu(workdir),
        "accuracy": accuracies(workdir),
    }


def report(results: list[dict], config: Path, cores: int, load: str) -> str:
    base = results[0]
    lines = [
        f"# Commits side by side: `{config.relative_to(REPO) if config.is_relative_to(REPO) else config}`",
        "",
        f"`snakemake --cores {cores}`, one commit after another; load before: {load}; after: {load_line()}.",
        "",
        "| commit | jobs | wall | CPU | CPU vs first |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['commit']} | {r['jobs']} | {r['wall']:.0f} s | {r['cpu']:.0f} s | {r['cpu'] / base['cpu']:.2f}x |"
        )
    keys = sorted({key for r in results for key in r["stages"]})
    lines += ["", "CPU seconds per family and stage (Snakemake benchmark `cpu_time`, summed over jobs; jobs):", ""]
    lines.append("| family | stage | " + " | ".join(r["commit"] for r in results) + " |")
    lines.append("|---|---|" + "---:|" * len(results))
    for key in keys:
        cells = []
        for r in results:
            seconds, n = r["stages"].get(key, (float("nan"), 0))
            cells.append(f"{seconds:.1f} ({n})")
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    lines += ["", "Mean final test accuracy per family (%), as a check that the runs agree:", ""]
    families = sorted({a for r in results for a in r["accuracy"]})
    lines.append("| commit | " + " | ".join(families) + " |")
    lines.append("|---|" + "---:|" * len(families))
    for r in results:
        lines.append(
            f"| {r['commit']} | " + " | ".join(f"{r['accuracy'].get(f, float('nan')):.2f}" for f in families) + " |"
        )
    return "\n".join(lines)


def add_extra_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-config",
        action="append",
        default=[],
        metavar="COMMIT=FILE",
        help="a config file merged over --config for one commit only (repeatable): keys only newer commits "
        "know, so that every commit computes the same thing (e.g. qat: {scope: [linear], ptq: false})",
    )


def extra_configs(items: list[str]) -> dict[str, list[Path]]:
    """``--extra-config`` values: commit -> the files merged over the config, in order."""
    extra: dict[str, list[Path]] = {}
    for item in items:
        commit, _, path = item.partition("=")
        extra.setdefault(commit, []).append(Path(path).resolve())
    return extra


def extra_config_notes(extra: dict[str, list[Path]]) -> str:
    """The report's lines saying which commit ran with which extra config files."""
    return "".join(
        f"\n`{commit}` ran with {', '.join(f'`{p.name}`' for p in paths)} merged over the config.\n"
        for commit, paths in extra.items()
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", nargs="+", required=True, help="commits to compare; WORKTREE: this checkout")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--output", type=Path)
    add_extra_config(parser)
    args = parser.parse_args(argv)
    extra = extra_configs(args.extra_config)
    load = load_line()
    scratch = Path(tempfile.mkdtemp(prefix="minarch-compare-"))
    results = []
    try:
        for commit in args.commits:
            print(f"{commit}: running ({load_line()}) ...", file=sys.stderr, flush=True)
            configs = [args.config.resolve(), *extra.get(commit, [])]
            results.append(measure(commit, configs, args.cores, scratch))
            print(f"{commit}: {results[-1]['wall']:.0f} s wall, {results[-1]['cpu']:.0f} s CPU", file=sys.stderr)
    finally:
        for commit in args.commits:
            if commit != "WORKTREE":
                remove_checkout(scratch / f"code-{commit}")
        shutil.rmtree(scratch, ignore_errors=True)
    text = report(results, args.config.resolve(), args.cores, load)
    emit(text + "\n" + extra_config_notes(extra), str(args.output) if args.output else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
