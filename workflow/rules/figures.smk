rule family_figure:
    input:
        train="results/collected/{family}/train.parquet",
        prune="results/collected/{family}/prune.parquet",
        qat="results/collected/{family}/qat.parquet",
    output:
        figure="results/figures/fig{number}_{family}.png",
    wildcard_constraints:
        family="dnn|cnn|vit",
        number=r"\d",
    params:
        arch=lambda wc: wc.family,
        thresholds=config["regimes"],
    log:
        "results/logs/figures/fig{number}_{family}.log",
    benchmark:
        "results/benchmarks/figures/fig{number}_{family}.tsv"
    conda:
        "../../envs/minarch.yaml"
    script:
        "../scripts/family_figure.py"


rule topology_figure:
    input:
        table="results/topologies.parquet",
    output:
        figure="results/figures/fig2b_topologies.png",
    log:
        "results/logs/figures/fig2b_topologies.log",
    benchmark:
        "results/benchmarks/figures/fig2b_topologies.tsv"
    conda:
        "../../envs/minarch.yaml"
    script:
        "../scripts/topology_figure.py"
