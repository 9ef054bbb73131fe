# The verified cache of one dataset. Its parameter is the content version the configured
# source gives (minarch.data.dataset_version), not the source's path: pointing data.mirror or
# MINARCH_DATA_MIRROR at another folder that holds the same data reruns nothing.
from minarch.provenance import code_version  # the stage rules' code parameter (minarch.provenance)


rule prepare_dataset:
    output:
        dataset="resources/datasets/{dataset}.npz",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../../envs/minarch.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        version=data_version,
    script:
        "../scripts/prepare_dataset.py"


# The content version of the cache beside it (resources/datasets/{dataset}.version): what the
# train, prune and QAT rules take as their input, with the version itself as a parameter.
# Another content (CIFAR-10 from the mirror instead of the official download) changes the
# parameter and reruns every job that read it. A cache rebuilt, touched or overwritten reruns
# this rule and so every stage job that reads the dataset: the jobs check their seeds' stamps
# and recompute none whose files are in place with the same data version (a few seconds a
# job), while a cache whose content differs from its record stops the first job that reads it.
# The edge is deliberately not ancient(): Snakemake does not evaluate a job downstream of one
# that reruns through an ancient() input for its own reasons (snakemake#4166), so a changed
# parameter of a stage job would go unseen in the run that remakes the cache.
rule dataset_version:
    input:
        dataset="resources/datasets/{dataset}.npz",
    output:
        version="resources/datasets/{dataset}.version",
    log:
        "results/logs/prepare_dataset/{dataset}_version.log",
    conda:
        "../../envs/minarch.yaml"
    params:
        version=data_version,
    script:
        "../scripts/dataset_version.py"


localrules:
    dataset_version,


# The cache of every dataset the sweeps use: targets of rule all (see rule dataset_version).
DATASET_CACHES = sorted({f"resources/datasets/{d}.npz" for spec in SWEEPS.values() for d in spec["datasets"]})
