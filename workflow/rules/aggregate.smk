# Every aggregate takes the code version of the package modules its script runs as a
# parameter (minarch.provenance): a change of that code reruns it (snakemake -n: "params
# changed"), comments, docstrings and formatting do not.
from minarch.provenance import code_version


# The config of the last run that finished, saved with its results: `snakemake --report`
# describes the run from it, whatever config the report command gets. Its inputs are every
# other target of rule all, so it runs last: a run stopped midway, or a run of one target,
# leaves the config of the last finished run (and the report names where the results differ
# from it). It is rewritten whenever the config changes. (As an input of other rules, a
# changed config made Snakemake 9 plan this job alone, so a grown sweep ran nothing new.)
rule save_config:
    input:
        lambda wildcards: [path for path in final_targets() if path != RUN_CONFIG],
    output:
        config=RUN_CONFIG,
    log:
        "results/logs/save_config.log",
    conda:
        "../../envs/minarch.yaml"
    params:
        config=lambda wildcards: {key: value for key, value in config.items() if key != REPORT_FACTS},
    script:
        "../scripts/save_config.py"


# a local job on a cluster, like the other aggregates (Snakefile)
localrules:
    save_config,


rule collect:
    input:
        records=lambda wc: stage_records(wc.family, wc.stage),
    output:
        table="results/collected/{family}/{stage}.parquet",
    log:
        "results/logs/collect/{family}_{stage}.log",
    benchmark:
        "results/benchmarks/collect/{family}_{stage}.tsv"
    wildcard_constraints:
        family=registry.wildcard_pattern([*registry.families(), TOPOLOGY_SWEEP]),
        stage="train|prune|qat",
    conda:
        "../../envs/minarch.yaml"
    params:
        seeds=lambda wc: SWEEPS[wc.family]["seeds"],
        code=code_version("collect"),
    script:
        "../scripts/collect.py"


rule regimes:
    input:
        train=collected("train"),
    output:
        parquet="results/regimes.parquet",
        csv="results/regimes.csv",
        html=report(
            "results/regimes.html", caption="../report/regimes.rst", category="Tables", labels={"table": "regimes"}
        ),
    log:
        "results/logs/regimes.log",
    benchmark:
        "results/benchmarks/regimes.tsv"
    conda:
        "../../envs/minarch.yaml"
    params:
        thresholds=config["regimes"],
        code=code_version("regimes"),
    script:
        "../scripts/regimes.py"


rule table1:
    input:
        regimes="results/regimes.parquet",
        train=collected("train"),
        prune=collected("prune"),
        qat=collected("qat"),
    output:
        csv="results/table1.csv",
        md="results/table1.md",
        html=report(
            "results/table1.html", caption="../report/table1.rst", category="Tables", labels={"table": "Table I"}
        ),
    log:
        "results/logs/table1.log",
    benchmark:
        "results/benchmarks/table1.tsv"
    conda:
        "../../envs/minarch.yaml"
    params:
        table1=config["table1"],
        thresholds=config["regimes"],
        code=code_version("table1"),
    script:
        "../scripts/table1.py"


rule quantization_gaps:
    input:
        qat=collected("qat"),
    output:
        csv="results/quantization_gaps.csv",
        md="results/quantization_gaps.md",
        html=report(
            "results/quantization_gaps.html",
            caption="../report/quantization_gaps.rst",
            category="Tables",
            labels={"table": "8-bit gaps per scope"},
        ),
    log:
        "results/logs/quantization_gaps.log",
    benchmark:
        "results/benchmarks/quantization_gaps.tsv"
    conda:
        "../../envs/minarch.yaml"
    params:
        table1=config["table1"],
        thresholds=config["regimes"],
        code=code_version("quantization_gaps"),
    script:
        "../scripts/quantization_gaps.py"


rule topology_sweep:
    input:
        train="results/collected/topology_sweep/train.parquet",
    output:
        table="results/topologies.parquet",
        invariance="results/topology_invariance.csv",
        invariance_html=report(
            "results/topology_invariance.html",
            caption="../report/topology_invariance.rst",
            category="Phase 1: topologies",
            labels={"table": "shape invariance"},
        ),
    log:
        "results/logs/topology_sweep.log",
    benchmark:
        "results/benchmarks/topology_sweep.tsv"
    conda:
        "../../envs/minarch.yaml"
    params:
        thresholds=config["regimes"],
        tolerance=config.get("topology_sweep", {}).get("invariance_tolerance"),
        code=code_version("topology_sweep"),
    script:
        "../scripts/topology_sweep.py"


rule paper_comparison:
    input:
        **({"invariance": "results/topology_invariance.csv"} if TOPOLOGY_SWEEP in SWEEPS else {}),
        regimes="results/regimes.parquet",
        table1="results/table1.csv",
        train=collected("train"),
        prune=collected("prune"),
        qat=collected("qat"),
    output:
        md="results/paper_comparison.md",
        html=report(
            "results/paper_comparison.html",
            caption="../report/paper_comparison.rst",
            category="Tables",
            labels={"table": "paper comparison"},
        ),
    log:
        "results/logs/paper_comparison.log",
    benchmark:
        "results/benchmarks/paper_comparison.tsv"
    conda:
        "../../envs/minarch.yaml"
    params:
        prune_tolerance=config["table1"]["prune_tolerance"],
        code=code_version("paper_comparison"),
    script:
        "../scripts/paper_comparison.py"
