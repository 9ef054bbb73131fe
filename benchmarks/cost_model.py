"""Estimate what a sweep costs before running it: Snakemake jobs, CPU-hours per sweep and
stage, and wall time on a number of cores (the cost model ``minarch.cost``; the plan and its
wall time: ``planner.py``; the per-epoch table's calibration: ``calibration.py``).

    .venv/bin/python benchmarks/cost_model.py                          # config/config.yaml
    .venv/bin/python benchmarks/cost_model.py config/quick.yaml --cores 2 10 64
    .venv/bin/python benchmarks/cost_model.py my.yaml --measured results   # costs from a finished run
    .venv/bin/python benchmarks/cost_model.py --calibrate --points-out benchmarks/reports/points.csv
    .venv/bin/python benchmarks/cost_model.py config/quick.yaml --check-dag  # job count vs snakemake -n
    .venv/bin/python benchmarks/cost_model.py config/config.yaml --remaining .  # progress, time left
    .venv/bin/python benchmarks/cost_model.py my.yaml --speed-check     # the table scaled to this machine

Each config file is merged over ``config/config.yaml`` and checked as the workflow does
(``minarch.config.load_config``): a config naming its families runs only those.
Per-epoch seconds: the built-in table measured on the 2-core development machine
(``src/minarch/cost_points.csv``; ``--calibrate --points-out`` that file to replace
it), or ``--points CSV`` (written by ``--calibrate``), or ``--measured RESULTS`` (a run's own
``train.parquet``/``qat.parquet`` seconds and Snakemake benchmarks). Epochs are an upper
bound (no early stopping) unless ``--epoch-fraction`` is given (``--measured`` prints the
fraction that run had). ``--speed-check`` times one configuration per family for a few
seconds and scales the table by how much slower or faster this machine is now (machines of
one type differ by more than the cluster margin: 2.6-3.5x on the development VM).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import calibration
import planner
from _common import REPO, load_line

from minarch import cost
from minarch.config import ConfigError, load_config


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
    parser.add_argument(
        "--speed-check", action="store_true", help="time a few steps here and scale the table to this machine"
    )
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
        points, data_load, start = calibration.calibrate(args.budget, args.only)
        params.points = points
        params.source = "calibrated now on this machine (CPU seconds)"
        if args.points_out:
            calibration.write_points(points, args.points_out)
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
        params = calibration.from_measurements(args.measured, params)
        fraction = calibration.measured_epoch_fraction(args.measured)
        lines.append(f"{params.source}; its runs stopped after {100 * fraction:.0f}% of max_epochs on average.")
        lines.append("")
    if args.speed_check:
        factor, measured = calibration.speed_factor(params)
        params = calibration.scaled(params, factor, "this machine's speed check")
        lines.append(
            f"Speed check ({load_line()}): this machine takes {factor:.2f}x the table's seconds ("
            + "; ".join(
                f"{p.arch} {p.n_params:,} params: epoch {p.epoch:.2f} s vs {e['epoch']:.2f}, "
                f"QAT epoch {p.qat_epoch:.2f} s vs {e['qat_epoch']:.2f}"
                for p, e in measured
            )
            + "); the estimates below are scaled by it."
        )
        lines.append("")
    if args.epoch_fraction is not None:
        params.epoch_fraction = args.epoch_fraction
    if args.process_start is not None:
        params.process_start = args.process_start
    for path in args.configs or [None]:
        try:
            config = load_config(path)
        except ConfigError as error:  # one line naming the file or key, as the workflow says it
            print(error, file=sys.stderr)
            return 1
        summary = planner.estimate(config, params, args.cores)
        name = str(path) if path else "config/config.yaml"
        epochs = config["train"]["max_epochs"]
        if args.remaining is not None:
            jobs = planner.plan(config, params)
            left, done = planner.remaining(jobs, args.remaining)
            stage_jobs = sum(1 for j in jobs if j.stage in cost.STAGES)
            left_names = {job.name for job in left}
            spent = sum(job.seconds for job in jobs if job.name not in left_names) / 3600
            left_text = (
                "what is left:"
                if done < stage_jobs
                else "the seconds-long prepare and aggregate jobs below are not checked here (they rerun "
                "after any stage job; `snakemake -n` says whether they ran):"
            )
            lines.append(
                f"{args.remaining}: {done:,} of {stage_jobs:,} train/prune/QAT jobs done "
                f"({100 * done / max(stage_jobs, 1):.0f}%, about {spent:,.1f} of {summary.total_cpu_hours:,.1f} "
                f"estimated CPU-hours); {left_text}"
            )
            lines.append("")
            summary = planner.summarize(left, args.cores, int(config["train"]["threads"]), params.source)
        lines.append(
            planner.format_summary(
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
