"""Cost model of the workflow's jobs: the CPU seconds of a seed's train, prune and QAT work,
the blocks of seeds a stage job runs, and what each cluster job asks a scheduler for. Torch-free
(the Snakefile imports it at parse time).

The model, per job (one process, ``train.threads`` torch threads, 1 by default):

- every job pays a process start (interpreter, Snakemake script preamble, ``import torch``
  and minarch) and loads its dataset (``job_overhead``);
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
--points-out`` that file; ``cluster.cost_points`` names another such CSV (``cluster_parameters``).

A config is the workflow's, as ``minarch.config.load_config`` returns it (merged and checked as
the Snakefile does, with the schema's defaults); the configurations and their seed counts come
from ``minarch.config``, parameter counts from ``minarch.sizes``. A stage job runs a block of
seeds sized to ``cluster.job_minutes`` (``block_size``), and the same per-job prediction sizes
its cluster request (``job_request``). Epochs are an upper bound by default (early stopping
only shortens runs; ``CostParameters.epoch_fraction``).

What only plans or calibrates lives with the model's command line, ``benchmarks/cost_model.py``:
the plan of every job of a sweep, its wall time on N cores and the progress of a workflow
folder in ``benchmarks/planner.py``; the calibration of the points on this machine, or from a
finished run's outputs, in ``benchmarks/calibration.py``.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minarch import registry
from minarch.config import configurations
from minarch.settings import qat_scopes, schema_default
from minarch.sizes import EVAL_ELEMENTS_PER_SEED, input_shape, parameter_count

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
    """Measured points from a CSV with ``Point``'s fields as columns (``benchmarks/calibration.py``
    writes it: ``write_points``)."""
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


# ---------------------------------------------------------------------------- jobs
def seed_job_seconds(
    config: dict[str, Any], params: CostParameters, dataset: str, arch: str, topology: str, width: int
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds of one seed's train, prune and QAT work (without the job's process start and
    data loading, ``job_overhead``), and the epochs each trains; ``config`` as
    ``minarch.config.load_config`` returns it."""
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


# ---------------------------------------------------------------------------- cluster requests
# Peak memory of one job (MB): a process with torch, pandas and the dataset's splits as float32
# (every dataset here has 70,000 or 60,000 images, the ViT's CIFAR-10 resized first), the uint8
# cache twice (its arrays and the splits cut from them), plus the model's tensors (weights,
# gradients, Adam's two moments, the best-epoch copy, the checkpoint, the int8 copy: 10 per
# parameter) and the full-test-set int8 evaluation's activations. A family that resizes builds
# its training images from a float32 copy at the cache's size and joins the resized chunks
# into a second copy (``minarch.data.load_splits``, ``minarch.models.resize``): for the ViT
# on CIFAR-10 that is 1 GB the jobs of the recorded run peaked with, above what they asked
# for. The constants are fitted to the max_rss of the workflow's own Snakemake benchmarks
# (docs/design.md §4).
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


def job_memory_mb(
    dataset: str,
    arch: str,
    topology: str,
    width: int,
    stage: str = "train",
    seeds: int = 1,
    scopes: tuple[str, ...] = ("full",),
) -> float:
    """Estimated peak resident memory of one train, prune or QAT job of ``seeds`` seeds, in MB.
    A configuration whose seeds run the stage as one stack (``registry.Family.stacks``; QAT:
    under any of the quantization ``scopes`` the job runs) holds every seed's tensors and
    evaluation chunk at once (its input and its activations, ``EVAL_ELEMENTS_PER_SEED``
    floats each); otherwise one seed's at a time. Measured: 30 stacked DNN seeds peaked
    0.2 GB (MNIST L1 w10) and 0.6 GB (CIFAR-10 L4eee w200) above one."""
    source, shape = registry.dataset(dataset), input_shape(dataset, arch)
    data = source.images * (math.prod(shape) * 4 + 2 * math.prod(source.image_shape))
    if tuple(shape) != tuple(source.image_shape):
        data += (source.train_images or source.images) * (math.prod(source.image_shape) + math.prod(shape)) * 4
    family = registry.family(arch)
    stacked = seeds if any(family.stacks(width, "cpu", stage, scope) for scope in scopes) else 1
    model = stacked * parameter_count(dataset, arch, topology, width) * 4 * TENSORS_PER_PARAMETER
    evaluation = TEST_IMAGES * activation_floats(dataset, arch, topology, width) * 4
    evaluation += (stacked - 1) * 2 * EVAL_ELEMENTS_PER_SEED * 4
    extra = family.qat_extra_mb if stage == "qat" else 0.0
    return PROCESS_MB + extra + (data + model + evaluation) / 2**20


def job_seconds(
    config: dict[str, Any],
    params: CostParameters,
    stage: str,
    dataset: str,
    arch: str,
    topology: str,
    width: int,
    seeds: int = 1,
) -> float:
    """Predicted seconds of the job of a block of ``seeds`` seeds of ``stage`` at ``max_epochs``:
    its process start and data loading, then its seeds' work."""
    seconds, _ = seed_job_seconds(config, params, dataset, arch, topology, width)
    return job_overhead(params, dataset, arch) + seeds * seconds[stage]


def job_priority(
    config: dict[str, Any],
    params: CostParameters,
    key: tuple[str, str, str, int],
    blocks: dict[str, list[tuple[int, int]]],
    stage: str,
    first: int,
    last: int,
) -> float:
    """A block's Snakemake priority: the predicted seconds of the longest chain of jobs that
    it starts, its own and, for a train block, the longest prune or QAT job its seeds feed
    (``key``: the configuration, ``blocks``: its blocks per stage). Snakemake starts the ready
    jobs of highest priority first, so the longest chains start first (list scheduling by
    critical path) and a run on a few cores does not end on one long QAT job while the other
    cores wait."""
    own = job_seconds(config, params, stage, *key, last - first + 1)
    if stage != "train":
        return own
    after = [
        job_seconds(config, params, later, *key, b - a + 1)
        for later in ("prune", "qat")
        for a, b in covering(blocks[later], first, last)
    ]
    return own + max(after, default=0.0)


def job_request(
    config: dict[str, Any],
    stage: str,
    dataset: str,
    arch: str,
    topology: str,
    width: int,
    params: CostParameters,
    seeds: int = 1,
    attempt: int = 1,
) -> dict[str, int]:
    """What the job of a block of ``seeds`` seeds of ``stage`` asks a scheduler for: ``runtime``
    in minutes, the predicted seconds at ``max_epochs`` (early stopping only shortens a run)
    times ``cluster.runtime_margin``, at least ``cluster.min_runtime``; and ``mem_mb``, the estimated peak
    of the block (``job_memory_mb``: one seed's, or all of a stack's) times ``cluster.memory_margin``.
    Both times ``attempt`` (Snakemake's, 1 for a job's first run): a job killed for its time or
    memory on a node slower or hungrier than the prediction (``retries`` in the SLURM profile)
    runs again with twice, then three times the limits, and resumes from its last checkpoint.
    ``params`` are the cost model's (``cluster_parameters``); ``config`` is the workflow's."""
    cluster = config.get("cluster", {})
    predicted = job_seconds(config, params, stage, dataset, arch, topology, width, seeds)
    shortest = int(cluster.get("min_runtime", schema_default("cluster", "min_runtime")))
    runtime = max(shortest, math.ceil(float(cluster.get("runtime_margin", 1.5)) * predicted / 60))
    scopes = qat_scopes(arch, config.get("qat", {}).get("scope", schema_default("qat", "scope")))
    peak = job_memory_mb(dataset, arch, topology, width, stage, seeds, scopes)
    memory = math.ceil(float(cluster.get("memory_margin", 1.5)) * peak)
    return {"runtime": attempt * runtime, "mem_mb": attempt * memory}


def cluster_parameters(config: dict[str, Any]) -> CostParameters:
    """The cost model a workflow's requests use: ``cluster.cost_points`` (a CSV written by
    ``benchmarks/cost_model.py --calibrate --points-out``) or the built-in table; epochs at
    their upper bound."""
    path = config.get("cluster", {}).get("cost_points")
    if not path:
        return CostParameters()
    return CostParameters(points=read_points(path), source=f"measured points from {path}")
