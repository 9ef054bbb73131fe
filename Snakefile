# minarch: convergence, pruning and 8-bit QAT of minimal DNN/CNN/ViT models
# (reproducing arXiv 2601.17987). Layout and outputs: README.md; config keys: config/README.md.

import os
import sys
from pathlib import Path

# Every job runs this checkout's package, whatever environment runs it: a virtualenv with the
# package installed (editable or not), another clone's virtualenv, or a conda environment
# from envs/minarch.yaml (which holds only the dependencies: Snakemake builds it from a copy of
# the file under .snakemake/conda/, where a relative `pip install -e ..` would not find this
# checkout). src/ leads sys.path here and PYTHONPATH in every job, local or on a cluster
# (sbatch --export=ALL passes it on).
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
if os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] != SRC:
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))


# and passed on by executors that do not export the submitting environment
envvars:
    "PYTHONPATH",


from minarch.config import yaml_syntax_error

# Snakemake's own message for a YAML error names neither the file nor the line. (The sweep of a
# --configfile replaces this file's whole: workflow/rules/common.smk, config/README.md.)
if problem := yaml_syntax_error("config/config.yaml"):
    raise WorkflowError(problem)


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/report.smk"  # first: a report uses the saved config of its run
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/qat.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


# On a cluster these run where snakemake runs: the dataset download needs the internet,
# which compute nodes often lack, and each aggregate takes seconds, less than a queue wait.
localrules:
    all,
    prepare_dataset,
    collect,
    regimes,
    table1,
    quantization_gaps,
    topology_sweep,
    paper_comparison,
    family_figure,
    topology_figure,


rule all:
    default_target: True
    input:
        final_targets(),
        DATASET_CACHES,  # a deleted cache is remade; the jobs that read it recheck their seeds (data.smk)
