import functools
import sys
from pathlib import Path

from snakemake.common.configfile import load_configfile
from snakemake.utils import min_version, validate

from minarch.config import (
    TOPOLOGY_SWEEP,
    ConfigError,
    load_schema,
    plan_summary,
    prepare,
    sweeps,
)
from minarch.cost import cluster_parameters, job_request

min_version("9.0")

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"


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


try:
    resolved = prepare(config, load_schema(SCHEMA), user_config_layers())
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()  # in place: `config` is the workflow's own dict
config.update(resolved)
validate(config, schema=SCHEMA)  # fills the schema's defaults
# once per snakemake command, not again in each cluster job
if workflow.is_main_process:
    print(plan_summary(config), file=sys.stderr)

FAMILIES = config["families"]
SWEEPS = sweeps(config)  # the families, plus the phase-1 topology sweep when configured
FIGURES = {"dnn": "fig3_dnn", "cnn": "fig4_cnn", "vit": "fig5_vit"}
RUN = "results/runs/{dataset}/{arch}/{topology}/w{width}/seed{seed}"
STAGE_FILES = ["model.pt", "train.parquet", "prune.parquet", "qat.parquet"]
# One job per seed and stage: finished seeds are never rerun when seeds are added, and each
# stage has one rule per family (train_dnn, prune_cnn, qat_vit, ...) whatever the seed counts.
ARCHS = sorted({spec["arch"] for spec in SWEEPS.values()})
JOB = "{dataset}/{arch}/{topology}/w{width}/seed{seed}"
COST = cluster_parameters(config)  # the cost model that sizes each job's request


wildcard_constraints:
    dataset="mnist|fashion_mnist|cifar10",
    width=r"\d+",
    topology=r"[A-Za-z0-9]+",


def train_params():
    """The train recipe as TrainSettings fields: only what changes results reruns jobs."""
    train = {k: v for k, v in config["train"].items() if k not in ("threads", "device", "checkpoint")}
    return {
        **train,
        "validation_fraction": config["data"]["validation_fraction"],
        "split_seed": config["data"]["split_seed"],
    }


def run_file(family, name):
    """One seed's file ``name`` of a family, as a pattern of its job's wildcards."""
    return f"{RUN}/{name}".replace("{arch}", family)


def job_file(family, folder, suffix):
    return f"results/{folder}/{JOB}{suffix}".replace("{arch}", family)


def stage_resources(family, stage):
    """runtime (minutes) and mem_mb of one seed's job: the cost model's prediction at
    max_epochs times cluster.runtime_margin and cluster.memory_margin (minarch.cost.job_request)."""

    @functools.cache  # the seeds of a configuration ask for the same
    def request(dataset, topology, width):
        return job_request(config, stage, dataset, family, topology, int(width), COST)

    return {
        **device_resources(),
        "runtime": lambda wc: request(wc.dataset, wc.topology, wc.width)["runtime"],
        "mem_mb": lambda wc: request(wc.dataset, wc.topology, wc.width)["mem_mb"],
    }


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


def family_runs_of(sweep, name):
    """File ``name`` of every run of a sweep (a family, or the topology sweep)."""
    spec = SWEEPS[sweep]
    return expand(
        f"{RUN}/{name}",
        dataset=spec["datasets"],
        arch=spec["arch"],
        topology=spec["topologies"],
        width=spec["widths"],
        seed=range(spec["seeds"]),
    )


def collected(stage):
    return expand("results/collected/{family}/{stage}.parquet", family=FAMILIES, stage=stage)


def final_targets():
    """Every per-seed file is a target too: Snakemake does not regenerate a deleted
    intermediate while everything downstream of it is up to date."""
    per_seed = [path for family in FAMILIES for name in STAGE_FILES for path in family_runs_of(family, name)]
    if TOPOLOGY_SWEEP in SWEEPS:
        per_seed += [path for name in STAGE_FILES[:2] for path in family_runs_of(TOPOLOGY_SWEEP, name)]
        per_seed += [
            "results/topologies.parquet",
            "results/topology_invariance.csv",
            "results/topology_invariance.html",
            "results/figures/fig2b_topologies.png",
        ]
    return [
        *dict.fromkeys(per_seed),
        "results/config.yaml",
        "results/regimes.parquet",
        "results/regimes.csv",
        "results/regimes.html",
        "results/table1.csv",
        "results/table1.md",
        "results/table1.html",
        "results/paper_comparison.md",
        "results/paper_comparison.html",
        *[f"results/figures/{FIGURES[family]}.png" for family in FAMILIES],
    ]
