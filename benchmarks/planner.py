"""The plan of a sweep and its wall time, before running it (``cost_model.py``'s planner and
simulator): every Snakemake job of the default target ``all`` with its CPU seconds from the
cost model (``minarch.cost``), the wall time of those jobs on N cores by list-scheduling the
DAG, a summary per sweep and stage, and what is still to run in a workflow folder.

The jobs are the workflow's: a config as ``minarch.config.load_config`` returns it (merged and
checked as the Snakefile does, with the schema's defaults), its configurations and seed counts
from ``minarch.config``, the blocks of seeds from ``minarch.cost`` (as the workflow cuts them).
Torch-free.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the checkout's src/ on sys.path, as every benchmark script does)

from minarch import records
from minarch.config import TOPOLOGY_SWEEP, configurations, sweeps
from minarch.cost import STAGES, CostParameters, configuration_blocks, covering, job_overhead, seed_job_seconds


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
    """Every job of the default target ``all`` for ``config`` (as ``minarch.config.load_config``
    returns it: every setting present), with its estimated seconds."""
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
CONFIGURATION = r"(?P<dataset>[a-z_0-9]+)/(?P<arch>[a-z]+)/(?P<topology>[A-Za-z0-9]+)/w(?P<width>\d+)"
_BLOCK_JOB = rf"{CONFIGURATION}/seeds(?P<first>\d+)-(?P<last>\d+)"
_TAG = re.compile(rf"^(?P<stage>train|prune|qat)/{_BLOCK_JOB}$")


def job_record(job: Job) -> Path | None:
    """The block record (``records.block_record``, relative to the workdir) a train, prune or
    QAT job writes last, once every seed of its block is in place; None for other jobs."""
    match = _TAG.match(job.name)
    if not match:
        return None
    m = match.groupdict()
    key = (m["dataset"], m["arch"], m["topology"], int(m["width"]))
    return Path(records.block_record(m["stage"], *key, int(m["first"]), int(m["last"])))


def job_done(job: Job, workdir: str | Path = ".") -> bool:
    """A train, prune or QAT job is done when its block's record exists under ``workdir``
    (``job_record``); other jobs are never done here: they take seconds, and the workflow
    reruns them whenever a stage job ran."""
    record = job_record(job)
    return record is not None and (Path(workdir) / record).is_file()


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
