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
    seed_blocks,
    seeds_per_arch,
    sweeps,
)

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
JOB = "{dataset}/{arch}/{topology}/w{width}/seeds{first}-{last}"


wildcard_constraints:
    dataset="mnist|fashion_mnist|cifar10",
    width=r"\d+",
    topology=r"[A-Za-z0-9]+",


def train_params():
    """The train recipe as TrainSettings fields: only what changes results reruns jobs."""
    train = {
        k: v
        for k, v in config["train"].items()
        if k not in ("threads", "seeds_per_job", "device", "stack_max_width", "checkpoint")
    }
    return {
        **train,
        "validation_fraction": config["data"]["validation_fraction"],
        "split_seed": config["data"]["split_seed"],
    }


def seed_jobs():
    """(family, seeds, job-path tag) for every block of seeds trained in one process; the
    DNN's blocks cover the larger seed count of its two phases."""
    for family, n_seeds in seeds_per_arch(config).items():
        for block in seed_blocks(n_seeds, config["train"]["seeds_per_job"]):
            yield family, block, JOB.replace("{arch}", family).format(
                dataset="{dataset}", topology="{topology}", width="{width}", first=block[0], last=block[-1]
            )


def per_seed(family, seeds, name):
    return expand(f"{RUN}/{name}", arch=family, seed=seeds, allow_missing=True)


def job_resources(dataset, seeds, stage):
    """Rough per-job limits for cluster schedulers: memory holds the dataset as float32."""
    per_seed_minutes = {"train": 10, "prune": 1, "qat": 20}[stage]
    return {"mem_mb": 6000 if dataset == "cifar10" else 3000, "runtime": 10 + per_seed_minutes * len(seeds)}


def device_resources():
    """``gpu=1`` for the jobs that train or evaluate on CUDA (``train.device: cuda``), which a
    cluster executor turns into a GPU request (SLURM: ``--gpus=1``); ``auto`` asks for none
    and uses a GPU only where the node has one."""
    return {"gpu": 1} if config["train"]["device"] == "cuda" else {}


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
