"""Estimate what a sweep costs before running it: Snakemake jobs, CPU-hours per sweep and
stage, and wall time on a number of cores (``minarch.cost``).

    .venv/bin/python benchmarks/cost_model.py                          # config/config.yaml
    .venv/bin/python benchmarks/cost_model.py config/quick.yaml --cores 2 10 64
    .venv/bin/python benchmarks/cost_model.py my.yaml --measured results   # costs from a finished run
    .venv/bin/python benchmarks/cost_model.py --calibrate --points-out benchmarks/reports/points.csv
    .venv/bin/python benchmarks/cost_model.py config/quick.yaml --check-dag  # job count vs snakemake -n
    .venv/bin/python benchmarks/cost_model.py config/config.yaml --remaining .  # progress, time left

Each config file is merged over ``config/config.yaml`` and checked as the workflow does
(``minarch.cost.load_config``): a config naming its families runs only those.
Per-epoch seconds: the built-in table measured on the 2-core development machine
(``src/minarch/cost_points.csv``; ``--calibrate --points-out`` that file to replace
it), or ``--points CSV`` (written by ``--calibrate``), or ``--measured RESULTS`` (a run's own
``train.parquet``/``qat.parquet`` seconds and Snakemake benchmarks). Epochs are an upper
bound (no early stopping) unless ``--epoch-fraction`` is given (``--measured`` prints the
fraction that run had).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, dataset_path, load_line

from minarch import cost

CALIBRATION = [
    # (dataset, arch, topology, widths)
    ("mnist", "dnn", "L1", [1, 10, 100, 1000]),
    ("mnist", "dnn", "L4eee", [1, 10, 100, 1000]),
    ("cifar10", "dnn", "L1", [1, 10, 100, 1000]),
    ("cifar10", "dnn", "L4eee", [1, 10, 100, 1000]),
    ("mnist", "cnn", "conv3x3", [1, 4, 16, 32]),
    ("cifar10", "cnn", "conv3x3", [1, 4, 16, 32]),
    ("mnist", "vit", "enc2", [1, 4, 16]),
    ("cifar10", "vit", "enc2", [1, 4, 16]),
]


def cpu_steps(
    arch, topology, width, splits, batch: int, budget: float, qat: bool = False, max_steps: int = 300, clock=None
) -> float:
    """CPU seconds per training step of one seed as the train (or QAT) job runs it: the
    engine's step (``train.fit_stack``: index, stacked forward, loss, backward, Adam) on a
    stack of one, as every workflow job trains. ``clock``: ``time.process_time`` (default) or
    ``time.perf_counter`` for wall seconds (thread scaling)."""
    import copy

    import torch
    import torch.nn.functional as F

    from minarch import models, quantize, stacked
    from minarch.optim import FusedAdam

    model = models.seeded(0, arch, topology, width, splits.image_shape)
    stack = stacked.Stack(arch, [model])
    quant = quantize.StackedFakeQuant(quantize.prepare(copy.deepcopy(model)), 1) if qat else None
    optimizer = FusedAdam(stack.buffers, lr=1e-3, rows=True)
    stack.buffers = optimizer.params
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(splits.y_train), generator=generator)

    def step(i):
        index = order[(i * batch) % (len(order) - batch) :][:batch]
        inputs = splits.x_train.index_select(0, index).unsqueeze(0)
        target = splits.y_train.index_select(0, index).unsqueeze(0)
        logits = stack.forward(inputs, quant)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none").mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        (logits.detach().argmax(-1) == target).sum()

    clock = clock or time.process_time
    for i in range(3):
        step(i)
    started, steps = clock(), 0
    while steps < 5 or (clock() - started < budget and steps < max_steps):
        step(3 + steps)
        steps += 1
    return (clock() - started) / steps


def cpu_eval(arch, topology, width, x, y, qat: bool = False) -> float:
    """CPU seconds of one evaluation pass of one seed, as the engine evaluates."""
    import copy

    from minarch import models, quantize, stacked, train

    model = models.seeded(0, arch, topology, width, tuple(x.shape[1:]))
    stack = stacked.Stack(arch, [model])
    quant = quantize.StackedFakeQuant(quantize.prepare(copy.deepcopy(model)), 1) if qat else None
    if quant is not None:  # observed ranges, as after training
        quant.observe = True
        stack.forward(x[:100].unsqueeze(0), quant)
    started = time.process_time()
    train.evaluate_stack(stack, x, y, 10000, quant)
    return time.process_time() - started


def calibrate(budget: float, only: list[str] | None = None) -> tuple[list[cost.Point], dict[str, float], float]:
    from minarch import models, stages
    from minarch.jobs import setup_torch
    from minarch.settings import TrainSettings

    setup_torch(1)  # as every job does
    settings = TrainSettings()
    points, data_load = [], {}
    for dataset, arch, topology, widths in CALIBRATION:
        if only and arch not in only:
            continue
        started = time.process_time()
        splits = stages.splits_for(arch, dataset_path(dataset), settings)
        data_load[f"{dataset}/{arch}"] = time.process_time() - started
        steps_per_epoch = -(-len(splits.y_train) // settings.batch_size)
        for width in widths:
            model = models.seeded(0, arch, topology, width, splits.image_shape)
            config = (arch, topology, width)
            step = cpu_steps(*config, splits, settings.batch_size, budget)
            evaluation = cpu_eval(*config, splits.x_val, splits.y_val) + cpu_eval(*config, splits.x_test, splits.y_test)
            test_eval = cpu_eval(*config, splits.x_test, splits.y_test)
            qat_step = cpu_steps(*config, splits, settings.batch_size, budget, qat=True)
            qat_eval = cpu_eval(*config, splits.x_val, splits.y_val, qat=True) + cpu_eval(
                *config, splits.x_test, splits.y_test, qat=True
            )
            point = cost.Point(
                dataset,
                arch,
                cost.depth_of(arch, topology),
                models.parameter_count(model),
                round(steps_per_epoch * step + evaluation, 3),
                round(steps_per_epoch * qat_step + qat_eval, 3),
                round(test_eval, 4),
            )
            points.append(point)
            print(f"  {point}", file=sys.stderr, flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle; from snakemake.logging import logger; "
            "from snakemake.iocontainers import Snakemake; import torch; from minarch import stages; "
            "from minarch.optim import Adam; m = torch.nn.Linear(2, 2); o = Adam(list(m.parameters())); "
            "m(torch.ones(1, 2)).sum().backward(); o.step()",
        ],
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return points, data_load, start


def dag_job_count(config_path: Path | None) -> int:
    """Jobs ``snakemake -n`` plans for the default target in an empty directory (``all`` not
    counted). The Snakefile reads config/config.yaml itself: only the user's file is a
    ``--configfile`` (naming config.yaml there too would make its sweep the user's)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="minarch-cost-dag-") as workdir:
        command = [
            str(Path(sys.executable).with_name("snakemake")),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            workdir,
            *(["--configfile", str(config_path)] if config_path else []),
            "--cores",
            "1",
            "-n",
            "--quiet",
            "rules",
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no job total in snakemake -n output:\n{output[-2000:]}")
    return int(match.group(1)) - 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", type=Path, help="config files (default: config/config.yaml alone)")
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 16, 64])
    parser.add_argument("--measured", type=Path, help="a results/ folder to take per-epoch costs from")
    parser.add_argument("--points", type=Path, help="CSV of measured points (from --calibrate)")
    parser.add_argument("--epoch-fraction", type=float, default=None, help="expected epochs / max_epochs")
    parser.add_argument("--process-start", type=float, default=None, help="seconds per job (default 5)")
    parser.add_argument("--check-dag", action="store_true", help="compare the job count with snakemake -n")
    parser.add_argument("--calibrate", action="store_true", help="measure the points on this machine first")
    parser.add_argument("--budget", type=float, default=0.7, help="--calibrate: CPU seconds of timed steps each")
    parser.add_argument("--points-out", type=Path, help="--calibrate: write the points here (CSV)")
    parser.add_argument("--only", nargs="+", choices=["dnn", "cnn", "vit"], help="--calibrate: these families only")
    parser.add_argument("--output", type=Path, help="also write the Markdown here")
    parser.add_argument(
        "--remaining",
        type=Path,
        metavar="WORKDIR",
        help="only what is still to run in the workflow folder WORKDIR (its results/runs): progress and time left",
    )
    args = parser.parse_args(argv)

    params = cost.CostParameters()
    lines = []
    if args.calibrate:
        print(f"calibrating ({load_line()}) ...", file=sys.stderr, flush=True)
        points, data_load, start = calibrate(args.budget, args.only)
        params.points = points
        params.source = "calibrated now on this machine (CPU seconds)"
        if args.points_out:
            cost.write_points(points, args.points_out)
        lines += [
            "Calibration (CPU seconds, one thread; the built-in table is "
            "src/minarch/cost_points.csv, which --points-out rewrites):",
            "",
            "```python",
            "(",
        ]
        lines += [f"    {p!r}," for p in points] + [
            ")",
            "```",
            "",
            f"data load (CPU s): {', '.join(f'{k} {v:.2f}' for k, v in data_load.items())}; "
            f"process start (preamble imports + torch + minarch + first Adam step): {start:.2f} CPU s; "
            f"{load_line()}",
            "",
        ]
    if args.points:
        params.points = cost.read_points(args.points)
        params.source = f"points from {args.points}"
    if args.measured:
        params = cost.from_measurements(args.measured, params)
        fraction = cost.measured_epoch_fraction(args.measured)
        lines.append(f"{params.source}; its runs stopped after {100 * fraction:.0f}% of max_epochs on average.")
        lines.append("")
    if args.epoch_fraction is not None:
        params.epoch_fraction = args.epoch_fraction
    if args.process_start is not None:
        params.process_start = args.process_start
    for path in args.configs or [None]:
        try:
            config = cost.load_config(path)
        except cost.ConfigError as error:  # one line naming the file or key, as the workflow says it
            print(error, file=sys.stderr)
            return 1
        summary = cost.estimate(config, params, args.cores)
        name = str(path) if path else "config/config.yaml"
        epochs = config["train"]["max_epochs"]
        if args.remaining is not None:
            jobs = cost.plan(config, params)
            left, done = cost.remaining(jobs, args.remaining)
            stage_jobs = sum(1 for j in jobs if j.stage in cost.STAGES)
            left_names = {job.name for job in left}
            spent = sum(job.seconds for job in jobs if job.name not in left_names) / 3600
            lines.append(
                f"{args.remaining}: {done:,} of {stage_jobs:,} train/prune/QAT jobs done "
                f"({100 * done / max(stage_jobs, 1):.0f}%, about {spent:,.1f} of {summary.total_cpu_hours:,.1f} "
                "estimated CPU-hours); what is left:"
            )
            lines.append("")
            summary = cost.summarize(left, args.cores, int(config["train"]["threads"]), params.source)
        lines.append(
            cost.format_summary(
                summary, f"### {name}: up to {epochs} epochs (x {params.epoch_fraction:g}), one thread per job"
            )
        )
        if args.check_dag:
            planned = dag_job_count(path)
            verdict = "agrees" if planned == summary.total_jobs else "DIFFERS"
            lines.append(f"\nsnakemake -n plans {planned:,} jobs: the model's count {verdict}.")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
