"""Cost model of a sweep: Snakemake jobs, CPU-hours per sweep and stage, and wall time on a
given number of cores, before running it. Torch-free (imports in well under a second).

The model, per job (one process, ``train.threads`` torch threads, 1 by default):

- every job pays a process start (interpreter, Snakemake script preamble, ``import torch``
  and minarch) and loads its dataset;
- a **train** job trains its one seed for ``max_epochs x epoch_fraction`` float epochs, then
  evaluates the final model on every split (7 test-set evaluations' worth);
- a **prune** job evaluates its seed at every ratio (one test-set evaluation each) plus
  ``finetune_epochs`` float epochs per nonzero ratio;
- a **qat** job retrains its seed (mode ``scratch``: ``max_epochs x epoch_fraction``;
  ``finetune``: ``finetune_epochs``) at the QAT epoch cost, then evaluates the int8 model;
- the aggregates (collect, regimes, Table I, paper comparison, figures) cost
  ``aggregate_seconds`` each.

Seconds per epoch come from measured points per (dataset, architecture, DNN depth):
(parameter count, seconds per float epoch including the per-epoch validation and test
evaluation, per QAT epoch, per test-set evaluation), interpolated log-log in the parameter
count (proportional to it beyond the largest measured size) and linearly between depths.
``DEFAULT_POINTS`` are read from ``cost_points.csv`` beside this module (package data),
measured on the 2-core development machine by ``benchmarks/cost_model.py --calibrate
--points-out`` that file; ``from_measurements`` takes them from a finished run instead
(per-epoch ``seconds`` of ``train.parquet``, QAT seconds of ``qat.parquet``, Snakemake's
benchmark files for the per-job overhead).

The jobs are the workflow's: the config is merged and checked as the Snakefile does
(``minarch.config.merge_layers`` / ``prepare``, the schema's defaults), the configurations
and their seed counts come from ``minarch.config``, parameter counts from ``minarch.sizes``.
The same per-job prediction sizes each cluster job's request (``job_request``).

Epochs are an upper bound by default (early stopping only shortens runs); set
``epoch_fraction`` from a finished sweep (``measured_epoch_fraction``).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import heapq
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minarch import records, registry
from minarch.config import (
    TOPOLOGY_SWEEP,
    ConfigError,
    configurations,
    load_schema,
    load_yaml,
    merge_layers,
    prepare,
    sweeps,
)
from minarch.settings import schema_default, section_defaults
from minarch.sizes import (
    NUM_CLASSES,  # noqa: F401  (also the regimes' chance level)
    input_shape,
    parameter_count,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
POINTS_CSV = Path(__file__).with_name("cost_points.csv")  # the built-in calibration, shipped with the package
STAGES = ("train", "prune", "qat")
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


def read_points(path: str | Path) -> list[Point]:
    """Measured points from a CSV with ``Point``'s fields as columns (``write_points``)."""
    with open(path, newline="") as handle:
        return [
            Point(
                r["dataset"],
                r["arch"],
                int(r["depth"]),
                int(r["n_params"]),
                float(r["epoch"]),
                float(r["qat_epoch"]),
                float(r["test_eval"]),
            )
            for r in csv.DictReader(handle)
        ]


def write_points(points: Iterable[Point], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(Point)])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(p) for p in points)


# Measured on the 2-core development machine, one torch thread, CPU seconds (robust to the
# other jobs sharing it): benchmarks/cost_model.py --calibrate (timed steps scaled to an epoch).
DEFAULT_POINTS: tuple[Point, ...] = tuple(read_points(POINTS_CSV))
# A Snakemake job's process start: measured 2.6 CPU s for the script preamble's imports,
# ``import torch`` and minarch and the first Adam step, plus Snakemake's own per-job work.
# Loading a dataset cache, by "dataset/arch" or "dataset" (the ViT's CIFAR-10 is resized to
# 28x28 as well).
DEFAULT_PROCESS_START = 3.5
DEFAULT_DATA_LOAD = {"mnist": 0.4, "fashion_mnist": 0.4, "cifar10": 1.3, "cifar10/vit": 3.3}


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
        (the nearest one outside them). Where the points have none, those of the dataset's
        ``similar`` one (Fashion-MNIST and MNIST stand in for each other) and of the family's
        ``cost_like`` one (``minarch.registry``) stand in."""
        curves: dict[int, list[Point]] = defaultdict(list)
        known_dataset, known_family = registry.datasets().get(dataset), registry.families().get(arch)
        datasets = (dataset, known_dataset.similar if known_dataset else None)
        families = (arch, known_family.cost_like if known_family else None)
        for candidate_arch, candidate in itertools.product(families, datasets):
            for point in self.points:
                if point.dataset == candidate and point.arch == candidate_arch:
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


def depth_of(arch: str, topology: str) -> int:
    """The depth of the measured cost curve a configuration lies on (``Family.depth``)."""
    return registry.family(arch).depth(topology)


# ---------------------------------------------------------------------------- config
def load_config(path: str | Path | None = None, default: str | Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The config ``snakemake [--configfile path]`` runs: ``path`` merged over the default
    config as the workflow merges it (key by key, the sweep whole: ``minarch.config.merge_layers``),
    checked (``minarch.config.prepare``; a ConfigError names the problem) and with the schema's
    defaults for the keys of a section neither file gives."""
    layers = [] if path is None else [load_yaml(path) or {}]
    if layers and not isinstance(layers[0], dict):
        raise ConfigError(f"config error in {path}: the file must hold keys at the top level")
    schema = load_schema()
    config = prepare(merge_layers(load_yaml(default) or {}, *layers), schema, layers)
    for section, spec in schema["properties"].items():
        if spec.get("type") == "object" and "default" in spec:  # the settings sections
            config[section] = {**section_defaults(section), **config.get(section, {})}
    return config


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


def seed_job_seconds(
    config: dict[str, Any], params: CostParameters, dataset: str, arch: str, topology: str, width: int
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds of one seed's train, prune and QAT work (without the job's process start and
    data loading, ``job_overhead``), and the epochs each trains; ``config`` as ``load_config``
    returns it."""
    train_cfg, prune_cfg, qat_cfg = config["train"], config["prune"], config["qat"]
    max_epochs = int(train_cfg["max_epochs"]) * params.epoch_fraction
    finetune = int(prune_cfg["finetune_epochs"]) * sum(1 for r in prune_cfg["ratios"] if r > 0)
    qat_epochs = max_epochs if qat_cfg["mode"] == "scratch" else float(qat_cfg["finetune_epochs"])
    cost = params.seconds(dataset, arch, depth_of(arch, topology), parameter_count(dataset, arch, topology, width))
    # one QAT run per quantization scope of the ViT (the others are quantized whole, once);
    # PTQ calibrates on a few training batches and evaluates the int8 model once per scope
    scopes = len(qat_cfg.get("scope") or [None]) if registry.family(arch).scoped_qat else 1
    batches_per_epoch = 54_000 / int(train_cfg.get("batch_size", 100))
    calibration = int(qat_cfg.get("ptq_batches", 10)) / batches_per_epoch * cost["epoch"]
    ptq = (calibration + 2 * cost["test_eval"]) if qat_cfg.get("ptq") else 0.0
    seconds = {
        "train": max_epochs * cost["epoch"] + params.final_eval_tests * cost["test_eval"],
        "prune": len(prune_cfg["ratios"]) * cost["test_eval"] + finetune * cost["epoch"],
        "qat": scopes * (qat_epochs * cost["qat_epoch"] + 2 * cost["test_eval"] + ptq),
    }
    return seconds, {"train": max_epochs, "prune": float(finetune), "qat": scopes * qat_epochs}


def job_overhead(params: CostParameters, dataset: str, arch: str) -> float:
    """What every job pays once, whatever its seeds: the process start and loading its dataset."""
    return params.process_start + params.data_load.get(f"{dataset}/{arch}", params.data_load.get(dataset, 1.0))


# ---------------------------------------------------------------------------- blocks of seeds
# A job runs a block of seeds of one configuration and stage in one process. Blocks sit at fixed
# seed indices, [0, k), [k, 2k), ... (the last one cut at the seed count), so adding seeds adds
# blocks and leaves finished ones alone; k is the number of seeds whose predicted work at
# max_epochs fits cluster.job_minutes (at least one, so a seed longer than that is a job alone).


def block_size(
    config: dict[str, Any],
    params: CostParameters,
    stage: str,
    dataset: str,
    arch: str,
    topology: str,
    width: int,
    seconds: dict[str, float] | None = None,
) -> int:
    """Seeds per job of one configuration and stage (``seconds``: its ``seed_job_seconds``, when known)."""
    minutes = config.get("cluster", {}).get("job_minutes") or schema_default("cluster", "job_minutes")
    target = 60.0 * float(minutes)
    work = (seconds or seed_job_seconds(config, params, dataset, arch, topology, width)[0])[stage]
    return max(1, int(target // work)) if work > 0 else 1 << 20


def seed_blocks(n_seeds: int, size: int) -> list[tuple[int, int]]:
    """The blocks (first seed, last seed, both included) of seeds 0..n_seeds-1 in blocks of ``size``."""
    return [(first, min(first + size, n_seeds) - 1) for first in range(0, n_seeds, max(1, size))]


def configuration_blocks(
    config: dict[str, Any], params: CostParameters
) -> dict[tuple[str, str, str, int], dict[str, list[tuple[int, int]]]]:
    """Every configuration's blocks per stage: train covers the seeds some sweep trains,
    prune and QAT the seeds a family prunes and quantises (none for phase-1-only shapes)."""
    found = {}
    for key, entry in configurations(config).items():
        seconds = seed_job_seconds(config, params, *key)[0]
        found[key] = {
            stage: seed_blocks(
                entry["train" if stage == "train" else "staged"], block_size(config, params, stage, *key, seconds)
            )
            for stage in STAGES
        }
    return found


def planned_jobs(
    config: dict[str, Any], params: CostParameters, blocks: dict[tuple, dict[str, list]] | None = None
) -> dict[str, int]:
    """Training runs, and the train, prune and QAT jobs (blocks) of the default target
    (``blocks``: ``configuration_blocks``, when known)."""
    found = configurations(config).values()
    blocks = blocks if blocks is not None else configuration_blocks(config, params)
    counts = {stage: sum(len(entry[stage]) for entry in blocks.values()) for stage in STAGES}
    return {"runs": sum(entry["train"] for entry in found), **counts}


def covering(blocks: list[tuple[int, int]], first: int, last: int) -> list[tuple[int, int]]:
    """The blocks of ``blocks`` that hold any seed of first..last."""
    return [(a, b) for a, b in blocks if a <= last and b >= first]


def plan(config: dict[str, Any], params: CostParameters | None = None) -> list[Job]:
    """Every job of the default target ``all`` for ``config`` (as ``load_config`` returns it:
    every setting present), with its estimated seconds."""
    params = params or CostParameters()
    found = sweeps(config)
    datasets = sorted({d for spec in found.values() for d in spec["datasets"]})
    # each dataset's cache, then the small job that writes its content version (the stage jobs' input)
    jobs = [Job(f"prepare_dataset/{d}", "prepare", "all", d, params.process_start) for d in datasets]
    jobs += [
        Job(f"dataset_version/{d}", "prepare", "all", d, params.process_start, [f"prepare_dataset/{d}"])
        for d in datasets
    ]
    by_sweep: dict[tuple[str, str], list[str]] = defaultdict(list)  # (sweep, stage) -> job names
    all_blocks = configuration_blocks(config, params)
    for key, entry in sorted(configurations(config).items(), key=lambda kv: str(kv[0])):
        dataset, arch, topology, width = key
        members = entry["sweeps"]  # its family owns it in the tables
        families = [m for m in members if m != TOPOLOGY_SWEEP]
        owner = families[0] if families else members[0]
        seconds, epochs = seed_job_seconds(config, params, dataset, arch, topology, width)
        overhead = job_overhead(params, dataset, arch)
        configuration = f"{dataset}/{arch}/{topology}/w{width}"
        names: dict[str, list[tuple[tuple[int, int], str]]] = {}
        for stage in STAGES:
            names[stage] = []
            for first, last in all_blocks[key][stage]:
                n = last - first + 1
                after = (
                    [f"dataset_version/{dataset}"]
                    if stage == "train"
                    else [
                        name
                        for block, name in names["train"]
                        if block in covering(all_blocks[key]["train"], first, last)
                    ]
                )
                job = Job(
                    f"{stage}/{configuration}/seeds{first}-{last}", stage, owner, dataset,
                    overhead + n * seconds[stage], after, n, n * epochs[stage],
                )  # fmt: skip
                jobs.append(job)
                names[stage].append(((first, last), job.name))
                for member in members if stage == "train" else families:
                    if first < found[member]["seeds"]:
                        by_sweep[(member, stage)].append(job.name)
    families = [name for name in found if name != TOPOLOGY_SWEEP]
    aggregate = params.aggregate_seconds
    jobs.append(Job("save_config", "aggregate", "all", "-", aggregate))  # results/config.yaml, for the report
    for name in found:
        for stage in STAGES if name in families else ("train",):
            jobs.append(
                Job(
                    f"collect/{name}_{stage}",
                    "aggregate",
                    name,
                    "-",
                    aggregate,
                    by_sweep[(name, stage)],
                )
            )
    if TOPOLOGY_SWEEP in found:
        jobs.append(
            Job(TOPOLOGY_SWEEP, "aggregate", TOPOLOGY_SWEEP, "-", aggregate, [f"collect/{TOPOLOGY_SWEEP}_train"])
        )
        jobs.append(Job(f"figure/{TOPOLOGY_SWEEP}", "aggregate", TOPOLOGY_SWEEP, "-", aggregate, [TOPOLOGY_SWEEP]))
    if families:
        jobs.append(Job("regimes", "aggregate", "all", "-", aggregate, [f"collect/{f}_train" for f in families]))
        jobs.append(
            Job(
                "table1",
                "aggregate",
                "all",
                "-",
                aggregate,
                ["regimes", *[f"collect/{f}_{s}" for f in families for s in ("prune", "qat")]],
            )
        )
        jobs.append(
            Job("quantization_gaps", "aggregate", "all", "-", aggregate, [f"collect/{f}_qat" for f in families])
        )
        jobs.append(
            Job(
                "paper_comparison",
                "aggregate",
                "all",
                "-",
                aggregate,
                ["table1", *([TOPOLOGY_SWEEP] if TOPOLOGY_SWEEP in found else [])],
            )
        )
        jobs += [
            Job(f"figure/{f}", "aggregate", f, "-", aggregate, [f"collect/{f}_{s}" for s in STAGES]) for f in families
        ]
    return jobs


# ---------------------------------------------------------------------------- cluster requests
# Peak memory of one job (MB): a process with torch, pandas and the dataset's splits as float32
# (every dataset here has 70,000 or 60,000 images, the ViT's CIFAR-10 resized first), plus the
# model's tensors (weights, gradients, Adam's two moments, the best-epoch copy, the checkpoint,
# the int8 copy: 10 per parameter) and the full-test-set int8 evaluation's activations. The
# constants are fitted to the max_rss of the workflow's own Snakemake benchmarks (docs/design.md §4).
PROCESS_MB = 650.0
TENSORS_PER_PARAMETER = 10
TEST_IMAGES = 10_000
# A family's QAT job may peak above this (``Family.qat_extra_mb``: the CNN's eager int8 model).


def activation_floats(dataset: str, arch: str, topology: str, width: int) -> int:
    """Floats one image's forward pass keeps (input and hidden activations; ``Family.activation_floats``,
    else the input and the model's parameters)."""
    shape, family = input_shape(dataset, arch), registry.family(arch)
    if family.activation_floats is None:
        return math.prod(shape) + parameter_count(dataset, arch, topology, width)
    return family.activation_floats(shape, topology, width)


def job_memory_mb(dataset: str, arch: str, topology: str, width: int, stage: str = "train") -> float:
    """Estimated peak resident memory of one train, prune or QAT job, in MB."""
    data = registry.dataset(dataset).images * math.prod(input_shape(dataset, arch)) * 4
    model = parameter_count(dataset, arch, topology, width) * 4 * TENSORS_PER_PARAMETER
    evaluation = TEST_IMAGES * activation_floats(dataset, arch, topology, width) * 4
    extra = registry.family(arch).qat_extra_mb if stage == "qat" else 0.0
    return PROCESS_MB + extra + (data + model + evaluation) / 2**20


def job_request(
    config: dict[str, Any],
    stage: str,
    dataset: str,
    arch: str,
    topology: str,
    width: int,
    params: CostParameters,
    seeds: int = 1,
) -> dict[str, int]:
    """What the job of a block of ``seeds`` seeds of ``stage`` asks a scheduler for: ``runtime``
    in minutes, the predicted seconds at ``max_epochs`` (early stopping only shortens a run)
    times ``cluster.runtime_margin``, at least ``cluster.min_runtime``; and ``mem_mb``, the estimated peak
    of one seed (a block runs its seeds one after another) times ``cluster.memory_margin``.
    ``params`` are the cost model's (``cluster_parameters``); ``config`` is the workflow's."""
    cluster = config.get("cluster", {})
    seconds, _ = seed_job_seconds(config, params, dataset, arch, topology, width)
    predicted = job_overhead(params, dataset, arch) + seeds * seconds[stage]
    shortest = int(cluster.get("min_runtime", schema_default("cluster", "min_runtime")))
    runtime = max(shortest, math.ceil(float(cluster.get("runtime_margin", 1.5)) * predicted / 60))
    memory = math.ceil(float(cluster.get("memory_margin", 1.5)) * job_memory_mb(dataset, arch, topology, width, stage))
    return {"runtime": runtime, "mem_mb": memory}


def cluster_parameters(config: dict[str, Any]) -> CostParameters:
    """The cost model a workflow's requests use: ``cluster.cost_points`` (a CSV written by
    ``benchmarks/cost_model.py --calibrate --points-out``) or the built-in table; epochs at
    their upper bound."""
    path = config.get("cluster", {}).get("cost_points")
    if not path:
        return CostParameters()
    return CostParameters(points=read_points(path), source=f"measured points from {path}")


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
    for (sweep, stage), group in sorted(groups.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0], order[kv[0][1]])):
        rows.append(
            {
                "sweep": sweep,
                "stage": stage,
                "jobs": len(group),
                "seeds": sum(j.seeds for j in group),
                "epochs": sum(j.epochs for j in group),
                "cpu_hours": sum(j.seconds for j in group) / 3600,
                "longest_job_hours": max(j.seconds for j in group) / 3600,
            }
        )
    return Summary(
        rows,
        len(jobs),
        sum(job.seconds for job in jobs) / 3600,
        {c: simulate_wall(jobs, c, threads) / 3600 for c in cores},
        source,
    )


# one configuration, and one block's job of it, as job names (plan) and log/benchmark paths
# (workflow) spell them
_CONFIGURATION = r"(?P<dataset>[a-z_0-9]+)/(?P<arch>[a-z]+)/(?P<topology>[A-Za-z0-9]+)/w(?P<width>\d+)"
_BLOCK_JOB = rf"{_CONFIGURATION}/seeds(?P<first>\d+)-(?P<last>\d+)"
_TAG = re.compile(rf"^(?P<stage>train|prune|qat)/{_BLOCK_JOB}$")


def job_done(job: Job, workdir: str | Path = ".") -> bool:
    """A train, prune or QAT job is done when its block's record exists under ``workdir``
    (``records.block_record``: written last, once every seed of the block is in place); other
    jobs are never done here: they take seconds, and the workflow reruns them whenever a stage
    job ran."""
    match = _TAG.match(job.name)
    if not match:
        return False
    m = match.groupdict()
    key = (m["dataset"], m["arch"], m["topology"], int(m["width"]))
    return (Path(workdir) / records.block_record(m["stage"], *key, int(m["first"]), int(m["last"]))).is_file()


def remaining(jobs: list[Job], workdir: str | Path = ".") -> tuple[list[Job], int]:
    """The jobs still to run for a sweep whose outputs are under ``workdir``, with dependencies
    on finished jobs dropped; and how many stage jobs are already done. A job whose train job
    is still to run is not done either (Snakemake reruns what follows a rerun job)."""
    stage_jobs = {job.name for job in jobs if job.stage in STAGES}
    done: set[str] = set()
    for job in jobs:  # the plan lists every job after the jobs it depends on
        upstream = [name for name in job.after if name in stage_jobs]
        if job_done(job, workdir) and all(name in done for name in upstream):
            done.add(job.name)
    left = [
        Job(j.name, j.stage, j.sweep, j.dataset, j.seconds, [a for a in j.after if a not in done], j.seeds, j.epochs)
        for j in jobs
        if j.name not in done
    ]
    return left, len(done)


def estimate(config: dict[str, Any], params: CostParameters | None = None, cores: Iterable[int] = (2,)) -> Summary:
    params = params or CostParameters()
    return summarize(plan(config, params), cores, int(config["train"]["threads"]), params.source)


def format_hours(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.1f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def format_summary(summary: Summary, title: str = "") -> str:
    lines = [title, ""] if title else []
    lines += [
        "| sweep | stage | jobs | seed runs | epochs | CPU-hours | longest job |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary.rows:
        lines.append(
            f"| {row['sweep']} | {row['stage']} | {row['jobs']:,} | {row['seeds']:,} | "
            f"{row['epochs']:,.0f} | {row['cpu_hours']:,.2f} | {format_hours(row['longest_job_hours'])} |"
        )
    lines.append(f"| **total** | | **{summary.total_jobs:,}** | | | **{summary.total_cpu_hours:,.2f}** | |")
    lines += ["", "| cores | estimated wall time |", "|---:|---:|"]
    lines += [f"| {cores} | {format_hours(hours)} |" for cores, hours in summary.wall_hours.items()]
    if summary.source:
        lines += ["", f"Per-epoch costs: {summary.source}."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- measurements
# a benchmark file of one seed's job, or of a block of seeds (runs made before seeds had jobs of their own)
_JOB_PATH = re.compile(rf"{_CONFIGURATION}/(?:seed(?P<seed>\d+)|seeds(?P<first>\d+)-(?P<last>\d+))\.tsv$")
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
            test_ratio, qat_ratio = (
                reference["test_eval"] / reference["epoch"],
                reference["qat_epoch"] / reference["epoch"],
            )
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
        first, last = (match["seed"], match["seed"]) if match["seed"] else (match["first"], match["last"])
        keys = [
            (match["dataset"], match["arch"], match["topology"], int(match["width"]), seed)
            for seed in range(int(first), int(last) + 1)
        ]
        if all(k in finals.index for k in keys):
            job_seconds = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
            overheads.append(job_seconds - float(sum(finals.loc[k] for k in keys)))
    if overheads:
        overheads.sort()
        params.process_start = max(0.0, overheads[len(overheads) // 2] - min(params.data_load.values()))
    params.source = (
        f"measured under {results}: {len(measured)} configurations, {len(train_files)} runs, "
        f"{len(overheads)} train-job benchmarks (process start {params.process_start:.1f} s)"
    )
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
