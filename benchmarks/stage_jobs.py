"""CPU seconds of one family's jobs of one stage, through the workflow of several commits, the
commits alternating ``--repeats`` times so that slow drifts of the machine's load fall on all
of them: a precise side-by-side where the Snakemake benchmark files, which sample a job's
CPU time coarsely, cannot tell a few tenths of a second apart.

    .venv/bin/python benchmarks/stage_jobs.py --commits 046272c WORKTREE \\
        --config benchmarks/configs/small_every_stage.yaml --family dnn --stages train prune

Each commit is checked out as in ``commit_compare.py`` and gets its own working directory,
where the family's training runs once untimed (the datasets and the models the later stages
read). Then, per repetition, stage and commit: the family's per-seed files of that stage are
deleted and ``snakemake --cores 1 --forcerun RULES --until RULES`` reruns every job of the
stage's rules for the family (``{stage}_{family}...``, as ``--list-rules`` names them in that
commit), the CPU of Snakemake and its jobs taken by ``getrusage`` of the children. A stage
runs on the models of the latest training of the same commit.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
from pathlib import Path

from _common import emit, load_line
from commit_compare import add_extra_config, checkout, extra_config_notes, extra_configs, remove_checkout, snakemake

SEED_FILES = {"train": ("train.parquet", "model.pt"), "prune": ("prune.parquet",), "qat": ("qat.parquet",)}


def rules(code: Path, workdir: Path, configs: list[Path], stage: str, family: str) -> list[str]:
    listed = snakemake(code, workdir, configs, 1, "--list-rules").stdout.split()
    found = [name for name in listed if name.startswith(f"{stage}_{family}")]
    if not found:
        raise SystemExit(f"{code}: no rule {stage}_{family}* in {listed}")
    return found


def run_stage(code: Path, workdir: Path, configs: list[Path], stage: str, family: str) -> float:
    for name in SEED_FILES[stage]:
        for path in (workdir / "results" / "runs").glob(f"*/{family}/**/{name}"):
            path.unlink()
    names = rules(code, workdir, configs, stage, family)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    snakemake(code, workdir, configs, 1, "--forcerun", *names, "--until", *names)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", nargs="+", required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--family", default="dnn")
    parser.add_argument("--stages", nargs="+", default=["train", "prune"], choices=list(SEED_FILES))
    parser.add_argument("--repeats", type=int, default=3)
    add_extra_config(parser)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    extra = extra_configs(args.extra_config)
    configs = {commit: [args.config.resolve(), *extra.get(commit, [])] for commit in args.commits}
    load = load_line()
    scratch = Path(tempfile.mkdtemp(prefix="minarch-stage-jobs-"))
    codes, seconds = {}, {(c, s): [] for c in args.commits for s in args.stages}
    try:
        for commit in args.commits:
            codes[commit] = checkout(commit, scratch / f"code-{commit}")
            (scratch / f"run-{commit}").mkdir()
            names = rules(codes[commit], scratch / f"run-{commit}", configs[commit], "train", args.family)
            snakemake(codes[commit], scratch / f"run-{commit}", configs[commit], 2, "--until", *names)  # untimed
        for repeat in range(args.repeats):
            for stage in args.stages:
                for commit in args.commits:
                    cpu = run_stage(codes[commit], scratch / f"run-{commit}", configs[commit], stage, args.family)
                    seconds[(commit, stage)].append(cpu)
                    print(f"repeat {repeat + 1}, {stage}, {commit}: {cpu:.2f} CPU s", flush=True)
    finally:
        for folder in codes.values():
            remove_checkout(folder)
        shutil.rmtree(scratch, ignore_errors=True)
    first = args.commits[0]
    lines = [
        f"# {args.family}'s jobs per stage, commits alternating: `{args.config.name}`",
        "",
        f"`snakemake --cores 1 --forcerun --until` the stage's rules, {args.repeats} repetitions; "
        f"CPU of Snakemake and its jobs (`getrusage`); {load} before, {load_line()} after.",
        "",
        "| stage | " + " | ".join(args.commits) + " | median vs " + first + " |",
        "|---|" + "---:|" * (len(args.commits) + 1),
    ]
    for stage in args.stages:
        cells = [", ".join(f"{v:.1f}" for v in seconds[(c, stage)]) + " s" for c in args.commits]
        base = statistics.median(seconds[(first, stage)])
        ratios = ", ".join(f"{statistics.median(seconds[(c, stage)]) / base:.2f}x" for c in args.commits[1:])
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {ratios} |")
    emit("\n".join(lines) + "\n" + extra_config_notes(extra), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
