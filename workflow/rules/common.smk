import functools
import os
import sys

from snakemake.common.configfile import load_configfile
from snakemake.utils import min_version

from minarch import registry, warm
from minarch.config import (
    TOPOLOGY_SWEEP,
    ConfigError,
    DeviceError,
    check_device,
    load_schema,
    plan_summary,
    prepare,
    sweeps,
    with_defaults,
)
from minarch.cost import (
    cluster_parameters,
    configuration_blocks,
    covering,
    job_priority,
    job_request,
    planned_jobs,
)
from minarch.data import dataset_version
from minarch.provenance import STAGE_ENTRIES, code_version
from minarch.records import RECORD, block_record, changed_files
from minarch.settings import run_directory

min_version("9.0")


def user_config_layers():
    """What the user gave, in Snakemake's order: each --configfile, then --config. Snakemake
    has merged them key by key over the Snakefile's configfile; ``prepare`` takes the sweep
    (families, topology_sweep) from them whole, so a small config runs only what it names.
    Nothing when a report is rendered from its run's saved config (report.smk): it is whole.
    """
    if "building_report" in globals() and building_report():
        return []
    files = [load_configfile(path) for path in workflow.overwrite_configfiles]
    return files + [dict(workflow.config_settings.config)]


# The schema with the registered families and datasets (minarch.registry: plugins named in
# MINARCH_PLUGINS add theirs), so not Snakemake's validate, which reads the schema file.
SCHEMA = load_schema()
try:
    resolved = with_defaults(prepare(config, SCHEMA, user_config_layers()), SCHEMA)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()  # in place: `config` is the workflow's own dict
config.update(resolved)
FAMILIES = config["families"]
SWEEPS = sweeps(config)  # the families, plus the phase-1 topology sweep when configured
FIGURES = {name: family.figure for name, family in registry.families().items()}
# A stage job runs a block of seeds of one configuration in one process (rules train_dnn,
# prune_cnn, qat_vit, ... whatever the seed counts); each seed keeps its files in
# results/runs/{dataset}/{arch}/{topology}/w{width}/seed{seed}/, and
# the block's record (minarch.records) is what Snakemake tracks. Blocks sit at fixed seed
# indices, sized by the cost model to about cluster.job_minutes of work (minarch.cost).
ARCHS = sorted({spec["arch"] for spec in SWEEPS.values()})
BLOCK = "{dataset}/{arch}/{topology}/w{width}/seeds{first}-{last}"
COST = cluster_parameters(config)  # the cost model that sizes each block and its request
BLOCKS = configuration_blocks(config, COST)  # (dataset, arch, topology, width) -> stage -> [(first, last)]
# each stage's code version (minarch.provenance): a param of its rules, so a change of the code
# a stage runs reruns that stage's jobs, and only theirs
CODE = {stage: code_version(stage) for stage in ("train", "prune", "qat")}
# once per snakemake command, not again in each cluster job
if workflow.is_main_process:
    print(plan_summary(config, planned_jobs(config, COST, BLOCKS)), file=sys.stderr)


wildcard_constraints:
    dataset=registry.wildcard_pattern(registry.datasets()),
    width=r"\d+",
    topology=r"[A-Za-z0-9]+",
    first=r"\d+",
    last=r"\d+",


# Settings that do not change results (evaluation batch size, threads, device, checkpoints)
# reach the jobs through the config, not params: changing them reruns nothing.
NOT_RESULTS = ("threads", "device", "checkpoint", "eval_batch_size")


def train_params():
    """The train recipe as TrainSettings fields: only what changes results reruns jobs."""
    train = {k: v for k, v in config["train"].items() if k not in NOT_RESULTS}
    return {
        **train,
        "validation_fraction": config["data"]["validation_fraction"],
        "split_seed": config["data"]["split_seed"],
    }


def data_version(wc):
    """The content version of the dataset a job reads (minarch.data.dataset_version): a
    parameter of the data and stage rules (data.smk)."""
    return dataset_version(wc.dataset, config["data"]["mirror"])


def block_file(family, stage):
    """The record of one block's job of ``stage``, as a pattern of its wildcards."""
    return RECORD.replace("{stage}", stage).replace("{arch}", family)


def job_file(family, folder, suffix):
    return f"results/{folder}/{BLOCK}{suffix}".replace("{arch}", family)


def stage_resources(family, stage):
    """runtime (minutes) and mem_mb of one block's job: the cost model's prediction for its
    seeds at max_epochs times cluster.runtime_margin and cluster.memory_margin, times the
    job's attempt (a retried job asks for more; minarch.cost.job_request)."""

    @functools.cache  # the blocks of a configuration ask alike
    def request(dataset, topology, width, seeds, attempt):
        return job_request(config, stage, dataset, family, topology, int(width), COST, seeds, attempt)

    def block_request(wc, attempt):
        return request(wc.dataset, wc.topology, wc.width, int(wc.last) - int(wc.first) + 1, attempt)

    return {
        **device_resources(),
        "runtime": lambda wc, attempt: block_request(wc, attempt)["runtime"],
        "mem_mb": lambda wc, attempt: block_request(wc, attempt)["mem_mb"],
    }


def stage_priority(family, stage):
    """A block's priority: the predicted seconds of the longest chain of jobs it starts
    (minarch.cost.job_priority), so that ready jobs start longest chain first."""

    def priority(wc):
        key = configuration_of(wc, family)
        return job_priority(config, COST, key, BLOCKS[key], stage, int(wc.first), int(wc.last))

    return priority


def configuration_of(wc, family):
    key = (wc.dataset, family, wc.topology, int(wc.width))
    if key not in BLOCKS:
        raise WorkflowError(f"{wc.dataset} {family} {wc.topology} w{wc.width} is not a configuration of this sweep")
    return key


def trained_blocks(family):
    """Input of a prune or QAT block: the records of the train blocks that hold its seeds."""

    def records(wc):
        key = configuration_of(wc, family)
        return [
            block_record("train", *key, first, last)
            for first, last in covering(BLOCKS[key]["train"], int(wc.first), int(wc.last))
        ]

    return records


def device_resources():
    """A GPU for the jobs that train or evaluate on CUDA (``train.device: cuda``), which a
    cluster executor turns into a request: SLURM ``--gpus=[gpu_model:]1``, or ``--gres`` when
    ``cluster.gpu.gres`` is given (the plugin takes one or the other), and the GPU partition.
    ``auto`` asks for none and uses a GPU only where the node has one."""
    if config["train"]["device"] != "cuda":
        return {}
    gpu = {k: v for k, v in config["cluster"]["gpu"].items() if v is not None}
    found = (
        {"gres": gpu["gres"]}
        if "gres" in gpu
        else {"gpu": 1, **({"gpu_model": gpu["gpu_model"]} if "gpu_model" in gpu else {})}
    )
    if "slurm_partition" in gpu:
        found["slurm_partition"] = gpu["slurm_partition"]
    return found


def stage_records(sweep, stage):
    """The block records of ``stage`` that hold the seeds a sweep (a family, or the topology
    sweep) reports, in the order of its configurations."""
    spec = SWEEPS[sweep]
    found = []
    for dataset in spec["datasets"]:
        for topology in spec["topologies"]:
            for width in spec["widths"]:
                key = (dataset, spec["arch"], topology, int(width))
                blocks = covering(BLOCKS[key][stage], 0, int(spec["seeds"]) - 1)
                found += [block_record(stage, *key, first, last) for first, last in blocks]
    return found


STAGE_FILES = ["model.pt", "train.parquet", "prune.parquet", "qat.parquet"]


def family_runs_of(sweep, name):
    """File ``name`` of every seed of a sweep (a family, or the topology sweep), in the order
    of its configurations: the per-seed files the report checks against their inputs."""
    spec = SWEEPS[sweep]
    return [
        str(run_directory(dataset, spec["arch"], topology, width, seed) / name)
        for dataset in spec["datasets"]
        for topology in spec["topologies"]
        for width in spec["widths"]
        for seed in range(int(spec["seeds"]))
    ]


def collected(stage):
    return expand("results/collected/{family}/{stage}.parquet", family=FAMILIES, stage=stage)


def final_targets():
    """Every block record is a target too: Snakemake does not regenerate a deleted
    intermediate while everything downstream of it is up to date."""
    records = [
        path for family in FAMILIES for stage in ("train", "prune", "qat") for path in stage_records(family, stage)
    ]
    if TOPOLOGY_SWEEP in SWEEPS:
        records += stage_records(TOPOLOGY_SWEEP, "train")
        records += [
            "results/topologies.parquet",
            "results/topology_invariance.csv",
            "results/topology_invariance.html",
            "results/figures/fig2b_topologies.png",
        ]
    return [
        *dict.fromkeys(records),
        "results/config.yaml",
        "results/regimes.parquet",
        "results/regimes.csv",
        "results/regimes.html",
        "results/table1.csv",
        "results/table1.md",
        "results/table1.html",
        "results/quantization_gaps.csv",
        "results/quantization_gaps.md",
        "results/quantization_gaps.html",
        "results/paper_comparison.md",
        "results/paper_comparison.html",
        *[f"results/figures/{FIGURES[family]}.png" for family in FAMILIES],
    ]


def rerun_changed_blocks():
    """A block whose record exists but some of whose seed files are gone or changed since (a
    user deleted, overwrote or copied over them) runs again, with what follows it, for any
    target that needs it. Its record, which no longer describes what is on disk, is dated
    back to the epoch before the DAG is built (by a dry run too, so that it plans what a run
    does): older than the rule's script, Snakemake reruns it ("Code has changed"), and every
    job downstream with it. Deleting the record would not do: Snakemake does not remake a
    missing intermediate whose downstream outputs are in place. The block's job then redoes
    only the seeds whose files are not intact (minarch.records.finished)."""
    for stage in ("train", "prune", "qat"):
        for key, blocks in BLOCKS.items():
            for first, last in blocks[stage]:
                path = block_record(stage, *key, first, last)
                if os.path.exists(path) and (changed := changed_files(path)):
                    os.utime(path, (0, 0))
                    print(
                        f"minarch: {changed[0]} is gone or changed, so its block runs again ({path})", file=sys.stderr
                    )


if workflow.is_main_process and not building_report():
    rerun_changed_blocks()


WARM_SERVERS = []  # local.warm_workers: this run's (started in onstart)


def warm_holds():
    """What the warm worker server keeps for its forks (minarch.warm.start's hold): each
    dataset's verified splits, and the parsed modules behind every stage's code version."""
    split = {key: config["data"][key] for key in ("validation_fraction", "split_seed")}
    entries = sorted({entry for stage in STAGE_ENTRIES.values() for entry in stage})
    return [("minarch.data:hold_splits", {"path": path, **split}) for path in DATASET_CACHES] + [
        ("minarch.provenance:closure", {"entries": entries})
    ]


def stop_warm_servers():
    while WARM_SERVERS:
        WARM_SERVERS.pop().stop()


# train.device: cuda with jobs on this machine, where torch sees no GPU: one line before any job
# starts, instead of every stage job failing alike. Checked at the start of a run, when
# Snakemake knows whether its jobs run here or on a cluster (where the nodes decide), and
# not while the Snakefile is parsed (a dry run asks no GPU).
onstart:
    try:
        check_device(config, local=workflow.local_exec and not workflow.remote_exec)
    except DeviceError as error:
        raise WorkflowError(str(error)) from None
    # local.warm_workers: this run's jobs fork from one process that has imported torch and
    # minarch (minarch.warm); only for jobs on this machine, which inherit its socket's path,
    # and in Snakemake's own environment (not --sdm conda/apptainer, whose jobs run another Python)
    if (
        config["local"]["warm_workers"]
        and workflow.local_exec
        and not workflow.remote_exec
        and not workflow.deployment_settings.deployment_method
    ):
        if (server := warm.start(config["train"]["threads"], hold=warm_holds())) is not None:
            WARM_SERVERS.append(server)


onsuccess:
    stop_warm_servers()


onerror:
    stop_warm_servers()
