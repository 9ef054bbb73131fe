rule family_figure:
    input:
        train="results/collected/{family}/train.parquet",
        prune="results/collected/{family}/prune.parquet",
        qat="results/collected/{family}/qat.parquet",
    output:
        figure=report(
            "results/figures/fig{number}_{family}.png",
            caption="../report/family_figure.rst",
            category="Figures",
            subcategory="{family}",
            labels={"figure": "Fig. {number}", "family": "{family}"},
        ),
    log:
        "results/logs/figures/fig{number}_{family}.log",
    benchmark:
        "results/benchmarks/figures/fig{number}_{family}.tsv"
    wildcard_constraints:
        family=registry.wildcard_pattern(registry.families()),
        number=r"\d+",
    conda:
        "../../envs/minarch.yaml"
    params:
        arch=lambda wc: wc.family,
        thresholds=config["regimes"],
        table1=config["table1"],
        code=code_version("family_figure"),
    script:
        "../scripts/family_figure.py"


rule topology_figure:
    input:
        table="results/topologies.parquet",
    output:
        figure=report(
            "results/figures/fig2b_topologies.png",
            caption="../report/topology_figure.rst",
            category="Phase 1: topologies",
            labels={"figure": "Fig. 2b"},
        ),
    log:
        "results/logs/figures/fig2b_topologies.log",
    benchmark:
        "results/benchmarks/figures/fig2b_topologies.tsv"
    conda:
        "../../envs/minarch.yaml"
    params:
        code=code_version("topology_figure"),
    script:
        "../scripts/topology_figure.py"


# The report's description of its results (report.smk), once every rule is defined.
if building_report():
    config[REPORT_FACTS] = describe_for_report()
