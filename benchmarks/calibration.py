"""Where the cost model's per-epoch seconds come from (``cost_model.py --calibrate`` and
``--measured``): measured points of the configurations in ``CALIBRATION``, timed on this
machine as every workflow job trains and evaluates a seed (``calibrate``), or taken from a
finished run's outputs (``from_measurements``, ``measured_epoch_fraction``); ``write_points``
writes them as the CSV that ``minarch.cost.read_points`` (``cost_points.csv``,
``cluster.cost_points``) reads.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from _common import dataset_path
from planner import CONFIGURATION

from minarch.cost import CostParameters, Point, depth_of
from minarch.warm import FORK_NOTE

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


def measure_point(dataset, arch, topology, width, splits, settings, budget: float) -> Point:
    """One ``Point`` timed on this machine (CPU seconds, one thread): float and QAT epochs as
    ``steps_per_epoch`` timed steps plus the validation and test evaluations, and one test
    evaluation."""
    from minarch import models

    steps_per_epoch = -(-len(splits.y_train) // settings.batch_size)
    model = models.seeded(0, arch, topology, width, splits.image_shape)
    config = (arch, topology, width)
    step = cpu_steps(*config, splits, settings.batch_size, budget)
    evaluation = cpu_eval(*config, splits.x_val, splits.y_val) + cpu_eval(*config, splits.x_test, splits.y_test)
    test_eval = cpu_eval(*config, splits.x_test, splits.y_test)
    qat_step = cpu_steps(*config, splits, settings.batch_size, budget, qat=True)
    qat_eval = cpu_eval(*config, splits.x_val, splits.y_val, qat=True) + cpu_eval(
        *config, splits.x_test, splits.y_test, qat=True
    )
    return Point(
        dataset,
        arch,
        depth_of(arch, topology),
        models.parameter_count(model),
        round(steps_per_epoch * step + evaluation, 3),
        round(steps_per_epoch * qat_step + qat_eval, 3),
        round(test_eval, 4),
    )


def calibrate(budget: float, only: list[str] | None = None) -> tuple[list[Point], dict[str, float], float]:
    from minarch import stages
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
        for width in widths:
            point = measure_point(dataset, arch, topology, width, splits, settings, budget)
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


# One configuration per family, points of the calibration itself: timed in seconds to see how
# this machine compares with the table a cost model uses (``speed_factor``).
SPEED_CHECK = (("mnist", "dnn", "L1", 100), ("mnist", "cnn", "conv3x3", 16), ("mnist", "vit", "enc2", 16))


def speed_factor(params: CostParameters, budget: float = 0.5) -> tuple[float, list[tuple[Point, dict[str, float]]]]:
    """How many times the seconds of ``params``' table this machine takes now: the median, over
    ``SPEED_CHECK``'s float and QAT epochs, of measured / predicted; with each measured point
    and its prediction. The same 2-core VM type measured 2.6-3.5x its calibration on another
    day, more than ``cluster.runtime_margin``; a full ``--calibrate`` takes minutes."""
    from minarch import stages
    from minarch.jobs import setup_torch
    from minarch.settings import TrainSettings

    setup_torch(1)
    settings = TrainSettings()
    measured, ratios = [], []
    for dataset, arch, topology, width in SPEED_CHECK:
        splits = stages.splits_for(arch, dataset_path(dataset), settings)
        point = measure_point(dataset, arch, topology, width, splits, settings, budget)
        predicted = params.seconds(dataset, arch, point.depth, point.n_params)
        ratios += [point.epoch / predicted["epoch"], point.qat_epoch / predicted["qat_epoch"]]
        measured.append((point, predicted))
    return statistics.median(ratios), measured


def scaled(params: CostParameters, factor: float, why: str = "") -> CostParameters:
    """``params`` with every measured second (epochs, evaluations, process start, data loading) times ``factor``."""
    points = [
        dataclasses.replace(p, epoch=p.epoch * factor, qat_epoch=p.qat_epoch * factor, test_eval=p.test_eval * factor)
        for p in params.points
    ]
    return dataclasses.replace(
        params,
        points=points,
        data_load={key: seconds * factor for key, seconds in params.data_load.items()},
        process_start=params.process_start * factor,
        source=f"{params.source}, x {factor:.2f}{f' ({why})' if why else ''}",
    )


def write_points(points: Iterable[Point], path: str | Path) -> None:
    """``points`` as a CSV with ``Point``'s fields as columns (``minarch.cost.read_points`` reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(Point)])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(p) for p in points)


# a benchmark file of one seed's job, or of a block of seeds (runs made before seeds had jobs of their own)
_JOB_PATH = re.compile(rf"{CONFIGURATION}/(?:seed(?P<seed>\d+)|seeds(?P<first>\d+)-(?P<last>\d+))\.tsv$")
RUN_KEYS = ["dataset", "arch", "topology", "width", "seed"]


def from_measurements(results: str | Path, base: CostParameters | None = None) -> CostParameters:
    """Cost parameters from a run's outputs under ``results`` (a ``results/`` folder):

    - the median per-epoch ``seconds`` of ``runs/**/train.parquet`` per (dataset, arch, depth,
      parameter count) replace the base points of every (dataset, arch) measured; their test
      evaluation is scaled from the base table at that size;
    - ``runs/**/qat.parquet`` (``seconds / stopped_epoch``) gives QAT epoch seconds, else the
      base table's QAT/float ratio is kept;
    - the train jobs' Snakemake benchmarks (``benchmarks/train/**.tsv``, ``s``) minus their
      seeds' training time (the ``final`` rows' ``seconds``) give ``process_start``, from the
      jobs that started their own process (not those forked from a warm worker, whose log
      says so: ``minarch.warm``)."""
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
        log = results / "logs" / tsv.relative_to(results / "benchmarks").with_suffix(".log")
        if log.is_file() and FORK_NOTE in log.read_text(errors="replace"):
            continue  # forked from a warm worker (local.warm_workers): it paid no process start
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
