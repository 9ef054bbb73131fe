"""Cost model of a sweep: Snakemake jobs, CPU-hours per sweep and stage, and wall time on a
given number of cores, before running it. Torch-free (imports in well under a second).

The model, per job (one process, ``train.threads`` torch threads, 1 by default):

- every job pays a process start (interpreter, Snakemake script preamble, ``import torch``
  and minarch) and loads its dataset;
- a **train** job trains each seed of its block for ``max_epochs x epoch_fraction`` float
  epochs, then evaluates the final model on every split (7 test-set evaluations' worth);
- a **prune** job evaluates each seed at every ratio (one test-set evaluation each) plus
  ``finetune_epochs`` float epochs per nonzero ratio;
- a **qat** job retrains each seed (mode ``scratch``: ``max_epochs x epoch_fraction``;
  ``finetune``: ``finetune_epochs``) at the QAT epoch cost, then evaluates the int8 model;
- the aggregates (collect, regimes, Table I, paper comparison, figures) cost
  ``aggregate_seconds`` each.

Seconds per epoch come from measured points per (dataset, architecture, DNN depth):
(parameter count, seconds per float epoch including the per-epoch validation and test
evaluation, per QAT epoch, per test-set evaluation), interpolated log-log in the parameter
count (proportional to it beyond the largest measured size) and linearly between depths. ``DEFAULT_POINTS`` were measured on the 2-core
development machine (``benchmarks/cost_model.py --calibrate``); ``from_measurements`` takes
them from a finished run instead (per-epoch ``seconds`` of ``train.parquet``, QAT seconds of
``qat.parquet``, Snakemake's benchmark files for the per-job overhead).

Epochs are an upper bound by default (early stopping only shortens runs); set
``epoch_fraction`` from a finished sweep (``measured_epoch_fraction``).
"""

from __future__ import annotations

import copy
import heapq
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from minarch import topology as topo
from minarch.config import deep_merge, seed_blocks, topologies_of
from minarch.data import DATASETS
from minarch.settings import PruneSettings, TrainSettings

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
STAGES = ("train", "prune", "qat")
TOPOLOGY_SWEEP = "topology_sweep"
NUM_CLASSES = 10
VIT_GRID, VIT_SIDE, VIT_BLOCKS = 7, 28, 2
COLUMNS = ("epoch", "qat_epoch", "test_eval")


@dataclass(frozen=True)
class Point:
    """One measured configuration, seconds (one thread): per float epoch (54,000 training
    images in batches of 100, plus the per-epoch validation and test evaluation), per QAT
    epoch, and per evaluation of the 10,000 test images. ``depth``: a DNN's hidden layers
    (1 for the CNN and ViT)."""

    dataset: str
    arch: str
    depth: int
    n_params: int
    epoch: float
    qat_epoch: float
    test_eval: float


# Measured on the 2-core development machine, one torch thread, CPU seconds (robust to the
# other jobs sharing it): benchmarks/cost_model.py --calibrate (timed steps scaled to an epoch).
DEFAULT_POINTS: tuple[Point, ...] = (
    Point('mnist', 'dnn', 1, 805, 0.183, 0.855, 0.006),
    Point('mnist', 'dnn', 1, 7960, 0.249, 1.023, 0.0081),
    Point('mnist', 'dnn', 1, 79510, 0.451, 1.846, 0.0194),
    Point('mnist', 'dnn', 1, 795010, 2.491, 7.229, 0.1484),
    Point('mnist', 'dnn', 4, 811, 0.253, 0.882, 0.0045),
    Point('mnist', 'dnn', 4, 8290, 0.322, 1.011, 0.0077),
    Point('mnist', 'dnn', 4, 109810, 0.877, 2.409, 0.0361),
    Point('mnist', 'dnn', 4, 3798010, 13.766, 34.172, 0.6301),
    Point('cifar10', 'dnn', 1, 3093, 0.285, 1.774, 0.0106),
    Point('cifar10', 'dnn', 1, 30840, 0.362, 2.111, 0.0188),
    Point('cifar10', 'dnn', 1, 308310, 1.01, 3.866, 0.0595),
    Point('cifar10', 'dnn', 1, 3083010, 7.47, 22.105, 0.4321),
    Point('cifar10', 'dnn', 4, 3099, 0.353, 1.882, 0.0106),
    Point('cifar10', 'dnn', 4, 31170, 0.515, 2.207, 0.0232),
    Point('cifar10', 'dnn', 4, 338610, 1.203, 4.317, 0.0663),
    Point('cifar10', 'dnn', 4, 6086010, 16.591, 44.033, 0.9505),
    Point('mnist', 'cnn', 1, 6780, 2.16, 2.298, 0.2316),
    Point('mnist', 'cnn', 1, 27090, 1.999, 3.864, 0.3228),
    Point('mnist', 'cnn', 1, 108330, 4.594, 12.222, 0.6223),
    Point('mnist', 'cnn', 1, 216650, 9.932, 24.733, 1.2498),
    Point('cifar10', 'cnn', 1, 9038, 1.782, 4.252, 0.354),
    Point('cifar10', 'cnn', 1, 36122, 2.698, 6.45, 0.6825),
    Point('cifar10', 'cnn', 1, 144458, 5.093, 17.726, 0.8866),
    Point('cifar10', 'cnn', 1, 288906, 11.961, 32.343, 1.91),
    Point('mnist', 'vit', 1, 72, 2.969, 4.962, 0.1511),
    Point('mnist', 'vit', 1, 402, 5.227, 9.449, 0.2915),
    Point('mnist', 'vit', 1, 3882, 5.928, 19.725, 0.4561),
    Point('cifar10', 'vit', 1, 104, 2.814, 5.32, 0.228),
    Point('cifar10', 'vit', 1, 530, 4.998, 9.304, 0.3757),
    Point('cifar10', 'vit', 1, 4394, 5.708, 20.294, 0.6591),
)
# A Snakemake job's process start: measured 2.6 CPU s for the script preamble's imports,
# ``import torch`` and minarch and the first Adam step, plus Snakemake's own per-job work. Loading a dataset cache, by "dataset/arch" or "dataset"
# (the ViT's CIFAR-10 is resized to 28x28 as well).
DEFAULT_PROCESS_START = 3.5
DEFAULT_DATA_LOAD = {"mnist": 0.4, "fashion_mnist": 0.4, "cifar10": 1.3, "cifar10/vit": 3.3}
SIMILAR_DATASET = {"fashion_mnist": "mnist", "mnist": "fashion_mnist"}


def interpolate(points: Iterable[tuple[float, float]], x: float) -> float:
    """Piecewise-linear in log-log space through the (x, y) points. Below the smallest x: its y
    (a per-step floor); above the largest: proportional to x (compute-bound, as wide models are)."""
    pts = sorted((float(a), float(b)) for a, b in points)
    if not pts:
        raise ValueError("no points to interpolate")
    if len(pts) == 1 or x <= pts[0][0]:
        return pts[0][1] * (x / pts[0][0] if len(pts) == 1 and x > pts[0][0] else 1.0)
    if x >= pts[-1][0]:
        return pts[-1][1] * x / pts[-1][0]
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        if x <= x1:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    raise AssertionError("unreachable")


@dataclass
class CostParameters:
    points: list[Point] = field(default_factory=lambda: list(DEFAULT_POINTS))
    data_load: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DATA_LOAD))
    process_start: float = DEFAULT_PROCESS_START
    final_eval_tests: float = 7.0  # train job's final metrics: train + val + test = 7 test sets
    aggregate_seconds: float = 1.5  # collect / regimes / table1 / figure jobs (no torch; measured 0.5-2.6 s)
    epoch_fraction: float = 1.0  # expected epochs / max_epochs (1.0: no early stopping)
    source: str = "built-in table (2-core development machine)"

    def seconds(self, dataset: str, arch: str, depth: int, n_params: int) -> dict[str, float]:
        """``epoch``, ``qat_epoch`` and ``test_eval`` seconds of one configuration: log-log in
        parameter count along its (dataset, arch, depth) curve, linear between measured depths
        (the nearest one outside them); Fashion-MNIST and MNIST stand in for each other."""
        curves: dict[int, list[Point]] = defaultdict(list)
        for candidate in (dataset, SIMILAR_DATASET.get(dataset)):
            for point in self.points:
                if point.dataset == candidate and point.arch == arch:
                    curves[point.depth].append(point)
            if curves:
                break
        if not curves:
            raise KeyError(f"no measured points for {dataset} {arch}; add some (benchmarks/cost_model.py --calibrate)")
        depths = sorted(curves)
        below = max((d for d in depths if d <= depth), default=depths[0])
        above = min((d for d in depths if d >= depth), default=depths[-1])

        def on_curve(d: int) -> dict[str, float]:
            return {c: interpolate([(p.n_params, getattr(p, c)) for p in curves[d]], n_params) for c in COLUMNS}

        low, high = on_curve(below), on_curve(above)
        if above == below:
            return low
        t = (depth - below) / (above - below)
        return {c: low[c] + t * (high[c] - low[c]) for c in COLUMNS}


# ---------------------------------------------------------------------------- parameter counts
# minarch.models' closed forms (tests/unit/test_cost.py checks them against it), repeated so
# that the cost model does not import torch.

def image_shape(dataset: str, arch: str) -> tuple[int, int, int]:
    channels, height, width = DATASETS[dataset].image_shape
    return (channels, VIT_SIDE, VIT_SIDE) if arch == "vit" else (channels, height, width)


def parameter_count(dataset: str, arch: str, topology: str, width: int) -> int:
    c, h, w = image_shape(dataset, arch)
    if arch == "dnn":
        sizes = [c * h * w, *topo.hidden_widths(topology, width), NUM_CLASSES]
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if arch == "cnn":
        return (9 * c + 1) * width + (width * (h - 2) * (w - 2) + 1) * NUM_CLASSES
    if arch == "vit":
        patch_dim = c * (h // VIT_GRID) * (w // VIT_GRID)
        block = 2 * 2 * width + 6 * (width * width + width)
        return (patch_dim + 1) * width + width + VIT_BLOCKS * block + 2 * width + (width + 1) * NUM_CLASSES
    raise ValueError(f"unknown architecture {arch!r}")


def depth_of(arch: str, topology: str) -> int:
    return topo.depth(topology) if arch == "dnn" else 1


# ---------------------------------------------------------------------------- config
def load_config(path: str | Path | None = None, defaults: str | Path | None = DEFAULT_CONFIG) -> dict[str, Any]:
    """A config file merged over the default config (as ``snakemake --configfile`` merges it over
    the Snakefile's ``configfile:``), with the settings' defaults for keys neither gives."""
    config: dict[str, Any] = {}
    for source in (defaults, path):
        if source is not None:
            with open(source) as handle:
                config = deep_merge(config, yaml.safe_load(handle) or {})
    train = {"max_epochs": TrainSettings.max_epochs, "seeds_per_job": 0, "threads": 1, **config.get("train", {})}
    prune = {"ratios": list(PruneSettings().ratios), "finetune_epochs": 0, **config.get("prune", {})}
    qat = {"mode": "scratch", "finetune_epochs": 3, **config.get("qat", {})}
    return {**config, "train": train, "prune": prune, "qat": qat}


def sweeps(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's sweeps: each family and, when configured, the phase-1 topology sweep (DNN,
    training only); ``minarch.config.sweeps`` where it exists, else the same layout here."""
    from minarch import config as config_module

    if hasattr(config_module, "sweeps"):
        return config_module.sweeps(config)
    found = {family: {"arch": family, **spec, "topologies": topologies_of(family, spec)}
             for family, spec in config.get("families", {}).items()}
    if TOPOLOGY_SWEEP in config:
        spec = config[TOPOLOGY_SWEEP]
        found[TOPOLOGY_SWEEP] = {
            "arch": "dnn", "datasets": spec["datasets"], "widths": spec["widths"], "seeds": spec["seeds"],
            "topologies": [n for n in topo.all_topologies(max(spec["depths"])) if topo.depth(n) in spec["depths"]],
        }
    return found


# ---------------------------------------------------------------------------- jobs
@dataclass
class Job:
    name: str
    stage: str  # prepare, train, prune, qat, aggregate
    sweep: str  # family or topology_sweep; "all" for the shared jobs
    dataset: str
    seconds: float  # CPU seconds of the job (= its wall seconds with one thread)
    after: list[str] = field(default_factory=list)
    seeds: int = 0
    epochs: float = 0.0  # training epochs (float or QAT) over the job's seeds


def plan(config: dict[str, Any], params: CostParameters | None = None) -> list[Job]:
    """Every job of the default target ``all`` for ``config``, with its estimated seconds."""
    params = params or CostParameters()
    found = sweeps(config)
    train_cfg, prune_cfg, qat_cfg = config["train"], config["prune"], config["qat"]
    max_epochs = int(train_cfg["max_epochs"]) * params.epoch_fraction
    seeds_per_arch: dict[str, int] = {}
    for spec in found.values():
        seeds_per_arch[spec["arch"]] = max(seeds_per_arch.get(spec["arch"], 0), int(spec["seeds"]))

    # every configuration once: the seeds it needs and the sweeps it is in (a square DNN of the
    # phase-1 sweep is the same run as the DNN family's); its family owns it in the table
    needed: dict[tuple[str, str, str, int], int] = {}
    members: dict[tuple[str, str, str, int], list[str]] = defaultdict(list)
    for name, spec in found.items():
        for dataset in spec["datasets"]:
            for topology in spec["topologies"]:
                for width in spec["widths"]:
                    key = (dataset, spec["arch"], topology, int(width))
                    needed[key] = max(needed.get(key, 0), int(spec["seeds"]))
                    members[key].append(name)
    jobs = [Job(f"prepare_dataset/{d}", "prepare", "all", d, params.process_start)
            for d in sorted({key[0] for key in needed})]
    by_sweep: dict[tuple[str, str], list[str]] = defaultdict(list)  # (sweep, stage) -> job names
    ratios = list(prune_cfg["ratios"])
    finetune = int(prune_cfg.get("finetune_epochs", 0)) * sum(1 for r in ratios if r > 0)
    qat_epochs = max_epochs if qat_cfg["mode"] == "scratch" else float(qat_cfg["finetune_epochs"])
    for key in sorted(needed, key=str):
        dataset, arch, topology, width = key
        families = [m for m in members[key] if m != TOPOLOGY_SWEEP]
        owner = families[0] if families else members[key][0]
        cost = params.seconds(dataset, arch, depth_of(arch, topology), parameter_count(dataset, arch, topology, width))
        start = params.process_start + params.data_load.get(f"{dataset}/{arch}", params.data_load.get(dataset, 1.0))
        for block in seed_blocks(seeds_per_arch[arch], int(train_cfg["seeds_per_job"])):
            if block[0] >= needed[key]:
                continue  # no sweep asks for these seeds of this configuration
            tag = f"{dataset}/{arch}/{topology}/w{width}/seeds{block[0]}-{block[-1]}"
            seeds = len(block)
            train = Job(f"train/{tag}", "train", owner, dataset,
                        start + seeds * (max_epochs * cost["epoch"] + params.final_eval_tests * cost["test_eval"]),
                        [f"prepare_dataset/{dataset}"], seeds, seeds * max_epochs)
            jobs.append(train)
            for member in members[key]:
                by_sweep[(member, "train")].append(train.name)
            if not families:
                continue  # phase 1 trains only
            prune = Job(f"prune/{tag}", "prune", owner, dataset,
                        start + seeds * (len(ratios) * cost["test_eval"] + finetune * cost["epoch"]),
                        [train.name], seeds, seeds * finetune)
            qat = Job(f"qat/{tag}", "qat", owner, dataset,
                      start + seeds * (qat_epochs * cost["qat_epoch"] + 2 * cost["test_eval"]),
                      [train.name], seeds, seeds * qat_epochs)
            jobs += [prune, qat]
            for family in families:
                by_sweep[(family, "prune")].append(prune.name)
                by_sweep[(family, "qat")].append(qat.name)
    families = [name for name in found if name != TOPOLOGY_SWEEP]
    aggregate = params.aggregate_seconds
    for name in found:
        for stage in STAGES if name in families else ("train",):
            jobs.append(Job(f"collect/{name}_{stage}", "aggregate", name, "-", aggregate, by_sweep[(name, stage)]))
    if TOPOLOGY_SWEEP in found:
        jobs.append(Job(TOPOLOGY_SWEEP, "aggregate", TOPOLOGY_SWEEP, "-", aggregate,
                        [f"collect/{TOPOLOGY_SWEEP}_train"]))
        jobs.append(Job(f"figure/{TOPOLOGY_SWEEP}", "aggregate", TOPOLOGY_SWEEP, "-", aggregate, [TOPOLOGY_SWEEP]))
    if families:
        jobs.append(Job("regimes", "aggregate", "all", "-", aggregate, [f"collect/{f}_train" for f in families]))
        jobs.append(Job("table1", "aggregate", "all", "-", aggregate,
                        ["regimes", *[f"collect/{f}_{s}" for f in families for s in ("prune", "qat")]]))
        jobs.append(Job("paper_comparison", "aggregate", "all", "-", aggregate,
                        ["table1", *([TOPOLOGY_SWEEP] if TOPOLOGY_SWEEP in found else [])]))
        jobs += [Job(f"figure/{f}", "aggregate", f, "-", aggregate, [f"collect/{f}_{s}" for s in STAGES])
                 for f in families]
    return jobs


def simulate_wall(jobs: list[Job], cores: int, threads: int = 1) -> float:
    """Wall seconds with ``cores // threads`` job slots: whenever a slot frees up, the longest
    job whose inputs are done starts (list scheduling along the DAG)."""
    slots = max(1, cores // max(1, threads))
    by_name = {job.name: job for job in jobs}
    waiting = {job.name: sum(1 for d in job.after if d in by_name) for job in jobs}
    children: dict[str, list[str]] = defaultdict(list)
    for job in jobs:
        for dep in job.after:
            if dep in by_name:
                children[dep].append(job.name)
    ready = [(-job.seconds, job.name) for job in jobs if waiting[job.name] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now, done = 0.0, 0
    while ready or running:
        while ready and len(running) < slots:
            negative, name = heapq.heappop(ready)
            heapq.heappush(running, (now - negative, name))
        now, name = heapq.heappop(running)
        done += 1
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (-by_name[child].seconds, child))
    if done != len(jobs):
        raise ValueError("the job graph has a cycle or a missing input")
    return now


@dataclass
class Summary:
    rows: list[dict[str, Any]]  # per (sweep, stage)
    total_jobs: int
    total_cpu_hours: float
    wall_hours: dict[int, float]  # cores -> estimated wall hours
    source: str = ""


def summarize(jobs: list[Job], cores: Iterable[int] = (2,), threads: int = 1, source: str = "") -> Summary:
    groups: dict[tuple[str, str], list[Job]] = defaultdict(list)
    for job in jobs:
        groups[(job.sweep, job.stage)].append(job)
    order = {"prepare": 0, "train": 1, "prune": 2, "qat": 3, "aggregate": 4}
    rows = []
    for (sweep, stage), group in sorted(groups.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0],
                                                                        order[kv[0][1]])):
        rows.append({"sweep": sweep, "stage": stage, "jobs": len(group), "seeds": sum(j.seeds for j in group),
                     "epochs": sum(j.epochs for j in group), "cpu_hours": sum(j.seconds for j in group) / 3600,
                     "longest_job_hours": max(j.seconds for j in group) / 3600})
    return Summary(rows, len(jobs), sum(job.seconds for job in jobs) / 3600,
                   {c: simulate_wall(jobs, c, threads) / 3600 for c in cores}, source)


def estimate(config: dict[str, Any], params: CostParameters | None = None, cores: Iterable[int] = (2,)) -> Summary:
    params = params or CostParameters()
    return summarize(plan(config, params), cores, int(config["train"].get("threads", 1)), params.source)


def format_hours(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.1f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def format_summary(summary: Summary, title: str = "") -> str:
    lines = [title, ""] if title else []
    lines += ["| sweep | stage | jobs | seed runs | epochs | CPU-hours | longest job |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for row in summary.rows:
        lines.append(f"| {row['sweep']} | {row['stage']} | {row['jobs']:,} | {row['seeds']:,} | "
                     f"{row['epochs']:,.0f} | {row['cpu_hours']:,.2f} | {format_hours(row['longest_job_hours'])} |")
    lines.append(f"| **total** | | **{summary.total_jobs:,}** | | | **{summary.total_cpu_hours:,.2f}** | |")
    lines += ["", "| cores | estimated wall time |", "|---:|---:|"]
    lines += [f"| {cores} | {format_hours(hours)} |" for cores, hours in summary.wall_hours.items()]
    if summary.source:
        lines += ["", f"Per-epoch costs: {summary.source}."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- measurements
_JOB_PATH = re.compile(r"(?P<dataset>[a-z_0-9]+)/(?P<arch>[a-z]+)/(?P<topology>[A-Za-z0-9]+)/w(?P<width>\d+)/"
                       r"seeds(?P<first>\d+)-(?P<last>\d+)\.tsv$")
RUN_KEYS = ["dataset", "arch", "topology", "width", "seed"]


def from_measurements(results: str | Path, base: CostParameters | None = None) -> CostParameters:
    """Cost parameters from a run's outputs under ``results`` (a ``results/`` folder):

    - the median per-epoch ``seconds`` of ``runs/**/train.parquet`` per (dataset, arch, depth,
      parameter count) replace the base points of every (dataset, arch) measured; their test
      evaluation is scaled from the base table at that size;
    - ``runs/**/qat.parquet`` (``seconds / stopped_epoch``) gives QAT epoch seconds, else the
      base table's QAT/float ratio is kept;
    - the train jobs' Snakemake benchmarks (``benchmarks/train/**.tsv``, ``s``) minus their
      seeds' training time (the ``final`` rows' ``seconds``) give ``process_start``."""
    import pandas as pd

    base = base or CostParameters()
    params = copy.deepcopy(base)
    results = Path(results)
    train_files = sorted(results.glob("runs/**/train.parquet"))
    if not train_files:
        raise FileNotFoundError(f"no runs/**/train.parquet under {results}")
    train = pd.concat([pd.read_parquet(p) for p in train_files], ignore_index=True)
    epochs = train[train["kind"] == "epoch"]
    qat_per_epoch = None
    qat_files = sorted(results.glob("runs/**/qat.parquet"))
    if qat_files:
        qat = pd.concat([pd.read_parquet(p) for p in qat_files], ignore_index=True)
        qat = qat[qat["stopped_epoch"] > 0].assign(per_epoch=lambda f: f["seconds"] / f["stopped_epoch"])
        qat_per_epoch = qat.groupby(["dataset", "arch", "topology", "width"])["per_epoch"].median()
    measured = []
    for (dataset, arch, topology, width), group in epochs.groupby(["dataset", "arch", "topology", "width"]):
        n_params, depth = int(group["n_params"].iloc[0]), depth_of(arch, topology)
        epoch = float(group["seconds"].median())
        try:
            reference = base.seconds(dataset, arch, depth, n_params)
            test_ratio, qat_ratio = reference["test_eval"] / reference["epoch"], reference["qat_epoch"] / reference["epoch"]
        except KeyError:
            test_ratio, qat_ratio = 0.02, 2.5
        qat_epoch = epoch * qat_ratio
        if qat_per_epoch is not None and (dataset, arch, topology, width) in qat_per_epoch.index:
            qat_epoch = float(qat_per_epoch.loc[(dataset, arch, topology, width)])
        measured.append(Point(dataset, arch, depth, n_params, epoch, qat_epoch, epoch * test_ratio))
    pairs = {(p.dataset, p.arch) for p in measured}
    params.points = [p for p in base.points if (p.dataset, p.arch) not in pairs] + measured
    finals = train[train["kind"] == "final"].set_index(RUN_KEYS)["seconds"]
    overheads = []
    for tsv in sorted((results / "benchmarks" / "train").glob("**/*.tsv")):
        match = _JOB_PATH.search(tsv.as_posix())
        if not match:
            continue
        keys = [(match["dataset"], match["arch"], match["topology"], int(match["width"]), seed)
                for seed in range(int(match["first"]), int(match["last"]) + 1)]
        if all(k in finals.index for k in keys):
            job_seconds = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
            overheads.append(job_seconds - float(sum(finals.loc[k] for k in keys)))
    if overheads:
        overheads.sort()
        params.process_start = max(0.0, overheads[len(overheads) // 2] - min(params.data_load.values()))
    params.source = (f"measured under {results}: {len(measured)} configurations, {len(train_files)} runs, "
                     f"{len(overheads)} train-job benchmarks (process start {params.process_start:.1f} s)")
    return params


def measured_epoch_fraction(results: str | Path) -> float | None:
    """Mean ``stopped_epoch / train_max_epochs`` of the runs under ``results``."""
    import pandas as pd

    files = sorted(Path(results).glob("runs/**/train.parquet"))
    if not files:
        return None
    frame = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    finals = frame[frame["kind"] == "final"]
    return float((finals["stopped_epoch"] / finals["train_max_epochs"]).mean())
