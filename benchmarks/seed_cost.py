"""CPU seconds per seed of each stage, in one process, for several commits side by side.

    .venv/bin/python benchmarks/seed_cost.py --commits 046272c WORKTREE \\
        --configs dnn:L1:10 dnn:L2e:100 --output benchmarks/reports/seed_cost.md

``commit_compare.py`` times whole workflow runs, so its per-stage sums hold process starts,
Snakemake's bookkeeping and whatever else loads the machine while a job runs. This measures
the stage code alone: per commit (checked out as ``commit_compare.checkout`` does) a fresh
Python with that commit's ``src/`` first on the path trains, prune-sweeps and QATs
``--seeds`` seeds one after another through the stage API every commit since 046272c has
(``stages.train_run``, ``prune_run``, ``qat_run``) on ``--fraction`` of every split of
MNIST for ``--epochs`` epochs, one torch thread, and reports ``time.process_time`` per seed.
The first seed of a process is reported apart (``first``): it pays one-time costs (lazy
imports, the code-version hash of ``minarch.provenance``, kernel set-up). The commits
alternate ``--repeats`` times, so slow drifts of the machine's load fall on all of them; the
table gives each stage's median over the later seeds of every repeat. QAT runs with the
settings that every commit knows, plus (where a commit knows them) ``qat.scope: [--scope]``
and no PTQ: with the default ``linear``, the work 046272c did (only the ViT has scopes; the
DNN and the CNN are quantized whole under any).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import emit, load_line, mirror_folder
from commit_compare import checkout, remove_checkout

STAGES = ("train", "prune", "qat")

# Runs in the measured commit's own Python: only API that every compared commit has.
CHILD = r"""
import dataclasses, json, sys, time
import torch
from minarch import stages
from minarch.data import Splits
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings

arch, topology, width, fraction, epochs, seeds, data, scope = sys.argv[1:9]
torch.set_num_threads(1)
torch.set_flush_denormal(True)
settings = TrainSettings(max_epochs=int(epochs))
full = stages.splits_for(arch, data, settings)

def part(x, y):
    n = max(1, int(len(y) * float(fraction)))
    return x[:n], y[:n]

splits = Splits(*part(full.x_train, full.y_train), *part(full.x_val, full.y_val), *part(full.x_test, full.y_test))
known = {f.name for f in dataclasses.fields(QATSettings)}
qat = QATSettings.from_dict({k: v for k, v in {"scope": [scope], "ptq": False}.items() if k in known})
out = {"train": [], "prune": [], "qat": [], "acc": []}
for seed in range(int(seeds)):
    spec = RunSpec("mnist", arch, topology, int(width), seed)
    started = time.process_time()
    model, frame = stages.train_run(spec, splits, settings)
    out["train"].append(time.process_time() - started)
    acc = float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0])
    started = time.process_time()
    stages.prune_run(model, spec, splits, settings, PruneSettings())
    out["prune"].append(time.process_time() - started)
    started = time.process_time()
    row = stages.qat_run(spec, splits, settings, qat, acc, model)
    out["qat"].append(time.process_time() - started)
    out["acc"].append((acc, float(row["int8_test_acc"].iloc[0])))
print(json.dumps(out))
"""


def measure(code: Path, config: str, args) -> dict:
    data = mirror_folder()
    if data is None:
        raise SystemExit("seed_cost: no dataset mirror (set MINARCH_DATA_MIRROR)")
    env = {**os.environ, "PYTHONPATH": str(code / "src")}
    command = [sys.executable, "-c", CHILD, *config.split(":"), str(args.fraction), str(args.epochs),
               str(args.seeds), str(data / "mnist.npz"), args.scope]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{code}: {config} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(commits: list[str], runs: dict, args, load_before: str) -> str:
    ratios = [f"`{c}` vs `{commits[0]}`" for c in commits[1:]]
    lines = [
        "# CPU seconds per seed, stage code alone, commits side by side",
        "",
        f"`benchmarks/seed_cost.py`: MNIST, {args.fraction:g} of every split, {args.epochs} epochs, {args.seeds} "
        f"seeds per process (the first apart), {args.repeats} alternating repeats, one torch thread, the ViT's "
        f"QAT under scope `{args.scope}`; "
        f"{load_before} before, {load_line()} after. Median CPU seconds per seed over the later seeds; "
        "`first`: the first seed of a process, which pays the one-time costs.",
        "",
        "| config | stage | " + " | ".join([*(f"`{c}`" for c in commits), *ratios]) + " |",
        "|---|---|" + "---:|" * (2 * len(commits) - 1),
    ]
    accuracy = ["", "Mean test accuracy after training and of the int8 model (%), as a check that they agree:", ""]
    for config in args.configs:
        for stage in (*STAGES, "first"):
            medians = []
            for commit in commits:
                if stage == "first":
                    values = [sum(run[s][0] for s in STAGES) for run in runs[commit, config]]
                else:
                    values = [v for run in runs[commit, config] for v in run[stage][1:]]
                medians.append(statistics.median(values))
            label = "first seed (all stages)" if stage == "first" else stage
            cells = [f"{m:.3f}" for m in medians] + [f"{m / medians[0]:.2f}x" for m in medians[1:]]
            lines.append(f"| {config} | {label} | " + " | ".join(cells) + " |")
        for commit in commits:
            pairs = [pair for run in runs[commit, config] for pair in run["acc"]]
            accuracy.append(
                f"- {config} `{commit}`: float {statistics.mean(p[0] for p in pairs):.2f}, "
                f"int8 {statistics.mean(p[1] for p in pairs):.2f}"
            )
    return "\n".join(lines + accuracy)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", nargs="+", required=True, help="commits, or WORKTREE for this checkout as it is")
    parser.add_argument("--configs", nargs="+", default=["dnn:L1:10", "dnn:L2e:100"], help="arch:topology:width")
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--scope",
        choices=["linear", "attention", "full"],
        default="linear",
        help="the ViT's QAT scope, for commits that know scopes (default linear: 046272c's work)",
    )
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2: the first seed of a process is reported apart")
    load_before = load_line()
    runs: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        trees: dict[str, Path] = {}
        try:
            for i, commit in enumerate(args.commits):
                trees[commit] = checkout(commit, Path(scratch) / f"tree{i}")
            for _ in range(args.repeats):
                for config in args.configs:
                    for commit, code in trees.items():
                        runs.setdefault((commit, config), []).append(measure(code, config, args))
                        print(f"{commit} {config}: done", file=sys.stderr, flush=True)
        finally:
            for folder in trees.values():
                remove_checkout(folder)
    emit(report(args.commits, runs, args, load_before), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
