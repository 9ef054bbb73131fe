"""minarch vs the paper-style baseline on one small sweep, in one invocation.

    .venv/bin/python benchmarks/sweep_speed.py --output benchmarks/reports/sweep_speed.md

The default (MNIST DNN, L1 and L4eee, widths 1-1000, 3 seeds, 2 epochs, baseline and
Snakemake) needs about 725 CPU seconds: under 7 minutes on the idle 2-core development
machine (much longer when other jobs share it); ``inprocess`` and ``ensemble`` add about 2
minutes each. Contenders (``--contenders``, each run with the same parallelism ``--cores N``):

- ``baseline``: ``benchmarks/paper_style.py``, one Python process per (configuration, seed),
  torchvision ``ToTensor() + Normalize`` per image through a ``DataLoader(batch_size=100,
  shuffle=True)``; N processes at a time, one torch thread each.
- ``snakemake``: the real workflow as a user runs it, ``snakemake --snakefile Snakefile
  --directory TMP --configfile CFG --cores N <train.parquet targets>``, with a generated
  config (this sweep only); the training stage only. The dataset cache is prepared first,
  untimed. Per configuration: the job's Snakemake benchmark (``s``).
  Every seed is a job of its own (one process each), as in the workflow.
- ``inprocess``: ``benchmarks/minarch_job.py --mode fit``: one process per configuration
  training its seeds one by one, without Snakemake (shows the ensemble's and Snakemake's
  shares).
- ``ensemble``: ``benchmarks/minarch_job.py --mode ensemble``: the same with the seeds of
  every width trained as one stacked ensemble.

Every contender trains the same recipe (Adam 1e-3, batch 100, 90/10 split, patience 5, up
to ``--epochs`` epochs, validation and test evaluated every epoch, best epoch kept), so the
final test accuracies must agree within seed noise; the table shows mean +- std over seeds.
Seconds per configuration are the summed wall seconds of its processes (process start
included); ``elapsed`` is the wall time of the whole contender with N at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from _common import REPO, dataset_path, emit, load_line, mirror_folder

from minarch import topology  # torch-free: the driver itself stays light

PYTHON = sys.executable
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CONTENDERS = ("baseline", "snakemake", "inprocess", "ensemble")
LABELS = {
    "baseline": "paper-style",
    "snakemake": "minarch (Snakemake)",
    "inprocess": "minarch (in-process)",
    "ensemble": "minarch ensemble",
}


@dataclass
class Config:
    topology: str
    width: int
    seeds: list[int]
    n_params: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    accuracy: dict[str, list[float]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        return self.topology, self.width


def one_thread_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def run_timed(command: list[str], env=None) -> tuple[float, float, str]:
    """Wall and CPU seconds (the process and every descendant it waited for) and stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}")
    return wall, usage.ru_utime + usage.ru_stime, stdout


def in_parallel(tasks: list, cores: int) -> float:
    """Run the callables ``cores`` at a time (longest-first order is the caller's); elapsed seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()
    return time.perf_counter() - started


def run_baseline(configs: list[Config], data: Path, epochs: int, cores: int) -> float:
    def task(config: Config, seed: int):
        def run():
            hidden = [str(h) for h in topology.hidden_widths(config.topology, config.width)]
            seconds, cpu, stdout = run_timed(
                [
                    PYTHON,
                    str(REPO / "benchmarks" / "paper_style.py"),
                    "--data",
                    str(data),
                    "--hidden",
                    *hidden,
                    "--seed",
                    str(seed),
                    "--epochs",
                    str(epochs),
                ],
                env=one_thread_env(),
            )
            report = json.loads(stdout.strip().splitlines()[-1])
            config.seconds["baseline"] = config.seconds.get("baseline", 0.0) + seconds
            config.cpu["baseline"] = config.cpu.get("baseline", 0.0) + cpu
            config.accuracy.setdefault("baseline", []).append(report["test_acc"])

        return run

    elapsed = in_parallel([task(c, s) for c in longest_first(configs) for s in c.seeds], cores)
    return elapsed, sum(c.cpu["baseline"] for c in configs)


def run_minarch_jobs(configs: list[Config], data: Path, epochs: int, cores: int, mode: str, workdir: Path) -> float:
    def task(config: Config):
        def run():
            seconds, cpu, stdout = run_timed(
                [
                    PYTHON,
                    str(REPO / "benchmarks" / "minarch_job.py"),
                    "--data",
                    str(data),
                    "--topology",
                    config.topology,
                    "--width",
                    str(config.width),
                    "--seeds",
                    *map(str, config.seeds),
                    "--epochs",
                    str(epochs),
                    "--mode",
                    mode,
                    "--out",
                    str(workdir / mode),
                ],
                env=one_thread_env(),
            )
            report = json.loads(stdout.strip().splitlines()[-1])
            name = "inprocess" if mode == "fit" else "ensemble"
            config.seconds[name] = seconds
            config.cpu[name] = cpu
            config.accuracy[name] = report["test_acc"]

        return run

    elapsed = in_parallel([task(c) for c in longest_first(configs)], cores)
    name = "inprocess" if mode == "fit" else "ensemble"
    return elapsed, sum(c.cpu[name] for c in configs)


def run_snakemake(configs: list[Config], dataset: str, epochs: int, cores: int, workdir: Path) -> tuple[float, float]:
    """Elapsed wall and CPU seconds of the train jobs through the real workflow."""
    import pandas as pd

    workdir.mkdir(parents=True, exist_ok=True)
    seeds = len(configs[0].seeds)
    widths = sorted({c.width for c in configs})
    sweep = {
        "train": {"max_epochs": epochs, "threads": 1},
        "families": {
            "dnn": {
                "datasets": [dataset],
                "topologies": sorted({c.topology for c in configs}),
                "widths": widths,
                "seeds": seeds,
            }
        },
    }
    with open(REPO / "config" / "config.yaml") as handle:
        defaults = yaml.safe_load(handle)
    if "topology_sweep" in defaults:  # merged in from the defaults: phase 1 of this sweep only
        sweep["topology_sweep"] = {"datasets": [dataset], "depths": [1], "widths": widths, "seeds": seeds}
    config_file = workdir / "sweep.yaml"
    config_file.write_text(yaml.safe_dump(sweep))
    env = one_thread_env()
    mirror = mirror_folder()
    if mirror is None or not (mirror / f"{dataset}.npz").is_file():
        mirror = workdir / "mirror"
        mirror.mkdir(exist_ok=True)
        shutil.copy(dataset_path(dataset), mirror / f"{dataset}.npz")
    env["MINARCH_DATA_MIRROR"] = str(mirror)
    base = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_file),
        "--cores",
        str(cores),
    ]
    run_timed([*base, f"resources/datasets/{dataset}.npz"], env=env)  # untimed: the dataset cache
    targets = [
        f"results/runs/{dataset}/dnn/{c.topology}/w{c.width}/seed{s}/train.parquet" for c in configs for s in c.seeds
    ]
    elapsed, cpu, _ = run_timed([*base, *targets], env=env)
    for c in configs:
        folder = workdir / "results" / "benchmarks" / "train" / dataset / "dnn" / c.topology / f"w{c.width}"
        c.seconds["snakemake"] = sum(
            float(pd.read_csv(folder / f"seed{s}.tsv", sep="\t")["s"].iloc[0]) for s in c.seeds
        )
        c.accuracy["snakemake"] = [
            float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0])
            for frame in (
                pd.read_parquet(workdir / f"results/runs/{dataset}/dnn/{c.topology}/w{c.width}/seed{s}/train.parquet")
                for s in c.seeds
            )
        ]
    return elapsed, cpu


def longest_first(configs: list[Config]) -> list[Config]:
    return sorted(configs, key=lambda c: -c.n_params)


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def table(
    configs: list[Config], contenders: list[str], elapsed: dict[str, tuple[float, float]], small: int
) -> list[str]:
    minarch = [c for c in contenders if c != "baseline"]
    has_base = "baseline" in contenders
    head = ["configuration", "params", "seeds"] + [f"{LABELS[c]} s" for c in contenders]
    if has_base:
        head += [f"speed-up {LABELS[c]}" for c in minarch]
    head += [f"test acc {LABELS[c]}" for c in contenders]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]

    def row(name, params, seeds, seconds, accuracy):
        cells = [name, params, seeds] + [f"{seconds[c]:.1f}" for c in contenders]
        if has_base:
            cells += [f"{seconds['baseline'] / seconds[c]:.1f}x" for c in minarch]
        cells += [mean_sd(accuracy[c]) for c in contenders]
        return "| " + " | ".join(cells) + " |"

    for c in configs:
        lines.append(row(f"{c.topology} w{c.width}", f"{c.n_params:,}", str(len(c.seeds)), c.seconds, c.accuracy))

    def total(name, subset):
        seconds = {k: sum(c.seconds[k] for c in subset) for k in contenders}
        accuracy = {k: [a for c in subset for a in c.accuracy[k]] for k in contenders}
        return row(name, "", str(sum(len(c.seeds) for c in subset)), seconds, accuracy)

    lines.append(total(f"**sum, width ≤ {small}**", [c for c in configs if c.width <= small]))
    lines.append(total("**sum, all**", configs))
    no_accuracy = {k: [] for k in contenders}
    lines.append(row("**elapsed wall, whole sweep**", "", "", {k: v[0] for k, v in elapsed.items()}, no_accuracy))
    lines.append(row("**CPU seconds, whole sweep**", "", "", {k: v[1] for k, v in elapsed.items()}, no_accuracy))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist", "cifar10"])
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--topologies", nargs="+", default=["L1", "L4eee"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="processes (Snakemake --cores) at a time, each 1 thread")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=["baseline", "snakemake"])
    parser.add_argument("--small", type=int, default=100, help="subtotal for widths up to this")
    parser.add_argument("--workdir", default=None, help="kept when given; default a temporary folder, removed")
    parser.add_argument("--output", default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)

    data = dataset_path(args.dataset)
    image_shape = (3, 32, 32) if args.dataset == "cifar10" else (1, 28, 28)
    configs = []
    for topo in args.topologies:
        for width in args.widths:
            config = Config(topo, width, list(range(args.seeds)))
            sizes = [image_shape[0] * image_shape[1] * image_shape[2], *topology.hidden_widths(topo, width), 10]
            config.n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
            configs.append(config)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="minarch-sweep-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = load_line()
    started = time.perf_counter()
    elapsed = {}
    try:
        for contender in args.contenders:
            print(f"running {LABELS[contender]} ...", file=sys.stderr, flush=True)
            if contender == "baseline":
                elapsed[contender] = run_baseline(configs, data, args.epochs, args.cores)
            elif contender == "snakemake":
                elapsed[contender] = run_snakemake(configs, args.dataset, args.epochs, args.cores, workdir / "smk")
            else:
                mode = "fit" if contender == "inprocess" else "ensemble"
                elapsed[contender] = run_minarch_jobs(configs, data, args.epochs, args.cores, mode, workdir / "jobs")
            print(
                f"  {LABELS[contender]}: {elapsed[contender][0]:.1f} s elapsed, {elapsed[contender][1]:.1f} CPU s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        f"## minarch vs paper-style baseline: {args.dataset} DNN, topologies {', '.join(args.topologies)}, "
        f"widths {', '.join(map(str, args.widths))}, {args.seeds} seeds, {args.epochs} epochs, "
        f"{args.cores} processes at a time (1 torch thread each)",
        "",
        *table(configs, args.contenders, elapsed, args.small),
        "",
        "Seconds: summed wall time of each configuration's processes (process start included; Snakemake: "
        "the train job's benchmark `s`). Elapsed: the whole contender, N processes at a time (Snakemake: "
        "the `snakemake` command, DAG and scheduling included). CPU seconds: user + system time of all "
        "its processes (robust to other load on the machine). Speed-up: baseline / minarch. Test accuracy: "
        "final (best-epoch) model, mean ± std over seeds.",
        f"Whole benchmark {time.perf_counter() - started:.0f} s; {load_before} before, {load_line()} after.",
        f"Command: .venv/bin/python benchmarks/sweep_speed.py {' '.join(argv if argv is not None else sys.argv[1:])}",
    ]
    text = "\n".join(lines)
    emit(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
